//! The state every request handler shares: the domain services, the key ring, the settings and
//! the clock. `http` and the background `tasks` read it; `startup` builds it (it sits between
//! them). Handlers reach storage only through the services: the one store handle here, the
//! invalidation channel, is crate-private, for the tasks that follow it.

use std::sync::Arc;

use crate::{
    accounts::{Accounts, Groups, Logins, Reauthentications, Recovery, Users},
    admin::Admin,
    authorization::Authorizations,
    clients::Clients,
    clock::Clock,
    config::Config,
    events::AuditTrail,
    exchange::{ExternalIssuers, Targets, TrustFile},
    federation::Federation,
    invalidation::{Freshness, LocalCaches},
    keys::{KeyManager, KeyRing},
    logout::Logouts,
    mail::Mailer,
    metrics::Metrics,
    oidc::IdTokens,
    operations::Operations,
    outbox::Deliverer,
    possession::{DpopVerifier, PopNonces},
    rate_limit::{DeviceCodeThrottle, RateLimiter},
    sessions::Sessions,
    ssf::SharedSignals,
    store::{EventBus, Topic},
    tokens::{Revocations, TokenIssuer, TokenVerifier},
};

/// Everything a request handler needs; cheap to clone (all shared).
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    /// Registration, logins and second factors.
    pub accounts: Accounts,
    /// Users and their profiles, as every other part reads them.
    pub users: Arc<Users>,
    /// Interactive logins, step by step (password, second factor, passkey).
    pub logins: Arc<Logins>,
    /// Upstream identity providers, logins through them, and the identities they vouch for.
    pub federation: Arc<Federation>,
    /// Sessions that re-authenticated with a passkey in the last few minutes.
    pub reauthentications: Arc<Reauthentications>,
    /// Mailed links: address verification, password reset, address change.
    pub recovery: Arc<Recovery>,
    /// Composes and queues mail: security notices, and `authd dev`'s mailbox.
    pub mailer: Arc<Mailer>,
    /// What administrators do (the admin API), each write audited.
    pub admin: Arc<Admin>,
    /// Groups of users, for the `groups` claim.
    pub groups: Arc<Groups>,
    /// The audit trail: recorded events, read back by the admin API, sent to webhooks.
    pub trail: Arc<AuditTrail>,
    pub tokens: Arc<TokenIssuer>,
    pub id_tokens: Arc<IdTokens>,
    pub verifier: Arc<TokenVerifier>,
    pub revocations: Arc<Revocations>,
    pub sessions: Arc<Sessions>,
    pub clients: Arc<Clients>,
    pub authorizations: Arc<Authorizations>,
    /// RP-initiated logout.
    pub logouts: Arc<Logouts>,
    /// The Shared Signals transmitter: receivers' streams and the SETs they are sent.
    pub shared_signals: Arc<SharedSignals>,
    /// The trust file: resources, trusted issuers, token-exchange policies.
    pub trust: Arc<TrustFile>,
    /// Which resources a client may ask tokens for (RFC 8707).
    pub targets: Arc<Targets>,
    /// Verifies the tokens of the trust file's outside issuers (RFC 8693 exchanges).
    pub external_issuers: Arc<ExternalIssuers>,
    pub pop_nonces: Arc<PopNonces>,
    pub dpop: Arc<DpopVerifier>,
    pub key_ring: Arc<KeyRing>,
    pub keys: Arc<KeyManager>,
    pub rate_limiter: Arc<RateLimiter>,
    /// Wrong user codes at the device verification page.
    pub device_codes: Arc<DeviceCodeThrottle>,
    pub metrics: Arc<Metrics>,
    /// Readiness, the metrics scrape, cleanup.
    pub operations: Arc<Operations>,
    /// How current this replica's memory is.
    pub freshness: Arc<Freshness>,
    /// The invalidation channel and the caches it keeps current, for the tasks that follow it.
    pub(crate) events: Arc<dyn EventBus>,
    pub(crate) caches: Arc<LocalCaches>,
    /// The outbox's deliverer for each topic this replica sends, for its workers.
    pub(crate) deliverers: Vec<(Topic, Arc<dyn Deliverer>)>,
}
