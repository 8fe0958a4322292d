//! Upstreams and federated identities in memory.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{lock, users::MemoryUsers};
use crate::store::{
    FederatedIdentity, SealedBox, StoreError, UniqueField, UpstreamRecord, UpstreamStore,
    UserRecord, UserStore, Written,
};

pub struct MemoryUpstreams {
    upstreams: Mutex<BTreeMap<String, UpstreamRecord>>,
    /// By (upstream, subject).
    identities: Mutex<BTreeMap<(String, String), FederatedIdentity>>,
    users: Arc<MemoryUsers>,
}

impl MemoryUpstreams {
    pub fn new(users: Arc<MemoryUsers>) -> Self {
        Self {
            upstreams: Mutex::default(),
            identities: Mutex::default(),
            users,
        }
    }

    fn check_new_identity(&self, identity: &FederatedIdentity) -> Result<(), StoreError> {
        let identities = lock(&self.identities);
        let taken = identities.values().any(|linked| {
            linked.upstream_id == identity.upstream_id
                && (linked.subject == identity.subject || linked.user_id == identity.user_id)
        });
        if taken {
            return Err(StoreError::Conflict(UniqueField::FederatedIdentity));
        }
        Ok(())
    }

    fn insert_identity(&self, identity: &FederatedIdentity) {
        lock(&self.identities).insert(
            (identity.upstream_id.clone(), identity.subject.clone()),
            identity.clone(),
        );
    }
}

#[async_trait]
impl UpstreamStore for MemoryUpstreams {
    async fn insert_upstream(&self, upstream: &UpstreamRecord) -> Result<(), StoreError> {
        let mut upstreams = lock(&self.upstreams);
        if upstreams.contains_key(&upstream.id) {
            return Err(StoreError::Conflict(UniqueField::UpstreamId));
        }
        upstreams.insert(upstream.id.clone(), upstream.clone());
        Ok(())
    }

    async fn find_upstream(&self, id: &str) -> Result<Option<UpstreamRecord>, StoreError> {
        Ok(lock(&self.upstreams).get(id).cloned())
    }

    async fn list_upstreams(&self) -> Result<Vec<UpstreamRecord>, StoreError> {
        Ok(lock(&self.upstreams).values().cloned().collect())
    }

    async fn replace_upstream(
        &self,
        upstream: &UpstreamRecord,
        expected: Option<i64>,
    ) -> Result<Written<UpstreamRecord>, StoreError> {
        let mut upstreams = lock(&self.upstreams);
        let Some(stored) = upstreams.get_mut(&upstream.id) else {
            return Ok(Written::Missing);
        };
        if expected.is_some_and(|expected| expected != stored.revision) {
            return Ok(Written::Stale);
        }
        *stored = UpstreamRecord {
            created_at: stored.created_at,
            revision: stored.revision + 1,
            ..upstream.clone()
        };
        Ok(Written::Done(stored.clone()))
    }

    async fn reseal_upstream(
        &self,
        id: &str,
        previous_master: &str,
        sealed: &SealedBox,
        master_key_id: &str,
    ) -> Result<bool, StoreError> {
        let mut upstreams = lock(&self.upstreams);
        match upstreams.get_mut(id) {
            Some(stored) if stored.master_key_id == previous_master => {
                stored.client_secret = sealed.clone();
                master_key_id.clone_into(&mut stored.master_key_id);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_upstream(&self, id: &str) -> Result<bool, StoreError> {
        lock(&self.identities).retain(|(upstream, _), _| upstream != id);
        Ok(lock(&self.upstreams).remove(id).is_some())
    }

    async fn find_identity(
        &self,
        upstream_id: &str,
        subject: &str,
    ) -> Result<Option<FederatedIdentity>, StoreError> {
        Ok(lock(&self.identities)
            .get(&(upstream_id.to_owned(), subject.to_owned()))
            .cloned())
    }

    async fn identities_of(&self, user_id: Uuid) -> Result<Vec<FederatedIdentity>, StoreError> {
        Ok(lock(&self.identities)
            .values()
            .filter(|identity| identity.user_id == user_id)
            .cloned()
            .collect())
    }

    async fn link_identity(&self, identity: &FederatedIdentity) -> Result<(), StoreError> {
        self.check_new_identity(identity)?;
        self.insert_identity(identity);
        Ok(())
    }

    async fn provision(
        &self,
        user: &UserRecord,
        identity: &FederatedIdentity,
    ) -> Result<(), StoreError> {
        self.check_new_identity(identity)?;
        self.users.insert_user(user).await?;
        self.insert_identity(identity);
        Ok(())
    }

    async fn touch_identity(
        &self,
        identity: &FederatedIdentity,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if let Some(stored) = lock(&self.identities)
            .get_mut(&(identity.upstream_id.clone(), identity.subject.clone()))
        {
            stored.username.clone_from(&identity.username);
            stored.email.clone_from(&identity.email);
            stored.last_login_at = Some(at);
        }
        Ok(())
    }

    async fn unlink_identity(&self, user_id: Uuid, upstream_id: &str) -> Result<bool, StoreError> {
        let mut identities = lock(&self.identities);
        let before = identities.len();
        identities.retain(|_, identity| {
            !(identity.user_id == user_id && identity.upstream_id == upstream_id)
        });
        Ok(identities.len() != before)
    }
}
