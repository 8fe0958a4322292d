//! `/ping`, `/healthz`, `/readyz`, and behaviour with Redis unreachable.

use std::sync::Arc;

use authd::{AppState, store};
use serde_json::{Value, json};

use crate::helpers::{AppOptions, TestResources, spawn_app, start_state, test_config};

#[tokio::test]
async fn ping_healthz_and_readyz_answer_when_all_is_well() {
    let app = spawn_app().await;
    let ping: Value = app.get("/ping").await.json().await.unwrap();
    assert!(ping["message"].is_string());
    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(
        body,
        json!({"status": "ready", "checks": {"postgres": "ok", "redis": "ok"}})
    );
}

/// An app whose Redis is a closed port: started from stores built by hand, since `serve`
/// itself refuses to start without Redis.
async fn app_without_redis() -> crate::helpers::TestApp {
    let live = spawn_app().await;
    let mut stores = crate::helpers::stores_for(&live.options, &live.resources).await;
    let target = store::redis::RedisTarget::parse("redis://127.0.0.1:1", None).unwrap();
    let backend = store::redis::open(&target).await.unwrap();
    let dead_redis = store::redis::Redis::new(backend, "unused:".to_owned());
    stores.rate_limits = Arc::new(store::redis::RedisRateLimits(dead_redis.clone()));
    stores.token_cache = Arc::new(store::redis::RedisTokenState(dead_redis.clone()));
    stores.proof_state = Arc::new(store::redis::RedisProofState(dead_redis.clone()));
    stores.events = Arc::new(store::redis::RedisEvents::new(dead_redis.clone(), target));
    stores.probes.retain(|probe| probe.name() != "redis");
    stores.probes.push(Arc::new(dead_redis));
    let options = AppOptions {
        rate_limit: 10,
        await_channel: false, // it never will: the channel is on the dead Redis
        ..live.options.clone()
    };
    let state = AppState::build(
        test_config(&options),
        stores,
        &live.master_key,
        options.clock.clone(),
    )
    .await
    .unwrap();
    let resources: Arc<TestResources> = live.resources.clone();
    start_state(state, options, resources, live.master_key.clone()).await
}

#[tokio::test]
async fn readiness_fails_naming_redis_when_it_is_unreachable() {
    let app = app_without_redis().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["redis"], "unreachable");
    assert_eq!(body["checks"]["postgres"], "ok");
}

#[tokio::test]
async fn with_redis_down_logins_work_and_are_limited_per_replica() {
    let app = app_without_redis().await;
    let password = app.register("alice").await;
    app.login("alice", &password).await;
    let attempts =
        (0..12).map(|_| app.post_json("/auth", json!({"username": "alice", "password": "x"})));
    let responses = futures_util::future::join_all(attempts).await;
    assert!(
        responses.iter().any(|r| r.status() == 429),
        "the fallback limiter still limits"
    );
    let samples = crate::metrics::scrape(&app).await;
    let fallbacks =
        crate::metrics::sample(&samples, "authd_rate_limit_fallbacks_total", json!({})).unwrap();
    assert!(
        fallbacks >= 12.0,
        "the fallback shows in /metrics: {fallbacks}"
    );
}

#[tokio::test]
async fn with_redis_down_verification_falls_back_to_postgres_and_fails_closed() {
    let app = app_without_redis().await;
    let password = app.register("alice").await;
    let token = app.login("alice", &password).await;
    let me = || app.client.get(app.url("/me")).bearer_auth(&token).send();
    assert_eq!(
        me().await.unwrap().status(),
        200,
        "Postgres answers for revocations"
    );

    // The revocation cannot reach every replica's hot path, so the client is told to retry...
    let logout = app.logout(&token).await;
    assert_eq!(logout.status(), 503);
    // ...but it is durable, and checked while Redis is down.
    assert_eq!(me().await.unwrap().status(), 401);
}

#[tokio::test]
async fn with_redis_down_proof_flows_answer_503_and_never_accept_silently() {
    let app = app_without_redis().await;
    let key = crate::pop::UserKey::generate();
    let password = crate::pop::register_with_key(&app, "alice", &key).await;
    let pop_login = app
        .post_json(
            "/pop/login",
            json!({"username": "alice", "password": password}),
        )
        .await;
    assert_eq!(pop_login.status(), 503, "no nonce can be stored");

    let dpop = crate::dpop::DpopKey::generate();
    let proof = dpop.proof("POST", &crate::dpop::htu(&app, "/oauth/token"), None, None);
    let token = crate::dpop::dpop_token_with(&app, "alice", &password, &proof).await;
    assert_eq!(token.status(), 503, "the replay guard cannot be consulted");
    let body: Value = token.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
}
