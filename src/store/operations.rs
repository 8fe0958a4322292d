//! What operating a store takes: cleanup, readiness probes, pool statistics.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;

/// What one cleanup pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanupReport {
    pub refresh_tokens: u64,
    pub sessions: u64,
    pub revocations: u64,
    pub signing_keys: u64,
    pub auth_logs: u64,
    /// Audit events older than the auth-log horizon.
    pub audit_events: u64,
    /// Mailed links past their expiry, used or not.
    pub account_links: u64,
    /// Outbox messages sent or given up on before the auth-log horizon: the outbox keeps what
    /// was sent, when and to which topic, as long as the login records.
    pub outbox: u64,
}

/// Deletes what can no longer matter. Used-but-unexpired refresh tokens stay: reuse detection
/// needs them.
#[async_trait]
pub trait Housekeeping: Send + Sync {
    /// `None` when another replica holds the cleanup lock (it is doing the work). Keys retired
    /// before `retired_keys_before` go, except the expired-token test key while
    /// `keep_expired_test_key` (the test mode is on and signs with it). Auth logs, audit
    /// events, and outbox messages done with, go before `auth_logs_before`.
    async fn clean(
        &self,
        now: OffsetDateTime,
        retired_keys_before: OffsetDateTime,
        keep_expired_test_key: bool,
        auth_logs_before: OffsetDateTime,
    ) -> Result<Option<CleanupReport>, StoreError>;
}

/// A dependency whose reachability decides readiness.
#[async_trait]
pub trait Probe: Send + Sync {
    fn name(&self) -> &'static str;
    async fn ping(&self) -> Result<(), StoreError>;
    /// The state of the dependency's connection pool, for metrics.
    fn pool_status(&self) -> Option<PoolStatus> {
        None
    }
}

/// A connection pool's state: its bound, open and idle connections, and callers waiting now;
/// and since start, how many connections were handed out, the time callers spent waiting for
/// them, and how many could not be had (pool timeout, connection refused).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolStatus {
    pub max_size: usize,
    pub size: usize,
    pub available: usize,
    pub waiting: usize,
    pub acquired: u64,
    pub wait_seconds: f64,
    pub failed: u64,
}

/// Counts kept beside a pool as callers take connections from it.
#[derive(Debug, Default)]
pub struct PoolCounters {
    acquired: AtomicU64,
    wait_micros: AtomicU64,
    failed: AtomicU64,
}

impl PoolCounters {
    /// Records one attempt to take a connection, begun at `started`.
    pub fn record<T, E>(&self, started: Instant, result: &Result<T, E>) {
        let waited = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.wait_micros.fetch_add(waited, Ordering::Relaxed);
        let counter = if result.is_ok() {
            &self.acquired
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A multiplexed connection shared by every caller (Redis): a "pool" of one, always
    /// there, that never makes anyone wait.
    pub fn one_connection(&self) -> PoolStatus {
        self.status(deadpool_postgres::Status {
            max_size: 1,
            size: 1,
            available: 1,
            waiting: 0,
        })
    }

    /// The pool is deadpool's.
    pub fn status(&self, pool: deadpool_postgres::Status) -> PoolStatus {
        PoolStatus {
            max_size: pool.max_size,
            size: pool.size,
            available: pool.available,
            waiting: pool.waiting,
            acquired: self.acquired.load(Ordering::Relaxed),
            wait_seconds: Duration::from_micros(self.wait_micros.load(Ordering::Relaxed))
                .as_secs_f64(),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}
