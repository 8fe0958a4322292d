//! `GET /healthz` (the process is up) and `GET /readyz` (its dependencies answer).

use std::collections::BTreeMap;

use poem_openapi::{
    ApiResponse, Object, OpenApi,
    payload::{Json, PlainText},
};

use crate::http::api::ApiTags;
use crate::state::AppState;

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
        let results = self.0.operations.readiness().await;
        let ready = results.iter().all(|(_, healthy)| *healthy);
        let body = Json(Readiness {
            status: if ready { "ready" } else { "unavailable" }.to_owned(),
            checks: results
                .into_iter()
                .map(|(name, healthy)| {
                    let check = if healthy { "ok" } else { "unreachable" };
                    (name.to_owned(), check.to_owned())
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
        PlainText(self.0.operations.render_metrics())
    }
}
