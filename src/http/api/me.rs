//! `GET /me`: who the holder of a valid access token is.

use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::ApiTags;
use crate::http::{
    bodies::direct_json::DirectJson,
    callers::access::{AccessAuth, authorize},
    error::ApiError,
};
use crate::{state::AppState, tokens::AccessClaims};

pub struct MeApi(pub AppState);

#[derive(Object, Serialize)]
struct Me {
    id: Uuid,
    username: String,
    email: String,
    /// Whether the user confirmed the address (followed the link mailed to it).
    email_verified: bool,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    last_login_at: Option<OffsetDateTime>,
    /// The verified claims of the token presented.
    claims: Claims,
}

/// RFC 9068 access-token claims.
#[derive(Object, Serialize)]
struct Claims {
    iss: String,
    sub: String,
    /// A string, or an array when the token names several resources (RFC 8707).
    aud: serde_json::Value,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    /// The key the token is bound to, for DPoP and PoP tokens.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation>,
    /// The PoP scheme's first nonce.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    /// Who acts for the user, for a token from a delegating exchange (RFC 8693 §4.1).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<serde_json::Value>,
}

/// RFC 7800 confirmation: the RFC 7638 thumbprint of the bound key.
#[derive(Object, Serialize)]
pub(super) struct Confirmation {
    pub jkt: String,
}

#[derive(ApiResponse)]
enum MeResult {
    #[oai(status = 200)]
    Ok(
        DirectJson<Me>,
        /// PoP scheme: sign the next call with this nonce and send it back in `PoP-Nonce`.
        #[oai(header = "PoP-Nonce")]
        Option<String>,
    ),
}

impl From<AccessClaims> for Claims {
    fn from(claims: AccessClaims) -> Self {
        Self {
            iss: claims.iss,
            sub: claims.sub,
            aud: serde_json::to_value(&claims.aud).unwrap_or_default(),
            exp: claims.exp,
            iat: claims.iat,
            nbf: claims.nbf,
            jti: claims.jti,
            username: claims.username,
            client_id: claims.client_id,
            sid: claims.sid,
            scope: claims.scope,
            cnf: claims.cnf.map(|cnf| Confirmation { jkt: cnf.jkt }),
            nonce: claims.nonce,
            act: claims.act.and_then(|act| serde_json::to_value(act).ok()),
        }
    }
}

#[OpenApi(tag = "ApiTags::Tokens")]
impl MeApi {
    /// The caller's user
    ///
    /// Accepts Bearer, DPoP and PoP tokens (see the `BearerAuth` and `HeaderAuth` schemes). 401
    /// with `WWW-Authenticate` (RFC 6750 §3, RFC 9449 §7.1) for a missing, malformed, expired,
    /// revoked or wrongly signed token, a missing or bad proof, or a token whose user no longer
    /// exists.
    #[oai(path = "/me", method = "get")]
    async fn me(&self, req: &Request, auth: AccessAuth) -> Result<MeResult, ApiError> {
        let caller = authorize(&self.0, req, &auth).await?;
        // A client's own token (client credentials) has no user behind it.
        let user = caller.user(&self.0).await?;
        let email_verified = user.email_verified();
        Ok(MeResult::Ok(
            DirectJson(Me {
                id: user.id,
                username: user.username,
                email_verified,
                email: user.email,
                created_at: user.created_at,
                last_login_at: user.last_login_at,
                claims: caller.verified.claims.into(),
            }),
            caller.next_pop_nonce,
        ))
    }
}
