//! panva's `oidc-provider` (OpenID Certified, written by nobody here) as the upstream: authd's
//! discovery, PKCE, `nonce`, RFC 9207 `iss`, ID token verification and userinfo against an
//! independent implementation. `tests/oidc_provider/provider.mjs` starts it; its npm packages
//! are installed by tests/prepare.sh.

use std::{collections::HashMap, process::Stdio, time::Duration};

use reqwest::{StatusCode, header};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

use super::{authd_upstreams, path_of};
use crate::{browser::Browser, helpers::spawn_app, tokens::claims_of};

/// The provider, as a child process killed when dropped.
struct OidcProvider {
    issuer: String,
    _child: Child,
}

impl OidcProvider {
    async fn start(client_id: &str, client_secret: &str, redirect_uri: &str) -> Self {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/oidc_provider/provider.mjs"
        );
        let mut child = Command::new("node")
            .arg(script)
            .env("CLIENT_ID", client_id)
            .env("CLIENT_SECRET", client_secret)
            .env("REDIRECT_URI", redirect_uri)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs tests/oidc_provider/provider.mjs (tests/prepare.sh installs it)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let issuer = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(issuer) = line.strip_prefix("listening ") {
                    return issuer.to_owned();
                }
            }
            panic!("oidc-provider exited before listening (npm ci in tests/oidc_provider?)")
        })
        .await
        .expect("oidc-provider listens within 30 s");
        // Read on: the provider prints notices, and a closed pipe would kill it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            issuer,
            _child: child,
        }
    }
}

/// A browser at the provider: its cookies, its development login and consent forms.
async fn log_in_at_provider(authorize: &str, redirect_uri: &str, login: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut cookies: HashMap<String, String> = HashMap::new();
    let mut next = (reqwest::Method::GET, authorize.to_owned(), Vec::new());
    for _ in 0..12 {
        let (method, url, form) = next;
        let jar = cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut request = client.request(method, &url).header(header::COOKIE, jar);
        if !form.is_empty() {
            request = request.form(&form);
        }
        let response = request.send().await.unwrap();
        for line in response.headers().get_all(header::SET_COOKIE) {
            let pair = line.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            cookies.insert(name.to_owned(), value.to_owned());
        }
        let status = response.status();
        if status.is_redirection() {
            let location = response.headers()[header::LOCATION].to_str().unwrap();
            let location = url::Url::parse(&url)
                .unwrap()
                .join(location)
                .unwrap()
                .to_string();
            if location.starts_with(redirect_uri) {
                return location;
            }
            next = (reqwest::Method::GET, location, Vec::new());
            continue;
        }
        assert_eq!(status, StatusCode::OK);
        let page = response.text().await.unwrap();
        let action = attribute(&page, "<form", "action");
        let prompt = attribute(&page, "name=\"prompt\"", "value");
        let mut fields = vec![("prompt".to_owned(), prompt.clone())];
        if prompt == "login" {
            fields.push(("login".to_owned(), login.to_owned()));
            fields.push(("password".to_owned(), "any password".to_owned()));
        }
        let action = url::Url::parse(&url)
            .unwrap()
            .join(&action)
            .unwrap()
            .to_string();
        next = (reqwest::Method::POST, action, fields);
    }
    panic!("the provider never sent the browser back")
}

/// The value of `name` in the first tag starting at `marker`.
fn attribute(page: &str, marker: &str, name: &str) -> String {
    let start = page
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {page}"));
    let rest = &page[start..];
    let value = rest.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
    let end = rest[value..].find('"').unwrap();
    rest[value..value + end].to_owned()
}

#[tokio::test]
async fn oidc_provider_signs_a_user_in_through_its_own_login_and_consent() {
    let down = spawn_app().await;
    let other = down.spawn_sibling().await;
    let redirect_uri = format!("{}/ui/login/upstream/panva/callback", down.address);
    let provider = OidcProvider::start("authd", "a secret of some length", &redirect_uri).await;
    let created = authd_upstreams(
        &down,
        &[
            "create",
            "--id",
            "panva",
            "--name",
            "Panva",
            "--issuer",
            &provider.issuer,
            "--client-id",
            "authd",
        ],
        &[("AUTHD_UPSTREAM_CLIENT_SECRET", "a secret of some length")],
    )
    .await;
    // Read from its discovery document: it sends RFC 9207's `iss`, which authd then requires.
    assert_eq!(
        created["authorization_response_iss_parameter_supported"],
        true
    );

    let mut browser = Browser::new(&down);
    let leaving = browser.get("/ui/login/upstream/panva").await;
    assert_eq!(leaving.status, StatusCode::SEE_OTHER, "{}", leaving.body);
    let back = log_in_at_provider(leaving.location(), &redirect_uri, "jane").await;
    assert!(back.contains("iss="), "{back}");
    browser.app = &other;
    let answer = browser.get(&path_of(&back)).await;
    assert_eq!(answer.location(), "/ui/profile", "{}", answer.body);

    // The provider's ID token holds no address (its claims go to userinfo by default): authd
    // read it from userinfo, about the same subject.
    let sub = claims_of(&browser.access_token())["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    let row = down
        .db()
        .await
        .query_one(
            "SELECT users.id, users.username, users.email, users.email_verified_at IS NULL AS unverified
             FROM federated_identities JOIN users ON users.id = user_id
             WHERE upstream_id = 'panva' AND subject = 'jane'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, uuid::Uuid>("id").to_string(), sub);
    assert_eq!(row.get::<_, String>("username"), "jane");
    assert_eq!(row.get::<_, String>("email"), "jane@provider.example");
    assert!(
        row.get::<_, bool>("unverified"),
        "not trusted for addresses: authd does not vouch for it"
    );
}
