//! `GET /metrics`: Prometheus text, read back with Prometheus's own Python parser.

use serde_json::{Value, json};

use crate::helpers::{AppOptions, TestApp, spawn_app_with};

/// Every sample of the exposition as `(name, labels, value)`, parsed by `prometheus_client`.
pub async fn scrape(app: &TestApp) -> Vec<(String, Value, f64)> {
    let text = app.get("/metrics").await.text().await.unwrap();
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
samples = [
    [sample.name, sample.labels, sample.value]
    for family in text_string_to_metric_families(sys.stdin.read())
    for sample in family.samples
]
print(json.dumps(samples))
"#;
    let mut parser = tokio::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use tokio::io::AsyncWriteExt;
    let mut stdin = parser.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).await.unwrap();
    drop(stdin);
    let output = parser.wait_with_output().await.unwrap();
    assert!(
        output.status.success(),
        "prometheus_client could not parse /metrics (pip install -r tests/requirements.txt):\n{}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    let samples: Vec<(String, Value, f64)> = serde_json::from_slice(&output.stdout).unwrap();
    samples
}

/// The value of the sample `name` whose labels include `labels`.
pub fn sample(samples: &[(String, Value, f64)], name: &str, labels: Value) -> Option<f64> {
    samples.iter().find_map(|(sample, sample_labels, value)| {
        let matches = sample == name
            && labels
                .as_object()
                .unwrap()
                .iter()
                .all(|(key, wanted)| sample_labels.get(key) == Some(wanted));
        matches.then_some(*value)
    })
}

#[tokio::test]
async fn metrics_parse_and_show_pools_and_rate_limit_refusals() {
    let app = spawn_app_with(AppOptions {
        rate_limit: 2,
        ..AppOptions::default()
    })
    .await;
    let attempts =
        (0..6).map(|_| app.post_json("/auth", json!({"username": "x", "password": "y"})));
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|response| response.status().as_u16())
        .collect();
    let refused = statuses.iter().filter(|status| **status == 429).count();
    assert!(refused > 0);

    let samples = scrape(&app).await;
    assert_eq!(
        sample(
            &samples,
            "authd_rate_limited_requests_total",
            json!({"route": "auth"})
        ),
        Some(refused as f64)
    );
    assert_eq!(
        sample(
            &samples,
            "authd_pool_connections",
            json!({"service": "postgres", "state": "max"})
        ),
        Some(16.0)
    );
    assert_eq!(
        sample(
            &samples,
            "authd_pool_connections",
            json!({"service": "redis", "state": "max"})
        ),
        Some(32.0)
    );
    assert!(
        sample(
            &samples,
            "authd_pool_connections",
            json!({"service": "redis", "state": "open"})
        )
        .unwrap()
            >= 1.0
    );
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_status() {
    let app = crate::helpers::spawn_app().await;
    let password = app.register("alice").await;
    let token = app.login("alice", &password).await;
    assert_eq!(app.me_status(&token).await, 200);
    assert_eq!(app.me_status("not-a-token").await, 401);
    assert_eq!(app.get("/no/such/route").await.status(), 404);

    let samples = scrape(&app).await;
    let requests = |route: &str, method: &str, status: &str| {
        sample(
            &samples,
            "authd_http_requests_total",
            json!({"route": route, "method": method, "status": status}),
        )
    };
    assert_eq!(requests("/me", "GET", "200"), Some(1.0));
    assert_eq!(requests("/me", "GET", "401"), Some(1.0));
    assert_eq!(requests("/register", "POST", "201"), Some(1.0));
    assert_eq!(
        requests("unmatched", "GET", "404"),
        Some(1.0),
        "no raw paths as labels: {:?}",
        samples
            .iter()
            .filter(|(name, _, _)| name == "authd_http_requests_total")
            .collect::<Vec<_>>()
    );
    assert!(
        sample(
            &samples,
            "authd_http_request_duration_seconds_count",
            json!({"route": "/auth", "method": "POST"})
        )
        .unwrap()
            >= 1.0
    );
}
