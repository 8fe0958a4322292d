//! `GET /healthz` (the process is up) and `GET /readyz` (its dependencies answer).

use std::{collections::BTreeMap, time::Duration};

use poem_openapi::{
    ApiResponse, Object, OpenApi,
    payload::{Json, PlainText},
};

use super::ApiTags;
use crate::{metrics::Snapshot, state::AppState};

pub struct HealthApi(pub AppState);

#[derive(Object)]
struct Health {
    status: String,
}

#[derive(Object)]
struct Readiness {
    /// `ready` or `unavailable`.
    status: String,
    /// Each dependency and whether it answered: `ok` or `unreachable`.
    checks: BTreeMap<String, String>,
}

#[derive(ApiResponse)]
enum ReadyResponse {
    /// Every dependency answered.
    #[oai(status = 200)]
    Ready(Json<Readiness>),
    /// At least one dependency did not; `checks` says which.
    #[oai(status = 503)]
    NotReady(Json<Readiness>),
}

/// A probe that takes longer than this counts as down: a readiness check must answer promptly.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[OpenApi(tag = "ApiTags::Operations")]
impl HealthApi {
    /// Liveness
    #[oai(path = "/healthz", method = "get")]
    async fn healthz(&self) -> Json<Health> {
        Json(Health {
            status: "ok".to_owned(),
        })
    }

    /// Readiness
    ///
    /// 200 when Postgres and Redis answer; 503 naming the one that did not.
    #[oai(path = "/readyz", method = "get")]
    async fn readyz(&self) -> ReadyResponse {
        let checks = self.0.probes.iter().map(|probe| async move {
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
            (probe.name().to_owned(), healthy)
        });
        let results = futures_util::future::join_all(checks).await;
        let ready = results.iter().all(|(_, healthy)| *healthy);
        let body = Json(Readiness {
            status: if ready { "ready" } else { "unavailable" }.to_owned(),
            checks: results
                .into_iter()
                .map(|(name, healthy)| {
                    (name, if healthy { "ok" } else { "unreachable" }.to_owned())
                })
                .collect(),
        });
        if ready {
            ReadyResponse::Ready(body)
        } else {
            ReadyResponse::NotReady(body)
        }
    }

    /// Prometheus metrics
    ///
    /// The text exposition format: requests by route template and status, with latency
    /// (`authd_http_requests_total`, `authd_http_request_duration_seconds`), connection pools
    /// (`authd_pool_connections`) and rate-limit decisions (`authd_rate_limited_requests_total`,
    /// `authd_rate_limit_fallbacks_total`).
    #[oai(path = "/metrics", method = "get")]
    async fn metrics(&self) -> PlainText<String> {
        let state = &self.0;
        PlainText(state.metrics.render(&Snapshot {
            probes: &state.probes,
            keys: state.key_ring.census(state.clock.now()),
            hasher: state.accounts.hasher_load(),
        }))
    }
}
