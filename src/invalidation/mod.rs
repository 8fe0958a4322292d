//! Keeping each replica's memory current: the events replicas tell one another on the shared
//! channel, the heartbeat that bounds how stale a replica may be, and the caches they keep
//! current.
//!
//! Every replica answers verifications, client lookups and user lookups from its own memory
//! ([`LocalCaches`], and the revoked set in [`crate::tokens::Revocations`]). A change is made
//! durable first (Postgres, then Redis for revocations), then published as an [`Event`]; every
//! replica, the publisher included, applies it when it arrives. Redis pub/sub delivers to one
//! subscriber in the order the server received the messages, so a replica that hears its own
//! heartbeat back has heard every event published before that heartbeat was sent
//! ([`Freshness`]). A replica that has not heard one within `AUTHD_REVOCATION_MAX_LAG` stops
//! trusting its memory and asks Redis (or Postgres) on every request until it has caught up.

mod caches;
mod freshness;

pub use caches::{CachedClients, CachedProfiles, CachedUsers, LocalCaches};
pub use freshness::Freshness;

pub use crate::store::Event;
