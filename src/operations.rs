//! Running authd: whether what it depends on answers (readiness), what a metrics scrape reads,
//! and removing what can no longer matter.

use std::{sync::Arc, time::Duration};

use crate::{
    accounts::Accounts,
    clock::Clock,
    error::Error,
    keys::KeyRing,
    metrics::{Metrics, Snapshot},
    store::{CleanupReport, Housekeeping, Probe},
};

/// How long a readiness probe may take before its dependency counts as unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Retired keys stay this long after they stop verifying, for forensics, then go.
const RETIRED_KEY_RETENTION: time::Duration = time::Duration::days(7);

/// What is kept, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub auth_logs: time::Duration,
    /// The expired-token test mode is on and signs with its key: the key stays.
    pub expired_test_key: bool,
}

pub struct Operations {
    probes: Arc<[Arc<dyn Probe>]>,
    housekeeping: Arc<dyn Housekeeping>,
    retention: Retention,
    metrics: Arc<Metrics>,
    key_ring: Arc<KeyRing>,
    accounts: Accounts,
    clock: Arc<dyn Clock>,
}

impl Operations {
    pub fn new(
        probes: Vec<Arc<dyn Probe>>,
        housekeeping: Arc<dyn Housekeeping>,
        retention: Retention,
        metrics: Arc<Metrics>,
        key_ring: Arc<KeyRing>,
        accounts: Accounts,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            probes: probes.into(),
            housekeeping,
            retention,
            metrics,
            key_ring,
            accounts,
            clock,
        }
    }

    /// Each dependency by name, and whether it answered within the probe timeout; a failure
    /// is logged with its cause.
    pub async fn readiness(&self) -> Vec<(&'static str, bool)> {
        let checks = self.probes.iter().map(|probe| async move {
            let outcome = tokio::time::timeout(PROBE_TIMEOUT, probe.ping()).await;
            let healthy = match outcome {
                Ok(Ok(())) => true,
                Ok(Err(err)) => {
                    tracing::warn!(dependency = probe.name(), error = %err, "readiness check failed");
                    false
                }
                Err(_) => {
                    tracing::warn!(dependency = probe.name(), "readiness check timed out");
                    false
                }
            };
            (probe.name(), healthy)
        });
        futures_util::future::join_all(checks).await
    }

    /// The Prometheus text exposition: the counters, and the state of pools, keys and the
    /// hashing queue read now.
    pub fn render_metrics(&self) -> String {
        self.metrics.render(&Snapshot {
            probes: &self.probes,
            keys: self.key_ring.census(self.clock.now()),
            hasher: self.accounts.hasher_load(),
            log_lines_dropped: crate::telemetry::dropped_log_lines(),
        })
    }

    /// One cleanup pass (see [`Housekeeping`]); `None` if another replica is cleaning.
    pub async fn clean_up(&self) -> Result<Option<CleanupReport>, Error> {
        let now = self.clock.now();
        let report = self
            .housekeeping
            .clean(
                now,
                now - RETIRED_KEY_RETENTION,
                self.retention.expired_test_key,
                now - self.retention.auth_logs,
            )
            .await?;
        if let Some(report) = report
            && report != CleanupReport::default()
        {
            tracing::info!(?report, "removed expired data");
        }
        Ok(report)
    }
}
