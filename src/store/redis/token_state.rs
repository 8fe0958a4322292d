//! The revocation mirror shared by replicas: `{revocations}:{kind}:{id}`, and
//! `{revocations}:loaded`, the marker whose absence means Redis lost the list.
//!
//! On a Redis Cluster the `{revocations}` hash tag keeps the mirror and its marker on one node:
//! a check is one pipeline to one node, and a failover of that node loses or keeps the marker
//! together with the entries it vouches for, never some entries behind a surviving marker.
//! The mirror is small (revoked, unexpired tokens) and read only by a replica whose memory is
//! not current, so one slot is not a hot spot.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{Redis, millis, unavailable};
use crate::store::{Revocation, StoreError, TokenStateCache, TokenStatus};

/// The marker outlives any revocation worth remembering; when it expires or is flushed, the next
/// check reloads the list from Postgres, which is harmless.
const LOADED_MARKER_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a revocation waits for a cluster replica to hold it (`WAIT 1`), so that a master
/// killed just after acknowledging it does not take it away: replication is asynchronous. A
/// replica acknowledges in well under a millisecond; a master without one (after a failover,
/// until the dead node is replaced) makes every revocation wait this long.
const REPLICATION_WAIT_MS: u64 = 100;

const LOADED_MARKER: &str = "{revocations}:loaded";

pub struct RedisTokenState(pub Redis);

impl RedisTokenState {
    fn revoked_key(&self, kind: &str, id: &str) -> String {
        self.0.key(&format!("{{revocations}}:{kind}:{id}"))
    }
}

#[async_trait]
impl TokenStateCache for RedisTokenState {
    async fn status(&self, jti: &str, sid: Option<&str>) -> Result<TokenStatus, StoreError> {
        let jti_key = self.revoked_key("jti", jti);
        // Without a session, ask for the jti twice rather than vary the pipeline's shape.
        let sid_key = sid.map_or_else(|| jti_key.clone(), |sid| self.revoked_key("sid", sid));
        let marker = self.0.key(LOADED_MARKER);
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
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(self.revoked_key(revocation.kind.as_str(), &revocation.id))
            .arg(1)
            .arg("PX")
            .arg(millis(ttl))
            .ignore();
        if self.0.is_cluster() {
            // Sent in the same pipeline, so to the node that took the SET. It answers how many
            // replicas hold it; none (a cluster without replicas, or a lagging one) is not an
            // error: Postgres has the revocation, and a replica reloads from it after a loss.
            pipe.cmd("WAIT").arg(1).arg(REPLICATION_WAIT_MS).ignore();
        }
        let mut connection = self.0.revocation_connection().await?;
        pipe.query_async::<()>(&mut connection)
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
            let ttl = crate::clock::remaining(revocation.expires_at, now);
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
            .arg(self.0.key(LOADED_MARKER))
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
