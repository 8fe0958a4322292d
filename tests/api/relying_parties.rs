//! What relying parties do on their own defaults, and what authd must accept of them: a
//! confidential OpenID Connect client that sends a `nonce` and no PKCE, client assertions that
//! live an hour, `offline_access`, CORS for a single-page app's own origin, `form_post`, and
//! native apps' private-use redirect URIs; and the consent page a look-alike cannot fake.

use std::{collections::HashMap, time::Duration};

use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use url::Url;
use uuid::Uuid;

use crate::{
    browser::{Browser, Page},
    client_registration::clients,
    code_flow::{
        REDIRECT_URI, answer_after, answer_consent, authorize_path, pkce, register_client, visit,
    },
    dpop::DpopKey,
    helpers::{AppOptions, TestApp, spawn_app, spawn_app_with},
    tokens::claims_of,
};

/// A confidential client of the code flow (secret in HTTP Basic): its id and secret.
fn confidential(app: &TestApp, extra: &[&str]) -> (String, String) {
    let mut args = vec![
        "--name",
        "Notes (server)",
        "--redirect-uri",
        REDIRECT_URI,
        "--scope",
        "notes:read",
    ];
    args.extend_from_slice(extra);
    let client = register_client(app, &args);
    (
        client["client_id"].as_str().unwrap().to_owned(),
        client["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// An authorization request of `client_id` for `scope`, as `extra` adds to it (PKCE, nonce…).
fn request_path(client_id: &str, scope: &str, extra: &[(&str, &str)]) -> String {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("scope", scope),
        ("state", "xyz"),
    ];
    params.extend_from_slice(extra);
    authorize_path(&params)
}

/// The code flow's token request for a confidential client, with a verifier if given.
async fn redeem(
    app: &TestApp,
    (client_id, secret): (&str, &str),
    code: &str,
    verifier: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
    ];
    if let Some(verifier) = verifier {
        form.push(("code_verifier", verifier));
    }
    app.client
        .post(app.url("/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The client's answer when the request is refused at its redirect URI.
async fn refusal(browser: &mut Browser<'_>, path: &str) -> HashMap<String, String> {
    let page = browser.get(path).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let answer: HashMap<String, String> = Url::parse(page.location())
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert!(answer.contains_key("error"), "{answer:?}");
    answer
}

#[tokio::test]
async fn a_confidential_openid_client_may_send_a_nonce_instead_of_pkce() {
    let app = spawn_app().await;
    let (client_id, secret) = confidential(&app, &[]);
    let mut browser = Browser::new(&app);
    browser.signed_in_as("alice").await;

    // OpenID Connect with a nonce and no PKCE, as server-side libraries send by default.
    let path = request_path(
        &client_id,
        "openid notes:read",
        &[("nonce", "n-0S6_WzA2Mj")],
    );
    let first = browser.get(&path).await;
    let answer = answer_after(&mut browser, first).await;
    let tokens = redeem(&app, (&client_id, &secret), &answer["code"], None).await;
    assert_eq!(tokens.status(), 200);
    let tokens: Value = tokens.json().await.unwrap();
    // The code is bound to the nonce: the ID token carries it for the client to check.
    assert_eq!(
        claims_of(tokens["id_token"].as_str().unwrap())["nonce"],
        "n-0S6_WzA2Mj"
    );

    // Neither PKCE nor an OpenID Connect nonce: refused, naming both.
    for path in [
        request_path(&client_id, "openid notes:read", &[]),
        request_path(&client_id, "notes:read", &[("nonce", "n-1")]),
    ] {
        let answer = refusal(&mut browser, &path).await;
        assert_eq!(answer["error"], "invalid_request");
        let description = &answer["error_description"];
        assert!(
            description.contains("code_challenge") && description.contains("nonce"),
            "{description}"
        );
    }

    // A verifier for a request that had no challenge: the challenge was stripped (a downgrade).
    let first = browser.get(&path).await;
    let answer = answer_after(&mut browser, first).await;
    let (verifier, _) = pkce();
    let downgraded = redeem(
        &app,
        (&client_id, &secret),
        &answer["code"],
        Some(&verifier),
    )
    .await;
    assert_eq!(downgraded.status(), 400);
    let body: Value = downgraded.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");

    // A public client, a native app, or a client registered with `--pkce required`: PKCE only.
    let public = register_client(
        &app,
        &["--name", "SPA", "--public", "--redirect-uri", REDIRECT_URI],
    );
    let (strict, _) = confidential(&app, &["--pkce", "required"]);
    for client_id in [public["client_id"].as_str().unwrap(), strict.as_str()] {
        let path = request_path(client_id, "openid", &[("nonce", "n-2")]);
        let answer = refusal(&mut browser, &path).await;
        assert_eq!(answer["error"], "invalid_request");
        assert!(
            answer["error_description"].contains("PKCE is required"),
            "{answer:?}"
        );
    }
}

#[tokio::test]
async fn the_server_can_require_pkce_of_every_client_that_names_no_policy() {
    let app = spawn_app_with(AppOptions {
        pkce_policy: authd::clients::PkcePolicy::Required,
        ..AppOptions::default()
    })
    .await;
    let (default_client, _) = confidential(&app, &[]);
    let (lenient, _) = confidential(&app, &["--pkce", "nonce-allowed"]);
    let mut browser = Browser::new(&app);
    browser.signed_in_as("bob").await;
    let answer = refusal(
        &mut browser,
        &request_path(&default_client, "openid", &[("nonce", "n")]),
    )
    .await;
    assert!(answer["error_description"].contains("PKCE is required"));
    let first = browser
        .get(&request_path(&lenient, "openid", &[("nonce", "n")]))
        .await;
    assert!(answer_after(&mut browser, first).await.contains_key("code"));
}

/// A `private_key_jwt` client registered with `key`'s public half: its id.
fn signed_client(app: &TestApp, key: &DpopKey) -> String {
    let jwks = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(jwks.path(), key.public_jwks().to_string()).unwrap();
    let client = register_client(
        app,
        &[
            "--name",
            "Signed app",
            "--redirect-uri",
            REDIRECT_URI,
            "--jwks",
            jwks.path().to_str().unwrap(),
        ],
    );
    client["client_id"].as_str().unwrap().to_owned()
}

/// Introspection authenticated by `assertion`: the status and `error_description`.
async fn authenticate_with(app: &TestApp, assertion: &str) -> (u16, String) {
    let response = app
        .client
        .post(app.url("/oauth/introspect"))
        .form(&[
            ("token", "x"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or_default();
    (
        status,
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn client_assertions_may_live_an_hour_and_a_refusal_says_which_rule_failed() {
    let app = spawn_app().await;
    let key = DpopKey::generate();
    let client_id = signed_client(&app, &key);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = |aud: &str, lifetime: i64| {
        json!({
            "iss": client_id, "sub": client_id, "aud": aud,
            "jti": Uuid::new_v4().to_string(), "iat": now, "exp": now + lifetime,
        })
    };
    let token_endpoint = app.url("/oauth/token");

    // An hour, as a common library signs: accepted once; the same jti again is a replay.
    let hour = key.assertion(&claims(crate::helpers::ISSUER, 3600));
    assert_eq!(authenticate_with(&app, &hour).await.0, 200);
    let (status, why) = authenticate_with(&app, &hour).await;
    assert_eq!(status, 401);
    assert!(why.contains("jti was used before"), "{why}");

    // Each broken rule is named.
    let cases = [
        (key.assertion(&claims(&token_endpoint, 86_400)), "3600"),
        (key.assertion(&claims(&token_endpoint, -120)), "expired"),
        (key.assertion(&claims("https://other.example", 60)), "aud"),
        (
            key.assertion_with_kid("not-registered", &claims(&token_endpoint, 60)),
            "no key the client registered",
        ),
        (
            DpopKey::generate().assertion_with_kid(&key.thumbprint(), &claims(&token_endpoint, 60)),
            "signature",
        ),
    ];
    for (assertion, says) in cases {
        let (status, why) = authenticate_with(&app, &assertion).await;
        assert_eq!(status, 401, "{says}");
        assert!(why.contains(says), "expected {says:?} in {why:?}");
    }

    // A secret that fails says nothing more: which ids exist is nobody's business.
    let response = app
        .client
        .post(app.url("/oauth/introspect"))
        .basic_auth(&client_id, Some("wrong"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_description"], "client authentication failed");

    // No credentials at all: the answer says what to send.
    let response = app
        .client
        .post(app.url("/oauth/introspect"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    let why = body["error_description"].as_str().unwrap();
    assert!(why.contains("no client credentials"), "{why}");
}

#[tokio::test]
async fn offline_access_is_what_brings_an_openid_client_a_refresh_token() {
    let app = spawn_app().await;
    let metadata: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        metadata["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("offline_access")),
        "{metadata}"
    );
    let (client_id, secret) = confidential(&app, &[]);
    let mut browser = Browser::new(&app);
    browser.signed_in_as("carol").await;

    let (verifier, challenge) = pkce();
    let with_pkce = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let first = browser
        .get(&request_path(&client_id, "openid", &with_pkce))
        .await;
    let answer = answer_after(&mut browser, first).await;
    let tokens: Value = redeem(
        &app,
        (&client_id, &secret),
        &answer["code"],
        Some(&verifier),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(tokens["access_token"].is_string(), "{tokens}");
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");

    // Asked for: the user is asked, in words, then the client gets a refresh token that works.
    let (verifier, challenge) = pkce();
    let with_pkce = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let consent = visit(
        &mut browser,
        &request_path(&client_id, "openid offline_access", &with_pkce),
    )
    .await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    assert!(consent.body.contains("Stay connected while you are away"));
    let page = answer_consent(&mut browser, &consent, "allow").await;
    let code = Url::parse(page.location())
        .unwrap()
        .query_pairs()
        .find(|(name, _)| name == "code")
        .unwrap()
        .1
        .into_owned();
    let tokens: Value = redeem(&app, (&client_id, &secret), &code, Some(&verifier))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tokens["scope"], "openid offline_access");
    let refresh_token = tokens["refresh_token"].as_str().expect("a refresh token");
    let refreshed = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
}

/// A CORS preflight for `path` from `origin`.
async fn preflight(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, app.url(path))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type, dpop")
        .send()
        .await
        .unwrap()
}

fn allowed_origin(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("access-control-allow-origin")
        .map(|value| value.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_clients_redirect_origins_may_call_the_token_endpoint_from_a_browser() {
    const SPA: &str = "https://spa.example";
    let app = spawn_app().await;
    let client = register_client(
        &app,
        &[
            "--name",
            "SPA",
            "--public",
            "--redirect-uri",
            "https://spa.example/callback",
        ],
    );
    let client_id = client["client_id"].as_str().unwrap();
    assert_eq!(client["cors_origins"], json!([SPA]));

    // The SPA's own origin: the endpoints a browser app needs, and only those.
    for path in [
        "/oauth/token",
        "/oauth/revoke",
        "/userinfo",
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
    ] {
        let answer = preflight(&app, path, SPA).await;
        assert_eq!(answer.status(), 200, "{path}");
        assert_eq!(allowed_origin(&answer).as_deref(), Some(SPA), "{path}");
    }
    let jwks = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("Origin", SPA)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed_origin(&jwks).as_deref(), Some(SPA));
    let me = preflight(&app, "/me", SPA).await;
    assert_eq!(me.status(), 403);
    assert_eq!(allowed_origin(&me), None);

    // An origin no client registered: no CORS headers, whatever it asks.
    let evil = preflight(&app, "/oauth/token", "https://evil.example").await;
    assert_eq!(evil.status(), 403);
    assert_eq!(allowed_origin(&evil), None);
    let simple = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed_origin(&simple), None);

    // Origins set explicitly replace the derived ones, on the running replica too.
    let (ok, _, stderr) = clients(
        &app,
        &[
            "update",
            client_id,
            "--allowed-origin",
            "https://app.spa.example",
        ],
    );
    assert!(ok, "{stderr}");
    let mut waited = Duration::ZERO;
    while allowed_origin(&preflight(&app, "/oauth/token", SPA).await).is_some() {
        assert!(
            waited < Duration::from_secs(5),
            "the old origin stays allowed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    let explicit = preflight(&app, "/oauth/token", "https://app.spa.example").await;
    assert_eq!(
        allowed_origin(&explicit).as_deref(),
        Some("https://app.spa.example")
    );
}

/// The consent page a signed-in browser is shown for `client_id`.
async fn consent_page(browser: &mut Browser<'_>, client_id: &str, redirect_uri: &str) -> Page {
    let (_, challenge) = pkce();
    let path = authorize_path(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", "openid email"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let page = visit(browser, &path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page
}

#[tokio::test]
async fn the_consent_page_shows_where_the_user_goes_and_whether_anyone_vouched_for_the_name() {
    let app = spawn_app_with(AppOptions {
        dynamic_registration: true,
        ..AppOptions::default()
    })
    .await;
    let registered: Value = app
        .client
        .post(app.url("/oauth/register"))
        .json(&json!({
            "client_name": "Totally Legit Bank",
            "redirect_uris": ["https://bank.example.evil/cb"],
            "token_endpoint_auth_method": "none",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = registered["client_id"].as_str().unwrap();
    let mut browser = Browser::new(&app);
    browser.signed_in_as("dave").await;

    let page = consent_page(&mut browser, client_id, "https://bank.example.evil/cb").await;
    assert!(
        page.body.contains("Unverified application"),
        "{}",
        page.body
    );
    assert!(page.body.contains("bank.example.evil"), "{}", page.body);
    // Scopes in words, not protocol names.
    assert!(page.body.contains("Know that it is you when you sign in"));
    assert!(page.body.contains("See your email address"));
    assert!(!page.body.contains("<code>openid</code>"), "{}", page.body);
    // No developer links on a page for people signing in.
    assert!(!page.body.contains("/openapi.json"), "{}", page.body);

    let (ok, out, stderr) = clients(&app, &["update", client_id, "--verified"]);
    assert!(ok, "{stderr}");
    assert!(out.contains("\"verified\":true"), "{out}");
    let mut waited = Duration::ZERO;
    loop {
        let page = consent_page(&mut browser, client_id, "https://bank.example.evil/cb").await;
        if !page.body.contains("Unverified application") {
            break;
        }
        assert!(waited < Duration::from_secs(5), "still marked unverified");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
}

#[tokio::test]
async fn form_post_answers_with_a_page_that_posts_the_code_to_the_client() {
    let app = spawn_app().await;
    let metadata: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["response_modes_supported"],
        json!(["query", "form_post"])
    );
    let (client_id, secret) = confidential(&app, &[]);
    let mut browser = Browser::new(&app);
    browser.signed_in_as("erin").await;
    let (verifier, challenge) = pkce();
    let path = request_path(
        &client_id,
        "notes:read",
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("response_mode", "form_post"),
        ],
    );
    let consent = visit(&mut browser, &path).await;
    let page = answer_consent(&mut browser, &consent, "allow").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains(&format!("<form method=\"post\" action=\"{REDIRECT_URI}\"")),
        "{}",
        page.body
    );
    assert_eq!(page.input("state"), "xyz");
    assert_eq!(page.input("iss"), crate::helpers::ISSUER);
    let policy = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        policy.contains(&format!("form-action {REDIRECT_URI};")),
        "{policy}"
    );
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    let tokens = redeem(
        &app,
        (&client_id, &secret),
        &page.input("code"),
        Some(&verifier),
    )
    .await;
    assert_eq!(tokens.status(), 200);

    // An error goes the same way.
    let refused = browser
        .get(&request_path(
            &client_id,
            "notes:read",
            &[("response_mode", "form_post")],
        ))
        .await;
    assert_eq!(refused.status, StatusCode::OK, "{}", refused.body);
    assert_eq!(refused.input("error"), "invalid_request");
}

#[tokio::test]
async fn a_native_app_registers_a_private_use_redirect_and_gets_its_code_there() {
    const NATIVE: &str = "com.example.notes:/oauth2redirect";
    let app = spawn_app_with(AppOptions {
        dynamic_registration: true,
        ..AppOptions::default()
    })
    .await;
    let client = register_client(
        &app,
        &[
            "--name",
            "Notes for phones",
            "--public",
            "--redirect-uri",
            NATIVE,
        ],
    );
    assert_eq!(client["application_type"], "native");
    let client_id = client["client_id"].as_str().unwrap();

    let mut browser = Browser::new(&app);
    browser.signed_in_as("frank").await;
    let consent = consent_page(&mut browser, client_id, NATIVE).await;
    assert!(
        consent.body.contains("an app on this device"),
        "{}",
        consent.body
    );
    let policy = consent.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        policy.contains("form-action 'self' com.example.notes:"),
        "{policy}"
    );
    let back = answer_consent(&mut browser, &consent, "allow").await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    assert!(
        back.location().starts_with(&format!("{NATIVE}?code=")),
        "{}",
        back.location()
    );

    // AppAuth's registration (RFC 7591): accepted as a native app, refused as a web one.
    let register = |metadata: Value| {
        app.client
            .post(app.url("/oauth/register"))
            .json(&metadata)
            .send()
    };
    let appauth = register(json!({
        "application_type": "native",
        "redirect_uris": ["com.example.app:/oauth2redirect"],
        "token_endpoint_auth_method": "none",
    }))
    .await
    .unwrap();
    assert_eq!(appauth.status(), 201);
    let body: Value = appauth.json().await.unwrap();
    assert_eq!(body["application_type"], "native");
    let web = register(json!({ "redirect_uris": ["com.example.app:/oauth2redirect"] }))
        .await
        .unwrap();
    assert_eq!(web.status(), 400);
    let body: Value = web.json().await.unwrap();
    assert_eq!(body["error"], "invalid_redirect_uri");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("native"),
        "{body}"
    );

    // Schemes a browser acts on itself are never redirect URIs, whatever the app says.
    for uri in [
        "javascript:alert(1)",
        "data:text/html,hi",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "blob:https://app.example/1",
        "about:blank",
        "ws://app.example/cb",
        "wss://app.example/cb",
        "myapp:/cb",
        "http://app.example/cb",
        "com.example.app:/cb#fragment",
    ] {
        let (ok, _, stderr) = clients(
            &app,
            &[
                "create",
                "--name",
                "Bad",
                "--public",
                "--application-type",
                "native",
                "--redirect-uri",
                uri,
            ],
        );
        assert!(!ok, "{uri} was accepted");
        assert!(stderr.contains("redirect"), "{uri}: {stderr}");
        let refused = register(json!({
            "application_type": "native",
            "redirect_uris": [uri],
            "token_endpoint_auth_method": "none",
        }))
        .await
        .unwrap();
        assert_eq!(refused.status(), 400, "{uri}");
    }
}
