//! The expired-token test mode (`AUTHD_EXPIRED_TOKENS`): `POST /auth?expired=true` answers a
//! token signed by a real, stored key whose expiry has passed, never published, as the seed
//! servers keep one expired and one valid key.

use std::sync::Arc;

use authd::{AppState, clock::SystemClock, store::CleanupReport};
use serde_json::{Value, json};

use crate::helpers::{
    AppOptions, Backend, TestApp, spawn_app, spawn_app_with, stores_for, test_config,
};

fn test_mode(backend: Backend) -> AppOptions {
    AppOptions {
        backend,
        expired_tokens: true,
        ..AppOptions::default()
    }
}

/// `POST /auth?expired=true` for a fresh user: the token.
async fn expired_token(app: &TestApp, username: &str) -> String {
    let password = app.register(username).await;
    let response = app
        .post_json(
            "/auth?expired=true",
            json!({"username": username, "password": password}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// What a verifier sees: refused as expired (RFC 6750 §3), not as signed by an unknown key.
async fn assert_refused_as_expired(app: &TestApp, token: &str) {
    let response = app.me(token).await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("expired"), "{challenge}");
}

/// `(kid, master_key_id)` of every stored key whose expiry has passed.
async fn expired_rows(app: &TestApp) -> Vec<(String, String)> {
    app.db()
        .await
        .query(
            "SELECT kid, master_key_id FROM signing_keys
             WHERE expires_at <= now() AND retire_at <= now()",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

#[tokio::test]
async fn expired_tokens_are_signed_by_a_stored_expired_key_that_is_never_published() {
    let app = spawn_app_with(test_mode(Backend::Durable)).await;
    let token = expired_token(&app, "grader").await;

    let expired = expired_rows(&app).await;
    assert_eq!(expired.len(), 1, "one stored key whose expiry passed");
    let (kid, master_key_id) = &expired[0];
    assert_eq!(&kid_of(&token), kid, "the token is signed by that key");
    let live: Vec<String> = app
        .db()
        .await
        .query(
            "SELECT master_key_id FROM signing_keys WHERE expires_at > now()",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        live,
        vec![master_key_id.to_owned()],
        "and one valid key, sealed alike"
    );

    assert!(!app.published_kids().await.contains(kid));
    assert_refused_as_expired(&app, &token).await;
    let password = app.register("normal").await;
    let normal = app.login("normal", &password).await;
    assert_ne!(&kid_of(&normal), kid, "never chosen to sign a normal token");
    assert_eq!(app.me_status(&normal).await, 200);

    let sibling = app.spawn_sibling().await;
    assert_eq!(&kid_of(&expired_token(&sibling, "again").await), kid);
    assert_eq!(
        expired_rows(&app).await.len(),
        1,
        "a restart reuses the key"
    );
}

#[tokio::test]
async fn replicas_starting_together_in_test_mode_store_one_test_key() {
    let app = spawn_app_with(test_mode(Backend::Durable)).await;
    app.db()
        .await
        .execute("DELETE FROM signing_keys WHERE expires_at <= now()", &[])
        .await
        .unwrap();
    let starts = (0..4).map(|_| async {
        let stores = stores_for(&app.options, &app.resources).await;
        let config = test_config(&app.options);
        AppState::build(config, stores, &app.master_key, Arc::new(SystemClock)).await
    });
    for state in futures_util::future::join_all(starts).await {
        state.unwrap();
    }
    assert_eq!(expired_rows(&app).await.len(), 1);
}

#[tokio::test]
async fn without_the_test_mode_no_expired_key_is_stored_and_expired_tokens_are_refused() {
    let app = spawn_app().await;
    let password = app.register("erin").await;
    let response = app
        .post_json(
            "/auth?expired=true",
            json!({"username": "erin", "password": password}),
        )
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "expired_tokens_disabled");
    assert!(expired_rows(&app).await.is_empty());
}

#[tokio::test]
async fn cleanup_keeps_the_test_key_while_the_test_mode_uses_it_and_removes_it_after() {
    let app = spawn_app_with(test_mode(Backend::Durable)).await;
    // Long past the week retired keys are kept for.
    app.db()
        .await
        .execute(
            "UPDATE signing_keys SET not_before = now() - interval '40 days',
                 expires_at = now() - interval '30 days', retire_at = now() - interval '30 days'
             WHERE expires_at <= now()",
            &[],
        )
        .await
        .unwrap();
    let clean_up = |expired_tokens: bool| {
        let app = &app;
        async move {
            let options = AppOptions {
                expired_tokens,
                ..app.options.clone()
            };
            let stores = stores_for(&options, &app.resources).await;
            let state = AppState::build(
                test_config(&options),
                stores,
                &app.master_key,
                Arc::new(SystemClock),
            )
            .await
            .unwrap();
            state.operations.clean_up().await.unwrap().unwrap()
        }
    };
    assert_eq!(clean_up(true).await, CleanupReport::default());
    assert_eq!(expired_rows(&app).await.len(), 1);
    assert_eq!(clean_up(false).await.signing_keys, 1);
    assert!(expired_rows(&app).await.is_empty());
}

#[tokio::test]
async fn dev_memory_stores_keep_the_test_key_out_of_the_jwks_too() {
    let app = spawn_app_with(test_mode(Backend::Memory)).await;
    let token = expired_token(&app, "dev").await;
    assert!(!app.published_kids().await.contains(&kid_of(&token)));
    assert_refused_as_expired(&app, &token).await;
    let password = app.register("live").await;
    let normal = app.login("live", &password).await;
    assert_eq!(app.me_status(&normal).await, 200);
}
