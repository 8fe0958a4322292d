//! Sliding-window rate limiting of `/auth` and `/register`, shared by replicas through Redis.

use serde_json::json;

use crate::helpers::{AppOptions, TestApp, spawn_app_with};

async fn limited_app() -> TestApp {
    spawn_app_with(AppOptions {
        rate_limit: 10,
        ..AppOptions::default()
    })
    .await
}

async fn auth_attempt(app: &TestApp) -> reqwest::Response {
    app.post_json(
        "/auth",
        json!({"username": "nobody", "password": "whatever"}),
    )
    .await
}

#[tokio::test]
async fn the_eleventh_request_in_a_second_is_429_with_retry_after() {
    let app = limited_app().await;
    // Concurrently, so all of them land inside one second however slow hashing is.
    let responses = futures_util::future::join_all((0..11).map(|_| auth_attempt(&app))).await;
    let limited: Vec<&reqwest::Response> = responses.iter().filter(|r| r.status() == 429).collect();
    let passed = responses.iter().filter(|r| r.status() == 401).count();
    assert_eq!((passed, limited.len()), (10, 1));
    let retry_after: u64 = limited[0].headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry_after, 1, "the window is one second");

    // The window slides: after it, requests pass again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(auth_attempt(&app).await.status(), 401);
}

#[tokio::test]
async fn a_limited_response_is_a_json_error() {
    let app = limited_app().await;
    let responses = futures_util::future::join_all((0..12).map(|_| auth_attempt(&app))).await;
    let limited = responses.into_iter().find(|r| r.status() == 429).unwrap();
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
}

#[tokio::test]
async fn two_replicas_share_one_limit() {
    let first = limited_app().await;
    let second = first.spawn_sibling().await;
    let attempts = (0..30).map(|i| {
        if i % 2 == 0 {
            auth_attempt(&first)
        } else {
            auth_attempt(&second)
        }
    });
    let responses = futures_util::future::join_all(attempts).await;
    let accepted = responses.iter().filter(|r| r.status() != 429).count();
    assert_eq!(
        accepted, 10,
        "the combined accepted count must not exceed the limit"
    );
}

#[tokio::test]
async fn register_is_limited_separately_from_auth() {
    let app = limited_app().await;
    let responses = futures_util::future::join_all((0..10).map(|_| auth_attempt(&app))).await;
    assert!(responses.iter().all(|r| r.status() == 401));
    let response = app
        .post_json(
            "/register",
            json!({"username": "alice", "email": "alice@example.com"}),
        )
        .await;
    assert_eq!(response.status(), 201);
}

/// Concurrent requests read the clock before their turn at the window, so the one refused can
/// carry an earlier time than the oldest it is counted against: it still waits no longer than
/// the window, in Redis and in the per-replica fallback.
#[tokio::test]
async fn a_refusal_never_asks_to_wait_longer_than_the_window() {
    use authd::store::{RateDecision, RateLimitStore, Tally};
    let app = limited_app().await;
    let stores = crate::helpers::stores_for(&app.options, &app.resources).await;
    let memory = authd::store::memory::MemoryRateLimits::default();
    let window = std::time::Duration::from_secs(1);
    let now = time::OffsetDateTime::now_utc();
    let later = now + std::time::Duration::from_millis(40);
    for store in [stores.rate_limits.as_ref(), &memory as &dyn RateLimitStore] {
        for _ in 0..10 {
            let decision = store.hit("auth:192.0.2.1", 10, window, later, Tally::Count);
            assert_eq!(decision.await.unwrap(), RateDecision::Allowed);
        }
        let decision = store.hit("auth:192.0.2.1", 10, window, now, Tally::Count);
        let RateDecision::Limited { retry_after } = decision.await.unwrap() else {
            panic!("the eleventh hit must be refused");
        };
        assert!(retry_after <= window, "asked to wait {retry_after:?}");
    }
}

/// Introspection by `client_id` with `secret`: the status, and whether it said when to retry.
async fn introspect_as(app: &TestApp, client_id: &str, secret: &str) -> (u16, bool) {
    let response = app
        .client
        .post(app.url("/oauth/introspect"))
        .basic_auth(client_id, Some(secret))
        .form(&[("token", "not-a-token")])
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.headers().contains_key("retry-after"),
    )
}

/// A confidential client registered with `extra` arguments: its id and secret.
fn service(app: &TestApp, name: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["--name", name];
    args.extend_from_slice(extra);
    let client = crate::code_flow::register_client(app, &args);
    (
        client["client_id"].as_str().unwrap().to_owned(),
        client["client_secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_clients_limit_is_exact_across_replicas_and_leaves_other_clients_alone() {
    // One instant for both replicas: the burst lands in one window however slow the machine.
    let clock = std::sync::Arc::new(authd::clock::ManualClock::new(
        time::OffsetDateTime::now_utc(),
    ));
    let first = spawn_app_with(AppOptions {
        clock: clock.clone(),
        ..AppOptions::default()
    })
    .await;
    let second = first.spawn_sibling().await;
    let (noisy, noisy_secret) = service(&first, "Noisy", &["--rate-limit", "7"]);
    let (quiet, quiet_secret) = service(&first, "Quiet", &[]);

    // 60 requests of one client, half on each replica, all at once: exactly 7 get through.
    let burst = (0..60).map(|i| {
        let app = if i % 2 == 0 { &first } else { &second };
        introspect_as(app, &noisy, &noisy_secret)
    });
    let answers = futures_util::future::join_all(burst).await;
    let accepted = answers.iter().filter(|(status, _)| *status == 200).count();
    let limited = answers
        .iter()
        .filter(|(status, retry)| *status == 429 && *retry)
        .count();
    assert_eq!((accepted, limited), (7, 53), "{answers:?}");

    // Another client, in the same second, on either replica: untouched.
    for app in [&first, &second] {
        for _ in 0..10 {
            assert_eq!(introspect_as(app, &quiet, &quiet_secret).await.0, 200);
        }
    }
    // A second later the client may go on; wrong secrets sent with its id do not spend its
    // quota (anyone could send them).
    clock.advance(time::Duration::seconds(2));
    for _ in 0..10 {
        assert_eq!(introspect_as(&first, &noisy, "wrong").await.0, 401);
    }
    for _ in 0..7 {
        assert_eq!(introspect_as(&second, &noisy, &noisy_secret).await.0, 200);
    }

    let metrics = first
        .client
        .get(first.url("/metrics"))
        .send()
        .await
        .unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics.contains(r#"authd_rate_limited_requests_total{route="client"}"#),
        "{metrics}"
    );
    assert!(!metrics.contains(&noisy), "no client id in a label");
}

#[tokio::test]
async fn the_server_default_limits_clients_without_a_limit_of_their_own() {
    let clock = std::sync::Arc::new(authd::clock::ManualClock::new(
        time::OffsetDateTime::now_utc(),
    ));
    let app = spawn_app_with(AppOptions {
        clock,
        client_rate_limit: std::num::NonZeroU32::new(3),
        ..AppOptions::default()
    })
    .await;
    let (default_client, default_secret) = service(&app, "Default", &[]);
    let (generous, generous_secret) = service(&app, "Generous", &["--rate-limit", "50"]);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            introspect_as(&app, &default_client, &default_secret)
                .await
                .0,
        );
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    for _ in 0..10 {
        assert_eq!(
            introspect_as(&app, &generous, &generous_secret).await.0,
            200
        );
    }
}
