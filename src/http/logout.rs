//! `POST /logout`: revoke the presented access token.

use poem_openapi::{ApiResponse, OpenApi};
use time::OffsetDateTime;

use super::{ApiTags, bearer::BearerAuth, error::ApiError};
use crate::{
    startup::AppState,
    store::{Revocation, RevocationKind},
};

pub struct LogoutApi(pub AppState);

#[derive(ApiResponse)]
enum LogoutResult {
    /// The token is revoked on every replica.
    #[oai(status = 204)]
    LoggedOut,
}

#[OpenApi(tag = "ApiTags::Tokens")]
impl LogoutApi {
    /// Log out
    ///
    /// Revokes the presented access token: from now on every replica refuses it.
    #[oai(path = "/logout", method = "post")]
    async fn logout(&self, auth: BearerAuth) -> Result<LogoutResult, ApiError> {
        let state = &self.0;
        let verified = state.verifier.verify(auth.token()).await?;
        let now = state.clock.now();
        let revocation = Revocation {
            kind: RevocationKind::Token,
            id: verified.claims.jti.clone(),
            expires_at: OffsetDateTime::from_unix_timestamp(verified.claims.exp).unwrap_or(now),
        };
        state
            .revocations
            .revoke(&revocation, now, Some(&verified.token_hash))
            .await?;
        tracing::info!(user_id = %verified.claims.sub, "logged out");
        Ok(LogoutResult::LoggedOut)
    }
}
