//! Client authentication at the OAuth endpoints (RFC 6749 §2.3.1, RFC 7523 §2.2): HTTP Basic
//! (`client_secret_basic`), `client_id` and `client_secret` form fields
//! (`client_secret_post`), a signed `client_assertion` (`private_key_jwt`), or a `client_id`
//! alone (a public client, `none`).

use poem::{
    Request,
    web::headers::{Authorization, HeaderMapExt, authorization::Basic},
};

use crate::{
    clients::{ClientCredentials, ClientSecret, JWT_BEARER_ASSERTION},
    error::Error,
};

/// The client fields of an OAuth form.
pub struct ClientFields {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
}

/// The client credentials of `req`, if it sent any. Using more than one method is refused
/// (RFC 6749 §2.3: a client MUST NOT use more than one).
pub fn presented_client(
    req: &Request,
    fields: ClientFields,
) -> Result<Option<ClientCredentials>, Error> {
    let basic = req.headers().typed_get::<Authorization<Basic>>();
    let ClientFields {
        client_id,
        client_secret,
        client_assertion_type,
        client_assertion,
    } = fields;
    let client_id = client_id.filter(|id| !id.is_empty());
    let more_than_one = |what: &str| Error::InvalidField {
        field: "client_id",
        message: format!("client credentials were sent {what}"),
    };
    match (basic, client_secret, client_assertion) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) | (None, Some(_), Some(_)) => {
            Err(more_than_one("by more than one method"))
        }
        (Some(basic), None, None) => {
            let (basic_id, secret) = (
                form_decoded(basic.username())?,
                form_decoded(basic.password())?,
            );
            if client_id.as_deref().is_some_and(|id| id != basic_id) {
                return Err(more_than_one("for two different clients"));
            }
            Ok(Some(ClientCredentials::Secret {
                client_id: basic_id,
                secret: ClientSecret::presented(secret),
            }))
        }
        (None, Some(secret), None) => Ok(client_id.map(|client_id| ClientCredentials::Secret {
            client_id,
            secret: ClientSecret::presented(secret),
        })),
        (None, None, Some(assertion)) => {
            if client_assertion_type.as_deref() != Some(JWT_BEARER_ASSERTION) {
                return Err(Error::InvalidField {
                    field: "client_assertion_type",
                    message: format!("must be {JWT_BEARER_ASSERTION}"),
                });
            }
            Ok(Some(ClientCredentials::Assertion {
                client_id,
                assertion,
            }))
        }
        (None, None, None) => {
            Ok(client_id.map(|client_id| ClientCredentials::Public { client_id }))
        }
    }
}

/// A Basic credential as RFC 6749 §2.3.1 has clients send it: form-urlencoded before it is
/// base64-encoded, so `%XX` and `+` are decoded here. A raw id or secret passes unchanged, as
/// neither ever holds `%` or `+` (ids are `client_` and hex, secrets base64url), so clients that
/// skip the encoding work too. Bytes that are not UTF-8 are no client's credentials.
fn form_decoded(value: &str) -> Result<String, Error> {
    percent_encoding::percent_decode_str(&value.replace('+', " "))
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| Error::CLIENT_AUTH_FAILED)
}
