//! Prometheus metrics, exposed at `GET /metrics`. Each app has its own registry (several apps in
//! one process, as in the tests, do not share counters).
//!
//! So far: requests by route and status with their latency, connection-pool state, and the rate
//! limiter's decisions. The rest of the observability work adds to this registry.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::store::{PoolStatus, Probe};

pub struct Metrics {
    registry: Registry,
    /// Requests refused by the rate limiter, by route.
    pub rate_limited: IntCounterVec,
    /// Decisions taken by the per-replica limiter because the shared one (Redis) was unreachable.
    pub rate_limit_fallbacks: IntCounter,
    pool_connections: IntGaugeVec,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
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
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "Requests answered, by route template, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer a request, by route template and method",
            )
            // From a cached verification (~0.2 ms) to a slow password hash.
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
            &["route", "method"],
        )?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(rate_limited.clone()))?;
        registry.register(Box::new(rate_limit_fallbacks.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        Ok(Self {
            registry,
            rate_limited,
            rate_limit_fallbacks,
            pool_connections,
            http_requests,
            http_duration,
        })
    }

    /// Counts one answered request. `route` is the matched route template (`/me`), never the
    /// raw path, so the label set stays bounded.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.http_requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.http_duration
            .with_label_values(&[route, method])
            .observe(elapsed.as_secs_f64());
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
