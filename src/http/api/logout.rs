//! `POST /logout`: revoke the presented access token and, if given, its session.

use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi};
use time::OffsetDateTime;

use super::ApiTags;
use crate::http::{
    bodies::fields,
    bodies::optional_json::OptionalJson,
    callers::access::{AccessAuth, authorize, subject_exists},
    error::ApiError,
};
use crate::{
    error::Error,
    sessions::RefreshToken,
    state::AppState,
    tokens::{InvalidToken, VerifiedToken},
    tokens::{Revocation, RevocationKind},
};

pub struct LogoutApi(pub AppState);

/// No `Debug`: holds a refresh token.
#[derive(Object)]
struct LogoutRequest {
    /// Also end this refresh token's session (and every access token issued in it).
    #[oai(write_only, deserialize_with = "fields::optional_refresh_token")]
    refresh_token: Option<String>,
}

#[derive(ApiResponse)]
enum LogoutResult {
    /// Revoked on every replica.
    #[oai(status = 204)]
    LoggedOut,
}

#[OpenApi(tag = "ApiTags::Tokens")]
impl LogoutApi {
    /// Log out
    ///
    /// Revokes the presented access token; with a `refresh_token` in the body, ends that session.
    #[oai(path = "/logout", method = "post")]
    async fn logout(
        &self,
        req: &Request,
        auth: AccessAuth,
        body: OptionalJson<LogoutRequest>,
    ) -> Result<LogoutResult, ApiError> {
        let state = &self.0;
        let verified = authorize(state, req, &auth).await?.verified;
        if !subject_exists(state, &verified.claims).await? {
            return Err(Error::from(InvalidToken::UnknownSubject).into());
        }
        revoke_access_token(state, &verified).await?;
        if let Some(refresh_token) = body.0.and_then(|body| body.refresh_token) {
            state
                .sessions
                .revoke(&RefreshToken::presented(refresh_token))
                .await?;
        }
        tracing::info!(user_id = %verified.claims.sub, "logged out");
        Ok(LogoutResult::LoggedOut)
    }
}

/// Revokes one verified access token by its `jti`, until it would have expired anyway.
pub async fn revoke_access_token(state: &AppState, verified: &VerifiedToken) -> Result<(), Error> {
    let now = state.clock.now();
    let revocation = Revocation {
        kind: RevocationKind::Token,
        id: verified.claims.jti.clone(),
        expires_at: OffsetDateTime::from_unix_timestamp(verified.claims.exp).unwrap_or(now),
    };
    state.revocations.revoke(&revocation, now).await
}
