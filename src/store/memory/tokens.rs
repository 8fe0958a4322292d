//! In-memory revocations and verified-token cache for `authd dev`: one process, so the durable
//! list and the shared cache are the same maps, and the list is never "lost".

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::lock;
use crate::store::{
    Revocation, RevocationKind, RevocationStore, StoreError, TokenStateCache, TokenStatus,
};

#[derive(Default)]
pub struct MemoryTokenState {
    revoked: Mutex<HashMap<(RevocationKind, String), OffsetDateTime>>,
    verified: Mutex<HashMap<String, (String, Instant)>>,
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
    async fn status(
        &self,
        jti: &str,
        sid: Option<&str>,
        token_hash: &str,
    ) -> Result<TokenStatus, StoreError> {
        let verified_claims = {
            let mut verified = lock(&self.verified);
            match verified.get(token_hash) {
                Some((claims, until)) if *until > Instant::now() => Some(claims.clone()),
                Some(_) => {
                    verified.remove(token_hash);
                    None
                }
                None => None,
            }
        };
        Ok(TokenStatus {
            revoked: RevocationStore::is_revoked(self, jti, sid).await?,
            verified_claims,
            revocations_loaded: true,
        })
    }

    async fn remember_verified(
        &self,
        token_hash: &str,
        claims_json: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut verified = lock(&self.verified);
        let now = Instant::now();
        verified.retain(|_, (_, until)| *until > now); // keeps the map to live tokens
        verified.insert(token_hash.to_owned(), (claims_json.to_owned(), now + ttl));
        Ok(())
    }

    async fn revoke(
        &self,
        _revocation: &Revocation,
        _ttl: Duration,
        token_hash: Option<&str>,
    ) -> Result<(), StoreError> {
        // The revocation itself was recorded by the RevocationStore side of this same map.
        if let Some(hash) = token_hash {
            lock(&self.verified).remove(hash);
        }
        Ok(())
    }

    async fn load_revocations(
        &self,
        _revocations: &[Revocation],
        _now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}
