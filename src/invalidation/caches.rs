//! Per-replica caches of client records, user rows and profiles, in front of their stores.
//!
//! Read from memory only while [`Freshness`] says memory is current; otherwise (and on a miss)
//! from the store, and remembered. A write goes to the store, forgets the entry here, and is
//! published so every other replica forgets it too. Only found rows are cached: a miss is asked
//! again, so a row created elsewhere is seen at once.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use quick_cache::sync::Cache;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Event, Freshness};
use crate::store::{
    AccountLink, ClientRecord, ClientStore, EventBus, LinkChange, LinkPurpose, OutboxMessage,
    Profile, ProfileStore, StoreError, UserChange, UserQuery, UserRecord, UserStore, Written,
};

/// Bounds, in entries. Clients are few; users and profiles are a few hundred bytes each, so the
/// user caches at their bound hold about 15 MB.
const CLIENTS: usize = 1_000;
const USERS: usize = 20_000;
const PROFILES: usize = 20_000;

/// One bounded cache, with a generation that every invalidation advances: a value read from the
/// store is remembered only if no invalidation came in while it was being read, so a row read
/// just before a change cannot outlive the change's event.
struct Generational<K, V> {
    entries: Cache<K, V>,
    generation: AtomicU64,
}

impl<K: Eq + std::hash::Hash + Clone, V: Clone> Generational<K, V> {
    fn new(capacity: usize) -> Self {
        Self {
            entries: Cache::new(capacity),
            generation: AtomicU64::new(0),
        }
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn remember(&self, key: K, value: V, read_at: u64) {
        self.entries.insert(key.clone(), value);
        // Checked after the insert: an invalidation racing with it either bumped the generation
        // first (caught here) or removes the entry after it (harmless).
        if self.generation() != read_at {
            self.entries.remove(&key);
        }
    }

    fn forget<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + std::hash::Hash + quick_cache::Equivalent<K> + ?Sized,
    {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.remove(key);
    }

    fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
    }
}

/// How long an origin no client has is refused from memory before the clients are read again:
/// a client registered meanwhile (on any replica, or by the command line, which announces
/// nothing for a new client) is seen within this, and a stream of made-up origins costs one
/// read of the clients per this period, not one per request.
const UNKNOWN_ORIGIN_RECHECK: Duration = Duration::from_secs(2);

/// Every client's origins as read at `read_at`.
struct KnownOrigins {
    origins: HashSet<String>,
    read_at: Instant,
}

/// What this replica remembers of clients, users and profiles.
pub struct LocalCaches {
    clients: Generational<String, ClientRecord>,
    /// Every client's browser origins, as one set: any client's change forgets it.
    origins: Generational<(), Arc<KnownOrigins>>,
    users: Generational<Uuid, UserRecord>,
    profiles: Generational<Uuid, Option<Profile>>,
}

impl Default for LocalCaches {
    fn default() -> Self {
        Self {
            clients: Generational::new(CLIENTS),
            origins: Generational::new(1),
            users: Generational::new(USERS),
            profiles: Generational::new(PROFILES),
        }
    }
}

impl LocalCaches {
    /// Applies another replica's (or this one's) change.
    pub fn apply(&self, event: &Event) {
        match event {
            Event::ClientChanged(client_id) => {
                self.clients.forget(client_id.as_str());
                self.origins.clear();
            }
            Event::UserChanged(user_id) => {
                self.users.forget(user_id);
                self.profiles.forget(user_id);
            }
            Event::KeysChanged | Event::Revoked(_) | Event::Heartbeat(_) => {}
        }
    }

    /// Forgets everything: after the subscription was lost, any entry may be stale.
    pub fn clear(&self) {
        self.clients.clear();
        self.origins.clear();
        self.users.clear();
        self.profiles.clear();
    }
}

/// What the caching stores share: the caches, whether they may be trusted, and the channel.
#[derive(Clone)]
struct Shared {
    caches: Arc<LocalCaches>,
    freshness: Arc<Freshness>,
    events: Arc<dyn EventBus>,
}

impl Shared {
    /// Forgets here, then tells every replica. A change that cannot be announced is reported as
    /// an error even though it is saved: the caller retries, and replicas that stay current
    /// would otherwise serve the old row indefinitely.
    async fn announce(&self, event: Event) -> Result<(), StoreError> {
        self.caches.apply(&event);
        self.events.publish(&event).await
    }
}

/// A [`UserStore`] whose `find_by_id` answers from memory.
pub struct CachedUsers {
    inner: Arc<dyn UserStore>,
    shared: Shared,
}

/// A [`ClientStore`] whose `find_client` answers from memory.
pub struct CachedClients {
    inner: Arc<dyn ClientStore>,
    shared: Shared,
}

/// A [`ProfileStore`] that answers from memory.
pub struct CachedProfiles {
    inner: Arc<dyn ProfileStore>,
    shared: Shared,
}

impl LocalCaches {
    /// Wraps the three stores in caches kept current by `events`.
    pub fn wrap(
        self: &Arc<Self>,
        freshness: Arc<Freshness>,
        events: Arc<dyn EventBus>,
        users: Arc<dyn UserStore>,
        clients: Arc<dyn ClientStore>,
        profiles: Arc<dyn ProfileStore>,
    ) -> (CachedUsers, CachedClients, CachedProfiles) {
        let shared = Shared {
            caches: self.clone(),
            freshness,
            events,
        };
        (
            CachedUsers {
                inner: users,
                shared: shared.clone(),
            },
            CachedClients {
                inner: clients,
                shared: shared.clone(),
            },
            CachedProfiles {
                inner: profiles,
                shared,
            },
        )
    }
}

#[async_trait]
impl UserStore for CachedUsers {
    async fn insert_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        self.inner.insert_user(user).await
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        // Logins: rare next to verifications, and they must see the current password hash.
        self.inner.find_by_username(username).await
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        // Token exchanges of outside tokens that name users by email: rare, and uncached like
        // logins.
        self.inner.find_by_email(email).await
    }

    async fn find_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        let users = &self.shared.caches.users;
        if self.shared.freshness.is_current()
            && let Some(user) = users.entries.get(&id)
        {
            return Ok(Some(user));
        }
        let read_at = users.generation();
        let user = self.inner.find_by_id(id).await?;
        if let Some(user) = &user {
            users.remember(id, user.clone(), read_at);
        }
        Ok(user)
    }

    async fn find_any(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        // Administrators' reads: they must see the row as it is now.
        self.inner.find_any(id).await
    }

    async fn list_users(&self, query: &UserQuery) -> Result<Vec<UserRecord>, StoreError> {
        self.inner.list_users(query).await
    }

    async fn count_users(&self, query: &UserQuery) -> Result<u64, StoreError> {
        self.inner.count_users(query).await
    }

    async fn change_user(
        &self,
        user_id: Uuid,
        change: &UserChange,
        expected: Option<i64>,
    ) -> Result<Written<UserRecord>, StoreError> {
        let written = self.inner.change_user(user_id, change, expected).await?;
        if matches!(written, Written::Done(_)) {
            self.shared.announce(Event::UserChanged(user_id)).await?;
        }
        Ok(written)
    }

    async fn record_login(&self, user_id: Uuid, at: OffsetDateTime) -> Result<(), StoreError> {
        self.inner.record_login(user_id, at).await?;
        self.shared.announce(Event::UserChanged(user_id)).await
    }

    async fn set_pop_public_key(&self, user_id: Uuid, pem: &str) -> Result<bool, StoreError> {
        let changed = self.inner.set_pop_public_key(user_id, pem).await?;
        self.shared.announce(Event::UserChanged(user_id)).await?;
        Ok(changed)
    }

    async fn delete_user(&self, user_id: Uuid) -> Result<bool, StoreError> {
        let deleted = self.inner.delete_user(user_id).await?;
        self.shared.announce(Event::UserChanged(user_id)).await?;
        Ok(deleted)
    }

    async fn set_password_hash(
        &self,
        user_id: Uuid,
        password_hash: Option<&str>,
    ) -> Result<bool, StoreError> {
        let changed = self.inner.set_password_hash(user_id, password_hash).await?;
        self.shared.announce(Event::UserChanged(user_id)).await?;
        Ok(changed)
    }

    async fn mark_email_verified(
        &self,
        user_id: Uuid,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let changed = self.inner.mark_email_verified(user_id, at).await?;
        self.shared.announce(Event::UserChanged(user_id)).await?;
        Ok(changed)
    }

    async fn create_link(
        &self,
        link: &AccountLink,
        mail: &OutboxMessage,
    ) -> Result<(), StoreError> {
        self.inner.create_link(link, mail).await
    }

    async fn find_link(
        &self,
        token_hash: &[u8; 32],
        purpose: LinkPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<AccountLink>, StoreError> {
        self.inner.find_link(token_hash, purpose, now).await
    }

    /// A used link changed the user (an address verified or moved, a password reset): every
    /// replica forgets it.
    async fn redeem_link(
        &self,
        token_hash: &[u8; 32],
        purpose: LinkPurpose,
        change: LinkChange<'_>,
        now: OffsetDateTime,
        notices: &[OutboxMessage],
    ) -> Result<Option<AccountLink>, StoreError> {
        let redeemed = self
            .inner
            .redeem_link(token_hash, purpose, change, now, notices)
            .await?;
        if let Some(link) = &redeemed {
            self.shared
                .announce(Event::UserChanged(link.user_id))
                .await?;
        }
        Ok(redeemed)
    }
}

#[async_trait]
impl ClientStore for CachedClients {
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        self.inner.insert_client(client).await
    }

    async fn find_client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let clients = &self.shared.caches.clients;
        if self.shared.freshness.is_current()
            && let Some(client) = clients.entries.get(client_id)
        {
            return Ok(Some(client));
        }
        let read_at = clients.generation();
        let client = self.inner.find_client(client_id).await?;
        if let Some(client) = &client {
            clients.remember(client_id.to_owned(), client.clone(), read_at);
        }
        Ok(client)
    }

    async fn list_clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        self.inner.list_clients().await
    }

    async fn list_clients_page(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ClientRecord>, StoreError> {
        self.inner.list_clients_page(after, limit).await
    }

    /// From memory while memory is current; an origin it does not hold is refused from memory
    /// for [`UNKNOWN_ORIGIN_RECHECK`] after a read, then the clients are read again.
    async fn origin_allowed(&self, origin: &str) -> Result<bool, StoreError> {
        let origins = &self.shared.caches.origins;
        if self.shared.freshness.is_current()
            && let Some(known) = origins.entries.get(&())
        {
            if known.origins.contains(origin) {
                return Ok(true);
            }
            if known.read_at.elapsed() < UNKNOWN_ORIGIN_RECHECK {
                return Ok(false);
            }
        }
        let generation = origins.generation();
        let known = KnownOrigins {
            origins: self
                .inner
                .list_clients()
                .await?
                .iter()
                .flat_map(ClientRecord::origins)
                .collect(),
            read_at: Instant::now(),
        };
        let allowed = known.origins.contains(origin);
        origins.remember((), Arc::new(known), generation);
        Ok(allowed)
    }

    async fn update_client(&self, client: &ClientRecord) -> Result<bool, StoreError> {
        let updated = self.inner.update_client(client).await?;
        self.shared
            .announce(Event::ClientChanged(client.client_id.clone()))
            .await?;
        Ok(updated)
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        let deleted = self.inner.delete_client(client_id).await?;
        self.shared
            .announce(Event::ClientChanged(client_id.to_owned()))
            .await?;
        Ok(deleted)
    }
}

#[async_trait]
impl ProfileStore for CachedProfiles {
    async fn profile(&self, user_id: Uuid) -> Result<Option<Profile>, StoreError> {
        let profiles = &self.shared.caches.profiles;
        if self.shared.freshness.is_current()
            && let Some(profile) = profiles.entries.get(&user_id)
        {
            return Ok(profile);
        }
        let read_at = profiles.generation();
        let profile = self.inner.profile(user_id).await?;
        // "No profile yet" is remembered too: saving one is announced like any change.
        profiles.remember(user_id, profile.clone(), read_at);
        Ok(profile)
    }

    async fn put_profile(
        &self,
        user_id: Uuid,
        profile: &Profile,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.inner.put_profile(user_id, profile, now).await?;
        self.shared.announce(Event::UserChanged(user_id)).await
    }
}
