//! The Shared Signals Framework transmitter (OpenID SSF 1.0, with CAEP and RISC events): event
//! streams that receivers manage, and Security Event Tokens (RFC 8417) telling them that a
//! session ended, an account was disabled, enabled or deleted, a credential or a claim changed.
//!
//! A receiver is a client holding the `ssf:receiver` scope; a stream is its own. Events leave
//! through the one outbox: the audit trail's fan-out hands each recorded event to
//! [`StreamFanOut`], which makes one `security_event` message per stream that wants it, and
//! [`SetDelivery`] either POSTs the signed SET to a push stream (RFC 8935) or holds it for a
//! poll stream (RFC 8936) until the receiver acknowledges it. So an event is told at least
//! once, from any replica, after a crash too; a receiver that was away finds what it missed, in
//! the order it was made, for [`SsfSettings::retention`].

mod delivery;
mod poll;
pub mod signals;
mod streams;

use std::{sync::Arc, time::Duration as StdDuration};

use time::Duration;

pub use delivery::{SetDelivery, StreamFanOut};
pub use poll::{Poll, Polled};
pub use signals::{Change, Credential, credential_event};
pub use streams::{DeliveryDraft, StreamDraft, StreamPatch, StreamView};

pub use crate::store::{StreamDelivery, StreamRecord, StreamStatus};

use crate::{
    clock::Clock,
    events::AddressGuard,
    keys::{KeyRing, MasterKeys},
    outbox::Outbox,
    store::StreamStore,
};

/// The scope a receiver's token needs for the stream management and poll endpoints.
pub const RECEIVER_SCOPE: &str = "ssf:receiver";
/// The delivery method URIs (SSF 1.0 §6.1).
pub const PUSH: &str = "urn:ietf:rfc:8935";
pub const POLL: &str = "urn:ietf:rfc:8936";
/// The `typ` of a SET (RFC 8417 §2.3, SSF 1.0 §4.1.1).
pub const SET_TYP: &str = "secevent+jwt";

#[derive(Debug, Clone)]
pub struct SsfSettings {
    /// How long a SET waits in a poll stream for its receiver before it is dropped.
    pub retention: Duration,
    /// How long a poll that found nothing waits for a SET before it answers empty (RFC 8936
    /// §2.4 "long polling"), unless it asked to return immediately. Shorter than
    /// `AUTHD_REQUEST_TIMEOUT`, which would cut it off.
    pub long_poll: StdDuration,
}

impl Default for SsfSettings {
    fn default() -> Self {
        Self {
            retention: Duration::days(7),
            long_poll: StdDuration::from_secs(5),
        }
    }
}

/// The transmitter: streams, their status and verification, and the poll endpoint's work.
pub struct SharedSignals {
    store: Arc<dyn StreamStore>,
    outbox: Outbox,
    master_keys: Arc<MasterKeys>,
    key_ring: Arc<KeyRing>,
    guard: AddressGuard,
    clock: Arc<dyn Clock>,
    issuer: String,
    settings: SsfSettings,
    /// Wakes this replica's long polls when it held a SET; other replicas' polls look again
    /// at their next tick.
    arrived: Arc<tokio::sync::Notify>,
}

/// What [`SharedSignals`] is built from.
pub struct SsfServices {
    pub store: Arc<dyn StreamStore>,
    pub outbox: Outbox,
    pub master_keys: Arc<MasterKeys>,
    pub key_ring: Arc<KeyRing>,
    pub guard: AddressGuard,
    pub clock: Arc<dyn Clock>,
}

impl SharedSignals {
    pub fn new(services: SsfServices, issuer: String, settings: SsfSettings) -> Self {
        Self {
            store: services.store,
            outbox: services.outbox,
            master_keys: services.master_keys,
            key_ring: services.key_ring,
            guard: services.guard,
            clock: services.clock,
            issuer,
            settings,
            arrived: Arc::new(tokio::sync::Notify::new()),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}
