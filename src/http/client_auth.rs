//! Client authentication at the OAuth endpoints (RFC 6749 §2.3.1): HTTP Basic
//! (`client_secret_basic`) or `client_id` and `client_secret` form fields (`client_secret_post`).

use poem::{
    Request,
    web::headers::{Authorization, HeaderMapExt, authorization::Basic},
};

use crate::{clients::ClientSecret, error::Error};

/// Credentials a client presented, not yet checked.
pub struct PresentedClient {
    pub client_id: String,
    pub secret: ClientSecret,
}

/// The client credentials of `req`, if it sent any. Sending them both ways is refused
/// (RFC 6749 §2.3: a client MUST NOT use more than one method).
pub fn presented_client(
    req: &Request,
    form_client_id: Option<String>,
    form_secret: Option<String>,
) -> Result<Option<PresentedClient>, Error> {
    let basic = req.headers().typed_get::<Authorization<Basic>>();
    match (basic, form_client_id, form_secret) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(Error::InvalidField {
            field: "client_id",
            message: "client credentials were sent both as HTTP Basic and in the form".to_owned(),
        }),
        (Some(basic), None, None) => Ok(Some(PresentedClient {
            client_id: basic.username().to_owned(),
            secret: ClientSecret::presented(basic.password().to_owned()),
        })),
        (None, Some(client_id), Some(secret)) => Ok(Some(PresentedClient {
            client_id,
            secret: ClientSecret::presented(secret),
        })),
        // A client_id alone identifies a public client; authd has none, so it proves nothing.
        (None, _, _) => Ok(None),
    }
}
