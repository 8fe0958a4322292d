//! Rate-limit policy: a sliding window per route and client IP, shared by replicas through the
//! store, falling back to a per-replica window when the shared store cannot answer.

use std::{
    net::IpAddr,
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use crate::{
    clock::Clock,
    error::Error,
    metrics::Metrics,
    store::{RateDecision, RateLimitStore, memory::MemoryRateLimits},
};

pub struct RateLimiter {
    shared: Arc<dyn RateLimitStore>,
    /// Used only while the shared store is down: a per-replica limit beats no limit
    /// (../shared/DESIGN.md, failure policy).
    local: MemoryRateLimits,
    limit: NonZeroU32,
    window: Duration,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    /// The second of the last warning logged: a flood of refusals (a password-guessing burst)
    /// is one warning a second, not one a request. The metric counts every refusal.
    last_warning: AtomicI64,
}

impl RateLimiter {
    pub fn per_second(
        shared: Arc<dyn RateLimitStore>,
        limit: NonZeroU32,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            shared,
            local: MemoryRateLimits::default(),
            limit,
            window: Duration::from_secs(1),
            clock,
            metrics,
            last_warning: AtomicI64::new(i64::MIN),
        }
    }

    /// Counts one request from `client_ip` on `route`, or refuses it with the time to wait.
    pub async fn check(&self, route: &str, client_ip: IpAddr) -> Result<(), Error> {
        let key = format!("{route}:{client_ip}");
        let now = self.clock.now();
        let decision = match self
            .shared
            .hit(&key, self.limit.get(), self.window, now)
            .await
        {
            Ok(decision) => decision,
            Err(err) => {
                tracing::warn!(error = %err, "shared rate limiter unavailable; limiting per replica");
                self.metrics.rate_limit_fallbacks.inc();
                self.local.decide(&key, self.limit.get(), self.window, now)
            }
        };
        match decision {
            RateDecision::Allowed => Ok(()),
            RateDecision::Limited { retry_after } => {
                self.metrics.rate_limited.with_label_values(&[route]).inc();
                let second = now.unix_timestamp();
                if self.last_warning.swap(second, Ordering::Relaxed) != second {
                    tracing::warn!(route, %client_ip, "rate limit exceeded: refusing requests");
                }
                Err(Error::RateLimited { retry_after })
            }
        }
    }
}
