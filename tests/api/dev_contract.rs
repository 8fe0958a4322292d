//! `authd dev` (in-memory stores) and `authd serve` (Postgres + Redis) keep one contract.

use serde_json::{Value, json};

use crate::helpers::{AppOptions, Backend, TestApp, spawn_app_with};

/// What a client of either mode sees, from registration to a verified token to the limit.
async fn the_contract(app: &TestApp) {
    let password = app.register("alice").await;
    let duplicate = app
        .post_json(
            "/register",
            json!({"username": "ALICE", "email": "a2@example.com"}),
        )
        .await;
    assert_eq!(duplicate.status(), 409);

    let token = app.login("alice", &password).await;
    let wrong = app
        .post_json(
            "/auth",
            json!({"username": "alice", "password": "nope nope nope"}),
        )
        .await;
    assert_eq!(wrong.status(), 401);

    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(app.jwks().await).unwrap();
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(&kid).unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[crate::helpers::AUDIENCE]);
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["username"], "alice");

    // A DPoP-bound token opens nothing as a bearer, and each proof works once.
    let key = crate::dpop::DpopKey::generate();
    let htu = |path: &str| crate::dpop::htu(app, path);
    let proof = key.proof("POST", &htu("/oauth/token"), None, None);
    let response = crate::dpop::dpop_token_with(app, "alice", &password, &proof).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let bound = body["access_token"].as_str().unwrap();
    assert_eq!(app.me_status(bound).await, 401);
    let proof = key.proof("GET", &htu("/me"), Some(bound), None);
    let call_me = || {
        app.client
            .get(app.url("/me"))
            .header("Authorization", format!("DPoP {bound}"))
            .header("DPoP", &proof)
            .send()
    };
    assert_eq!(call_me().await.unwrap().status(), 200);
    assert_eq!(call_me().await.unwrap().status(), 401);

    let expired = app
        .post_json(
            "/auth?expired=true",
            json!({"username": "alice", "password": password}),
        )
        .await;
    assert_eq!(expired.status(), 200);

    let burst = (0..12).map(|_| app.post_json("/auth", json!({"username": "x", "password": "y"})));
    let statuses: Vec<u16> = futures_util::future::join_all(burst)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
}

fn options(backend: Backend) -> AppOptions {
    AppOptions {
        backend,
        rate_limit: 10,
        expired_tokens: true,
        ..AppOptions::default()
    }
}

#[tokio::test]
async fn memory_stores_keep_the_contract() {
    the_contract(&spawn_app_with(options(Backend::Memory)).await).await;
}

#[tokio::test]
async fn durable_stores_keep_the_contract() {
    the_contract(&spawn_app_with(options(Backend::Durable)).await).await;
}
