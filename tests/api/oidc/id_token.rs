//! The ID token (OpenID Connect Core §2, §3.1.3.6, §12.2).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::Algorithm;
use reqwest::StatusCode;
use sha2::{Digest, Sha256, Sha512};

use super::{oidc_client, openid_tokens, signed_in, verify_id_token};
use crate::{
    code_flow::{answer_consent, client_answer, follow, pkce, refresh},
    helpers::{AppOptions, ISSUER, spawn_app, spawn_app_with},
    tokens::claims_of,
};

/// `at_hash` as a relying party checks it: the left half of the access token's hash.
fn at_hash(alg: Algorithm, access_token: &str) -> String {
    let digest = match alg {
        Algorithm::EdDSA => Sha512::digest(access_token.as_bytes()).to_vec(),
        _ => Sha256::digest(access_token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

#[tokio::test]
async fn oidcc_server_the_code_flow_with_openid_gives_a_complete_id_token() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let (mut browser, user_id) = signed_in(&app, "alice").await;
    let tokens = openid_tokens(
        &app,
        &mut browser,
        &client_id,
        "openid",
        &[("nonce", "n-0S6")],
    )
    .await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid");
    let id_token = tokens["id_token"].as_str().expect("an ID token");
    let claims = verify_id_token(&app, id_token, &client_id).await;
    let access = claims_of(tokens["access_token"].as_str().unwrap());

    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(claims["aud"], client_id.as_str());
    assert_eq!(claims["azp"], client_id.as_str());
    assert_eq!(claims["nonce"], "n-0S6");
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert_eq!(
        claims["sid"], access["sid"],
        "the session the tokens belong to"
    );
    let (iat, exp, auth_time) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
        claims["auth_time"].as_i64().unwrap(),
    );
    assert!(exp > iat && auth_time <= iat, "{claims}");
    let alg = jsonwebtoken::decode_header(id_token).unwrap().alg;
    assert_eq!(
        claims["at_hash"],
        at_hash(alg, tokens["access_token"].as_str().unwrap())
    );
    // Scope claims are UserInfo's in the code flow (Core §5.4): the ID token carries none.
    assert!(claims.get("email").is_none());
}

#[tokio::test]
async fn oidcc_idtoken_signature_is_verifiable_with_the_jwks_for_each_algorithm() {
    for algorithm in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let app = spawn_app_with(AppOptions {
            signing_algorithm: algorithm,
            ..AppOptions::default()
        })
        .await;
        let client_id = oidc_client(&app);
        let (mut browser, _) = signed_in(&app, "alice").await;
        let tokens = openid_tokens(&app, &mut browser, &client_id, "openid", &[]).await;
        let id_token = tokens["id_token"].as_str().unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(id_token).unwrap().alg,
            algorithm
        );
        let claims = verify_id_token(&app, id_token, &client_id).await;
        assert_eq!(
            claims["at_hash"],
            at_hash(algorithm, tokens["access_token"].as_str().unwrap()),
            "{algorithm:?}"
        );
        let discovery: serde_json::Value = app
            .get("/.well-known/openid-configuration")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            discovery["id_token_signing_alg_values_supported"],
            serde_json::json!([format!("{algorithm:?}")])
        );
    }
}

#[tokio::test]
async fn oidcc_ensure_request_without_nonce_succeeds_for_code_flow() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let (mut browser, _) = signed_in(&app, "alice").await;
    let tokens = openid_tokens(&app, &mut browser, &client_id, "openid", &[]).await;
    let claims = verify_id_token(&app, tokens["id_token"].as_str().unwrap(), &client_id).await;
    assert!(claims.get("nonce").is_none(), "{claims}");
}

#[tokio::test]
async fn oidcc_refresh_token_gives_a_fresh_id_token_for_the_same_login() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let (mut browser, _) = signed_in(&app, "alice").await;
    let tokens = openid_tokens(
        &app,
        &mut browser,
        &client_id,
        "openid offline_access",
        &[("nonce", "abc")],
    )
    .await;
    let first = verify_id_token(&app, tokens["id_token"].as_str().unwrap(), &client_id).await;

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let refreshed: serde_json::Value =
        refresh(&app, &client_id, tokens["refresh_token"].as_str().unwrap())
            .await
            .json()
            .await
            .unwrap();
    let id_token = refreshed["id_token"].as_str().expect("a fresh ID token");
    let second = verify_id_token(&app, id_token, &client_id).await;
    for claim in ["iss", "sub", "aud", "azp", "auth_time", "sid", "amr"] {
        assert_eq!(first[claim], second[claim], "{claim} (Core §12.2)");
    }
    assert!(second["iat"].as_i64() > first["iat"].as_i64());
    assert!(second.get("nonce").is_none(), "no nonce on a refresh");
    let alg = jsonwebtoken::decode_header(id_token).unwrap().alg;
    assert_eq!(
        second["at_hash"],
        at_hash(alg, refreshed["access_token"].as_str().unwrap())
    );
}

#[tokio::test]
async fn without_openid_the_code_flow_gives_no_id_token() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let (mut browser, _) = signed_in(&app, "alice").await;
    let tokens = openid_tokens(&app, &mut browser, &client_id, "photos:read", &[]).await;
    assert!(tokens.get("id_token").is_none(), "{tokens}");
}

#[tokio::test]
async fn an_id_token_is_not_an_access_token() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let (mut browser, _) = signed_in(&app, "alice").await;
    let tokens = openid_tokens(&app, &mut browser, &client_id, "openid", &[]).await;
    let response = app.me(tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("at+jwt"), "{challenge}");
}

#[tokio::test]
async fn claims_asked_for_in_the_id_token_are_in_it_once_the_user_consents_to_them() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let (mut browser, _) = signed_in(&app, "alice").await;
    let (verifier, challenge) = pkce();
    let claims_param = r#"{"id_token":{"email":{"essential":true},"shoe_size":null}}"#;
    let path = super::openid_request(
        &client_id,
        &challenge,
        "openid",
        &[("claims", claims_param)],
    );
    let first = browser.get(&path).await;
    let consent = follow(&mut browser, first).await;
    assert_eq!(consent.status, StatusCode::OK);
    assert!(
        consent.body.contains("See your email address"),
        "the consent page names what the claims reveal: {}",
        consent.body
    );
    let answer = client_answer(&answer_consent(&mut browser, &consent, "allow").await).unwrap();
    let tokens = super::redeem_code(&app, &client_id, &answer["code"], &verifier).await;
    assert_eq!(tokens["scope"], "openid", "the scope itself is not widened");
    let claims = verify_id_token(&app, tokens["id_token"].as_str().unwrap(), &client_id).await;
    assert_eq!(claims["email"], "alice@example.com");
    assert!(
        claims.get("email_verified").is_none(),
        "only the claim asked for"
    );
    assert!(claims.get("shoe_size").is_none());
}

#[tokio::test]
async fn a_malformed_claims_parameter_is_refused_at_the_redirect_uri() {
    let app = spawn_app().await;
    let client_id = oidc_client(&app);
    let (mut browser, _) = signed_in(&app, "alice").await;
    let (_, challenge) = pkce();
    let path = super::openid_request(&client_id, &challenge, "openid", &[("claims", "[1,2]")]);
    let page = browser.get(&path).await;
    let answer = client_answer(&page).unwrap();
    assert_eq!(answer["error"], "invalid_request");
    assert_eq!(answer["state"], "xyz");
}
