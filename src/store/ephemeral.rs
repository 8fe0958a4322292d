//! Short-lived state replicas share (Redis): proof state and rate-limit windows.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;

/// Short-lived proof state shared by replicas (Redis): proof-of-possession nonces, the DPoP
/// replay guard and DPoP server nonces. Keys are chosen by the caller; every entry expires.
#[async_trait]
pub trait ProofStateStore: Send + Sync {
    /// Stores `value` under `key` for `ttl`.
    async fn put(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError>;
    /// Reads `key`; with `consume`, atomically deletes it too (GETDEL), so of concurrent
    /// readers exactly one gets the value.
    async fn get(&self, key: &str, consume: bool) -> Result<Option<String>, StoreError>;
    /// Records `key` for `ttl` unless it is already recorded; true if this call recorded it.
    async fn insert_new(&self, key: &str, ttl: Duration) -> Result<bool, StoreError>;
}

/// The verdict of one sliding-window check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    /// Over the limit; the oldest counted request leaves the window after `retry_after`.
    Limited {
        retry_after: Duration,
    },
}

/// Whether a rate-limit decision counts the request it decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tally {
    /// Admitted requests are counted (a request limit).
    Count,
    /// Nothing is counted: only whether `limit` is already reached (failures are counted apart).
    Peek,
}

#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// Allowed if fewer than `limit` hits for `key` fall within `window` before `now`; with
    /// [`Tally::Count`], an allowed request is counted too.
    async fn hit(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
        now: OffsetDateTime,
        tally: Tally,
    ) -> Result<RateDecision, StoreError>;
}
