//! In-memory revocations for `authd dev`: one process, so the durable list and the shared
//! mirror are the same map, and the list is never "lost".

use std::{collections::HashMap, sync::Mutex, time::Duration};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::lock;
use crate::store::{
    Revocation, RevocationKind, RevocationStore, StoreError, TokenStateCache, TokenStatus,
};

#[derive(Default)]
pub struct MemoryTokenState {
    revoked: Mutex<HashMap<(RevocationKind, String), OffsetDateTime>>,
}

#[async_trait]
impl RevocationStore for MemoryTokenState {
    async fn revoke(
        &self,
        revocation: &Revocation,
        _now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        lock(&self.revoked).insert(
            (revocation.kind, revocation.id.clone()),
            revocation.expires_at,
        );
        Ok(())
    }

    async fn is_revoked(&self, jti: &str, sid: Option<&str>) -> Result<bool, StoreError> {
        let revoked = lock(&self.revoked);
        Ok(
            revoked.contains_key(&(RevocationKind::Token, jti.to_owned()))
                || sid.is_some_and(|sid| {
                    revoked.contains_key(&(RevocationKind::Session, sid.to_owned()))
                }),
        )
    }

    async fn unexpired(&self, now: OffsetDateTime) -> Result<Vec<Revocation>, StoreError> {
        Ok(lock(&self.revoked)
            .iter()
            .filter(|(_, expires_at)| **expires_at > now)
            .map(|((kind, id), expires_at)| Revocation {
                kind: *kind,
                id: id.clone(),
                expires_at: *expires_at,
            })
            .collect())
    }
}

#[async_trait]
impl TokenStateCache for MemoryTokenState {
    async fn status(&self, jti: &str, sid: Option<&str>) -> Result<TokenStatus, StoreError> {
        Ok(TokenStatus {
            revoked: RevocationStore::is_revoked(self, jti, sid).await?,
            revocations_loaded: true,
        })
    }

    async fn revoke(&self, _revocation: &Revocation, _ttl: Duration) -> Result<(), StoreError> {
        Ok(()) // recorded by the RevocationStore side of this same map
    }

    async fn load_revocations(
        &self,
        _revocations: &[Revocation],
        _now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}
