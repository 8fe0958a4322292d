//! Registering clients: `authd clients list/show/update/delete`, and dynamic registration
//! (RFC 7591) at `/oauth/register`.

use serde_json::{Value, json};

use crate::{
    code_flow::{REDIRECT_URI, register_client},
    helpers::{AppOptions, TestApp, spawn_app, spawn_app_with},
};

/// `authd clients <args>` against the app's database: exit success, stdout, stderr.
pub fn clients(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
        .env_clear()
        .arg("clients")
        .args(args)
        .env("DATABASE_URL", app.resources.database_url())
        .env("REDIS_URL", crate::helpers::redis_url())
        .env("AUTHD_REDIS_PREFIX", &app.resources.redis_prefix)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn clients_are_listed_shown_updated_and_deleted_from_the_command_line() {
    let app = spawn_app().await;
    let created = register_client(
        &app,
        &[
            "--name",
            "Photo Book",
            "--public",
            "--redirect-uri",
            REDIRECT_URI,
            "--redirect-uri",
            "http://127.0.0.1/callback",
            "--scope",
            "photos:read",
            "--post-logout-redirect-uri",
            "https://rp.example/bye",
        ],
    );
    let client_id = created["client_id"].as_str().unwrap();
    assert_eq!(created["client_type"], "public");
    assert_eq!(created["token_endpoint_auth_method"], "none");
    assert!(created.get("client_secret").is_none());
    assert_eq!(
        created["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );

    let (ok, listed, _) = clients(&app, &["list"]);
    assert!(ok);
    let listed: Vec<Value> = listed
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["client_id"], client_id);

    let (ok, updated, stderr) = clients(
        &app,
        &[
            "update",
            client_id,
            "--name",
            "Photo Album",
            "--scope",
            "photos:read photos:write",
            "--require-par",
            "true",
        ],
    );
    assert!(ok, "{stderr}");
    let updated: Value = serde_json::from_str(&updated).unwrap();
    assert_eq!(updated["client_name"], "Photo Album");
    assert_eq!(updated["require_pushed_authorization_requests"], true);
    // What the update did not name is kept.
    assert_eq!(updated["redirect_uris"], created["redirect_uris"]);

    let (ok, shown, _) = clients(&app, &["show", client_id]);
    assert!(ok);
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["scope"], "photos:read photos:write");

    let (ok, _, _) = clients(&app, &["delete", client_id]);
    assert!(ok);
    let (ok, _, stderr) = clients(&app, &["show", client_id]);
    assert!(!ok);
    assert!(stderr.contains("no client"), "{stderr}");
    let (ok, _, stderr) = clients(&app, &["delete", client_id]);
    assert!(!ok && stderr.contains("no client"), "{stderr}");
}

#[tokio::test]
async fn a_registration_that_breaks_a_rule_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    for (args, says) in [
        (
            vec!["--name", "x", "--redirect-uri", "http://app.example/cb"],
            "plain http",
        ),
        (
            vec!["--name", "x", "--redirect-uri", "https://app.example/cb#f"],
            "fragment",
        ),
        (
            vec![
                "--name",
                "x",
                "--public",
                "--grant-type",
                "client_credentials",
            ],
            "public client",
        ),
        (
            vec!["--name", "x", "--grant-type", "authorization_code"],
            "redirect",
        ),
        (vec!["--name", "x", "--grant-type", "implicit"], "implicit"),
    ] {
        let mut full = vec!["create"];
        full.extend(args.iter());
        let (ok, _, stderr) = clients(&app, &full);
        assert!(!ok, "{args:?}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let (_, listed, _) = clients(&app, &["list"]);
    assert!(listed.trim().is_empty(), "{listed}");
}

async fn register(app: &TestApp, token: Option<&str>, metadata: Value) -> reqwest::Response {
    let mut request = app.client.post(app.url("/oauth/register")).json(&metadata);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn dynamic_registration_is_off_by_default() {
    let app = spawn_app().await;
    let response = register(&app, None, json!({ "redirect_uris": [REDIRECT_URI] })).await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn dynamic_registration_creates_clients_that_work_and_refuses_bad_metadata() {
    let app = spawn_app_with(AppOptions {
        dynamic_registration: true,
        ..AppOptions::default()
    })
    .await;
    let metadata: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["registration_endpoint"],
        app.url("/oauth/register")
    );

    let response = register(
        &app,
        None,
        json!({
            "client_name": "Native app",
            "redirect_uris": ["http://127.0.0.1/callback"],
            "token_endpoint_auth_method": "none",
            "scope": "notes:read",
        }),
    )
    .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let public: Value = response.json().await.unwrap();
    assert!(public["client_id"].as_str().unwrap().starts_with("client_"));
    assert!(public.get("client_secret").is_none());
    assert_eq!(
        public["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );

    let confidential: Value = register(
        &app,
        None,
        json!({ "client_name": "Web app", "redirect_uris": ["https://web.example/cb"] }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(confidential["client_secret"].is_string());
    assert_eq!(confidential["client_secret_expires_at"], 0);

    for (metadata, expected) in [
        (
            json!({ "redirect_uris": ["http://web.example/cb"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": ["https://web.example/cb#x"] }),
            "invalid_redirect_uri",
        ),
        (json!({ "redirect_uris": [] }), "invalid_redirect_uri"),
        (
            json!({ "redirect_uris": ["https://web.example/cb"], "grant_types": ["client_credentials"] }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": ["https://web.example/cb"], "response_types": ["token"] }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": ["https://web.example/cb"], "token_endpoint_auth_method": "tls_client_auth" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": ["https://web.example/cb"], "jwks_uri": "https://web.example/jwks" }),
            "invalid_client_metadata",
        ),
    ] {
        let response = register(&app, None, metadata.clone()).await;
        assert_eq!(response.status(), 400, "{metadata}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], expected, "{metadata}");
    }
    let db = app.db().await;
    let stored: i64 = db
        .query_one("SELECT count(*) FROM clients", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 2, "only the two good registrations are stored");
}

#[tokio::test]
async fn dynamic_registration_can_require_an_initial_access_token() {
    let app = spawn_app_with(AppOptions {
        dynamic_registration: true,
        registration_token: Some("let-me-in".to_owned()),
        ..AppOptions::default()
    })
    .await;
    let metadata = json!({ "redirect_uris": [REDIRECT_URI] });
    for token in [None, Some("wrong")] {
        let response = register(&app, token, metadata.clone()).await;
        assert_eq!(response.status(), 401);
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
    }
    assert_eq!(
        register(&app, Some("let-me-in"), metadata).await.status(),
        201
    );
}
