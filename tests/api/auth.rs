//! `POST /auth`.

use serde_json::{Value, json};

use crate::helpers::{AppOptions, spawn_app, spawn_app_with};

fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn json_login_returns_a_token_with_the_expected_claims() {
    let app = spawn_app().await;
    let password = app.register("alice").await;
    let response = app
        .post_json("/auth", json!({"username": "alice", "password": password}))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let claims = claims_of(body["token"].as_str().unwrap());
    assert_eq!(claims["iss"], crate::helpers::ISSUER);
    assert_eq!(claims["aud"], crate::helpers::AUDIENCE);
    assert_eq!(claims["username"], "alice");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert_eq!(claims["nbf"], claims["iat"]);
    uuid::Uuid::parse_str(claims["sub"].as_str().unwrap()).unwrap();
    uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).unwrap();
}

#[tokio::test]
async fn http_basic_login_works_without_a_body() {
    let app = spawn_app().await;
    let password = app.register("bob").await;
    let response = app
        .client
        .post(app.url("/auth"))
        .basic_auth("bob", Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        claims_of(body["token"].as_str().unwrap())["username"],
        "bob"
    );
}

#[tokio::test]
async fn usernames_log_in_regardless_of_case() {
    let app = spawn_app().await;
    let password = app.register("Carol").await;
    app.login("carol", &password).await;
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_401() {
    let app = spawn_app().await;
    app.register("dave").await;
    let wrong = app
        .post_json(
            "/auth",
            json!({"username": "dave", "password": "not his password"}),
        )
        .await;
    let unknown = app
        .post_json(
            "/auth",
            json!({"username": "nobody", "password": "not his password"}),
        )
        .await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(unknown.status(), 401);
    let wrong: Value = wrong.json().await.unwrap();
    let unknown: Value = unknown.json().await.unwrap();
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["error"], "invalid_credentials");
}

#[tokio::test]
async fn a_request_without_credentials_is_400() {
    let app = spawn_app().await;
    let response = app.client.post(app.url("/auth")).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn the_test_mode_issues_an_expired_token_whose_key_is_not_published() {
    let app = spawn_app_with(AppOptions {
        expired_tokens: true,
        ..AppOptions::default()
    })
    .await;
    let password = app.register("frank").await;
    let response = app
        .post_json(
            "/auth?expired=true",
            json!({"username": "frank", "password": password}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["expires_in"].as_i64().unwrap() < 0);
    let token = body["token"].as_str().unwrap();
    let claims = claims_of(token);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(claims["exp"].as_i64().unwrap() < now);

    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwks = app.jwks().await;
    let published: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap())
        .collect();
    assert!(!published.contains(&header.kid.as_deref().unwrap()));

    // Without the flag, the same server still issues live tokens.
    let live = app.login("frank", &password).await;
    assert!(claims_of(&live)["exp"].as_i64().unwrap() > now);
}
