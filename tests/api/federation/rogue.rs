//! A provider the test controls: it answers discovery, JWKS, token and userinfo requests with
//! what the test sets, so that ID tokens authd must refuse (another audience, issuer, nonce or
//! key) can be sent to it, and a plain OAuth 2.0 (GitHub-style) provider can be played. The
//! happy paths against a real provider are in `upstream_authd.rs`.

use std::sync::{Arc, Mutex};

use jsonwebtoken::Algorithm;
use poem::{
    EndpointExt, Route, Server, get, handler,
    listener::{Acceptor, TcpAcceptor},
    post,
    web::{Data, Form, Json},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{authd_upstreams, path_of};
use crate::{
    browser::Browser,
    dpop::DpopKey,
    helpers::{TestApp, spawn_app},
};

/// A token request as received: its form, and its `Authorization` header.
type TokenRequest = (Vec<(String, String)>, Option<String>);

/// What the provider answers; the test changes it between logins.
#[derive(Default)]
struct Answers {
    discovery: Value,
    id_token: Option<String>,
    userinfo: Value,
    /// Every token request's form and `Authorization` header.
    token_requests: Vec<TokenRequest>,
}

pub struct Rogue {
    pub url: String,
    pub key: DpopKey,
    answers: Arc<Mutex<Answers>>,
}

#[handler]
fn serve_discovery(Data(answers): Data<&Arc<Mutex<Answers>>>) -> Json<Value> {
    Json(answers.lock().unwrap().discovery.clone())
}

#[handler]
fn serve_jwks(Data(jwks): Data<&Value>) -> Json<Value> {
    Json(jwks.clone())
}

#[handler]
fn serve_token(
    req: &poem::Request,
    Data(answers): Data<&Arc<Mutex<Answers>>>,
    Form(form): Form<Vec<(String, String)>>,
) -> Json<Value> {
    let mut answers = answers.lock().unwrap();
    let authorization = req.header("authorization").map(str::to_owned);
    answers.token_requests.push((form, authorization));
    let mut body = json!({"access_token": "rogue-access-token", "token_type": "Bearer"});
    if let Some(id_token) = &answers.id_token {
        body["id_token"] = json!(id_token);
    }
    Json(body)
}

#[handler]
fn serve_userinfo(Data(answers): Data<&Arc<Mutex<Answers>>>) -> Json<Value> {
    Json(answers.lock().unwrap().userinfo.clone())
}

impl Rogue {
    pub async fn start() -> Self {
        let acceptor =
            TcpAcceptor::from_tokio(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
                .unwrap();
        let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        let key = DpopKey::generate_for(Algorithm::RS256);
        let answers = Arc::new(Mutex::new(Answers {
            discovery: json!({
                "issuer": url,
                "authorization_endpoint": format!("{url}/authorize"),
                "token_endpoint": format!("{url}/token"),
                "userinfo_endpoint": format!("{url}/userinfo"),
                "jwks_uri": format!("{url}/jwks"),
                "id_token_signing_alg_values_supported": ["RS256"],
                "authorization_response_iss_parameter_supported": true,
            }),
            ..Answers::default()
        }));
        let app = Route::new()
            .at("/.well-known/openid-configuration", get(serve_discovery))
            .at("/jwks", get(serve_jwks.data(key.public_jwks())))
            .at("/token", post(serve_token))
            .at("/userinfo", get(serve_userinfo))
            .data(answers.clone());
        tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
        Self { url, key, answers }
    }

    fn sends_id_token(&self, id_token: Option<String>) {
        self.answers.lock().unwrap().id_token = id_token;
    }

    fn sends_userinfo(&self, userinfo: Value) {
        self.answers.lock().unwrap().userinfo = userinfo;
    }
}

/// `authd upstreams ARGS` against `app`'s deployment, with the secret the provider expects.
async fn upstreams(app: &TestApp, args: &[&str]) {
    authd_upstreams(
        app,
        args,
        &[("AUTHD_UPSTREAM_CLIENT_SECRET", "rogue secret")],
    )
    .await;
}

/// A started login: the browser's way to the provider, read as its query.
struct Started {
    state: String,
    nonce: Option<String>,
    challenge: String,
}

async fn start_login(browser: &mut Browser<'_>, id: &str) -> Started {
    let page = browser.get(&format!("/ui/login/upstream/{id}")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let url = url::Url::parse(page.location()).unwrap();
    let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    Started {
        state: query["state"].clone(),
        nonce: query.get("nonce").cloned(),
        challenge: query["code_challenge"].clone(),
    }
}

fn callback(id: &str, params: &[(&str, &str)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    path_of(&format!("http://x/ui/login/upstream/{id}/callback?{query}"))
}

#[tokio::test]
async fn an_upstream_id_token_with_a_wrong_audience_issuer_nonce_or_key_is_refused() {
    let rogue = Rogue::start().await;
    let down = spawn_app().await;
    upstreams(
        &down,
        &[
            "create",
            "--id",
            "rogue",
            "--name",
            "Rogue",
            "--issuer",
            &rogue.url,
            "--client-id",
            "authd-down",
        ],
    )
    .await;
    let other_key = DpopKey::generate_for(Algorithm::RS256);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = |nonce: &str| {
        json!({
            "iss": rogue.url, "sub": "rogue-user-1", "aud": "authd-down", "iat": now,
            "exp": now + 300, "nonce": nonce, "email": "someone@rogue.example",
            "preferred_username": "someone",
        })
    };
    type Edit<'a> = Box<dyn Fn(&mut Value, &Rogue, &DpopKey) -> Option<String> + 'a>;
    let cases: Vec<(&str, Edit<'_>)> = vec![
        (
            "another audience",
            Box::new(|claims, _, _| {
                claims["aud"] = json!("another-client");
                None
            }),
        ),
        (
            "another issuer",
            Box::new(|claims, _, _| {
                claims["iss"] = json!("https://evil.example");
                None
            }),
        ),
        (
            "another nonce",
            Box::new(|claims, _, _| {
                claims["nonce"] = json!("not-this-logins-nonce");
                None
            }),
        ),
        (
            "expired",
            Box::new(|claims, _, _| {
                claims["exp"] = json!(now - 3600);
                None
            }),
        ),
        (
            "several audiences without azp",
            Box::new(|claims, _, _| {
                claims["aud"] = json!(["authd-down", "another-client"]);
                None
            }),
        ),
        (
            "issued to another party",
            Box::new(|claims, _, _| {
                claims["azp"] = json!("another-client");
                None
            }),
        ),
        // Signed by a key the provider does not publish, under the published key's kid.
        (
            "another key",
            Box::new(|claims, rogue, other| {
                Some(other.assertion_with_kid(&rogue.key.thumbprint(), claims))
            }),
        ),
    ];
    for (case, edit) in cases {
        let mut browser = Browser::new(&down);
        let started = start_login(&mut browser, "rogue").await;
        let mut token_claims = claims(started.nonce.as_deref().unwrap());
        let forged = edit(&mut token_claims, &rogue, &other_key);
        rogue.sends_id_token(Some(
            forged.unwrap_or_else(|| rogue.key.assertion(&token_claims)),
        ));
        let answer = browser
            .get(&callback(
                "rogue",
                &[
                    ("code", "c"),
                    ("state", &started.state),
                    ("iss", &rogue.url),
                ],
            ))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{case}: {}",
            answer.body
        );
        assert!(
            answer.body.contains("ID token was refused"),
            "{case}: {}",
            answer.body
        );
        assert!(!browser.cookies.contains_key("authd_session"), "{case}");
    }

    // A response naming another issuer (RFC 9207), or none from a provider that sends it.
    for iss in [Some("https://evil.example"), None] {
        let mut browser = Browser::new(&down);
        let started = start_login(&mut browser, "rogue").await;
        rogue.sends_id_token(Some(
            rogue
                .key
                .assertion(&claims(started.nonce.as_deref().unwrap())),
        ));
        let mut params = vec![("code", "c"), ("state", started.state.as_str())];
        params.extend(iss.map(|iss| ("iss", iss)));
        let answer = browser.get(&callback("rogue", &params)).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{iss:?}: {}",
            answer.body
        );
        assert!(
            answer.body.contains("did not come from Rogue"),
            "{}",
            answer.body
        );
    }

    // The same login with a sound token signs in: what was refused was the token.
    let mut browser = Browser::new(&down);
    let started = start_login(&mut browser, "rogue").await;
    rogue.sends_id_token(Some(
        rogue
            .key
            .assertion(&claims(started.nonce.as_deref().unwrap())),
    ));
    let answer = browser
        .get(&callback(
            "rogue",
            &[
                ("code", "c"),
                ("state", &started.state),
                ("iss", &rogue.url),
            ],
        ))
        .await;
    assert_eq!(answer.location(), "/ui/profile", "{}", answer.body);
}

#[tokio::test]
async fn a_github_style_upstream_signs_in_by_its_userinfo_with_pkce_and_basic_authentication() {
    let rogue = Rogue::start().await;
    let down = spawn_app().await;
    let authorize = format!("{}/authorize", rogue.url);
    let token = format!("{}/token", rogue.url);
    let userinfo = format!("{}/userinfo", rogue.url);
    upstreams(
        &down,
        &[
            "create",
            "--kind",
            "oauth2",
            "--id",
            "github",
            "--name",
            "GitHub",
            "--authorization-endpoint",
            &authorize,
            "--token-endpoint",
            &token,
            "--userinfo-endpoint",
            &userinfo,
            "--scopes",
            "read:user user:email",
            "--subject-claim",
            "id",
            "--username-claim",
            "login",
            "--client-id",
            "Iv1.abc",
        ],
    )
    .await;
    rogue.sends_id_token(None);
    rogue.sends_userinfo(json!({
        "id": 583231, "login": "octocat", "email": "octocat@github.example", "name": "The Octocat",
    }));
    let mut browser = Browser::new(&down);
    let login = browser.get("/ui/login").await;
    assert!(login.body.contains("Log in with GitHub"), "{}", login.body);
    let started = start_login(&mut browser, "github").await;
    assert_eq!(started.nonce, None, "no nonce without OpenID Connect");
    let answer = browser
        .get(&callback(
            "github",
            &[("code", "gh-code"), ("state", &started.state)],
        ))
        .await;
    assert_eq!(answer.location(), "/ui/profile", "{}", answer.body);

    // The code was redeemed with the PKCE verifier of the challenge sent, and the client
    // authenticated with HTTP Basic.
    let (form, authorization) = rogue.answers.lock().unwrap().token_requests[0].clone();
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap()
    };
    assert_eq!(field("code"), "gh-code");
    let verifier = field("code_verifier");
    let computed = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        <sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()),
    );
    assert_eq!(computed, started.challenge);
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "Iv1.abc:rogue+secret",
    );
    assert_eq!(
        authorization.as_deref(),
        Some(format!("Basic {basic}").as_str())
    );

    let row = down
        .db()
        .await
        .query_one(
            "SELECT users.username, users.email FROM federated_identities
             JOIN users ON users.id = user_id WHERE upstream_id = 'github' AND subject = '583231'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>("username"), "octocat");
    assert_eq!(row.get::<_, String>("email"), "octocat@github.example");
}
