//! Prometheus metrics, exposed at `GET /metrics`. Each app has its own registry (several apps in
//! one process, as in the tests, do not share counters).
//!
//! Counters and histograms are updated where things happen; the state of pools, keys and the
//! hashing queue is read when scraped. Every name starts with `authd_`; labels are bounded
//! (route templates, outcomes, algorithms), never a user, token or path. Counters whose label
//! values are a closed set ([`labels`]) have every series from the start, at zero, so a fresh
//! replica's first scrape shows them, and `rate()` and alerts see a series before its first
//! event.

mod labels;

use std::time::Duration;

use jsonwebtoken::Algorithm;
use poem::http::StatusCode;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
    proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType},
};

use crate::store::{AuthOutcome, OutboxDepth, PoolStatus, Probe, SUPPORTED_ALGORITHMS, Topic};

pub use labels::{Grant, RateLimitedRoute, Verification};

pub struct Metrics {
    registry: Registry,
    rate_limited: IntCounterVec,
    /// Decisions taken by the per-replica limiter because the shared one (Redis) was unreachable.
    pub rate_limit_fallbacks: IntCounter,
    /// Refresh tokens presented a second time: each revokes its whole session.
    pub refresh_reuse: IntCounter,
    /// Login attempts queued for the audit log and not yet written.
    pub audit_queue_depth: IntGauge,
    /// Revocation checks that asked Redis (or Postgres) because memory was not current.
    pub revocation_round_trips: IntCounter,
    /// Unexpired revocations this replica holds in memory.
    pub revocations_in_memory: IntGauge,
    /// How far behind the channel this replica may be, in seconds; -1 while it is not following.
    invalidation_lag: prometheus::Gauge,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    logins: IntCounterVec,
    tokens_issued: IntCounterVec,
    verifications: IntCounterVec,
    outbox_deliveries: IntCounterVec,
    outbox_messages: prometheus::IntGaugeVec,
}

/// How one outbox delivery attempt ended, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// Failed, to be tried again.
    Retried,
    /// Failed for good (a permanent refusal, or the last attempt).
    Failed,
}

impl Delivery {
    const ALL: [Delivery; 3] = [Delivery::Sent, Delivery::Retried, Delivery::Failed];

    fn as_str(self) -> &'static str {
        match self {
            Delivery::Sent => "sent",
            Delivery::Retried => "retried",
            Delivery::Failed => "failed",
        }
    }
}

/// How many keys the ring holds in each state at one instant, and how long the key that signs
/// then has been signing (for operators: a stuck rotation shows as an ever-growing age).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyCensus {
    /// In the JWKS ahead of signing, so verifiers have them before the first token.
    pub published: usize,
    pub signing: usize,
    /// Past signing, still verifying the tokens they signed.
    pub verifying: usize,
    pub active_age: Option<std::time::Duration>,
}

/// Password hashes waiting for a core, and hashes running now (`accounts::PasswordHasher::load`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HasherLoad {
    pub queued: usize,
    pub running: usize,
}

/// What is read at scrape time.
pub struct Snapshot<'a> {
    pub probes: &'a [std::sync::Arc<dyn Probe>],
    pub keys: KeyCensus,
    pub hasher: HasherLoad,
    /// Log lines dropped because stderr could not keep up (`telemetry::dropped_log_lines`).
    pub log_lines_dropped: u64,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("authd".to_owned()), None)?;
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let counter = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(counter.clone()))?;
            Ok::<_, prometheus::Error>(counter)
        };
        let http_requests = counter(
            "http_requests_total",
            "Requests answered, by route template, method and status",
            &["route", "method", "status"],
        )?;
        let rate_limited = counter(
            "rate_limited_requests_total",
            "Requests refused by the rate limiter",
            &["route"],
        )?;
        let logins = counter(
            "logins_total",
            "Password checks, by outcome (success, wrong_password, unknown_user)",
            &["outcome"],
        )?;
        let tokens_issued = counter(
            "tokens_issued_total",
            "Access tokens signed, by grant and signing algorithm",
            &["grant", "alg"],
        )?;
        let verifications = counter(
            "token_verifications_total",
            "Access-token verifications, by result (cache_hit and ok are valid tokens)",
            &["result"],
        )?;
        let outbox_deliveries = counter(
            "outbox_deliveries_total",
            "Outbox delivery attempts, by topic and outcome (sent, retried, failed)",
            &["topic", "outcome"],
        )?;
        let outbox_messages = prometheus::IntGaugeVec::new(
            Opts::new(
                "outbox_messages",
                "Outbox messages not sent, by state (pending: waiting for an attempt; failed: given up), as last read by this replica's worker",
            ),
            &["state"],
        )?;
        registry.register(Box::new(outbox_messages.clone()))?;
        let rate_limit_fallbacks = IntCounter::new(
            "rate_limit_fallbacks_total",
            "Rate-limit decisions made per replica because the shared limiter was unreachable",
        )?;
        registry.register(Box::new(rate_limit_fallbacks.clone()))?;
        let refresh_reuse = IntCounter::new(
            "refresh_token_reuse_total",
            "Refresh tokens presented after they were rotated (each revokes its session)",
        )?;
        registry.register(Box::new(refresh_reuse.clone()))?;
        let audit_queue_depth = IntGauge::new(
            "audit_queue_depth",
            "Login attempts queued for auth_logs and not yet written (logins wait at the bound)",
        )?;
        registry.register(Box::new(audit_queue_depth.clone()))?;
        let revocation_round_trips = IntCounter::new(
            "revocation_round_trips_total",
            "Revocation checks that asked Redis or Postgres because this replica's memory was not current",
        )?;
        registry.register(Box::new(revocation_round_trips.clone()))?;
        let revocations_in_memory = IntGauge::new(
            "revocations_in_memory",
            "Unexpired revocations held in this replica's memory",
        )?;
        registry.register(Box::new(revocations_in_memory.clone()))?;
        let invalidation_lag = prometheus::Gauge::new(
            "invalidation_lag_seconds",
            "Age of the newest own heartbeat heard back on the invalidation channel; -1 while not following it",
        )?;
        invalidation_lag.set(-1.0);
        registry.register(Box::new(invalidation_lag.clone()))?;
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
        registry.register(Box::new(http_duration.clone()))?;

        // Every series of a closed label set, at zero (`with_label_values` creates it).
        for route in RateLimitedRoute::ALL {
            rate_limited.with_label_values(&[route.as_str()]);
        }
        for outcome in AuthOutcome::ALL {
            logins.with_label_values(&[outcome.as_str()]);
        }
        for grant in Grant::all() {
            for algorithm in SUPPORTED_ALGORITHMS {
                tokens_issued.with_label_values(&[grant.as_str(), &alg_label(algorithm)]);
            }
        }
        for result in Verification::ALL {
            verifications.with_label_values(&[result.as_str()]);
        }
        for topic in Topic::ALL {
            for outcome in Delivery::ALL {
                outbox_deliveries.with_label_values(&[topic.as_str(), outcome.as_str()]);
            }
        }
        for state in ["pending", "failed"] {
            outbox_messages.with_label_values(&[state]);
        }
        Ok(Self {
            registry,
            rate_limited,
            rate_limit_fallbacks,
            refresh_reuse,
            audit_queue_depth,
            revocation_round_trips,
            revocations_in_memory,
            invalidation_lag,
            http_requests,
            http_duration,
            logins,
            tokens_issued,
            verifications,
            outbox_deliveries,
            outbox_messages,
        })
    }

    pub fn outbox_delivery(&self, topic: Topic, outcome: Delivery) {
        self.outbox_deliveries
            .with_label_values(&[topic.as_str(), outcome.as_str()])
            .inc();
    }

    pub fn set_outbox_depth(&self, depth: OutboxDepth) {
        let gauge = |state: &str, count: u64| {
            self.outbox_messages
                .with_label_values(&[state])
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        };
        gauge("pending", depth.pending);
        gauge("failed", depth.failed);
    }

    /// Records how current this replica's memory is (`None`: not following the channel).
    pub fn set_invalidation_lag(&self, lag: Option<Duration>) {
        self.invalidation_lag
            .set(lag.map_or(-1.0, |lag| lag.as_secs_f64()));
    }

    /// Counts one answered request. `route` is the matched route template (`/me`), never the
    /// raw path, so the label set stays bounded.
    pub fn observe_request(
        &self,
        route: &str,
        method: &str,
        status: StatusCode,
        elapsed: Duration,
    ) {
        // `as_str` is a static string per status: no allocation on every request.
        self.http_requests
            .with_label_values(&[route, method, status.as_str()])
            .inc();
        self.http_duration
            .with_label_values(&[route, method])
            .observe(elapsed.as_secs_f64());
    }

    pub fn login(&self, outcome: AuthOutcome) {
        self.logins.with_label_values(&[outcome.as_str()]).inc();
    }

    pub fn token_issued(&self, grant: Grant, algorithm: Algorithm) {
        self.tokens_issued
            .with_label_values(&[grant.as_str(), &alg_label(algorithm)])
            .inc();
    }

    /// Counts one request refused by a rate limit.
    pub fn rate_limited(&self, route: RateLimitedRoute) {
        self.rate_limited.with_label_values(&[route.as_str()]).inc();
    }

    pub fn verification(&self, result: Verification) {
        self.verifications
            .with_label_values(&[result.as_str()])
            .inc();
    }

    /// The Prometheus text exposition: the registry, then the state read now.
    pub fn render(&self, now: &Snapshot<'_>) -> String {
        let mut families = self.registry.gather();
        families.extend(scraped(now));
        let mut buffer = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&families, &mut buffer) {
            tracing::error!(error = %err, "could not encode metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

/// The `alg` label: the JOSE name (RFC 7518 §3.1), which is how `jsonwebtoken` spells its
/// variants.
fn alg_label(algorithm: Algorithm) -> String {
    format!("{algorithm:?}")
}

/// Families built from state read at scrape time (pools, keys, the hashing queue), so they
/// cost nothing between scrapes and can never drift from what they describe.
fn scraped(now: &Snapshot<'_>) -> Vec<MetricFamily> {
    let pools: Vec<(&str, PoolStatus)> = now
        .probes
        .iter()
        .filter_map(|probe| Some((probe.name(), probe.pool_status()?)))
        .collect();
    let connections = pools
        .iter()
        .flat_map(|(service, status)| {
            [
                ("max", status.max_size),
                ("open", status.size),
                ("idle", status.available),
                ("waiting", status.waiting),
            ]
            .map(|(state, value)| (vec![("service", *service), ("state", state)], value as f64))
        })
        .collect();
    let per_pool = |value: fn(&PoolStatus) -> f64| -> Vec<(Vec<(&str, &str)>, f64)> {
        pools
            .iter()
            .map(|(service, status)| (vec![("service", *service)], value(status)))
            .collect()
    };
    let keys = &now.keys;
    let families = vec![
        family(
            "authd_pool_connections",
            "Connection pools: max, open (size), idle (available) and waiting callers",
            MetricType::GAUGE,
            connections,
        ),
        family(
            "authd_pool_acquired_total",
            "Connections handed out by each pool",
            MetricType::COUNTER,
            per_pool(|s| s.acquired as f64),
        ),
        family(
            "authd_pool_wait_seconds_total",
            "Time callers spent waiting for a pooled connection",
            MetricType::COUNTER,
            per_pool(|s| s.wait_seconds),
        ),
        family(
            "authd_pool_errors_total",
            "Connections that could not be had (pool timeout, connection refused)",
            MetricType::COUNTER,
            per_pool(|s| s.failed as f64),
        ),
        family(
            "authd_signing_keys",
            "Keys in this replica's ring, by state (published: not signing yet; signing; \
             verifying: past signing, still in the JWKS)",
            MetricType::GAUGE,
            vec![
                (vec![("state", "published")], keys.published as f64),
                (vec![("state", "signing")], keys.signing as f64),
                (vec![("state", "verifying")], keys.verifying as f64),
            ],
        ),
        family(
            "authd_signing_key_age_seconds",
            "How long the key that signs now has been signing",
            MetricType::GAUGE,
            keys.active_age
                .map(|age| vec![(vec![], age.as_secs_f64())])
                .unwrap_or_default(),
        ),
        family(
            "authd_log_lines_dropped_total",
            "Log lines (access lines included) dropped because stderr could not keep up: \
             requests never wait for the log",
            MetricType::COUNTER,
            vec![(vec![], now.log_lines_dropped as f64)],
        ),
        family(
            "authd_argon2_tasks",
            "Password hashes waiting for a core (queued) and being computed (running)",
            MetricType::GAUGE,
            vec![
                (vec![("state", "queued")], now.hasher.queued as f64),
                (vec![("state", "running")], now.hasher.running as f64),
            ],
        ),
    ];
    // The encoder refuses a family without samples (no pools in `dev`, no signing key yet),
    // and stops there: leave such families out.
    families
        .into_iter()
        .filter(|family| !family.get_metric().is_empty())
        .collect()
}

fn family(
    name: &str,
    help: &str,
    kind: MetricType,
    samples: Vec<(Vec<(&str, &str)>, f64)>,
) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(name.to_owned());
    family.set_help(help.to_owned());
    family.set_field_type(kind);
    let metrics = samples
        .into_iter()
        .map(|(labels, value)| {
            let mut metric = Metric::from_label(
                labels
                    .into_iter()
                    .map(|(name, value)| {
                        let mut pair = LabelPair::default();
                        pair.set_name(name.to_owned());
                        pair.set_value(value.to_owned());
                        pair
                    })
                    .collect(),
            );
            if kind == MetricType::COUNTER {
                let mut counter = Counter::default();
                counter.set_value(value);
                metric.set_counter(counter);
            } else {
                let mut gauge = Gauge::default();
                gauge.set_value(value);
                metric.set_gauge(gauge);
            }
            metric
        })
        .collect();
    family.set_metric(metrics);
    family
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_without_pools_or_keys_still_renders_everything_else() {
        let metrics = Metrics::new().unwrap();
        metrics.observe_request("/me", "GET", StatusCode::OK, Duration::from_millis(1));
        let text = metrics.render(&Snapshot {
            probes: &[],
            keys: KeyCensus::default(),
            log_lines_dropped: 0,
            hasher: HasherLoad {
                queued: 0,
                running: 0,
            },
        });
        assert!(text.contains("authd_http_requests_total{"), "{text}");
        assert!(
            text.contains("authd_argon2_tasks{state=\"queued\"} 0"),
            "{text}"
        );
        assert!(!text.contains("authd_pool_connections"), "{text}");
    }
}
