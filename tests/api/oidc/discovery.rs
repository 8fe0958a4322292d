//! OpenID Provider metadata (Discovery 1.0 §3) and key rotation as a relying party sees it.

use std::{sync::Arc, time::Duration};

use authd::clock::ManualClock;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use super::{oidc_client, openid_tokens, signed_in, verify_id_token};
use crate::{
    helpers::{AppOptions, ISSUER, eventually, spawn_app, spawn_app_with},
    rotation::{authd_keys, kid_of},
};

#[tokio::test]
async fn oidcc_discovery_endpoint_verification() {
    let app = spawn_app().await;
    let response = app.get("/.well-known/openid-configuration").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .starts_with("public, max-age=")
    );
    let document: Value = response.json().await.unwrap();
    let base = &app.address;
    assert_eq!(document["issuer"], ISSUER);
    for (field, path) in [
        ("authorization_endpoint", "/oauth/authorize"),
        ("token_endpoint", "/oauth/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("end_session_endpoint", "/oauth/end_session"),
        ("jwks_uri", "/.well-known/jwks.json"),
        ("pushed_authorization_request_endpoint", "/oauth/par"),
        ("revocation_endpoint", "/oauth/revoke"),
        ("introspection_endpoint", "/oauth/introspect"),
    ] {
        assert_eq!(document[field], format!("{base}{path}"), "{field}");
    }
    assert_eq!(document["response_types_supported"], json!(["code"]));
    assert_eq!(document["subject_types_supported"], json!(["public"]));
    assert_eq!(
        document["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(
        document["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(document["request_parameter_supported"], false);
    assert_eq!(document["request_uri_parameter_supported"], false);
    assert_eq!(document["claims_parameter_supported"], true);
    assert_eq!(
        document["scopes_supported"],
        json!([
            "openid",
            "profile",
            "email",
            "phone",
            "offline_access",
            "groups"
        ])
    );
    let claims = document["claims_supported"].as_array().unwrap();
    for claim in [
        "sub",
        "iss",
        "auth_time",
        "name",
        "email",
        "phone_number",
        "groups",
    ] {
        assert!(claims.contains(&json!(claim)), "{claim}");
    }
    assert!(
        document["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("private_key_jwt"))
    );
    assert!(document["dpop_signing_alg_values_supported"].is_array());
    assert!(document["require_pushed_authorization_requests"].is_boolean());

    // RFC 8414 §2 builds on these fields: the two documents are one.
    let oauth: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(oauth, document);

    // Every endpoint it names answers (with whatever a request without credentials gets).
    for field in ["jwks_uri", "userinfo_endpoint", "end_session_endpoint"] {
        let url = document[field].as_str().unwrap();
        let status = app.client.get(url).send().await.unwrap().status();
        assert_ne!(status, StatusCode::NOT_FOUND, "{field}");
    }
}

#[tokio::test]
async fn oidcc_server_rotate_keys_id_tokens_verify_through_the_grace_period() {
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let app = spawn_app_with(AppOptions {
        clock: clock.clone(),
        ..AppOptions::default()
    })
    .await;
    let client_id = oidc_client(&app);
    let (mut browser, _) = signed_in(&app, "alice").await;
    let before = openid_tokens(&app, &mut browser, &client_id, "openid", &[]).await;
    let old_id_token = before["id_token"].as_str().unwrap().to_owned();
    let old_kid = kid_of(&old_id_token);

    let new_kid = authd_keys(&app, &["rotate"]).trim().to_owned();
    let published = eventually(Duration::from_secs(3), || async {
        app.published_kids().await.contains(&new_kid)
    })
    .await;
    assert!(published);
    // Once the published key signs (one JWKS cache lifetime later), ID tokens carry it.
    clock.advance(time::Duration::minutes(6));
    let after = openid_tokens(&app, &mut browser, &client_id, "openid", &[]).await;
    let new_id_token = after["id_token"].as_str().unwrap();
    assert_eq!(kid_of(new_id_token), new_kid);
    assert_ne!(new_kid, old_kid);
    // A relying party holding the JWKS verifies both: the old key is in its grace period.
    verify_id_token(&app, new_id_token, &client_id).await;
    verify_id_token(&app, &old_id_token, &client_id).await;
    // The discovery document follows the ring.
    let document: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        document["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
}
