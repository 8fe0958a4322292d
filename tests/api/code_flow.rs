//! The authorization code flow (RFC 6749 §4.1 with PKCE, RFC 7636), driven as a browser and a
//! client would drive it: the browser follows authd's pages and redirects, the client redeems
//! the code at the token endpoint. Tests named after the OpenID Foundation's OP test plan
//! carry its module's name.

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::{StatusCode, header};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

use crate::{
    browser::{Browser, Page},
    helpers::{TestApp, spawn_app},
    tokens::claims_of,
};

pub const REDIRECT_URI: &str = "https://rp.example/callback";

/// A client registered with the real command line; `args` are added to `clients create`.
pub fn register_client(app: &TestApp, args: &[&str]) -> Value {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
        .env_clear()
        .args(["clients", "create"])
        .args(args)
        .env("DATABASE_URL", app.resources.database_url())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A public client for the code flow, with `scope`.
pub fn public_client(app: &TestApp, scope: &str) -> String {
    let client = register_client(
        app,
        &[
            "--name",
            "Photo Book",
            "--public",
            "--redirect-uri",
            REDIRECT_URI,
            "--scope",
            scope,
        ],
    );
    client["client_id"].as_str().unwrap().to_owned()
}

/// A PKCE pair: the verifier, and its S256 challenge.
pub fn pkce() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// `/oauth/authorize?…` with `params`, encoded.
pub fn authorize_path(params: &[(&str, &str)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("/oauth/authorize?{query}")
}

/// The usual request of `client_id` for `scope`, with `challenge` and state `xyz`.
pub fn request<'a>(
    client_id: &'a str,
    challenge: &'a str,
    scope: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("scope", scope),
        ("state", "xyz"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

/// The query of a redirect to the client, as a map (`None` if it goes elsewhere).
pub fn client_answer(page: &Page) -> Option<HashMap<String, String>> {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location();
    let url = Url::parse(location).ok()?;
    (url.as_str().starts_with(REDIRECT_URI)).then(|| url.query_pairs().into_owned().collect())
}

/// A path on authd the browser was sent to.
fn local(page: &Page) -> String {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location();
    assert!(
        location.starts_with('/'),
        "expected a page of authd: {location}"
    );
    location.to_owned()
}

/// Follows authd's own redirects until the browser is sent to the client or shown a page.
/// Follows `page` (an authorization request's, or a finished login's) to the client, consenting
/// if asked: the client's answer.
pub async fn answer_after(browser: &mut Browser<'_>, page: Page) -> HashMap<String, String> {
    let mut page = follow(browser, page).await;
    if page.status == StatusCode::OK {
        page = answer_consent(browser, &page, "allow").await;
    }
    client_answer(&page).expect("sent back to the client")
}

pub async fn follow(browser: &mut Browser<'_>, mut page: Page) -> Page {
    while page.status == StatusCode::SEE_OTHER && page.location().starts_with('/') {
        let next = page.location().to_owned();
        page = browser.get(&next).await;
    }
    page
}

/// Opens `path` and follows authd's redirects from there.
pub async fn visit(browser: &mut Browser<'_>, path: &str) -> Page {
    let page = browser.get(path).await;
    follow(browser, page).await
}

/// From the login page of a flow: logs in and follows on (to the consent page, or the client).
pub async fn log_in_here(
    browser: &mut Browser<'_>,
    login_path: &str,
    username: &str,
    password: &str,
) -> Page {
    let login = browser.get(login_path).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let authorization = login.input("authorization");
    let csrf = login.input("csrf");
    let page = browser
        .post_raw(
            "/ui/login",
            &[
                ("csrf", &csrf),
                ("authorization", &authorization),
                ("username", username),
                ("password", password),
            ],
        )
        .await;
    follow(browser, page).await
}

/// Answers the consent page shown.
pub async fn answer_consent(browser: &mut Browser<'_>, consent: &Page, decision: &str) -> Page {
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    let request = consent.input("request");
    let csrf = consent.input("csrf");
    browser
        .post_raw(
            "/oauth/authorize/consent",
            &[
                ("csrf", &csrf),
                ("request", &request),
                ("decision", decision),
            ],
        )
        .await
}

/// A signed-in browser's code for `client_id`, consenting if asked.
pub async fn code_for(
    browser: &mut Browser<'_>,
    client_id: &str,
    challenge: &str,
    scope: &str,
) -> String {
    let first = browser
        .get(&authorize_path(&request(client_id, challenge, scope)))
        .await;
    let answer = answer_after(browser, first).await;
    assert_eq!(answer["state"], "xyz");
    answer["code"].clone()
}

/// `grant_type=authorization_code` for a public client.
pub async fn redeem(
    app: &TestApp,
    client_id: &str,
    code: &str,
    verifier: &str,
) -> reqwest::Response {
    app.client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
            ("client_id", client_id),
        ])
        .send()
        .await
        .unwrap()
}

/// `grant_type=refresh_token` for a public client's session.
pub async fn refresh(app: &TestApp, client_id: &str, refresh_token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
        ])
        .send()
        .await
        .unwrap()
}

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

/// A page that must not send the browser anywhere: the error page of RFC 6749 §4.1.2.1.
fn assert_error_page(page: &Page, says: &str) {
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.headers.get(header::LOCATION).is_none());
    assert!(page.body.contains(says), "{}", page.body);
}

#[tokio::test]
async fn a_public_client_signs_a_user_in_through_login_and_consent_with_pkce() {
    let app = spawn_app().await;
    let client_id = public_client(&app, "photos:read photos:write");
    let password = app.register("alice").await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new(&app);

    // No session: the login page, saying which application asks.
    let start = browser
        .get(&authorize_path(&request(
            &client_id,
            &challenge,
            "photos:read",
        )))
        .await;
    let login_path = local(&start);
    assert!(
        login_path.starts_with("/ui/login?authorization="),
        "{login_path}"
    );
    let login = browser.get(&login_path).await;
    assert!(login.body.contains("Photo Book"), "{}", login.body);

    // After the login, the consent page names the client and the scope.
    let consent = log_in_here(&mut browser, &login_path, "alice", &password).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    assert!(consent.body.contains("Photo Book") && consent.body.contains("photos:read"));
    // Its form may end at the client: the CSP lets it, and still frames nothing.
    let csp = consent.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("form-action 'self' https://rp.example"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");

    let back = answer_consent(&mut browser, &consent, "allow").await;
    let answer = client_answer(&back).expect("sent to the client");
    assert_eq!(answer["state"], "xyz");
    assert_eq!(answer["iss"], crate::helpers::ISSUER);

    let response = redeem(&app, &client_id, &answer["code"], &verifier).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "photos:read");
    assert!(tokens["refresh_token"].is_string());
    let access = tokens["access_token"].as_str().unwrap();
    let claims = claims_of(access);
    assert_eq!(claims["client_id"], client_id.as_str());
    assert_eq!(claims["scope"], "photos:read");
    assert_eq!(app.me_status(access).await, 200);
}

#[tokio::test]
async fn consent_is_remembered_per_client_and_scope_set() {
    let app = spawn_app().await;
    let client_id = public_client(&app, "a b");
    let mut browser = Browser::new(&app);
    browser.signed_in_as("bob").await;
    let (_, challenge) = pkce();

    let first = visit(
        &mut browser,
        &authorize_path(&request(&client_id, &challenge, "a")),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "consent asked the first time");
    client_answer(&answer_consent(&mut browser, &first, "allow").await).unwrap();

    // The same scope again: straight back with a code.
    let again = browser_get(&mut browser, &client_id, &challenge, "a").await;
    assert!(client_answer(&again).unwrap().contains_key("code"));

    // More scope: asked again, for the whole set.
    let more = visit(
        &mut browser,
        &authorize_path(&request(&client_id, &challenge, "a b")),
    )
    .await;
    assert_eq!(more.status, StatusCode::OK);
    assert!(more.body.contains("<code>b</code>"), "{}", more.body);
}

async fn browser_get(
    browser: &mut Browser<'_>,
    client_id: &str,
    challenge: &str,
    scope: &str,
) -> Page {
    browser
        .get(&authorize_path(&request(client_id, challenge, scope)))
        .await
}

#[tokio::test]
async fn denying_consent_returns_access_denied_to_the_client() {
    let app = spawn_app().await;
    let client_id = public_client(&app, "");
    let mut browser = Browser::new(&app);
    browser.signed_in_as("carol").await;
    let (_, challenge) = pkce();
    let consent = visit(
        &mut browser,
        &authorize_path(&request(&client_id, &challenge, "")),
    )
    .await;
    let answer = client_answer(&answer_consent(&mut browser, &consent, "deny").await).unwrap();
    assert_eq!(answer["error"], "access_denied");
    assert_eq!(answer["state"], "xyz");
    assert_eq!(answer["iss"], crate::helpers::ISSUER);
    assert!(!answer.contains_key("code"));
}

#[tokio::test]
async fn oidcc_codereuse_a_second_use_fails_and_revokes_the_tokens_of_the_first() {
    let app = spawn_app().await;
    let client_id = public_client(&app, "");
    let mut browser = Browser::new(&app);
    browser.signed_in_as("dave").await;
    let (verifier, challenge) = pkce();
    let code = code_for(&mut browser, &client_id, &challenge, "").await;

    let first: Value = redeem(&app, &client_id, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    let access = first["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.me_status(&access).await, 200);

    let (status, error) = error_of(redeem(&app, &client_id, &code, &verifier).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    // OAuth 2.1 §4.1.3: what the first redemption gave is revoked.
    assert_eq!(app.me_status(&access).await, 401);
    let refreshed = refresh(&app, &client_id, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(error_of(refreshed).await, (400, "invalid_grant".to_owned()));
}

#[tokio::test]
async fn oidcc_codereuse_30seconds_a_code_used_again_after_30_seconds_still_revokes() {
    let app = spawn_app().await;
    let client_id = public_client(&app, "");
    let mut browser = Browser::new(&app);
    browser.signed_in_as("erin").await;
    let (verifier, challenge) = pkce();
    let code = code_for(&mut browser, &client_id, &challenge, "").await;
    let first: Value = redeem(&app, &client_id, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    let access = first["access_token"].as_str().unwrap().to_owned();

    // Real time: the code and its redemption record live in Redis, which keeps its own clock.
    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    let (status, error) = error_of(redeem(&app, &client_id, &code, &verifier).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert_eq!(app.me_status(&access).await, 401);
}

#[tokio::test]
async fn a_failed_token_request_leaves_the_code_to_its_holder() {
    let app = spawn_app().await;
    let client_id = public_client(&app, "");
    let other_client = public_client(&app, "");
    let mut browser = Browser::new(&app);
    browser.signed_in_as("frank").await;
    let (verifier, challenge) = pkce();
    let code = code_for(&mut browser, &client_id, &challenge, "").await;

    // A wrong verifier, another client, another redirect URI, no verifier: all refused...
    let (wrong_verifier, _) = pkce();
    let refusals = [
        redeem(&app, &client_id, &code, &wrong_verifier).await,
        redeem(&app, &other_client, &code, &verifier).await,
        app.client
            .post(app.url("/oauth/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", "https://rp.example/other"),
                ("code_verifier", verifier.as_str()),
                ("client_id", client_id.as_str()),
            ])
            .send()
            .await
            .unwrap(),
    ];
    for refused in refusals {
        assert_eq!(error_of(refused).await, (400, "invalid_grant".to_owned()));
    }
    let no_verifier = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(no_verifier).await,
        (400, "invalid_request".to_owned())
    );
    // ...and none of them used the code up (OAuth 2.1 §7.5.2).
    assert_eq!(
        redeem(&app, &client_id, &code, &verifier).await.status(),
        200
    );
}

#[tokio::test]
async fn oidcc_ensure_registered_redirect_uri_with_an_error_page_and_no_redirect() {
    let app = spawn_app().await;
    let client_id = public_client(&app, "");
    let mut browser = Browser::new(&app);
    let (_, challenge) = pkce();
    for uri in [
        "https://evil.example/callback",
        "https://rp.example/callback/",
        "https://rp.example/callback?extra=1",
        "https://rp.example/callback#fragment",
    ] {
        let mut params = request(&client_id, &challenge, "");
        params[2] = ("redirect_uri", uri);
        let page = browser.get(&authorize_path(&params)).await;
        assert_error_page(&page, "not registered");
    }
}

#[tokio::test]
async fn a_redirect_uri_query_must_match_the_registered_one() {
    let app = spawn_app().await;
    let registered = "https://rp.example/cb?tenant=1";
    let client = register_client(
        &app,
        &["--name", "Q", "--public", "--redirect-uri", registered],
    );
    let client_id = client["client_id"].as_str().unwrap();
    let mut browser = Browser::new(&app);
    browser.signed_in_as("grace").await;
    let (_, challenge) = pkce();
    let mut params = request(client_id, &challenge, "");
    params[2] = ("redirect_uri", "https://rp.example/cb?tenant=2");
    assert_error_page(
        &browser.get(&authorize_path(&params)).await,
        "not registered",
    );

    params[2] = ("redirect_uri", registered);
    let consent = visit(&mut browser, &authorize_path(&params)).await;
    let back = answer_consent(&mut browser, &consent, "allow").await;
    // The registered query is kept, and the answer added to it.
    let url = Url::parse(back.location()).unwrap();
    let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(query["tenant"], "1");
    assert!(query.contains_key("code"));
}

#[tokio::test]
async fn an_unknown_client_gets_an_error_page_never_a_redirect() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let (_, challenge) = pkce();
    let page = browser
        .get(&authorize_path(&request("client_nobody", &challenge, "")))
        .await;
    assert_error_page(&page, "not registered");
    let no_client = browser
        .get(&authorize_path(&[
            ("response_type", "code"),
            ("redirect_uri", REDIRECT_URI),
        ]))
        .await;
    assert_error_page(&no_client, "does not say which application");
}

#[tokio::test]
async fn oidcc_ensure_request_with_unknown_parameter_succeeds() {
    let app = spawn_app().await;
    let client_id = public_client(&app, "");
    let mut browser = Browser::new(&app);
    browser.signed_in_as("heidi").await;
    let (verifier, challenge) = pkce();
    let mut params = request(&client_id, &challenge, "");
    params.push(("extra", "foobar"));
    params.push(("ui_locales", "fr-CA"));
    let consent = visit(&mut browser, &authorize_path(&params)).await;
    let answer = client_answer(&answer_consent(&mut browser, &consent, "allow").await).unwrap();
    assert_eq!(
        redeem(&app, &client_id, &answer["code"], &verifier)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn bad_requests_from_a_known_client_are_answered_at_its_redirect_uri() {
    let app = spawn_app().await;
    let client_id = public_client(&app, "photos:read");
    let mut browser = Browser::new(&app);
    browser.signed_in_as("ivan").await;
    let (_, challenge) = pkce();
    let base = request(&client_id, &challenge, "photos:read");
    let without = |name: &str| -> Vec<(&str, &str)> {
        base.iter()
            .copied()
            .filter(|(key, _)| *key != name)
            .collect()
    };
    let with = |name: &'static str, value: &'static str| -> Vec<(&str, &str)> {
        let mut params = without(name);
        params.push((name, value));
        params
    };
    let mut duplicated = base.clone();
    duplicated.push(("scope", "photos:read"));
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (without("response_type"), "invalid_request"),
        (with("response_type", "token"), "unsupported_response_type"),
        (
            with("response_type", "code id_token"),
            "unsupported_response_type",
        ),
        (without("code_challenge"), "invalid_request"),
        (with("code_challenge_method", "plain"), "invalid_request"),
        (without("code_challenge_method"), "invalid_request"),
        (with("scope", "photos:delete"), "invalid_scope"),
        (with("prompt", "none login"), "invalid_request"),
        (
            with("request", "eyJhbGciOiJub25lIn0.e30."),
            "request_not_supported",
        ),
        (duplicated, "invalid_request"),
    ];
    // Longer than any `state`, `nonce`, `login_hint` or `scope` authd keeps (2048 bytes).
    let long = "n".repeat(2049);
    let mut long_nonce = base.clone();
    long_nonce.push(("nonce", &long));
    let cases = cases.into_iter().chain([(long_nonce, "invalid_request")]);
    for (params, expected) in cases {
        let page = browser.get(&authorize_path(&params)).await;
        let answer = client_answer(&page).unwrap_or_else(|| panic!("{params:?}"));
        assert_eq!(answer["error"], expected, "{params:?}");
        assert_eq!(answer["iss"], crate::helpers::ISSUER);
        assert!(!answer.contains_key("code"));
        if params.iter().any(|(key, _)| *key == "state") {
            assert_eq!(answer["state"], "xyz", "{params:?}");
        }
    }
}

#[tokio::test]
async fn oidcc_ensure_post_request_succeeds() {
    let app = spawn_app().await;
    let client_id = public_client(&app, "");
    let mut browser = Browser::new(&app);
    browser.signed_in_as("judy").await;
    let (verifier, challenge) = pkce();
    let posted = browser
        .post_raw("/oauth/authorize", &request(&client_id, &challenge, ""))
        .await;
    let consent = follow(&mut browser, posted).await;
    let answer = client_answer(&answer_consent(&mut browser, &consent, "allow").await).unwrap();
    assert_eq!(
        redeem(&app, &client_id, &answer["code"], &verifier)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn prompt_none_answers_login_required_without_a_session() {
    let app = spawn_app().await;
    let client_id = public_client(&app, "");
    let mut browser = Browser::new(&app);
    let (_, challenge) = pkce();
    let mut params = request(&client_id, &challenge, "");
    params.push(("prompt", "none"));
    let answer = client_answer(&browser.get(&authorize_path(&params)).await).unwrap();
    assert_eq!(answer["error"], "login_required");
    assert_eq!(answer["state"], "xyz");
}

#[tokio::test]
async fn prompt_none_with_a_session_answers_consent_required_then_a_code() {
    let app = spawn_app().await;
    let client_id = public_client(&app, "");
    let mut browser = Browser::new(&app);
    browser.signed_in_as("mallory").await;
    let (verifier, challenge) = pkce();
    let mut params = request(&client_id, &challenge, "");
    params.push(("prompt", "none"));
    let answer = client_answer(&browser.get(&authorize_path(&params)).await).unwrap();
    assert_eq!(answer["error"], "consent_required");

    code_for(&mut browser, &client_id, &challenge, "").await;
    let answer = client_answer(&browser.get(&authorize_path(&params)).await).unwrap();
    assert_eq!(
        redeem(&app, &client_id, &answer["code"], &verifier)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn prompt_login_asks_a_signed_in_user_to_log_in_again() {
    let app = spawn_app().await;
    let client_id = public_client(&app, "");
    let mut browser = Browser::new(&app);
    let password = browser.signed_in_as("niaj").await;
    let (_, challenge) = pkce();
    code_for(&mut browser, &client_id, &challenge, "").await;
    let session_before = browser.cookies["authd_session"].clone();

    let mut params = request(&client_id, &challenge, "");
    params.push(("prompt", "login"));
    let login_path = local(&browser.get(&authorize_path(&params)).await);
    assert!(login_path.starts_with("/ui/login?authorization="));
    // Consent is remembered, so the new login leads straight back with a code.
    let back = log_in_here(&mut browser, &login_path, "niaj", &password).await;
    assert!(client_answer(&back).unwrap().contains_key("code"));
    assert_ne!(
        browser.cookies["authd_session"], session_before,
        "a new login"
    );
}

#[tokio::test]
async fn prompt_consent_asks_again_though_consent_is_remembered() {
    let app = spawn_app().await;
    let client_id = public_client(&app, "");
    let mut browser = Browser::new(&app);
    browser.signed_in_as("olivia").await;
    let (_, challenge) = pkce();
    code_for(&mut browser, &client_id, &challenge, "").await;
    let mut params = request(&client_id, &challenge, "");
    params.push(("prompt", "consent"));
    let page = browser.get(&authorize_path(&params)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Allow"));
}

#[tokio::test]
async fn max_age_asks_for_a_new_login_once_it_has_passed() {
    let app = spawn_app().await;
    let client_id = public_client(&app, "");
    let mut browser = Browser::new(&app);
    let password = browser.signed_in_as("peggy").await;
    let (_, challenge) = pkce();
    code_for(&mut browser, &client_id, &challenge, "").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;

    let mut params = request(&client_id, &challenge, "");
    params.push(("max_age", "1"));
    let login_path = local(&browser.get(&authorize_path(&params)).await);
    assert!(login_path.starts_with("/ui/login?authorization="));
    let back = log_in_here(&mut browser, &login_path, "peggy", &password).await;
    assert!(client_answer(&back).unwrap().contains_key("code"));

    // A large max_age is satisfied by the session as it is.
    let mut params = request(&client_id, &challenge, "");
    params.push(("max_age", "10000"));
    assert!(
        client_answer(&browser.get(&authorize_path(&params)).await)
            .unwrap()
            .contains_key("code")
    );
}

#[tokio::test]
async fn oidcc_login_hint_fills_in_the_username() {
    let app = spawn_app().await;
    let client_id = public_client(&app, "");
    let mut browser = Browser::new(&app);
    let (_, challenge) = pkce();
    let mut params = request(&client_id, &challenge, "");
    params.push(("login_hint", "quentin"));
    let login_path = local(&browser.get(&authorize_path(&params)).await);
    let login = browser.get(&login_path).await;
    assert_eq!(login.input("username"), "quentin");
}

#[tokio::test]
async fn a_confidential_client_must_authenticate_to_redeem_its_code() {
    let app = spawn_app().await;
    let client = register_client(
        &app,
        &["--name", "Server app", "--redirect-uri", REDIRECT_URI],
    );
    let client_id = client["client_id"].as_str().unwrap();
    let secret = client["client_secret"].as_str().unwrap();
    assert_eq!(client["token_endpoint_auth_method"], "client_secret_basic");
    let mut browser = Browser::new(&app);
    browser.signed_in_as("rupert").await;
    let (verifier, challenge) = pkce();
    let code = code_for(&mut browser, client_id, &challenge, "").await;

    // Its id alone proves nothing.
    let (status, error) = error_of(redeem(&app, client_id, &code, &verifier).await).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
    let redeemed = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(redeemed.status(), 200);
    let tokens: Value = redeemed.json().await.unwrap();

    // Its refresh token refreshes only for it.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let without_client = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(without_client.status(), 401);
    let with_client = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(with_client.status(), 200);
}

#[tokio::test]
async fn a_client_without_the_code_grant_cannot_start_a_flow() {
    let app = spawn_app().await;
    let (client_id, _) = crate::clients::create_client(&app, "reports:read");
    let mut browser = Browser::new(&app);
    let (_, challenge) = pkce();
    let page = browser
        .get(&authorize_path(&request(&client_id, &challenge, "")))
        .await;
    assert_error_page(&page, "not allowed to sign users in");
}

#[tokio::test]
async fn revoking_a_connected_application_ends_its_tokens_and_forgets_consent() {
    let app = spawn_app().await;
    let client_id = public_client(&app, "photos:read");
    let mut browser = Browser::new(&app);
    browser.signed_in_as("sybil").await;
    let (verifier, challenge) = pkce();
    let code = code_for(&mut browser, &client_id, &challenge, "photos:read").await;
    let tokens: Value = redeem(&app, &client_id, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap();

    let profile = browser.get("/ui/profile").await;
    assert!(profile.body.contains("Connected applications"));
    assert!(profile.body.contains("Photo Book"), "{}", profile.body);
    let csrf = profile.input("csrf");
    let revoked = browser
        .post_raw(
            &format!("/ui/applications/{client_id}/revoke"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(app.me_status(access).await, 401);
    let refreshed = refresh(&app, &client_id, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status(), 400);
    // The browser's own session is untouched, and consent is asked again.
    let page = visit(
        &mut browser,
        &authorize_path(&request(&client_id, &challenge, "photos:read")),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Allow"));
    assert!(!browser.get("/ui/profile").await.body.contains("Photo Book"));
}

#[tokio::test]
async fn a_consent_form_without_its_csrf_token_is_refused_and_gives_no_code() {
    let app = spawn_app().await;
    let client_id = public_client(&app, "");
    let mut browser = Browser::new(&app);
    browser.signed_in_as("trent").await;
    let (_, challenge) = pkce();
    let consent = visit(
        &mut browser,
        &authorize_path(&request(&client_id, &challenge, "")),
    )
    .await;
    let request_id = consent.input("request");
    let forged = browser
        .post_raw(
            "/oauth/authorize/consent",
            &[
                ("csrf", "x"),
                ("request", &request_id),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.headers.get(header::LOCATION).is_none());
    let db = app.db().await;
    let consents: i64 = db
        .query_one("SELECT count(*) FROM consents", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(consents, 0);
}

#[tokio::test]
async fn a_third_party_oauth_client_runs_the_code_flow_with_pkce_par_and_dpop() {
    // requests-oauth2client (PyPI) builds every request from authd's metadata; the script
    // plays the browser through authd's real login and consent forms.
    let app = spawn_app().await;
    let password = app.register("alice").await;
    let redirect_uri = "http://127.0.0.1:9/callback";
    let public = register_client(
        &app,
        &[
            "--name",
            "Notes (public)",
            "--public",
            "--redirect-uri",
            redirect_uri,
            "--scope",
            "notes:read",
        ],
    );
    let confidential = register_client(
        &app,
        &[
            "--name",
            "Notes (server)",
            "--redirect-uri",
            redirect_uri,
            "--scope",
            "notes:read notes:write",
        ],
    );
    // Async: the app under test serves on this same runtime thread.
    let output = tokio::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/code_flow_client.py"
        ))
        .args([
            app.address.as_str(),
            crate::helpers::ISSUER,
            "alice",
            &password,
            public["client_id"].as_str().unwrap(),
            confidential["client_id"].as_str().unwrap(),
            confidential["client_secret"].as_str().unwrap(),
            redirect_uri,
        ])
        .output()
        .await
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "requests-oauth2client failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn the_authorization_endpoint_is_rate_limited_per_address() {
    let app = crate::helpers::spawn_app_with(crate::helpers::AppOptions {
        rate_limit: 3,
        ..crate::helpers::AppOptions::default()
    })
    .await;
    let client_id = public_client(&app, "");
    let mut browser = Browser::new(&app);
    let (_, challenge) = pkce();
    let path = authorize_path(&request(&client_id, &challenge, ""));
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(browser.get(&path).await.status);
    }
    let limited = browser.get(&path).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{statuses:?}"
    );
    assert!(limited.headers.contains_key(header::RETRY_AFTER));
    assert!(limited.headers.get(header::LOCATION).is_none());
}
