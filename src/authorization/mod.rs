//! The authorization code flow (RFC 6749 §4.1) as a domain service: it decides the next step
//! of an authorization request ([`Step`]: log in, consent, a code, an error for the client or
//! for the user), keeps requests while the user logs in (`held`), issues and redeems one-time
//! codes (`codes`), and remembers consents (`consents`). The web UI and the token endpoint
//! only translate requests in and steps out.
//!
//! Everything short-lived is in Redis, so a browser can start a flow on one replica and finish
//! it on another: a pending request for [`PENDING_TTL`], a pushed one and a code for
//! [`CODE_TTL`]. A code is taken with GETDEL, so of two redemptions exactly one wins, and its
//! hash is remembered for [`REDEEMED_TTL`] afterwards, so a replay can be recognised and the
//! tokens of the first redemption revoked (OAuth 2.1 §4.1.3).
//!
//! The device authorization grant (RFC 8628, `device`) lives beside it: its approval is a
//! consent given in the browser for a client that is not there.

mod codes;
mod consents;
mod device;
mod held;
pub mod pkce;
pub mod request;
mod steps;

use std::{sync::Arc, time::Duration};

use time::OffsetDateTime;

pub use codes::{CodeGrant, CodeRedemption, Redeemed, login_of};
pub use device::{DeviceAuthorization, DeviceDecision, PendingDevice};
pub use request::{AuthorizationRequest, ClientError, Params, Prompt, Refusal, ResponseMode};
pub use steps::{ConsentingClient, EXPIRED, LoginFlow, SignedIn, Step};

use crate::{
    clients::Clients,
    clock::Clock,
    exchange::Targets,
    keys::KeyRing,
    sessions::Sessions,
    store::{ConsentStore, PkcePolicy, ProofStateStore},
};

/// How long a user has to log in and consent.
pub const PENDING_TTL: Duration = Duration::from_secs(600);
/// How long a code, or a pushed request's `request_uri`, can be used.
pub const CODE_TTL: Duration = Duration::from_secs(60);
/// How long a redeemed code is remembered, to recognise a replay.
pub const REDEEMED_TTL: Duration = Duration::from_secs(600);

/// The `request_uri` prefix of a pushed request (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// What the flow is checked against: the issuer `id_token_hint`s must come from, whether
/// every request must be pushed first (`AUTHD_REQUIRE_PAR`, RFC 9126 §6), and when PKCE may be
/// left out.
#[derive(Debug, Clone)]
pub struct FlowSettings {
    pub issuer: String,
    pub require_par: bool,
    /// For confidential clients that name no policy of their own (`AUTHD_PKCE_POLICY`).
    pub pkce_default: PkcePolicy,
    /// Only users who confirmed their address get a code (`AUTHD_REQUIRE_VERIFIED_EMAIL`, with
    /// mail on).
    pub require_verified_email: bool,
}

pub struct Authorizations {
    state: Arc<dyn ProofStateStore>,
    consents: Arc<dyn ConsentStore>,
    sessions: Arc<Sessions>,
    clients: Arc<Clients>,
    targets: Arc<Targets>,
    key_ring: Arc<KeyRing>,
    clock: Arc<dyn Clock>,
    issuer: String,
    require_par: bool,
    require_verified_email: bool,
    pkce_default: PkcePolicy,
}

/// The services a flow builds on.
pub struct FlowServices {
    pub sessions: Arc<Sessions>,
    pub clients: Arc<Clients>,
    pub targets: Arc<Targets>,
    pub key_ring: Arc<KeyRing>,
}

impl Authorizations {
    pub fn new(
        state: Arc<dyn ProofStateStore>,
        consents: Arc<dyn ConsentStore>,
        services: FlowServices,
        clock: Arc<dyn Clock>,
        settings: FlowSettings,
    ) -> Self {
        Self {
            state,
            consents,
            sessions: services.sessions,
            clients: services.clients,
            targets: services.targets,
            key_ring: services.key_ring,
            clock,
            issuer: settings.issuer,
            require_par: settings.require_par,
            require_verified_email: settings.require_verified_email,
            pkce_default: settings.pkce_default,
        }
    }
}

/// `at` in Unix milliseconds, as requests record when they were made.
pub fn unix_millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
