//! In-memory proof state and profiles, for `authd dev`: one process, so nothing to share.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::lock;
use crate::store::{Profile, ProfileStore, ProofStateStore, StoreError};

#[derive(Default)]
pub struct MemoryProofState {
    entries: Mutex<HashMap<String, (String, Instant)>>,
}

impl MemoryProofState {
    /// The live entries, with the expired ones dropped (they cannot matter any more).
    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        let mut entries = lock(&self.entries);
        let now = Instant::now();
        entries.retain(|_, (_, expires)| *expires > now);
        entries
    }
}

#[async_trait]
impl ProofStateStore for MemoryProofState {
    async fn put(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        self.live()
            .insert(key.to_owned(), (value.to_owned(), Instant::now() + ttl));
        Ok(())
    }

    async fn get(&self, key: &str, consume: bool) -> Result<Option<String>, StoreError> {
        let mut entries = self.live();
        Ok(if consume {
            entries.remove(key).map(|(value, _)| value)
        } else {
            entries.get(key).map(|(value, _)| value.clone())
        })
    }

    async fn insert_new(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut entries = self.live();
        if entries.contains_key(key) {
            return Ok(false);
        }
        entries.insert(key.to_owned(), (String::new(), Instant::now() + ttl));
        Ok(true)
    }
}

#[derive(Default)]
pub struct MemoryProfiles {
    by_user: Mutex<HashMap<Uuid, Profile>>,
}

#[async_trait]
impl ProfileStore for MemoryProfiles {
    async fn profile(&self, user_id: Uuid) -> Result<Option<Profile>, StoreError> {
        Ok(lock(&self.by_user).get(&user_id).cloned())
    }

    async fn put_profile(
        &self,
        user_id: Uuid,
        profile: &Profile,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let saved = Profile {
            updated_at: Some(now),
            ..profile.clone()
        };
        lock(&self.by_user).insert(user_id, saved);
        Ok(())
    }
}
