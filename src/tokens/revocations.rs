//! Revocation: durable in Postgres, mirrored in Redis for one-round-trip checks.
//!
//! Postgres is the truth. Redis answers the hot path; when it has lost its data (restart,
//! FLUSHALL: the "loaded" marker is gone) or cannot answer, the check asks Postgres instead, and
//! a lost list is reloaded before Redis is trusted again (../shared/DESIGN.md, failure policy).

use std::{sync::Arc, time::Duration};

use time::OffsetDateTime;

use crate::{
    error::Error,
    store::{Revocation, RevocationStore, TokenStateCache, TokenStatus},
};

pub struct Revocations {
    durable: Arc<dyn RevocationStore>,
    shared: Arc<dyn TokenStateCache>,
}

impl Revocations {
    pub fn new(durable: Arc<dyn RevocationStore>, shared: Arc<dyn TokenStateCache>) -> Self {
        Self { durable, shared }
    }

    /// Revokes durably, then in the shared cache. Either failing is an error the caller reports
    /// (and may retry): a revocation the hot path cannot see is not done.
    pub async fn revoke(
        &self,
        revocation: &Revocation,
        now: OffsetDateTime,
        token_hash: Option<&str>,
    ) -> Result<(), Error> {
        self.durable.revoke(revocation, now).await?;
        let ttl = remaining(revocation.expires_at, now);
        if ttl.is_zero() {
            return Ok(()); // already dead: nothing for the hot path to remember
        }
        self.shared.revoke(revocation, ttl, token_hash).await?;
        tracing::info!(kind = revocation.kind.as_str(), id = %revocation.id, "revoked");
        Ok(())
    }

    /// The token's status in one round trip when Redis is healthy; from Postgres otherwise.
    pub async fn status(
        &self,
        jti: &str,
        sid: Option<&str>,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<TokenStatus, Error> {
        match self.shared.status(jti, sid, token_hash).await {
            Ok(status) if status.revocations_loaded => Ok(status),
            Ok(_) => {
                tracing::warn!("the shared revocation list was lost; reloading it from Postgres");
                let revocations = self.durable.unexpired(now).await?;
                if let Err(err) = self.shared.load_revocations(&revocations, now).await {
                    tracing::warn!(error = %err, "could not reload the shared revocation list");
                }
                self.status_from_postgres(jti, sid).await
            }
            Err(err) => {
                tracing::warn!(error = %err, "shared token cache unavailable; checking Postgres");
                self.status_from_postgres(jti, sid).await
            }
        }
    }

    /// Remembers a verified token so the next verification can skip the signature check.
    /// Best effort: a failure only costs that next check a signature verification.
    pub async fn remember_verified(&self, token_hash: &str, claims_json: &str, ttl: Duration) {
        if let Err(err) = self
            .shared
            .remember_verified(token_hash, claims_json, ttl)
            .await
        {
            tracing::debug!(error = %err, "could not cache a verified token");
        }
    }

    async fn status_from_postgres(
        &self,
        jti: &str,
        sid: Option<&str>,
    ) -> Result<TokenStatus, Error> {
        Ok(TokenStatus {
            revoked: self.durable.is_revoked(jti, sid).await?,
            verified_claims: None,
            revocations_loaded: true,
        })
    }
}

/// Time left until `until`, zero if it has passed.
pub fn remaining(until: OffsetDateTime, now: OffsetDateTime) -> Duration {
    Duration::try_from(until - now).unwrap_or(Duration::ZERO)
}
