//! Logins through upstream identity providers (docs/federation.md): a second authd as the
//! upstream, with its real login and consent pages; the callback taken by another replica than
//! the one that sent the browser away.

mod oidc_provider;
pub mod rogue;
mod upstream_authd;

use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    browser::{Browser, Page},
    code_flow::{answer_consent, follow, register_client, visit},
    helpers::{AppOptions, TestApp, redis_url, spawn_app, spawn_app_with},
};

/// A downstream authd (two replicas) with an upstream authd registered as `corp`.
pub struct Federated {
    pub upstream: TestApp,
    pub down: TestApp,
    pub other: TestApp,
}

impl Federated {
    /// Both deployments, the downstream registered at the upstream as a client and the
    /// upstream at the downstream with `authd upstreams create` and `args`.
    pub async fn start(args: &[&str]) -> Self {
        let upstream = spawn_app_with(AppOptions {
            own_issuer: true,
            ..AppOptions::default()
        })
        .await;
        let down = spawn_app().await;
        let other = down.spawn_sibling().await;
        let redirect_uri = format!("{}/ui/login/upstream/corp/callback", down.address);
        let client = register_client(
            &upstream,
            &[
                "--name",
                "Downstream authd",
                "--redirect-uri",
                &redirect_uri,
                "--scope",
                "openid profile email",
            ],
        );
        let federated = Self {
            upstream,
            down,
            other,
        };
        let mut create = vec![
            "create",
            "--id",
            "corp",
            "--name",
            "Corp",
            "--issuer",
            &federated.upstream.address,
            "--client-id",
            client["client_id"].as_str().unwrap(),
        ];
        create.extend_from_slice(args);
        let created = federated
            .upstreams(
                &create,
                &[(
                    "AUTHD_UPSTREAM_CLIENT_SECRET",
                    client["client_secret"].as_str().unwrap(),
                )],
            )
            .await;
        assert_eq!(created["redirect_uri"], redirect_uri.as_str());
        federated
    }

    /// `authd upstreams ARGS` on the downstream deployment: its JSON output.
    pub async fn upstreams(&self, args: &[&str], env: &[(&str, &str)]) -> Value {
        authd_upstreams(&self.down, args, env).await
    }

    /// Registers `username` at the upstream with `email`: their password there.
    pub async fn upstream_user(&self, username: &str, email: &str) -> String {
        let response = self
            .upstream
            .post_json(
                "/register",
                serde_json::json!({"username": username, "email": email}),
            )
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["password"].as_str().unwrap().to_owned()
    }
}

/// `authd upstreams ARGS` on `app`'s deployment, with `env` over its settings: its JSON output
/// (null when it prints none). Run as a child process awaited on the runtime: an upstream
/// served by this test's runtime must answer its discovery request meanwhile.
pub async fn authd_upstreams(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> Value {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_authd"))
        .env_clear()
        .arg("upstreams")
        .args(args)
        .env("DATABASE_URL", app.resources.database_url())
        .env("REDIS_URL", redis_url())
        .env("AUTHD_REDIS_PREFIX", &app.resources.redis_prefix)
        .env("AUTHD_MASTER_KEY", &app.resources.master_key_base64)
        .env("AUTHD_PUBLIC_URL", &app.address)
        .env("AUTHD_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "authd upstreams {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
}

/// The path and query of an absolute URL.
pub fn path_of(url: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// From `start` (a downstream path that sends the browser to the upstream), through the
/// upstream's login (and consent, once) as `username`, to the downstream's callback, which
/// `down_browser` opens on the *other* replica. The callback's answer.
pub async fn through_upstream<'a>(
    federated: &'a Federated,
    down_browser: &mut Browser<'a>,
    up_browser: &mut Browser<'_>,
    start: &str,
    (username, password): (&str, &str),
) -> Page {
    let leaving = down_browser.get(start).await;
    assert_eq!(leaving.status, StatusCode::SEE_OTHER, "{}", leaving.body);
    let location = leaving.location().to_owned();
    assert!(
        location.starts_with(&federated.upstream.address),
        "{location}"
    );
    let back = upstream_answer(up_browser, &path_of(&location), (username, password)).await;
    assert!(
        back.starts_with(&format!(
            "{}/ui/login/upstream/corp/callback",
            federated.down.address
        )),
        "{back}"
    );
    // Behind the load balancer, the callback may reach another replica.
    let on_first = down_browser.app;
    down_browser.app = &federated.other;
    let answer = down_browser.get(&path_of(&back)).await;
    down_browser.app = on_first;
    answer
}

/// At the upstream: its authorization request, its login page if not signed in there, its
/// consent page if asked; where it sends the browser back.
pub async fn upstream_answer(
    up_browser: &mut Browser<'_>,
    authorize: &str,
    (username, password): (&str, &str),
) -> String {
    let mut page = visit(up_browser, authorize).await;
    if page.status == StatusCode::OK && page.body.contains("name=\"password\"") {
        let authorization = page.input("authorization");
        let csrf = page.input("csrf");
        let answer = up_browser
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
        page = follow(up_browser, answer).await;
    }
    if page.status == StatusCode::OK {
        page = answer_consent(up_browser, &page, "allow").await;
    }
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    page.location().to_owned()
}
