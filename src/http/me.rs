//! `GET /me`: who the bearer of a valid access token is.

use poem_openapi::{Object, OpenApi, payload::Json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{ApiTags, bearer::BearerAuth, error::ApiError};
use crate::{
    error::Error,
    startup::AppState,
    tokens::{AccessClaims, InvalidToken},
};

pub struct MeApi(pub AppState);

#[derive(Object)]
struct Me {
    id: Uuid,
    username: String,
    email: String,
    created_at: OffsetDateTime,
    last_login_at: Option<OffsetDateTime>,
    /// The verified claims of the token presented.
    claims: Claims,
}

/// RFC 9068 access-token claims.
#[derive(Object)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    #[oai(skip_serializing_if_is_none)]
    username: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    client_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    sid: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    scope: Option<String>,
}

impl From<AccessClaims> for Claims {
    fn from(claims: AccessClaims) -> Self {
        Self {
            iss: claims.iss,
            sub: claims.sub,
            aud: claims.aud,
            exp: claims.exp,
            iat: claims.iat,
            nbf: claims.nbf,
            jti: claims.jti,
            username: claims.username,
            client_id: claims.client_id,
            sid: claims.sid,
            scope: claims.scope,
        }
    }
}

#[OpenApi(tag = "ApiTags::Tokens")]
impl MeApi {
    /// The bearer's user
    ///
    /// 401 with `WWW-Authenticate` (RFC 6750 §3) for a missing, malformed, expired, revoked or
    /// wrongly signed token, or one whose user no longer exists.
    #[oai(path = "/me", method = "get")]
    async fn me(&self, auth: BearerAuth) -> Result<Json<Me>, ApiError> {
        let verified = self.0.verifier.verify(auth.token()).await?;
        // A client's own token (client credentials) has no user behind it.
        let user_id = Uuid::parse_str(&verified.claims.sub)
            .map_err(|_| Error::from(InvalidToken::UnknownSubject))?;
        let user = self
            .0
            .users
            .find_by_id(user_id)
            .await
            .map_err(Error::from)?
            .ok_or(InvalidToken::UnknownSubject)
            .map_err(Error::from)?;
        Ok(Json(Me {
            id: user.id,
            username: user.username,
            email: user.email,
            created_at: user.created_at,
            last_login_at: user.last_login_at,
            claims: verified.claims.into(),
        }))
    }
}
