//! A per-process sliding-window limiter: `authd dev`'s limiter, and every replica's fallback.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::Duration,
};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::lock;
use crate::store::{RateDecision, RateLimitStore, StoreError, Tally};

/// Every this many checks, keys with no hit inside their window are dropped, so memory follows
/// the active clients rather than every client ever seen.
const SWEEP_EVERY: usize = 1024;

#[derive(Default)]
pub struct MemoryRateLimits {
    windows: Mutex<Windows>,
}

#[derive(Default)]
struct Windows {
    hits: HashMap<String, VecDeque<OffsetDateTime>>,
    checks_since_sweep: usize,
}

impl MemoryRateLimits {
    /// The same sliding-window rule as the Redis script: count the hits inside `window`; admit
    /// (and, with [`Tally::Count`], count) this one if fewer than `limit`, else say when the oldest leaves
    /// the window.
    pub fn decide(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
        now: OffsetDateTime,
        tally: Tally,
    ) -> RateDecision {
        let mut windows = lock(&self.windows);
        let start = now - window;
        windows.checks_since_sweep += 1;
        if windows.checks_since_sweep >= SWEEP_EVERY {
            windows.checks_since_sweep = 0;
            windows
                .hits
                .retain(|_, hits| hits.back().is_some_and(|last| *last > start));
        }
        let hits = windows.hits.entry(key.to_owned()).or_default();
        while hits.front().is_some_and(|oldest| *oldest <= start) {
            hits.pop_front();
        }
        if hits.len() < limit as usize {
            if tally == Tally::Count {
                hits.push_back(now);
            }
            return RateDecision::Allowed;
        }
        // Capped at the window: requests read the clock before they take the lock, so the
        // oldest hit can be a little newer than `now`.
        let retry_after = hits.front().map_or(window, |oldest| {
            Duration::try_from(*oldest + window - now)
                .unwrap_or(window)
                .min(window)
        });
        RateDecision::Limited { retry_after }
    }
}

#[async_trait]
impl RateLimitStore for MemoryRateLimits {
    async fn hit(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
        now: OffsetDateTime,
        tally: Tally,
    ) -> Result<RateDecision, StoreError> {
        Ok(self.decide(key, limit, window, now, tally))
    }
}
