//! OpenID Connect: one test for each behaviour of the OpenID Foundation's Basic OP, Config OP
//! and RP-Initiated Logout OP test plans that applies to a code-flow provider, named after the
//! plan's test module (`oidcc-prompt-login` is `oidcc_prompt_login`). Tests of the plain code
//! flow that the plans also name (`oidcc-codereuse`, `oidcc-max-age-1`, ...) live in
//! `code_flow`. Independent relying parties (requests-oauth2client and PyJWT here,
//! openid-client in the browser suite) check the same from outside.

mod backchannel;
mod discovery;
mod id_token;
mod interop;
mod logout;
mod requests;
mod userinfo;

use std::collections::HashMap;

use jsonwebtoken::{DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    browser::Browser,
    browser::Page,
    code_flow::{REDIRECT_URI, authorize_path, pkce, register_client},
    helpers::{ISSUER, TestApp},
};

/// Where the test client asks to be sent after a logout: two registered addresses, one with a
/// query of its own.
pub const SIGNED_OUT_URI: &str = "https://rp.example/signed-out";
pub const SIGNED_OUT_URI_WITH_QUERY: &str = "https://rp.example/bye?from=authd";

/// A public client of the code flow, registered for RP-initiated logout too. It registers no
/// OpenID scope: those are open to every code-flow client.
pub fn oidc_client(app: &TestApp) -> String {
    let client = register_client(
        app,
        &[
            "--name",
            "Photo Book",
            "--public",
            "--redirect-uri",
            REDIRECT_URI,
            "--post-logout-redirect-uri",
            SIGNED_OUT_URI,
            "--post-logout-redirect-uri",
            SIGNED_OUT_URI_WITH_QUERY,
            "--scope",
            "photos:read",
        ],
    );
    client["client_id"].as_str().unwrap().to_owned()
}

/// An authorization request of `client_id` for `scope` with `challenge`, state `xyz` and
/// the `extra` parameters.
pub fn openid_request<'a>(
    client_id: &'a str,
    challenge: &'a str,
    scope: &'a str,
    extra: &[(&'a str, &'a str)],
) -> String {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("scope", scope),
        ("state", "xyz"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    authorize_path(&params)
}

/// Runs a request in a signed-in browser, consenting if asked: the client's answer.
pub async fn authorize(
    browser: &mut Browser<'_>,
    client_id: &str,
    challenge: &str,
    scope: &str,
    extra: &[(&str, &str)],
) -> HashMap<String, String> {
    let first = browser
        .get(&openid_request(client_id, challenge, scope, extra))
        .await;
    crate::code_flow::answer_after(browser, first).await
}

/// Follows a finished login on to the client, consenting if asked, and redeems its code: the
/// ID token's claims.
pub async fn id_token_after(
    app: &TestApp,
    browser: &mut Browser<'_>,
    after_login: Page,
    client_id: &str,
    verifier: &str,
) -> Value {
    let answer = crate::code_flow::answer_after(browser, after_login).await;
    let tokens = redeem_code(app, client_id, &answer["code"], verifier).await;
    verify_id_token(app, tokens["id_token"].as_str().unwrap(), client_id).await
}

/// Redeems `code` for a public client: the token response.
pub async fn redeem_code(app: &TestApp, client_id: &str, code: &str, verifier: &str) -> Value {
    let response = crate::code_flow::redeem(app, client_id, code, verifier).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// A signed-in browser's tokens for `scope`, with the request's `extra` parameters.
pub async fn openid_tokens(
    app: &TestApp,
    browser: &mut Browser<'_>,
    client_id: &str,
    scope: &str,
    extra: &[(&str, &str)],
) -> Value {
    let (verifier, challenge) = pkce();
    let answer = authorize(browser, client_id, &challenge, scope, extra).await;
    let code = answer
        .get("code")
        .unwrap_or_else(|| panic!("no code: {answer:?}"));
    redeem_code(app, client_id, code, &verifier).await
}

/// The claims of `id_token`, verified as a relying party would: signature by the JWKS key its
/// `kid` names, with that key's algorithm; `iss`, `aud` (the client), `exp`.
pub async fn verify_id_token(app: &TestApp, id_token: &str, client_id: &str) -> Value {
    let header = decode_header(id_token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let jwks: JwkSet = serde_json::from_value(app.jwks().await).unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("the ID token's key is in the JWKS");
    let alg = jwk.common.key_algorithm.unwrap().to_string();
    assert_eq!(
        format!("{:?}", header.alg),
        alg,
        "signed with its key's algorithm"
    );
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[client_id]);
    validation.set_required_spec_claims(&["iss", "sub", "aud", "exp", "iat"]);
    decode::<Value>(id_token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .unwrap()
        .claims
}

/// A user signed in to authd in a new browser: the browser and the user's id.
pub async fn signed_in<'a>(app: &'a TestApp, username: &str) -> (Browser<'a>, String) {
    let mut browser = Browser::new(app);
    browser.signed_in_as(username).await;
    let me: Value = app.me(&browser.access_token()).await.json().await.unwrap();
    (browser, me["id"].as_str().unwrap().to_owned())
}
