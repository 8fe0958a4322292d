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
