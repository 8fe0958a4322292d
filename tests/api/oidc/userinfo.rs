//! The UserInfo endpoint (OpenID Connect Core §5.3) and the claims each scope releases (§5.4).

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use super::{oidc_client, openid_tokens, signed_in};
use crate::{
    browser::Browser,
    helpers::{TestApp, spawn_app},
};

/// Fills in the signed-in user's profile on `/ui/profile`.
async fn fill_profile(browser: &mut Browser<'_>) {
    let page = browser
        .submit(
            "/ui/profile",
            "/ui/profile",
            &[
                ("display_name", "Alice Liddell"),
                ("phone", "+44 20 7946 0000"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}

async fn userinfo(app: &TestApp, access_token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
}

/// UserInfo for a user with a full profile and a token of `scope`.
async fn claims_for_scope(scope: &str) -> (Value, String) {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let (mut browser, user_id) = signed_in(&app, "alice").await;
    fill_profile(&mut browser).await;
    let tokens = openid_tokens(&app, &mut browser, &client_id, scope, &[]).await;
    let response = userinfo(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    (response.json().await.unwrap(), user_id)
}

#[tokio::test]
async fn oidcc_userinfo_get_answers_sub_for_scope_openid() {
    let (claims, user_id) = claims_for_scope("openid").await;
    assert_eq!(claims, json!({ "sub": user_id }));
}

#[tokio::test]
async fn oidcc_userinfo_post_header() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let (mut browser, user_id) = signed_in(&app, "alice").await;
    let tokens = openid_tokens(&app, &mut browser, &client_id, "openid", &[]).await;
    let response = app
        .client
        .post(app.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let claims: Value = response.json().await.unwrap();
    assert_eq!(claims["sub"], user_id.as_str());
}

#[tokio::test]
async fn oidcc_userinfo_post_body() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let (mut browser, user_id) = signed_in(&app, "alice").await;
    let tokens = openid_tokens(&app, &mut browser, &client_id, "openid", &[]).await;
    let token = tokens["access_token"].as_str().unwrap();
    let response = app
        .client
        .post(app.url("/userinfo"))
        .form(&[("access_token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let claims: Value = response.json().await.unwrap();
    assert_eq!(claims["sub"], user_id.as_str());

    // RFC 6750 §2: one method at a time.
    let both = app
        .client
        .post(app.url("/userinfo"))
        .bearer_auth(token)
        .form(&[("access_token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn oidcc_scope_profile() {
    let (claims, user_id) = claims_for_scope("openid profile").await;
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["name"], "Alice Liddell");
    assert!(claims["updated_at"].as_i64().unwrap() > 1_700_000_000);
    assert!(claims.get("email").is_none() && claims.get("phone_number").is_none());
}

#[tokio::test]
async fn oidcc_scope_email() {
    let (claims, _) = claims_for_scope("openid email").await;
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["email_verified"], false);
    assert!(claims.get("name").is_none() && claims.get("phone_number").is_none());
}

#[tokio::test]
async fn oidcc_scope_phone() {
    let (claims, _) = claims_for_scope("openid phone").await;
    assert_eq!(claims["phone_number"], "+44 20 7946 0000");
    assert!(claims.get("email").is_none() && claims.get("name").is_none());
}

#[tokio::test]
async fn oidcc_scope_all() {
    let (claims, user_id) = claims_for_scope("openid profile email phone").await;
    let keys: Vec<&str> = claims
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for claim in [
        "sub",
        "preferred_username",
        "name",
        "updated_at",
        "email",
        "email_verified",
        "phone_number",
    ] {
        assert!(keys.contains(&claim), "{claim} missing from {claims}");
    }
    assert_eq!(claims["sub"], user_id.as_str());
}

#[tokio::test]
async fn oidcc_claims_essential_a_claim_asked_for_by_name_is_released() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let (mut browser, _) = signed_in(&app, "alice").await;
    fill_profile(&mut browser).await;
    let claims_param = r#"{"userinfo":{"name":{"essential":true}}}"#;
    let tokens = openid_tokens(
        &app,
        &mut browser,
        &client_id,
        "openid",
        &[("claims", claims_param)],
    )
    .await;
    let claims: Value = userinfo(&app, tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(claims["name"], "Alice Liddell");
    assert!(
        claims.get("email").is_none(),
        "only what was asked: {claims}"
    );
}

#[tokio::test]
async fn a_claim_the_user_has_not_filled_in_is_left_out() {
    let (claims, _) = {
        let app = spawn_app().await;
        let client_id = oidc_client(&app);
        let (mut browser, user_id) = signed_in(&app, "alice").await;
        let tokens =
            openid_tokens(&app, &mut browser, &client_id, "openid phone profile", &[]).await;
        let claims: Value = userinfo(&app, tokens["access_token"].as_str().unwrap())
            .await
            .json()
            .await
            .unwrap();
        (claims, user_id)
    };
    assert!(
        claims.get("phone_number").is_none() && claims.get("name").is_none(),
        "{claims}"
    );
    assert_eq!(claims["preferred_username"], "alice");
}

#[tokio::test]
async fn a_token_without_openid_is_refused_with_insufficient_scope() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let (mut browser, _) = signed_in(&app, "alice").await;
    let tokens = openid_tokens(&app, &mut browser, &client_id, "photos:read", &[]).await;
    let response = userinfo(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenge = response.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#)
            && challenge.contains(r#"scope="openid""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn userinfo_errors_are_rfc_6750_challenges() {
    let app = spawn_app().await;
    let missing = app.client.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert!(
        missing.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let posted_empty = app.client.post(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(posted_empty.status(), StatusCode::UNAUTHORIZED);
    let bad = userinfo(&app, "not.a.token").await;
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let challenge = bad.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn a_revoked_session_s_token_gets_no_claims() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let (mut browser, _) = signed_in(&app, "alice").await;
    let tokens = openid_tokens(&app, &mut browser, &client_id, "openid offline_access", &[]).await;
    let revoked = app
        .client
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let response = userinfo(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_dpop_bound_token_gets_its_claims_only_with_a_proof() {
    use crate::dpop::{DpopKey, htu};
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let (mut browser, user_id) = signed_in(&app, "alice").await;
    let key = DpopKey::generate();
    let (verifier, challenge) = crate::code_flow::pkce();
    let answer = super::authorize(&mut browser, &client_id, &challenge, "openid email", &[]).await;
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .header(
            "DPoP",
            key.proof("POST", &htu(&app, "/oauth/token"), None, None),
        )
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", answer["code"].as_str()),
            ("redirect_uri", crate::code_flow::REDIRECT_URI),
            ("code_verifier", &verifier),
            ("client_id", &client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "DPoP");
    let token = tokens["access_token"].as_str().unwrap();

    assert_eq!(
        userinfo(&app, token).await.status(),
        StatusCode::UNAUTHORIZED,
        "not as a bearer"
    );
    let response = app
        .client
        .get(app.url("/userinfo"))
        .header(header::AUTHORIZATION, format!("DPoP {token}"))
        .header(
            "DPoP",
            key.proof("GET", &htu(&app, "/userinfo"), Some(token), None),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let claims: Value = response.json().await.unwrap();
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(claims["email"], "alice@example.com");
}
