//! The in-memory key ring every replica rebuilds from Postgres: decrypted keys and the JWKS.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use jsonwebtoken::Algorithm;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::{
    MasterKey, MasterKeys, PublicJwk, SigningKey,
    signing_key::{KeyError, KeyWindow, generate},
};
use crate::{
    metrics::KeyCensus,
    store::{KeyPurpose, SigningKeyRecord, SigningKeyStore, StoreError},
};

/// How far apart replicas' clocks may be while still agreeing on which key signs.
const CLOCK_SKEW_ALLOWANCE: Duration = Duration::minutes(1);

/// The JWKS document (RFC 7517 §5).
#[derive(Debug, Clone, Serialize)]
pub struct JsonWebKeySet {
    pub keys: Vec<PublicJwk>,
    /// Until when the set stays as it is if the ring is not reloaded: the first retirement
    /// among its keys (keys only leave the set as time passes; they join it by reload). `None`
    /// when it lists no key.
    #[serde(skip)]
    pub unchanged_until: Option<OffsetDateTime>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("key generation task failed: {0}")]
    Join(String),
}

/// Decrypted signing keys by kid.
type Keys = Arc<HashMap<String, Arc<SigningKey>>>;

#[derive(Debug)]
pub struct KeyRing {
    /// Swapped whole on reload, so a reader never sees half a key set.
    keys: RwLock<Keys>,
    /// Counts reloads, so what is derived from one key set (the JWKS document) knows when it is
    /// stale.
    generation: AtomicU64,
    /// The expired-token test mode's stored key, kept apart from `keys`: never in the JWKS,
    /// never chosen to sign, but known to verification (see [`Self::verification_key`]).
    expired_test_key: Option<Arc<SigningKey>>,
}

impl KeyRing {
    /// Loads every stored key that can still verify, first creating a signing key if none can sign
    /// now. Replicas starting together create one key between them (see `insert_key_if`).
    pub async fn load(
        store: &dyn SigningKeyStore,
        masters: &MasterKeys,
        algorithm: Algorithm,
        now: OffsetDateTime,
        key_lifetime: Duration,
        max_token_lifetime: Duration,
    ) -> Result<Self, KeyRingError> {
        let mut records = store.list_keys().await?;
        if !records.iter().any(|record| signs_at(record, now)) {
            let window = KeyWindow {
                // Backdated so that every replica whose clock is within the allowance of ours
                // sees this key as signing already, and does not add one of its own.
                not_before: now - CLOCK_SKEW_ALLOWANCE,
                expires_at: now + key_lifetime,
                retire_at: now + key_lifetime + max_token_lifetime,
            };
            let (record, _) =
                generate_off_runtime(algorithm, masters.current().clone(), window, now).await?;
            let needed =
                move |stored: &[SigningKeyRecord]| !stored.iter().any(|r| signs_at(r, now));
            if store.insert_key_if(&record, &needed, None).await? {
                tracing::info!(kid = %record.kid, alg = ?record.algorithm, "created signing key");
            }
            records = store.list_keys().await?;
        }

        Ok(Self {
            keys: RwLock::new(open_all(&records, masters, now)?),
            generation: AtomicU64::new(0),
            expired_test_key: None,
        })
    }

    /// Rebuilds the ring from the store: after a rotation here or on another replica.
    pub async fn reload(
        &self,
        store: &dyn SigningKeyStore,
        masters: &MasterKeys,
        now: OffsetDateTime,
    ) -> Result<(), KeyRingError> {
        let keys = open_all(&store.list_keys().await?, masters, now)?;
        *self
            .keys
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = keys;
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Adds the `?expired=true` test mode's key: a stored key, sealed like the others, that
    /// expired the day before it was made and is never published. The first replica to start
    /// in test mode creates it (under the key-creation lock, so there is one); the others, and
    /// later starts, load it.
    pub async fn with_expired_test_key(
        mut self,
        store: &dyn SigningKeyStore,
        masters: &MasterKeys,
        algorithm: Algorithm,
        now: OffsetDateTime,
    ) -> Result<Self, KeyRingError> {
        let stored_test_key = |records: &[SigningKeyRecord]| {
            records
                .iter()
                .filter(|record| record.purpose == KeyPurpose::ExpiredTest)
                .max_by_key(|record| record.created_at)
                .cloned()
        };
        let mut record = stored_test_key(&store.list_keys().await?);
        if record.is_none() {
            let window = KeyWindow {
                not_before: now - Duration::days(2),
                expires_at: now - Duration::days(1),
                retire_at: now - Duration::days(1),
            };
            let (mut created, _) =
                generate_off_runtime(algorithm, masters.current().clone(), window, now).await?;
            created.purpose = KeyPurpose::ExpiredTest;
            let needed = move |stored: &[SigningKeyRecord]| stored_test_key(stored).is_none();
            if store.insert_key_if(&created, &needed, None).await? {
                tracing::info!(kid = %created.kid, alg = ?created.algorithm, "created expired-token test key");
            }
            record = stored_test_key(&store.list_keys().await?);
        }
        let record = record.ok_or_else(|| {
            KeyRingError::Store(StoreError::Corrupt(
                "the expired-token test key was stored but cannot be read back".to_owned(),
            ))
        })?;
        self.expired_test_key = Some(Arc::new(SigningKey::open(&record, masters)?));
        Ok(self)
    }

    /// The key to sign with now: of those in their signing window, the one that started last.
    pub fn signing_key(&self, now: OffsetDateTime) -> Option<Arc<SigningKey>> {
        self.snapshot()
            .values()
            .filter(|key| key.signs_at(now))
            .max_by_key(|key| key.not_before)
            .cloned()
    }

    pub fn expired_test_key(&self) -> Option<Arc<SigningKey>> {
        self.expired_test_key.clone()
    }

    /// The key named by a token's `kid`, if it may still verify. In test mode, also the test
    /// key, although it is retired: its tokens (expired an hour before they are issued) then
    /// fail as expired, as the test mode promises, rather than as signed by an unknown key.
    pub fn verification_key(&self, kid: &str, now: OffsetDateTime) -> Option<Arc<SigningKey>> {
        self.snapshot()
            .get(kid)
            .filter(|key| key.verifies_at(now))
            .cloned()
            .or_else(|| self.expired_test_key.clone().filter(|key| key.kid == kid))
    }

    /// Which key set the ring holds: changes on every reload. Read it before [`Self::jwks`], so
    /// a reload in between makes what was built look stale rather than current.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Every key that can still verify a token; never a retired key, never the test key.
    pub fn jwks(&self, now: OffsetDateTime) -> JsonWebKeySet {
        let snapshot = self.snapshot();
        let mut keys: Vec<&Arc<SigningKey>> = snapshot
            .values()
            .filter(|key| key.verifies_at(now))
            .collect();
        keys.sort_by_key(|key| std::cmp::Reverse(key.not_before));
        JsonWebKeySet {
            unchanged_until: keys.iter().map(|key| key.retire_at).min(),
            keys: keys.into_iter().map(|key| key.public_jwk.clone()).collect(),
        }
    }
}

/// Where a key is in its life at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// In the JWKS ahead of signing, so verifiers have it before its first token.
    Published,
    Signing,
    /// Past signing, still verifying the tokens it signed.
    Verifying,
}

impl KeyState {
    fn of(key: &SigningKey, now: OffsetDateTime) -> Option<Self> {
        if !key.verifies_at(now) {
            None
        } else if now < key.not_before {
            Some(Self::Published)
        } else if key.signs_at(now) {
            Some(Self::Signing)
        } else {
            Some(Self::Verifying)
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Published => "published",
            Self::Signing => "signing",
            Self::Verifying => "verifying",
        }
    }
}

/// One key of the JWKS with its schedule: what the UI's keys page lists.
#[derive(Debug, Clone)]
pub struct KeyStatus {
    pub kid: String,
    pub algorithm: Algorithm,
    pub state: KeyState,
    pub not_before: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub retire_at: OffsetDateTime,
}

impl KeyRing {
    /// The keys the JWKS lists at `now`, newest first, each with its state and schedule.
    pub fn statuses(&self, now: OffsetDateTime) -> Vec<KeyStatus> {
        let mut statuses: Vec<KeyStatus> = self
            .snapshot()
            .values()
            .filter_map(|key| {
                Some(KeyStatus {
                    kid: key.kid.clone(),
                    algorithm: key.algorithm,
                    state: KeyState::of(key, now)?,
                    not_before: key.not_before,
                    expires_at: key.expires_at,
                    retire_at: key.retire_at,
                })
            })
            .collect();
        statuses.sort_by_key(|status| std::cmp::Reverse(status.not_before));
        statuses
    }

    pub fn census(&self, now: OffsetDateTime) -> KeyCensus {
        let mut census = KeyCensus::default();
        for key in self.snapshot().values() {
            match KeyState::of(key, now) {
                Some(KeyState::Published) => census.published += 1,
                Some(KeyState::Signing) => census.signing += 1,
                Some(KeyState::Verifying) => census.verifying += 1,
                None => {}
            }
        }
        census.active_age = self
            .signing_key(now)
            .and_then(|key| (now - key.not_before).try_into().ok());
        census
    }
}

impl KeyRing {
    fn snapshot(&self) -> Keys {
        // A poisoned lock only means a writer panicked between whole-map swaps: the map is whole.
        self.keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// Opens every stored signing key that can still verify at `now` (not the test key: see
/// [`KeyRing::with_expired_test_key`]).
fn open_all(
    records: &[SigningKeyRecord],
    masters: &MasterKeys,
    now: OffsetDateTime,
) -> Result<Keys, KeyRingError> {
    let mut keys = HashMap::new();
    let verifying = |record: &&SigningKeyRecord| {
        record.purpose == KeyPurpose::Signing && now < record.retire_at
    };
    for record in records.iter().filter(verifying) {
        let key = SigningKey::open(record, masters)?;
        keys.insert(key.kid.clone(), Arc::new(key));
    }
    Ok(Arc::new(keys))
}

pub(super) fn signs_at(record: &SigningKeyRecord, now: OffsetDateTime) -> bool {
    record.purpose == KeyPurpose::Signing && record.not_before <= now && now < record.expires_at
}

/// RSA key generation takes long enough to stall the async runtime: run it on a blocking thread.
pub(super) async fn generate_off_runtime(
    algorithm: Algorithm,
    master: MasterKey,
    window: KeyWindow,
    now: OffsetDateTime,
) -> Result<(SigningKeyRecord, SigningKey), KeyRingError> {
    tokio::task::spawn_blocking(move || generate(algorithm, &master, window, now))
        .await
        .map_err(|err| KeyRingError::Join(err.to_string()))?
        .map_err(KeyRingError::from)
}
