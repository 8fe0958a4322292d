//! The ground floor: what authd stores, as plain records and the traits the domain reaches them
//! through, with Postgres/Redis (`serve`) and in-memory (`dev`) implementations that pass the
//! same contract tests.
//!
//! Nothing here imports from the floors above (`.ci/layers.py` checks it): a record the domain
//! gives meaning to (a sealed secret, a session's login, a channel event) is defined here as
//! data, and the domain adds its behaviour.

mod audit;
mod clients;
mod ephemeral;
mod error;
mod events;
mod factors;
mod groups;
mod ldap_accounts;
mod links;
pub mod memory;
mod operations;
mod outbox;
pub mod postgres;
pub mod redis;
mod revocations;
mod sessions;
mod signing_keys;
mod streams;
pub mod tls;
mod upstreams;
mod users;
mod webhooks;

use std::sync::Arc;

pub use audit::{AuditEvent, AuditQuery, AuditStore, AuthLogEntry, AuthLogStore, AuthOutcome};
pub use clients::{
    ApplicationType, ClientAuthMethod, ClientRecord, ClientStore, Consent, ConsentStore,
    ConsentSummary, LogoutChannels, PkcePolicy, PreviousSecret, web_origin,
};
pub use ephemeral::{ProofStateStore, RateDecision, RateLimitStore, Tally};
pub use error::{StoreError, UniqueField};
pub use events::{Event, EventBus};
pub use factors::{PasskeyRecord, PasskeyStore, SecondFactorStore, TotpRecord};
pub use groups::{GroupMember, GroupRecord, GroupStore};
pub use ldap_accounts::{LdapAccount, LdapAccountStore};
pub use links::{AccountLink, LinkChange, LinkPurpose};
pub use operations::{CleanupReport, Housekeeping, PoolCounters, PoolStatus, Probe};
pub use outbox::{Attempt, Claimed, OutboxDepth, OutboxMessage, OutboxStore, Topic};
pub use revocations::{Revocation, RevocationKind, RevocationStore, TokenStateCache, TokenStatus};
pub use sessions::{
    END_RECORD_GRACE, Login, RefreshTokenRecord, RequestedClaims, Rotation, SessionRecord,
    SessionStore, SessionSummary,
};
pub use signing_keys::{
    KeyNeed, KeyPurpose, PublicJwk, SUPPORTED_ALGORITHMS, SealedBox, SigningKeyRecord,
    SigningKeyStore, Supersede,
};
pub use streams::{
    PendingSet, SealedAuthorization, StreamDelivery, StreamRecord, StreamStatus, StreamStore,
};
pub use upstreams::{
    ClaimPaths, FederatedIdentity, Provisioning, UpstreamKind, UpstreamRecord, UpstreamStore,
};
pub use users::{Profile, ProfileStore, UserChange, UserQuery, UserRecord, UserStore, Written};
pub use webhooks::{WebhookChange, WebhookRecord, WebhookStore};

/// Locks ignoring poison: every critical section behind these locks leaves the data consistent.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Everything authd stores, behind traits.
#[derive(Clone)]
pub struct Stores {
    pub users: Arc<dyn UserStore>,
    pub signing_keys: Arc<dyn SigningKeyStore>,
    pub auth_logs: Arc<dyn AuthLogStore>,
    pub rate_limits: Arc<dyn RateLimitStore>,
    pub revocations: Arc<dyn RevocationStore>,
    pub token_cache: Arc<dyn TokenStateCache>,
    pub sessions: Arc<dyn SessionStore>,
    pub clients: Arc<dyn ClientStore>,
    pub consents: Arc<dyn ConsentStore>,
    pub profiles: Arc<dyn ProfileStore>,
    pub second_factors: Arc<dyn SecondFactorStore>,
    pub passkeys: Arc<dyn PasskeyStore>,
    pub outbox: Arc<dyn OutboxStore>,
    pub groups: Arc<dyn GroupStore>,
    pub audit: Arc<dyn AuditStore>,
    pub webhooks: Arc<dyn WebhookStore>,
    pub streams: Arc<dyn StreamStore>,
    pub upstreams: Arc<dyn UpstreamStore>,
    pub ldap_accounts: Arc<dyn LdapAccountStore>,
    pub proof_state: Arc<dyn ProofStateStore>,
    pub events: Arc<dyn EventBus>,
    pub housekeeping: Arc<dyn Housekeeping>,
    pub probes: Vec<Arc<dyn Probe>>,
}
