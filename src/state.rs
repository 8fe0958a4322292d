//! The state every request handler shares: the stores, the domain services over them, the key
//! ring and the clock. `http` reads it; `startup` builds it (it sits between the two).

use std::sync::Arc;

use crate::{
    accounts::{Accounts, PendingLogins, Reauthentications},
    authorization::Authorizations,
    clients::Clients,
    clock::Clock,
    config::Config,
    error::Error,
    exchange::{ExternalIssuers, Targets, TrustFile},
    invalidation::{Freshness, LocalCaches},
    keys::{KeyManager, KeyRing},
    metrics::Metrics,
    possession::{DpopVerifier, PopNonces},
    rate_limit::RateLimiter,
    sessions::Sessions,
    store::{self, EventBus, Probe},
    tokens::{Revocations, TokenIssuer, TokenVerifier},
};

/// Everything a request handler needs; cheap to clone (all shared).
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    pub accounts: Accounts,
    /// Interactive logins between their password and their second factor.
    pub pending_logins: Arc<PendingLogins>,
    /// Sessions that re-authenticated with a passkey in the last few minutes.
    pub reauthentications: Arc<Reauthentications>,
    pub tokens: Arc<TokenIssuer>,
    pub verifier: Arc<TokenVerifier>,
    pub revocations: Arc<Revocations>,
    pub sessions: Arc<Sessions>,
    pub clients: Arc<Clients>,
    pub authorizations: Arc<Authorizations>,
    /// The trust file: resources, trusted issuers, token-exchange policies.
    pub trust: Arc<TrustFile>,
    /// Which resources a client may ask tokens for (RFC 8707).
    pub targets: Arc<Targets>,
    /// Verifies the tokens of the trust file's outside issuers (RFC 8693 exchanges).
    pub external_issuers: Arc<ExternalIssuers>,
    pub users: Arc<dyn store::UserStore>,
    pub profiles: Arc<dyn store::ProfileStore>,
    pub pop_nonces: Arc<PopNonces>,
    pub dpop: Arc<DpopVerifier>,
    pub key_ring: Arc<KeyRing>,
    pub keys: Arc<KeyManager>,
    pub rate_limiter: Arc<RateLimiter>,
    pub probes: Arc<[Arc<dyn Probe>]>,
    pub metrics: Arc<Metrics>,
    pub housekeeping: Arc<dyn store::Housekeeping>,
    /// The invalidation channel, how current this replica's memory is, and its caches.
    pub(crate) events: Arc<dyn EventBus>,
    pub freshness: Arc<Freshness>,
    pub(crate) caches: Arc<LocalCaches>,
}

/// Retired keys stay this long after they stop verifying, for forensics, then go.
const RETIRED_KEY_RETENTION: time::Duration = time::Duration::days(7);

impl AppState {
    /// `token` read as an ID token authd issued (an `id_token_hint`), if it is one.
    pub fn read_id_token_hint(&self, token: &str) -> Option<crate::oidc::IdTokenHint> {
        crate::oidc::read_hint(&self.key_ring, &self.config.issuer, token, self.clock.now())
    }

    /// One cleanup pass (see [`store::Housekeeping`]); `None` if another replica is cleaning.
    pub async fn clean_up(&self) -> Result<Option<store::CleanupReport>, Error> {
        let now = self.clock.now();
        let report = self
            .housekeeping
            .clean(
                now,
                now - RETIRED_KEY_RETENTION,
                self.config.expired_tokens,
                now - self.config.auth_log_retention,
            )
            .await?;
        if let Some(report) = report
            && report != store::CleanupReport::default()
        {
            tracing::info!(?report, "removed expired data");
        }
        Ok(report)
    }
}
