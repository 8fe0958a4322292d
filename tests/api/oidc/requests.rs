//! The OpenID Connect parameters of the authorization request (Core §3.1.2.1): `prompt`,
//! `max_age`, `id_token_hint`, `login_hint`, `ui_locales`, `display`, `acr_values`, and the
//! requests authd refuses (no `response_type`, request objects).

use std::time::Duration;

use reqwest::StatusCode;

use super::{authorize, oidc_client, openid_request, openid_tokens, signed_in, verify_id_token};
use crate::{
    code_flow::{client_answer, log_in_here, pkce},
    helpers::{TestApp, spawn_app},
};

/// The ID token of a code redeemed from `answer`.
async fn id_token_of(
    app: &TestApp,
    client_id: &str,
    answer: &std::collections::HashMap<String, String>,
    verifier: &str,
) -> serde_json::Value {
    let code = answer
        .get("code")
        .unwrap_or_else(|| panic!("no code: {answer:?}"));
    let tokens = super::redeem_code(app, client_id, code, verifier).await;
    verify_id_token(app, tokens["id_token"].as_str().unwrap(), client_id).await
}

#[tokio::test]
async fn oidcc_prompt_login_makes_the_user_log_in_again_and_auth_time_says_so() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let mut browser = crate::browser::Browser::new(&app);
    let password = browser.signed_in_as("alice").await;
    let first = openid_tokens(&app, &mut browser, &client_id, "openid", &[]).await;
    let first = verify_id_token(&app, first["id_token"].as_str().unwrap(), &client_id).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let (verifier, challenge) = pkce();
    let page = browser
        .get(&openid_request(
            &client_id,
            &challenge,
            "openid",
            &[("prompt", "login")],
        ))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let login = page.location().to_owned();
    assert!(login.starts_with("/ui/login?authorization="), "{login}");
    let back = log_in_here(&mut browser, &login, "alice", &password).await;
    let second = id_token_of(&app, &client_id, &client_answer(&back).unwrap(), &verifier).await;
    assert!(
        second["auth_time"].as_i64() > first["auth_time"].as_i64(),
        "a new authentication: {first} then {second}"
    );
}

#[tokio::test]
async fn oidcc_prompt_none_logged_in_answers_with_a_code_and_no_page() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let (mut browser, user_id) = signed_in(&app, "alice").await;
    openid_tokens(&app, &mut browser, &client_id, "openid", &[]).await; // consents
    let (verifier, challenge) = pkce();
    let page = browser
        .get(&openid_request(
            &client_id,
            &challenge,
            "openid",
            &[("prompt", "none")],
        ))
        .await;
    let answer = client_answer(&page).expect("straight back to the client");
    let claims = id_token_of(&app, &client_id, &answer, &verifier).await;
    assert_eq!(claims["sub"], user_id.as_str());
}

#[tokio::test]
async fn oidcc_prompt_none_not_logged_in_answers_login_required() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let mut browser = crate::browser::Browser::new(&app);
    let (_, challenge) = pkce();
    let page = browser
        .get(&openid_request(
            &client_id,
            &challenge,
            "openid",
            &[("prompt", "none")],
        ))
        .await;
    let answer = client_answer(&page).unwrap();
    assert_eq!(answer["error"], "login_required");
    assert_eq!(answer["state"], "xyz");
}

#[tokio::test]
async fn oidcc_max_age_10000_is_met_by_the_current_login_and_reports_its_time() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let (mut browser, _) = signed_in(&app, "alice").await;
    let first = openid_tokens(&app, &mut browser, &client_id, "openid", &[]).await;
    let first = verify_id_token(&app, first["id_token"].as_str().unwrap(), &client_id).await;
    let (verifier, challenge) = pkce();
    let answer = authorize(
        &mut browser,
        &client_id,
        &challenge,
        "openid",
        &[("max_age", "10000")],
    )
    .await;
    let claims = id_token_of(&app, &client_id, &answer, &verifier).await;
    assert_eq!(claims["auth_time"], first["auth_time"], "the same login");
}

#[tokio::test]
async fn oidcc_max_age_1_makes_an_old_login_log_in_again() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let mut browser = crate::browser::Browser::new(&app);
    let password = browser.signed_in_as("alice").await;
    let first = openid_tokens(&app, &mut browser, &client_id, "openid", &[]).await;
    let first = verify_id_token(&app, first["id_token"].as_str().unwrap(), &client_id).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (verifier, challenge) = pkce();
    let page = browser
        .get(&openid_request(
            &client_id,
            &challenge,
            "openid",
            &[("max_age", "1")],
        ))
        .await;
    let login = page.location().to_owned();
    assert!(login.starts_with("/ui/login?"), "{login}");
    let back = log_in_here(&mut browser, &login, "alice", &password).await;
    let claims = id_token_of(&app, &client_id, &client_answer(&back).unwrap(), &verifier).await;
    assert!(claims["auth_time"].as_i64() > first["auth_time"].as_i64());
}

#[tokio::test]
async fn oidcc_id_token_hint_with_prompt_none_answers_for_the_hinted_user() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let (mut browser, user_id) = signed_in(&app, "alice").await;
    let tokens = openid_tokens(&app, &mut browser, &client_id, "openid", &[]).await;
    let hint = tokens["id_token"].as_str().unwrap();
    let (verifier, challenge) = pkce();
    let page = browser
        .get(&openid_request(
            &client_id,
            &challenge,
            "openid",
            &[("prompt", "none"), ("id_token_hint", hint)],
        ))
        .await;
    let claims = id_token_of(&app, &client_id, &client_answer(&page).unwrap(), &verifier).await;
    assert_eq!(claims["sub"], user_id.as_str());
}

#[tokio::test]
async fn an_id_token_hint_for_another_user_is_not_answered_by_the_signed_in_one() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let (mut alice, _) = signed_in(&app, "alice").await;
    let hint = openid_tokens(&app, &mut alice, &client_id, "openid", &[]).await;
    let (mut bob, _) = signed_in(&app, "bob").await;
    openid_tokens(&app, &mut bob, &client_id, "openid", &[]).await;
    let (_, challenge) = pkce();
    let page = bob
        .get(&openid_request(
            &client_id,
            &challenge,
            "openid",
            &[
                ("prompt", "none"),
                ("id_token_hint", hint["id_token"].as_str().unwrap()),
            ],
        ))
        .await;
    assert_eq!(client_answer(&page).unwrap()["error"], "login_required");
}

#[tokio::test]
async fn a_forged_id_token_hint_is_refused() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let (mut browser, _) = signed_in(&app, "alice").await;
    let tokens = openid_tokens(&app, &mut browser, &client_id, "openid", &[]).await;
    let genuine = tokens["id_token"].as_str().unwrap();
    // The signature of another token's header and claims.
    let mut parts: Vec<&str> = genuine.split('.').collect();
    let access = tokens["access_token"].as_str().unwrap();
    parts[2] = access.rsplit('.').next().unwrap();
    let forged = parts.join(".");
    let (_, challenge) = pkce();
    for hint in [forged.as_str(), access] {
        let page = browser
            .get(&openid_request(
                &client_id,
                &challenge,
                "openid",
                &[("id_token_hint", hint)],
            ))
            .await;
        assert_eq!(client_answer(&page).unwrap()["error"], "invalid_request");
    }
}

#[tokio::test]
async fn oidcc_ui_locales_display_and_acr_values_are_accepted() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let (mut browser, _) = signed_in(&app, "alice").await;
    openid_tokens(&app, &mut browser, &client_id, "openid", &[]).await;
    for extra in [
        ("ui_locales", "se en"), // oidcc-ui-locales
        ("display", "page"),     // oidcc-display-page
        ("display", "popup"),    // oidcc-display-popup
        ("acr_values", "1 2"),   // oidcc-ensure-request-with-acr-values-succeeds
        ("claims_locales", "se"),
    ] {
        let (verifier, challenge) = pkce();
        let answer = authorize(&mut browser, &client_id, &challenge, "openid", &[extra]).await;
        id_token_of(&app, &client_id, &answer, &verifier).await;
    }
}

#[tokio::test]
async fn oidcc_ensure_other_scope_order_succeeds() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let (mut browser, _) = signed_in(&app, "alice").await;
    let tokens = openid_tokens(&app, &mut browser, &client_id, "email openid", &[]).await;
    assert!(tokens["id_token"].is_string());
    assert_eq!(tokens["scope"], "email openid");
}

#[tokio::test]
async fn oidcc_response_type_missing_is_an_error_at_the_redirect_uri() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let mut browser = crate::browser::Browser::new(&app);
    let (_, challenge) = pkce();
    let path =
        openid_request(&client_id, &challenge, "openid", &[]).replace("response_type=code&", "");
    let page = browser.get(&path).await;
    let answer = client_answer(&page).unwrap();
    assert_eq!(answer["error"], "invalid_request");
    assert_eq!(answer["state"], "xyz");
}

#[tokio::test]
async fn oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let mut browser = crate::browser::Browser::new(&app);
    let (_, challenge) = pkce();
    let request_object = "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9.";
    let page = browser
        .get(&openid_request(
            &client_id,
            &challenge,
            "openid",
            &[("request", request_object)],
        ))
        .await;
    assert_eq!(
        client_answer(&page).unwrap()["error"],
        "request_not_supported"
    );
}

#[tokio::test]
async fn a_user_who_logs_in_from_the_flow_gets_an_id_token_for_that_login() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let mut browser = crate::browser::Browser::new(&app);
    let password = browser.register("alice").await;
    let (verifier, challenge) = pkce();
    let page = browser
        .get(&openid_request(
            &client_id,
            &challenge,
            "openid",
            &[("nonce", "n1")],
        ))
        .await;
    let login_path = page.location().to_owned();
    let consent = log_in_here(&mut browser, &login_path, "alice", &password).await;
    let answer =
        client_answer(&crate::code_flow::answer_consent(&mut browser, &consent, "allow").await)
            .unwrap();
    let claims = id_token_of(&app, &client_id, &answer, &verifier).await;
    assert_eq!(claims["nonce"], "n1");
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
}
