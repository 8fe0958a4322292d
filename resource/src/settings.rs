//! What a resource server tells the crate: which tokens are its own, where authd is, and how
//! long it may go without hearing from authd.

use std::{fmt, time::Duration};

use jsonwebtoken::Algorithm;
use url::Url;

/// The settings of a [`crate::ResourceServer`]. [`Settings::new`] gives the defaults; change
/// the fields you need.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The `iss` authd's tokens carry (`AUTHD_ISSUER`).
    pub issuer: String,
    /// The `aud` this service accepts: authd's audience, or this service's resource indicator
    /// (RFC 8707).
    pub audience: String,
    /// Where authd answers: its JWKS (`/.well-known/jwks.json`), token, introspection and
    /// Shared Signals endpoints are found under it.
    pub authd_url: Url,
    /// The signature algorithms accepted, each key pinned to the one its JWK names. `none`
    /// and the HMAC algorithms are never accepted, whatever is listed.
    pub algorithms: Vec<Algorithm>,
    /// Clock skew allowed on `exp`, `nbf` and a DPoP proof's `iat`.
    pub leeway: Duration,
    /// A JWKS refetch for an unknown `kid` happens at most this often.
    pub jwks_refetch: Duration,
    /// How long a revocation is remembered: at least the longest access token lifetime
    /// (`AUTHD_ACCESS_TOKEN_TTL`, 15 minutes by default).
    pub token_lifetime: Duration,
    /// This service's own URL (scheme, host, port), for DPoP proofs' `htu`. Without it, tokens
    /// bound to a key (DPoP) are refused.
    pub resource_url: Option<Url>,
    /// The Shared Signals receiver: without one, tokens are verified locally and nothing
    /// revoked is known (each is good until it expires).
    pub receiver: Option<Receiver>,
}

impl Settings {
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>, authd_url: Url) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            authd_url,
            algorithms: vec![
                Algorithm::RS256,
                Algorithm::PS256,
                Algorithm::ES256,
                Algorithm::EdDSA,
            ],
            leeway: Duration::from_secs(5),
            jwks_refetch: Duration::from_secs(30),
            token_lifetime: Duration::from_secs(3600),
            resource_url: None,
            receiver: None,
        }
    }

    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.authd_url.as_str().trim_end_matches('/'))
    }
}

/// The client this service is at authd (made with `authd clients create --scope
/// ssf:receiver`), and how it hears of revocations.
#[derive(Clone)]
pub struct Receiver {
    pub client_id: String,
    pub client_secret: String,
    pub delivery: Delivery,
    /// Past this long without hearing from authd (a poll answered, a verification event
    /// pushed), this service no longer trusts what it knows of revocations. Keep it above
    /// authd's long poll (5 s) and a round trip.
    pub max_lag: Duration,
    /// What then: refuse every token (503), or ask authd's introspection endpoint per token.
    pub when_stale: WhenStale,
    /// Tokens issued before this service started: revocations told to an earlier run of it
    /// are not known to this one.
    pub before_start: BeforeStart,
    /// The stream's description at authd: a restarted service finds its stream by it. Each
    /// process needs its own (a SET one reader acknowledges is gone for the others): with
    /// several replicas of a service, name each (its host name, say).
    pub stream_description: String,
}

impl Receiver {
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            delivery: Delivery::Poll,
            max_lag: Duration::from_secs(15),
            when_stale: WhenStale::Refuse,
            before_start: BeforeStart::Introspect,
            stream_description: "authd-resource".to_owned(),
        }
    }
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("client_id", &self.client_id)
            .field("client_secret", &"…")
            .field("delivery", &self.delivery)
            .field("max_lag", &self.max_lag)
            .field("when_stale", &self.when_stale)
            .field("before_start", &self.before_start)
            .finish()
    }
}

/// How SETs reach this service.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// It long-polls authd (RFC 8936): no endpoint to expose, a SET arrives as soon as authd
    /// holds it.
    Poll,
    /// authd POSTs SETs to `endpoint_url`, where the service mounts
    /// [`crate::ResourceServer::push_endpoint`] (RFC 8935); verification events every third of
    /// the max lag prove the path works while nothing happens.
    Push { endpoint_url: Url },
}

/// What to do with a token while revocations may be unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenStale {
    /// Refuse it (503, `Retry-After`): fail closed.
    Refuse,
    /// Ask authd (RFC 7662), one round trip per request, until the stream is current again.
    Introspect,
}

/// What to do with a token issued before this service started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeforeStart {
    /// Ask authd (RFC 7662) for it.
    Introspect,
    /// Refuse it (401): its client gets a new one.
    Refuse,
    /// Trust this run's stream alone (what authd still holds for it: a poll stream hands out
    /// again what an earlier run took and did not acknowledge).
    Accept,
}
