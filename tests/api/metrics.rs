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
        // One multiplexed connection, to a node or to the cluster: no pool.
        Some(1.0)
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

#[tokio::test]
async fn logins_tokens_verifications_and_refresh_reuse_move_their_counters() {
    let app = crate::helpers::spawn_app().await;
    let password = app.register("counted").await;
    let token = app.login("counted", &password).await;
    for (username, password) in [("counted", "wrong password!"), ("nobody", "any password!")] {
        let refused = app
            .post_json("/auth", json!({"username": username, "password": password}))
            .await;
        assert_eq!(refused.status(), 401);
    }
    assert_eq!(app.me_status(&token).await, 200); // verified, then cached
    assert_eq!(app.me_status(&token).await, 200); // from the cache
    let (head, _) = token.rsplit_once('.').unwrap();
    assert_eq!(app.me_status(&format!("{head}.AAAA")).await, 401);

    let grant = |form: Vec<(&'static str, String)>| {
        app.client.post(app.url("/oauth/token")).form(&form).send()
    };
    let session: Value = grant(vec![
        ("grant_type", "password".into()),
        ("username", "counted".into()),
        ("password", password.clone()),
    ])
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let first_refresh = session["refresh_token"].as_str().unwrap().to_owned();
    let refresh = || {
        grant(vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", first_refresh.clone()),
        ])
    };
    assert_eq!(refresh().await.unwrap().status(), 200);
    assert_eq!(refresh().await.unwrap().status(), 400, "reused");
    let revoked = session["access_token"].as_str().unwrap();
    assert_eq!(
        app.me_status(revoked).await,
        401,
        "the reuse revoked the session"
    );

    let samples = scrape(&app).await;
    let value = |name: &str, labels: Value| sample(&samples, name, labels).unwrap_or(0.0);
    let logins = |outcome: &str| value("authd_logins_total", json!({"outcome": outcome}));
    assert_eq!(logins("success"), 2.0, "/auth and the password grant");
    assert_eq!(logins("wrong_password"), 1.0);
    assert_eq!(logins("unknown_user"), 1.0);
    let issued = |grant: &str| {
        value(
            "authd_tokens_issued_total",
            json!({"grant": grant, "alg": "RS256"}),
        )
    };
    assert_eq!(issued("auth"), 1.0);
    assert_eq!(issued("password"), 1.0);
    assert_eq!(issued("refresh_token"), 1.0);
    let verifications =
        |result: &str| value("authd_token_verifications_total", json!({"result": result}));
    assert_eq!(verifications("ok"), 1.0);
    assert_eq!(verifications("cache_hit"), 1.0);
    assert_eq!(verifications("bad_signature"), 1.0);
    assert_eq!(verifications("revoked"), 1.0);
    assert_eq!(value("authd_refresh_token_reuse_total", json!({})), 1.0);
    // The four logins' audit rows: queued, then written in the background.
    let depth = sample(&samples, "authd_audit_queue_depth", json!({}));
    assert!(
        depth.is_some_and(|depth| (0.0..=4.0).contains(&depth)),
        "{depth:?}"
    );

    assert_eq!(
        value("authd_signing_keys", json!({"state": "signing"})),
        1.0
    );
    assert!(sample(&samples, "authd_signing_key_age_seconds", json!({})).unwrap() >= 0.0);
    assert_eq!(value("authd_argon2_tasks", json!({"state": "queued"})), 0.0);
    assert!(value("authd_pool_acquired_total", json!({"service": "postgres"})) >= 5.0);
    assert!(
        sample(
            &samples,
            "authd_pool_wait_seconds_total",
            json!({"service": "redis"})
        )
        .is_some()
    );
    assert_eq!(
        value("authd_pool_errors_total", json!({"service": "postgres"})),
        0.0
    );
}

#[tokio::test]
async fn the_in_memory_stores_of_dev_expose_a_complete_parseable_page() {
    let app = spawn_app_with(AppOptions {
        backend: crate::helpers::Backend::Memory,
        ..AppOptions::default()
    })
    .await;
    assert_eq!(app.get("/ping").await.status(), 200);
    let samples = scrape(&app).await;
    // Families after the pools (which `dev` has none of) are still there.
    assert_eq!(
        sample(&samples, "authd_signing_keys", json!({"state": "signing"})),
        Some(1.0)
    );
    assert_eq!(
        sample(&samples, "authd_argon2_tasks", json!({"state": "running"})),
        Some(0.0)
    );
    assert!(sample(&samples, "authd_pool_connections", json!({})).is_none());
}

#[tokio::test]
async fn a_fresh_replicas_first_scrape_lists_every_counter_of_a_closed_label_set_at_zero() {
    let app = crate::helpers::spawn_app().await;
    let samples = scrape(&app).await;
    let mut expected: Vec<(&str, Value)> = vec![
        ("authd_rate_limit_fallbacks_total", json!({})),
        ("authd_refresh_token_reuse_total", json!({})),
    ];
    for outcome in ["success", "wrong_password", "unknown_user"] {
        expected.push(("authd_logins_total", json!({"outcome": outcome})));
    }
    for grant in [
        "password",
        "refresh_token",
        "client_credentials",
        "auth",
        "pop_login",
        "ui",
    ] {
        for alg in ["RS256", "ES256", "EdDSA"] {
            expected.push((
                "authd_tokens_issued_total",
                json!({"grant": grant, "alg": alg}),
            ));
        }
    }
    for result in [
        "cache_hit",
        "ok",
        "expired",
        "revoked",
        "bad_signature",
        "invalid",
        "unavailable",
    ] {
        expected.push(("authd_token_verifications_total", json!({"result": result})));
    }
    for route in ["auth", "register", "token", "login-failures"] {
        expected.push(("authd_rate_limited_requests_total", json!({"route": route})));
    }
    for (name, labels) in expected {
        assert_eq!(
            sample(&samples, name, labels.clone()),
            Some(0.0),
            "{name}{labels} at zero on the first scrape"
        );
    }
}
