//! In-memory stores for `authd dev` and tests: the same contracts, nothing persists.

mod admin;
mod ldap_accounts;
mod outbox;
mod passkeys;
mod proof_state;
mod rate_limits;
mod second_factors;
mod sessions;
mod streams;
mod tokens;
mod upstreams;
mod users;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

pub use admin::{MemoryAudit, MemoryGroups, MemoryWebhooks};
pub use outbox::MemoryOutbox;
pub use proof_state::{MemoryProfiles, MemoryProofState};
pub use rate_limits::MemoryRateLimits;
pub use sessions::MemorySessions;
pub use tokens::MemoryTokenState;
pub use users::MemoryUsers;

use super::lock;

use super::{
    AuthLogEntry, AuthLogStore, CleanupReport, ClientRecord, ClientStore, Consent, ConsentStore,
    ConsentSummary, EventBus, Housekeeping, KeyNeed, KeyPurpose, SigningKeyRecord, SigningKeyStore,
    StoreError, Stores, Supersede,
};

/// Wires a full set of in-memory stores.
pub fn stores() -> Stores {
    let tokens = Arc::new(MemoryTokenState::default());
    let clients = Arc::new(MemoryClients::default());
    let outbox = Arc::new(MemoryOutbox::default());
    let users = Arc::new(MemoryUsers::new(outbox.clone()));
    Stores {
        revocations: tokens.clone(),
        token_cache: tokens,
        sessions: Arc::new(MemorySessions::default()),
        clients: clients.clone(),
        consents: clients,
        profiles: Arc::new(MemoryProfiles::default()),
        second_factors: Arc::new(second_factors::MemorySecondFactors::default()),
        passkeys: Arc::new(passkeys::MemoryPasskeys::default()),
        proof_state: Arc::new(MemoryProofState::default()),
        events: Arc::new(MemoryEvents::default()),
        housekeeping: Arc::new(NoHousekeeping),
        upstreams: Arc::new(upstreams::MemoryUpstreams::new(users.clone())),
        ldap_accounts: Arc::new(ldap_accounts::MemoryLdapAccounts::new(users.clone())),
        users: users.clone(),
        groups: Arc::new(MemoryGroups::new(users)),
        audit: Arc::new(MemoryAudit::new(outbox.clone())),
        webhooks: Arc::new(MemoryWebhooks::default()),
        streams: Arc::new(streams::MemoryStreams::default()),
        outbox,
        signing_keys: Arc::new(MemorySigningKeys::default()),
        auth_logs: Arc::new(MemoryAuthLogs::default()),
        rate_limits: Arc::new(MemoryRateLimits::default()),
        probes: Vec::new(),
    }
}

#[derive(Default)]
pub struct MemorySigningKeys {
    keys: Mutex<Vec<SigningKeyRecord>>,
}

#[async_trait]
impl SigningKeyStore for MemorySigningKeys {
    async fn list_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        Ok(lock(&self.keys).clone())
    }

    async fn replace_sealed(
        &self,
        key: &SigningKeyRecord,
        previous_master_key_id: &str,
    ) -> Result<bool, StoreError> {
        let mut keys = lock(&self.keys);
        let old = keys
            .iter_mut()
            .find(|old| old.kid == key.kid && old.master_key_id == previous_master_key_id);
        Ok(old.map(|old| *old = key.clone()).is_some())
    }

    async fn insert_key_if(
        &self,
        key: &SigningKeyRecord,
        needed: &KeyNeed,
        supersede: Option<Supersede>,
    ) -> Result<bool, StoreError> {
        let mut keys = lock(&self.keys);
        if !needed(&keys) {
            return Ok(false);
        }
        if let Some(Supersede {
            signing_ends,
            retire_at,
        }) = supersede
        {
            // Only keys that sign are superseded; the test key never does.
            keys.retain(|old| old.purpose != KeyPurpose::Signing || old.not_before < signing_ends);
            for old in keys
                .iter_mut()
                .filter(|old| old.purpose == KeyPurpose::Signing)
            {
                old.expires_at = old.expires_at.min(signing_ends);
                old.retire_at = old.retire_at.min(retire_at).max(old.expires_at);
            }
        }
        keys.push(key.clone());
        Ok(true)
    }
}

/// One process: its events need no channel beyond it, but the contract is kept (heartbeats
/// included, so memory is trusted as in a cluster).
pub struct MemoryEvents(tokio::sync::broadcast::Sender<crate::store::Event>);

impl Default for MemoryEvents {
    fn default() -> Self {
        Self(tokio::sync::broadcast::channel(1024).0)
    }
}

#[async_trait]
impl EventBus for MemoryEvents {
    async fn publish(&self, event: &crate::store::Event) -> Result<(), StoreError> {
        let _ = self.0.send(event.clone()); // no subscriber yet is fine
        Ok(())
    }

    async fn subscribe(
        &self,
    ) -> Result<futures_util::stream::BoxStream<'static, crate::store::Event>, StoreError> {
        use futures_util::StreamExt;
        let receiver = self.0.subscribe();
        Ok(
            futures_util::stream::unfold(receiver, |mut receiver| async move {
                // Lagged: events were missed, so the subscription ends and is made again, with
                // a catch-up, like a dropped Redis subscription.
                receiver.recv().await.ok().map(|event| (event, receiver))
            })
            .boxed(),
        )
    }
}

/// `authd dev` keeps everything until it exits; a dev process lives shorter than any retention
/// window worth enforcing.
pub struct NoHousekeeping;

#[async_trait]
impl Housekeeping for NoHousekeeping {
    async fn clean(
        &self,
        _now: OffsetDateTime,
        _retired_keys_before: OffsetDateTime,
        _keep_expired_test_key: bool,
        _auth_logs_before: OffsetDateTime,
    ) -> Result<Option<CleanupReport>, StoreError> {
        Ok(Some(CleanupReport::default()))
    }
}

/// Clients and the consents users gave them, under one lock, so that deleting a client
/// forgets its consents as the database's cascade does.
#[derive(Default)]
pub struct MemoryClients {
    inner: Mutex<ClientsAndConsents>,
}

#[derive(Default)]
struct ClientsAndConsents {
    clients: Vec<ClientRecord>,
    consents: HashMap<(Uuid, String), Consent>,
}

#[async_trait]
impl ClientStore for MemoryClients {
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        lock(&self.inner).clients.push(client.clone());
        Ok(())
    }

    async fn find_client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        Ok(lock(&self.inner)
            .clients
            .iter()
            .find(|client| client.client_id == client_id)
            .cloned())
    }

    async fn list_clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        Ok(lock(&self.inner).clients.clone())
    }

    async fn update_client(&self, client: &ClientRecord) -> Result<bool, StoreError> {
        let mut inner = lock(&self.inner);
        let Some(stored) = inner
            .clients
            .iter_mut()
            .find(|stored| stored.client_id == client.client_id)
        else {
            return Ok(false);
        };
        if stored.revision != client.revision {
            return Ok(false);
        }
        *stored = ClientRecord {
            created_at: stored.created_at,
            revision: stored.revision + 1,
            ..client.clone()
        };
        Ok(true)
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        let mut inner = lock(&self.inner);
        let before = inner.clients.len();
        inner.clients.retain(|client| client.client_id != client_id);
        inner.consents.retain(|(_, client), _| client != client_id);
        Ok(inner.clients.len() < before)
    }
}

#[async_trait]
impl ConsentStore for MemoryClients {
    async fn find_consent(
        &self,
        user_id: Uuid,
        client_id: &str,
    ) -> Result<Option<Consent>, StoreError> {
        Ok(lock(&self.inner)
            .consents
            .get(&(user_id, client_id.to_owned()))
            .cloned())
    }

    async fn save_consent(&self, consent: &Consent) -> Result<(), StoreError> {
        lock(&self.inner).consents.insert(
            (consent.user_id, consent.client_id.clone()),
            consent.clone(),
        );
        Ok(())
    }

    async fn list_consents(&self, user_id: Uuid) -> Result<Vec<ConsentSummary>, StoreError> {
        let inner = lock(&self.inner);
        let mut listed: Vec<ConsentSummary> = inner
            .consents
            .values()
            .filter(|consent| consent.user_id == user_id)
            .filter_map(|consent| {
                let client = inner
                    .clients
                    .iter()
                    .find(|client| client.client_id == consent.client_id)?;
                Some(ConsentSummary {
                    consent: consent.clone(),
                    client_name: client.name.clone(),
                })
            })
            .collect();
        listed.sort_by(|a, b| {
            (
                std::cmp::Reverse(a.consent.granted_at),
                &a.consent.client_id,
            )
                .cmp(&(
                    std::cmp::Reverse(b.consent.granted_at),
                    &b.consent.client_id,
                ))
        });
        Ok(listed)
    }

    async fn delete_consent(&self, user_id: Uuid, client_id: &str) -> Result<bool, StoreError> {
        Ok(lock(&self.inner)
            .consents
            .remove(&(user_id, client_id.to_owned()))
            .is_some())
    }
}

#[derive(Default)]
pub struct MemoryAuthLogs {
    entries: Mutex<Vec<AuthLogEntry>>,
}

impl MemoryAuthLogs {
    pub fn entries(&self) -> Vec<AuthLogEntry> {
        lock(&self.entries).clone()
    }
}

#[async_trait]
impl AuthLogStore for MemoryAuthLogs {
    async fn append(&self, entries: &[AuthLogEntry]) -> Result<(), StoreError> {
        lock(&self.entries).extend_from_slice(entries);
        Ok(())
    }
}
