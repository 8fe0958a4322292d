//! Prometheus metrics, exposed at `GET /metrics`. Each app has its own registry (several apps in
//! one process, as in the tests, do not share counters).
//!
//! So far: connection-pool state and the rate limiter's decisions, which the failure policy needs
//! to be visible. The full set arrives with the observability work.

use prometheus::{Encoder, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::store::{PoolStatus, Probe};

pub struct Metrics {
    registry: Registry,
    /// Requests refused by the rate limiter, by route.
    pub rate_limited: IntCounterVec,
    /// Decisions taken by the per-replica limiter because the shared one (Redis) was unreachable.
    pub rate_limit_fallbacks: IntCounter,
    pool_connections: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("authd".to_owned()), None)?;
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "rate_limited_requests_total",
                "Requests refused by the rate limiter",
            ),
            &["route"],
        )?;
        let rate_limit_fallbacks = IntCounter::new(
            "rate_limit_fallbacks_total",
            "Rate-limit decisions made per replica because the shared limiter was unreachable",
        )?;
        let pool_connections = IntGaugeVec::new(
            Opts::new(
                "pool_connections",
                "Connection pools: max, open (size), idle (available) and waiting callers",
            ),
            &["service", "state"],
        )?;
        registry.register(Box::new(rate_limited.clone()))?;
        registry.register(Box::new(rate_limit_fallbacks.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        Ok(Self {
            registry,
            rate_limited,
            rate_limit_fallbacks,
            pool_connections,
        })
    }

    /// The Prometheus text exposition, with the pools read now.
    pub fn render(&self, probes: &[std::sync::Arc<dyn Probe>]) -> String {
        for probe in probes {
            if let Some(PoolStatus {
                max_size,
                size,
                available,
                waiting,
            }) = probe.pool_status()
            {
                for (state, value) in [
                    ("max", max_size),
                    ("open", size),
                    ("idle", available),
                    ("waiting", waiting),
                ] {
                    self.pool_connections
                        .with_label_values(&[probe.name(), state])
                        .set(i64::try_from(value).unwrap_or(i64::MAX));
                }
            }
        }
        let mut buffer = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(error = %err, "could not encode metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}
