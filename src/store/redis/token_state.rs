//! The revocation mirror shared by replicas: `revoked:{kind}:{id}`, and `revocations:loaded`,
//! the marker whose absence means Redis lost the list.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{Redis, millis, unavailable};
use crate::store::{Revocation, StoreError, TokenStateCache, TokenStatus};

/// The marker outlives any revocation worth remembering; when it expires or is flushed, the next
/// check reloads the list from Postgres, which is harmless.
const LOADED_MARKER_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

pub struct RedisTokenState(pub Redis);

impl RedisTokenState {
    fn revoked_key(&self, kind: &str, id: &str) -> String {
        self.0.key(&format!("revoked:{kind}:{id}"))
    }
}

#[async_trait]
impl TokenStateCache for RedisTokenState {
    async fn status(&self, jti: &str, sid: Option<&str>) -> Result<TokenStatus, StoreError> {
        let jti_key = self.revoked_key("jti", jti);
        // Without a session, ask for the jti twice rather than vary the pipeline's shape.
        let sid_key = sid.map_or_else(|| jti_key.clone(), |sid| self.revoked_key("sid", sid));
        let marker = self.0.key("revocations:loaded");
        let mut connection = self.0.connection().await?;
        let (jti_revoked, sid_revoked, loaded): (bool, bool, bool) = redis::pipe()
            .exists(jti_key)
            .exists(sid_key)
            .exists(marker)
            .query_async(&mut connection)
            .await
            .map_err(|err| unavailable(&err))?;
        Ok(TokenStatus {
            revoked: jti_revoked || sid_revoked,
            revocations_loaded: loaded,
        })
    }

    async fn revoke(&self, revocation: &Revocation, ttl: Duration) -> Result<(), StoreError> {
        let mut connection = self.0.connection().await?;
        redis::cmd("SET")
            .arg(self.revoked_key(revocation.kind.as_str(), &revocation.id))
            .arg(1)
            .arg("PX")
            .arg(millis(ttl))
            .query_async::<()>(&mut connection)
            .await
            .map_err(|err| unavailable(&err))
    }

    async fn load_revocations(
        &self,
        revocations: &[Revocation],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        for revocation in revocations {
            let ttl = crate::tokens::remaining(revocation.expires_at, now);
            if !ttl.is_zero() {
                pipe.cmd("SET")
                    .arg(self.revoked_key(revocation.kind.as_str(), &revocation.id))
                    .arg(1)
                    .arg("PX")
                    .arg(millis(ttl))
                    .ignore();
            }
        }
        // Last, so a reader that sees the marker sees every revocation before it.
        pipe.cmd("SET")
            .arg(self.0.key("revocations:loaded"))
            .arg(1)
            .arg("PX")
            .arg(millis(LOADED_MARKER_TTL))
            .ignore();
        let mut connection = self.0.connection().await?;
        pipe.query_async::<()>(&mut connection)
            .await
            .map_err(|err| unavailable(&err))
    }
}
