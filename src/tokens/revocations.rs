//! Revocation: durable in Postgres, mirrored in Redis, and known in memory on every replica.
//!
//! A revocation is written to Postgres (the truth), then Redis (the mirror that replicas ask
//! while their memory is not current), then published, so every replica adds it to its
//! [`RevokedSet`]. A verification asks memory only while [`Freshness`] says memory is current;
//! otherwise it asks Redis, and Postgres when Redis has lost its list or cannot answer
//! (../shared/DESIGN.md, failure policy). Memory is consulted either way, so a revocation this
//! replica has heard of is refused whatever Redis says.

use std::{sync::Arc, time::Duration};

use time::OffsetDateTime;

pub use super::revoked_set::RevokedSet;
use super::revoked_set::Sets;
use crate::{
    clock::remaining,
    error::Error,
    invalidation::{Event, Freshness},
    metrics::Metrics,
    store::{EventBus, Revocation, RevocationStore, TokenStateCache},
};

pub struct Revocations {
    durable: Arc<dyn RevocationStore>,
    shared: Arc<dyn TokenStateCache>,
    local: RevokedSet,
    /// Durable revocations not yet in the mirror or not yet announced (Redis failed them):
    /// retried by [`Self::announce_pending`] until Redis takes them, since a caller cannot
    /// retry a logout whose token this replica already refuses.
    unannounced: std::sync::Mutex<Vec<Revocation>>,
    freshness: Arc<Freshness>,
    events: Arc<dyn EventBus>,
    metrics: Arc<Metrics>,
}

impl Revocations {
    pub fn new(
        durable: Arc<dyn RevocationStore>,
        shared: Arc<dyn TokenStateCache>,
        freshness: Arc<Freshness>,
        events: Arc<dyn EventBus>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            durable,
            shared,
            local: RevokedSet::default(),
            unannounced: std::sync::Mutex::default(),
            freshness,
            events,
            metrics,
        }
    }

    /// Revokes durably, then in this replica's memory and the shared mirror, then tells every
    /// replica. Any step failing is an error the caller reports: a revocation other replicas
    /// may not see yet is not done. One that reached Postgres is kept, refused here at once,
    /// and announced later ([`Self::announce_pending`]) if Redis failed it now.
    pub async fn revoke(&self, revocation: &Revocation, now: OffsetDateTime) -> Result<(), Error> {
        self.durable.revoke(revocation, now).await?;
        let ttl = remaining(revocation.expires_at, now);
        if ttl.is_zero() {
            return Ok(()); // already dead: nothing for the hot path to remember
        }
        // Durable now, so this replica refuses it from here on, whatever happens next.
        self.local.insert(revocation);
        if let Err(err) = self.announce(revocation, ttl).await {
            crate::store::lock(&self.unannounced).push(revocation.clone());
            return Err(err);
        }
        tracing::info!(kind = revocation.kind.as_str(), id = %revocation.id, "revoked");
        Ok(())
    }

    /// Into the mirror, then on the channel.
    async fn announce(&self, revocation: &Revocation, ttl: Duration) -> Result<(), Error> {
        self.shared.revoke(revocation, ttl).await?;
        self.events
            .publish(&Event::Revoked(revocation.clone()))
            .await?;
        Ok(())
    }

    /// Announces the revocations Redis failed when they were made (a Redis failover, say),
    /// keeping those it fails again for the next call. Until then, replicas that follow the
    /// channel may not know of them; replicas that reload from Postgres do.
    pub async fn announce_pending(&self, now: OffsetDateTime) {
        let pending = std::mem::take(&mut *crate::store::lock(&self.unannounced));
        let mut failed = Vec::new();
        for revocation in pending {
            let ttl = remaining(revocation.expires_at, now);
            if ttl.is_zero() {
                continue;
            }
            match self.announce(&revocation, ttl).await {
                Ok(()) => tracing::info!(
                    kind = revocation.kind.as_str(),
                    id = %revocation.id,
                    "revocation announced after Redis failed it"
                ),
                Err(_) => failed.push(revocation),
            }
        }
        if !failed.is_empty() {
            crate::store::lock(&self.unannounced).extend(failed);
        }
    }

    /// Whether the token `jti`, or its session `sid`, is revoked: from memory alone while it is
    /// current (no round trip); otherwise from Redis, or Postgres.
    pub async fn is_revoked(
        &self,
        jti: &str,
        sid: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<bool, Error> {
        if self.local.contains(jti, sid) {
            return Ok(true);
        }
        if self.freshness.is_current() {
            return Ok(false);
        }
        self.metrics.revocation_round_trips.inc();
        match self.shared.status(jti, sid).await {
            Ok(status) if status.revocations_loaded => Ok(status.revoked),
            Ok(_) => {
                tracing::warn!("the shared revocation list was lost; reloading it from Postgres");
                let revocations = self.durable.unexpired(now).await?;
                if let Err(err) = self.shared.load_revocations(&revocations, now).await {
                    tracing::warn!(error = %err, "could not reload the shared revocation list");
                }
                Ok(self.durable.is_revoked(jti, sid).await?)
            }
            Err(err) => {
                tracing::warn!(error = %err, "shared revocation list unavailable; checking Postgres");
                Ok(self.durable.is_revoked(jti, sid).await?)
            }
        }
    }

    /// Another replica's revocation, heard on the channel.
    pub fn apply(&self, revocation: &Revocation) {
        self.local.insert(revocation);
    }

    /// Replaces memory with the durable list: what a replica does before it trusts memory.
    pub async fn reload(&self, now: OffsetDateTime) -> Result<(), Error> {
        let mut fresh = Sets::default();
        self.durable
            .each_unexpired(now, &mut |revocation| fresh.insert(&revocation))
            .await?;
        self.local.replace(fresh);
        self.metrics
            .revocations_in_memory
            .set(self.local.len() as i64);
        Ok(())
    }

    /// Drops expired revocations from memory.
    pub fn purge(&self, now: OffsetDateTime) {
        self.local.purge(now);
        self.metrics
            .revocations_in_memory
            .set(self.local.len() as i64);
    }
}
