//! The label values of counters whose values are a closed set: each set is written once, as an
//! enum, so the values counted where things happen and the series created at zero at start-up
//! (see `Metrics::new`) cannot drift apart.

use crate::{grant_type::GrantType, labels::closed_labels};

closed_labels! {
    /// How a token verification ended, as counted.
    pub enum Verification {
        /// Valid; answered from the verified-token cache.
        CacheHit => "cache_hit",
        /// Valid; the signature and claims were checked.
        Ok => "ok",
        Expired => "expired",
        Revoked => "revoked",
        BadSignature => "bad_signature",
        /// Any other refusal: malformed, wrong type, issuer, audience, unknown key.
        Invalid => "invalid",
        /// A backing service failed; no verdict.
        Unavailable => "unavailable",
    }
}

/// How an access token was asked for, as `authd_tokens_issued_total{grant}` counts it: an
/// OAuth grant, or one of authd's own routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    OAuth(GrantType),
    /// `POST /auth`, the seed-compatible login.
    Auth,
    /// `POST /pop/login`, the signed-nonce scheme.
    PopLogin,
    /// A web UI session's access token.
    Ui,
}

impl Grant {
    /// Every value, so each series can exist from the first scrape.
    pub fn all() -> impl Iterator<Item = Self> {
        GrantType::ALL
            .into_iter()
            .map(Self::OAuth)
            .chain([Self::Auth, Self::PopLogin, Self::Ui])
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OAuth(grant) => grant.label(),
            Self::Auth => "auth",
            Self::PopLogin => "pop_login",
            Self::Ui => "ui",
        }
    }
}

impl From<GrantType> for Grant {
    fn from(grant: GrantType) -> Self {
        Self::OAuth(grant)
    }
}

closed_labels! {
    /// What a refusal is counted under (`authd_rate_limited_requests_total{route}`); the routes
    /// also name the per-IP windows in the store.
    pub enum RateLimitedRoute {
        /// `POST /auth`, `POST /pop/login`, the web UI's login.
        Auth => "auth",
        /// `POST /register`, the web UI's registration.
        Register => "register",
        /// `POST /oauth/token`.
        Token => "token",
        /// `/oauth/authorize` (a request may be stored while the user logs in).
        Authorize => "authorize",
        /// Failed logins per username and address (`rate_limit::LoginThrottle`).
        LoginFailures => "login-failures",
        /// One client's requests at the token, introspection, revocation and PAR endpoints,
        /// whatever address they come from (`rate_limit::ClientRateLimiter`); the client's id
        /// is in the log, not in a label.
        Client => "client",
        /// Mails a person can make authd send (a reset, a verification resent): per address
        /// and per recipient (`rate_limit::MailThrottle`).
        Mail => "mail",
        /// The admin API (`/admin/…`), per address.
        Admin => "admin",
        /// Wrong device user codes, per address and over all (`rate_limit::DeviceCodeThrottle`).
        DeviceCodes => "device-codes",
        /// The Shared Signals stream management endpoints (`/ssf/…`), per address.
        Ssf => "ssf",
    }
}
