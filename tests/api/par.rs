//! Pushed authorization requests (RFC 9126), codes bound to a DPoP key (RFC 9449 §10), and
//! clients that authenticate with `private_key_jwt` (RFC 7523).

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    browser::Browser,
    code_flow::{
        REDIRECT_URI, answer_consent, authorize_path, client_answer, pkce, public_client,
        register_client, visit,
    },
    dpop::{DpopKey, htu},
    helpers::{AppOptions, TestApp, spawn_app, spawn_app_with},
    tokens::claims_of,
};

/// A confidential client for the code flow: its id and secret.
fn confidential_client(app: &TestApp, extra: &[&str]) -> (String, String) {
    let mut args = vec!["--name", "Server app", "--redirect-uri", REDIRECT_URI];
    args.extend_from_slice(extra);
    let client = register_client(app, &args);
    (
        client["client_id"].as_str().unwrap().to_owned(),
        client["client_secret"].as_str().unwrap().to_owned(),
    )
}

fn pushed_params(challenge: &str) -> Vec<(&str, &str)> {
    vec![
        ("response_type", "code"),
        ("redirect_uri", REDIRECT_URI),
        ("state", "pushed"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

async fn push(
    app: &TestApp,
    client_id: &str,
    secret: &str,
    params: &[(&str, &str)],
    dpop: Option<String>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/oauth/par"))
        .basic_auth(client_id, Some(secret))
        .form(params);
    if let Some(proof) = dpop {
        request = request.header("DPoP", proof);
    }
    request.send().await.unwrap()
}

async fn redeem_with_secret(
    app: &TestApp,
    client_id: &str,
    secret: &str,
    code: &str,
    verifier: &str,
    dpop: Option<String>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ]);
    if let Some(proof) = dpop {
        request = request.header("DPoP", proof);
    }
    request.send().await.unwrap()
}

/// The browser runs a pushed request (consenting if asked); the code.
async fn run_pushed(browser: &mut Browser<'_>, client_id: &str, request_uri: &str) -> String {
    let mut page = visit(
        browser,
        &authorize_path(&[("client_id", client_id), ("request_uri", request_uri)]),
    )
    .await;
    if page.status == StatusCode::OK {
        page = answer_consent(browser, &page, "allow").await;
    }
    let answer = client_answer(&page).expect("sent to the client");
    assert_eq!(answer["state"], "pushed");
    answer["code"].clone()
}

#[tokio::test]
async fn a_pushed_request_runs_from_its_request_uri_once() {
    let app = spawn_app().await;
    let (client_id, secret) = confidential_client(&app, &[]);
    let (verifier, challenge) = pkce();
    let pushed = push(&app, &client_id, &secret, &pushed_params(&challenge), None).await;
    assert_eq!(pushed.status(), 201);
    assert_eq!(pushed.headers()["cache-control"], "no-store");
    let body: Value = pushed.json().await.unwrap();
    assert_eq!(body["expires_in"], 60);
    let request_uri = body["request_uri"].as_str().unwrap();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));

    let mut browser = Browser::new(&app);
    browser.signed_in_as("alice").await;
    let code = run_pushed(&mut browser, &client_id, request_uri).await;
    let tokens = redeem_with_secret(&app, &client_id, &secret, &code, &verifier, None).await;
    assert_eq!(tokens.status(), 200);

    // The request_uri was used: a second visit gets an error page, never a redirect.
    let again = browser
        .get(&authorize_path(&[
            ("client_id", &client_id),
            ("request_uri", request_uri),
        ]))
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body.contains("expired or was already used"));
}

#[tokio::test]
async fn pushing_needs_client_authentication_and_a_valid_request() {
    let app = spawn_app().await;
    let (client_id, secret) = confidential_client(&app, &["--scope", "a"]);
    let (_, challenge) = pkce();
    let wrong = push(&app, &client_id, "wrong", &pushed_params(&challenge), None).await;
    assert_eq!(wrong.status(), 401);

    let mut bad_redirect = pushed_params(&challenge);
    bad_redirect[1] = ("redirect_uri", "https://evil.example/cb");
    let mut plain = pushed_params(&challenge);
    plain[4] = ("code_challenge_method", "plain");
    let mut wide = pushed_params(&challenge);
    wide.push(("scope", "a b"));
    let mut nested = pushed_params(&challenge);
    nested.push(("request_uri", "urn:ietf:params:oauth:request_uri:x"));
    for (params, expected) in [
        (bad_redirect, "invalid_redirect_uri"),
        (plain, "invalid_request"),
        (wide, "invalid_scope"),
        (nested, "invalid_request"),
    ] {
        let response = push(&app, &client_id, &secret, &params, None).await;
        assert_eq!(response.status(), 400, "{params:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], expected, "{params:?}");
    }
}

#[tokio::test]
async fn a_client_registered_with_require_par_must_push() {
    let app = spawn_app().await;
    let (client_id, secret) = confidential_client(&app, &["--require-par"]);
    let (_, challenge) = pkce();
    let mut browser = Browser::new(&app);
    browser.signed_in_as("bob").await;
    let mut params = pushed_params(&challenge);
    params.push(("client_id", &client_id));
    let answer = client_answer(&browser.get(&authorize_path(&params)).await).unwrap();
    assert_eq!(answer["error"], "invalid_request");
    assert!(answer["error_description"].contains("pushed"));

    let body: Value = push(&app, &client_id, &secret, &pushed_params(&challenge), None)
        .await
        .json()
        .await
        .unwrap();
    run_pushed(
        &mut browser,
        &client_id,
        body["request_uri"].as_str().unwrap(),
    )
    .await;
}

#[tokio::test]
async fn authd_require_par_makes_every_client_push() {
    let app = spawn_app_with(AppOptions {
        require_par: true,
        ..AppOptions::default()
    })
    .await;
    let client_id = public_client(&app, "");
    let (_, challenge) = pkce();
    let mut browser = Browser::new(&app);
    let mut params = pushed_params(&challenge);
    params.push(("client_id", &client_id));
    let answer = client_answer(&browser.get(&authorize_path(&params)).await).unwrap();
    assert_eq!(answer["error"], "invalid_request");
    let metadata: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["require_pushed_authorization_requests"], true);
}

#[tokio::test]
async fn a_dpop_proof_at_par_binds_the_code_and_the_tokens_to_its_key() {
    let app = spawn_app().await;
    let (client_id, secret) = confidential_client(&app, &[]);
    let (verifier, challenge) = pkce();
    let key = DpopKey::generate();
    let proof = key.proof("POST", &htu(&app, "/oauth/par"), None, None);
    let body: Value = push(
        &app,
        &client_id,
        &secret,
        &pushed_params(&challenge),
        Some(proof),
    )
    .await
    .json()
    .await
    .unwrap();
    let mut browser = Browser::new(&app);
    browser.signed_in_as("carol").await;
    let code = run_pushed(
        &mut browser,
        &client_id,
        body["request_uri"].as_str().unwrap(),
    )
    .await;

    // Without a proof, or with another key's, the code is refused, and not used up.
    let other = DpopKey::generate().proof("POST", &htu(&app, "/oauth/token"), None, None);
    for proof in [None, Some(other)] {
        let refused = redeem_with_secret(&app, &client_id, &secret, &code, &verifier, proof).await;
        assert_eq!(refused.status(), 400);
    }
    let proof = key.proof("POST", &htu(&app, "/oauth/token"), None, None);
    let tokens: Value =
        redeem_with_secret(&app, &client_id, &secret, &code, &verifier, Some(proof))
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(tokens["token_type"], "DPoP");
    assert_eq!(
        claims_of(tokens["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.thumbprint()
    );
}

#[tokio::test]
async fn dpop_jkt_on_the_authorization_request_binds_the_code() {
    let app = spawn_app().await;
    let client_id = public_client(&app, "");
    let (verifier, challenge) = pkce();
    let key = DpopKey::generate();
    let jkt = key.thumbprint();
    let mut browser = Browser::new(&app);
    browser.signed_in_as("dave").await;
    let mut params = crate::code_flow::request(&client_id, &challenge, "");
    params.push(("dpop_jkt", &jkt));
    let consent = visit(&mut browser, &authorize_path(&params)).await;
    let answer = client_answer(&answer_consent(&mut browser, &consent, "allow").await).unwrap();
    let redeem = |proof: Option<String>| {
        let mut request = app.client.post(app.url("/oauth/token")).form(&[
            ("grant_type", "authorization_code"),
            ("code", answer["code"].as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier.as_str()),
            ("client_id", client_id.as_str()),
        ]);
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        request.send()
    };
    assert_eq!(redeem(None).await.unwrap().status(), 400);
    let proof = key.proof("POST", &htu(&app, "/oauth/token"), None, None);
    assert_eq!(redeem(Some(proof)).await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_private_key_jwt_client_authenticates_with_a_signed_assertion_once() {
    let app = spawn_app().await;
    let key = DpopKey::generate();
    let jwks = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(jwks.path(), key.public_jwks().to_string()).unwrap();
    let client = register_client(
        &app,
        &[
            "--name",
            "Signed app",
            "--redirect-uri",
            REDIRECT_URI,
            "--jwks",
            jwks.path().to_str().unwrap(),
        ],
    );
    assert_eq!(client["token_endpoint_auth_method"], "private_key_jwt");
    assert!(client.get("client_secret").is_none());
    let client_id = client["client_id"].as_str().unwrap();
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new(&app);
    browser.signed_in_as("erin").await;
    let code = crate::code_flow::code_for(&mut browser, client_id, &challenge, "").await;

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let assertion = key.assertion(&json!({
        "iss": client_id, "sub": client_id, "aud": app.url("/oauth/token"),
        "jti": Uuid::new_v4().to_string(), "iat": now, "exp": now + 60,
    }));
    let redeem = |assertion: String| {
        app.client
            .post(app.url("/oauth/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", verifier.as_str()),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.as_str()),
            ])
            .send()
    };
    // Signed by another key, or for another audience: invalid_client.
    let stranger = DpopKey::generate().assertion(&json!({
        "iss": client_id, "sub": client_id, "aud": app.url("/oauth/token"),
        "jti": Uuid::new_v4().to_string(), "iat": now, "exp": now + 60,
    }));
    let elsewhere = key.assertion(&json!({
        "iss": client_id, "sub": client_id, "aud": "https://other.example",
        "jti": Uuid::new_v4().to_string(), "iat": now, "exp": now + 60,
    }));
    for refused in [stranger, elsewhere] {
        assert_eq!(redeem(refused).await.unwrap().status(), 401);
    }
    assert_eq!(redeem(assertion.clone()).await.unwrap().status(), 200);
    // The same assertion again is a replay.
    let replayed = app
        .client
        .post(app.url("/oauth/introspect"))
        .form(&[
            ("token", "x"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 401);
}
