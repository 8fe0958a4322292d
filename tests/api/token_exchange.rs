//! Token exchange (RFC 8693) and resource indicators (RFC 8707): services trade a user's token
//! for a narrower one for the next hop, and every token names the resources it is for.
//!
//! The deployment every test here runs: a web app `web` signs users in (code flow) and asks
//! for tokens for service A; A (client `svc-a`) serves `https://a.test` and calls B; B
//! (`svc-b`) serves `https://b.test` and calls C. A partner identity provider's tokens are
//! trusted for A's exchanges.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    browser::Browser,
    code_flow::{REDIRECT_URI, pkce, register_client},
    dpop::{DpopKey, htu},
    helpers::{AppOptions, TestApp, spawn_app_with},
    tokens::claims_of,
};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
const A: &str = "https://a.test";
const B: &str = "https://b.test";
const C: &str = "https://c.test";
const LEDGER: &str = "https://ledger.test";
const PARTNER: &str = "https://partner.test";

/// Serves a JWK set over plain HTTP on a loopback port, as a trusted issuer's `jwks_uri`.
struct JwksServer {
    url: String,
}

impl JwksServer {
    async fn start(jwks: Value) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let served = Arc::new(Mutex::new(jwks));
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let body = served.lock().unwrap().to_string();
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = stream.read(&mut request).await;
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        Self { url }
    }
}

/// An app with the deployment above, its clients registered, and the partner's keys served.
struct Deployment {
    app: TestApp,
    web_secret: String,
    svc_a_secret: String,
    svc_b_secret: String,
    partner: DpopKey,
    _jwks: JwksServer,
}

fn trust_file(jwks_uri: &str) -> String {
    format!(
        r#"
        [[resource]]
        id = "{A}"
        clients = ["web"]
        served_by = "svc-a"

        [[resource]]
        id = "{B}"
        clients = ["svc-a"]
        served_by = "svc-b"

        [[resource]]
        id = "{C}"
        clients = ["svc-b"]

        [[resource]]
        id = "{LEDGER}"
        clients = ["svc-a"]

        [[issuer]]
        issuer = "{PARTNER}"
        jwks_uri = "{jwks_uri}"
        algorithms = ["ES256"]
        audience = "authd-exchange"
        user_match = "username"
        clients = ["svc-a"]

        [[exchange]]
        client_id = "svc-a"
        delegate = true

        [[exchange]]
        client_id = "svc-b"
        delegate = true
        impersonate = true
        "#
    )
}

fn service(app: &TestApp, id: &str) -> String {
    let created = register_client(
        app,
        &[
            "--client-id",
            id,
            "--name",
            id,
            "--scope",
            "orders:read orders:write",
            "--grant-type",
            "client_credentials",
            "--grant-type",
            EXCHANGE,
        ],
    );
    created["client_secret"].as_str().unwrap().to_owned()
}

async fn deployment() -> Deployment {
    let partner = DpopKey::generate();
    let jwks = JwksServer::start(partner.public_jwks()).await;
    let trust = authd::exchange::TrustFile::parse(&trust_file(&jwks.url)).unwrap();
    let app = spawn_app_with(AppOptions {
        trust: Some(trust),
        ..AppOptions::default()
    })
    .await;
    let web = register_client(
        &app,
        &[
            "--client-id",
            "web",
            "--name",
            "Web shop",
            "--redirect-uri",
            REDIRECT_URI,
            "--scope",
            "orders:read orders:write",
        ],
    );
    Deployment {
        web_secret: web["client_secret"].as_str().unwrap().to_owned(),
        svc_a_secret: service(&app, "svc-a"),
        svc_b_secret: service(&app, "svc-b"),
        app,
        partner,
        _jwks: jwks,
    }
}

impl Deployment {
    fn secret(&self, client_id: &str) -> &str {
        match client_id {
            "web" => &self.web_secret,
            "svc-a" => &self.svc_a_secret,
            "svc-b" => &self.svc_b_secret,
            other => panic!("no client {other}"),
        }
    }

    /// A form post to the token endpoint as `client_id`, authenticated with its secret.
    async fn token(&self, client_id: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.app
            .client
            .post(self.app.url("/oauth/token"))
            .basic_auth(client_id, Some(self.secret(client_id)))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// `client_id`'s own token (client credentials), for use as an actor token.
    async fn own_token(&self, client_id: &str) -> String {
        let response = self
            .token(client_id, &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Alice signs in to the web app, which asks for a token for service A; the token
    /// response.
    async fn alice_for_a(&self) -> Value {
        let mut browser = Browser::new(&self.app);
        browser.signed_in_as("alice").await;
        let (verifier, challenge) = pkce();
        let mut request = crate::code_flow::request("web", &challenge, "orders:read orders:write");
        request.push(("resource", A));
        let first = browser
            .get(&crate::code_flow::authorize_path(&request))
            .await;
        let code = crate::code_flow::answer_after(&mut browser, first).await["code"].clone();
        let response = self
            .token(
                "web",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT_URI),
                    ("code_verifier", &verifier),
                ],
            )
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// `client_id` exchanges `subject` with `extra` parameters; the response.
    async fn exchange(
        &self,
        client_id: &str,
        subject: &str,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", EXCHANGE),
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN),
        ];
        form.extend_from_slice(extra);
        self.token(client_id, &form).await
    }

    /// A delegating exchange by `client_id`, with its own token as the actor, for `target`.
    async fn delegate(&self, client_id: &str, subject: &str, target: &str) -> Value {
        let actor = self.own_token(client_id).await;
        let response = self
            .exchange(
                client_id,
                subject,
                &[
                    ("actor_token", &actor),
                    ("actor_token_type", ACCESS_TOKEN),
                    ("resource", target),
                ],
            )
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    async fn introspect(&self, client_id: &str, token: &str) -> Value {
        self.app
            .client
            .post(self.app.url("/oauth/introspect"))
            .basic_auth(client_id, Some(self.secret(client_id)))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A token of the partner identity provider about `username`, signed by `key`.
    fn partner_token(&self, key: &DpopKey, iss: &str, username: &str) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        key.assertion(&json!({
            "iss": iss,
            "sub": username,
            "aud": "authd-exchange",
            "iat": now,
            "exp": now + 300,
            "scope": "orders:read",
        }))
    }
}

async fn error_of(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn a_two_hop_delegation_nests_the_actors_and_narrows_each_token_to_its_target() {
    let d = deployment().await;
    let alice = d.alice_for_a().await;
    let for_a = alice["access_token"].as_str().unwrap();
    let claims = claims_of(for_a);
    assert_eq!(claims["aud"], A, "RFC 8707: the token names the resource");
    assert_eq!(claims["client_id"], "web");
    // A token for service A is not one for authd's own API.
    assert_eq!(d.app.me_status(for_a).await, 401);

    // Hop 1: A trades Alice's token for one to call B, as itself.
    let for_b = d.delegate("svc-a", for_a, B).await;
    assert_eq!(for_b["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(for_b["token_type"], "Bearer");
    assert!(
        for_b.get("refresh_token").is_none(),
        "an exchange never issues a refresh token"
    );
    let for_b = for_b["access_token"].as_str().unwrap();
    let hop1 = claims_of(for_b);
    assert_eq!(hop1["sub"], claims["sub"], "still Alice's token");
    assert_eq!(hop1["aud"], B);
    assert_eq!(hop1["client_id"], "svc-a");
    assert_eq!(hop1["act"], json!({ "sub": "svc-a" }));
    assert_eq!(hop1["scope"], "orders:read orders:write");
    assert!(hop1["exp"].as_i64() <= claims["exp"].as_i64());

    // Hop 2: B trades it for one to call C, narrowing the scope; the chain shows both.
    let actor = d.own_token("svc-b").await;
    let response = d
        .exchange(
            "svc-b",
            for_b,
            &[
                ("actor_token", &actor),
                ("actor_token_type", ACCESS_TOKEN),
                ("audience", C),
                ("scope", "orders:read"),
                ("requested_token_type", JWT),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    let for_c: Value = response.json().await.unwrap();
    assert_eq!(for_c["issued_token_type"], JWT);
    assert_eq!(for_c["scope"], "orders:read");
    let for_c = for_c["access_token"].as_str().unwrap();
    let hop2 = claims_of(for_c);
    assert_eq!(hop2["aud"], C);
    assert_eq!(
        hop2["act"],
        json!({ "sub": "svc-b", "act": { "sub": "svc-a" } })
    );

    // C's operator introspects it: active, for C, with the chain.
    let introspection = d.introspect("svc-b", for_c).await;
    assert_eq!(introspection["active"], true);
    assert_eq!(introspection["aud"], C);
    assert_eq!(introspection["act"], hop2["act"]);
    assert_eq!(introspection["username"], "alice");
}

#[tokio::test]
async fn impersonation_needs_the_clients_policy_and_keeps_the_earlier_actors() {
    let d = deployment().await;
    let alice = d.alice_for_a().await;
    let for_a = alice["access_token"].as_str().unwrap();
    // svc-a may delegate but not impersonate.
    let refused = d.exchange("svc-a", for_a, &[("resource", B)]).await;
    let (status, error, _) = error_of(refused).await;
    assert_eq!((status, error.as_str()), (400, "unauthorized_client"));

    // svc-b may: without an actor token, the token it gets hides no earlier actor.
    let for_b = d.delegate("svc-a", for_a, B).await;
    let response = d
        .exchange(
            "svc-b",
            for_b["access_token"].as_str().unwrap(),
            &[("resource", C)],
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(claims["act"], json!({ "sub": "svc-a" }));
    assert_eq!(claims["aud"], C);
}

#[tokio::test]
async fn an_exchange_cannot_widen_scope_reach_an_unknown_target_or_trade_anothers_token() {
    let d = deployment().await;
    let alice = d.alice_for_a().await;
    let for_a = alice["access_token"].as_str().unwrap();
    let actor = d.own_token("svc-a").await;
    let delegation = [
        ("actor_token", actor.as_str()),
        ("actor_token_type", ACCESS_TOKEN),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut form = delegation.to_vec();
        form.extend_from_slice(extra);
        form
    };

    let wider = d
        .exchange(
            "svc-a",
            for_a,
            &with(&[("resource", B), ("scope", "orders:read admin")]),
        )
        .await;
    let (status, error, _) = error_of(wider).await;
    assert_eq!((status, error.as_str()), (400, "invalid_scope"));

    for target in [
        ("audience", "https://nowhere.test"),
        // Registered, but not for svc-a to ask for.
        ("resource", C),
        // RFC 8707 §2: a resource is an absolute URI.
        ("resource", "b.test"),
    ] {
        let refused = d.exchange("svc-a", for_a, &with(&[target])).await;
        let (status, error, description) = error_of(refused).await;
        assert_eq!(
            (status, error.as_str()),
            (400, "invalid_target"),
            "{target:?}: {description}"
        );
    }

    // B does not serve A, and the token was not issued to it: it cannot trade it.
    let b_actor = d.own_token("svc-b").await;
    let stolen = d
        .exchange(
            "svc-b",
            for_a,
            &[
                ("actor_token", &b_actor),
                ("actor_token_type", ACCESS_TOKEN),
                ("resource", C),
            ],
        )
        .await;
    let (status, error, _) = error_of(stolen).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));

    // Another client's token as the actor: neither may_act nor svc-a's policy names it
    // (RFC 8693 §2.2.2: a token unacceptable by policy is invalid_request).
    let wrong_actor = d
        .exchange(
            "svc-a",
            for_a,
            &[
                ("actor_token", &b_actor),
                ("actor_token_type", ACCESS_TOKEN),
                ("resource", B),
            ],
        )
        .await;
    let (status, error, description) = error_of(wrong_actor).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));
    assert!(description.contains("may_act"), "{description}");

    // Malformed requests are invalid_request, and a client without the grant is refused.
    let no_type = d
        .token(
            "svc-a",
            &[("grant_type", EXCHANGE), ("subject_token", for_a)],
        )
        .await;
    let (status, error, _) = error_of(no_type).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));
    let half_actor = d
        .exchange("svc-a", for_a, &[("actor_token", &actor), ("resource", B)])
        .await;
    let (status, error, _) = error_of(half_actor).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));
    let web = d.exchange("web", for_a, &[("resource", A)]).await;
    let (status, error, _) = error_of(web).await;
    assert_eq!((status, error.as_str()), (400, "unauthorized_client"));
    let garbage = d.exchange("svc-a", "not.a.token", &with(&[])).await;
    let (status, error, _) = error_of(garbage).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));
}

#[tokio::test]
async fn a_trusted_issuers_token_is_exchanged_for_the_user_it_names_and_forgeries_are_not() {
    let d = deployment().await;
    let mut browser = Browser::new(&d.app);
    browser.signed_in_as("alice").await;
    let alice_id = claims_of(&browser.access_token())["sub"].clone();
    let actor = d.own_token("svc-a").await;
    let exchange = |subject: String| {
        let actor = actor.clone();
        let d = &d;
        async move {
            d.token(
                "svc-a",
                &[
                    ("grant_type", EXCHANGE),
                    ("subject_token", &subject),
                    ("subject_token_type", JWT),
                    ("actor_token", &actor),
                    ("actor_token_type", ACCESS_TOKEN),
                    ("resource", B),
                ],
            )
            .await
        }
    };

    let accepted = exchange(d.partner_token(&d.partner, PARTNER, "alice")).await;
    assert_eq!(accepted.status(), 200);
    let body: Value = accepted.json().await.unwrap();
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(
        claims["sub"], alice_id,
        "mapped to the authd user by username"
    );
    assert_eq!(claims["username"], "alice");
    assert_eq!(claims["scope"], "orders:read");
    assert_eq!(claims["aud"], B);
    assert!(claims.get("sid").is_none());

    // Signed by another key under the partner's kid: refused.
    let forger = DpopKey::generate();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let forged = forger.assertion_with_kid(
        &d.partner.thumbprint(),
        &json!({
            "iss": PARTNER, "sub": "alice", "aud": "authd-exchange",
            "iat": now, "exp": now + 300, "scope": "orders:read",
        }),
    );
    let (status, error, _) = error_of(exchange(forged).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));

    // An issuer nobody configured: not trusted, whatever it signs.
    let (status, error, _) =
        error_of(exchange(d.partner_token(&forger, "https://evil.test", "alice")).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));

    // A user authd does not know.
    let (status, error, _) =
        error_of(exchange(d.partner_token(&d.partner, PARTNER, "mallory")).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));

    // svc-b is not among the clients that may present the partner's tokens.
    let b_actor = d.own_token("svc-b").await;
    let response = d
        .token(
            "svc-b",
            &[
                ("grant_type", EXCHANGE),
                (
                    "subject_token",
                    &d.partner_token(&d.partner, PARTNER, "alice"),
                ),
                ("subject_token_type", JWT),
                ("actor_token", &b_actor),
                ("actor_token_type", ACCESS_TOKEN),
            ],
        )
        .await;
    let (status, error, _) = error_of(response).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));
}

#[tokio::test]
async fn a_subject_tokens_may_act_lets_the_actor_it_names_and_no_other() {
    // svc-a presents a partner token whose may_act names svc-b: svc-b's own token may be the
    // actor, though svc-a's policy lets only svc-a itself act.
    let d = deployment().await;
    let mut browser = Browser::new(&d.app);
    browser.signed_in_as("alice").await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let may_act = |who: &str| {
        d.partner.assertion(&json!({
            "iss": PARTNER, "sub": "alice", "aud": "authd-exchange",
            "iat": now, "exp": now + 300, "scope": "orders:read",
            "may_act": { "sub": who },
        }))
    };
    let b_actor = d.own_token("svc-b").await;
    let exchange = |subject: String| {
        let b_actor = b_actor.clone();
        let d = &d;
        async move {
            d.token(
                "svc-a",
                &[
                    ("grant_type", EXCHANGE),
                    ("subject_token", &subject),
                    ("subject_token_type", JWT),
                    ("actor_token", &b_actor),
                    ("actor_token_type", ACCESS_TOKEN),
                    ("resource", B),
                ],
            )
            .await
        }
    };
    let named = exchange(may_act("svc-b")).await;
    assert_eq!(named.status(), 200);
    let body: Value = named.json().await.unwrap();
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(claims["act"], json!({ "sub": "svc-b" }));

    let (status, error, description) = error_of(exchange(may_act("svc-x")).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));
    assert!(description.starts_with("actor_token:"), "{description}");
}

#[tokio::test]
async fn revoking_the_session_a_subject_token_came_from_revokes_what_was_exchanged_from_it() {
    let d = deployment().await;
    let alice = d.alice_for_a().await;
    let for_a = alice["access_token"].as_str().unwrap();
    let for_b = d.delegate("svc-a", for_a, B).await;
    let for_b = for_b["access_token"].as_str().unwrap();
    let for_c = d.delegate("svc-b", for_b, C).await;
    let for_c = for_c["access_token"].as_str().unwrap();
    assert_eq!(claims_of(for_c)["sid"], claims_of(for_a)["sid"]);
    assert_eq!(d.introspect("svc-b", for_c).await["active"], true);

    // The web app signs Alice out: it revokes its refresh token (RFC 7009).
    let revoked = d
        .app
        .client
        .post(d.app.url("/oauth/revoke"))
        .basic_auth("web", Some(&d.web_secret))
        .form(&[("token", alice["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    for token in [for_a, for_b, for_c] {
        assert_eq!(
            d.introspect("svc-b", token).await,
            json!({ "active": false })
        );
    }
    // And an exchanged token cannot be traded again.
    let again = d.exchange("svc-b", for_b, &[("resource", C)]).await;
    let (status, error, description) = error_of(again).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));
    assert!(description.contains("revoked"), "{description}");
}

#[tokio::test]
async fn a_dpop_proof_binds_the_exchanged_token_to_the_callers_key() {
    let d = deployment().await;
    let alice = d.alice_for_a().await;
    let for_a = alice["access_token"].as_str().unwrap();
    let actor = d.own_token("svc-a").await;
    let key = DpopKey::generate();
    let proof = key.proof("POST", &htu(&d.app, "/oauth/token"), None, None);
    let response = d
        .app
        .client
        .post(d.app.url("/oauth/token"))
        .basic_auth("svc-a", Some(&d.svc_a_secret))
        .header("DPoP", proof)
        .form(&[
            ("grant_type", EXCHANGE),
            ("subject_token", for_a),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token", &actor),
            ("actor_token_type", ACCESS_TOKEN),
            ("audience", crate::helpers::AUDIENCE),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP", "{body}");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(claims_of(token)["cnf"]["jkt"], key.thumbprint());
    // For authd's own API, and only with a proof by that key.
    assert_eq!(d.app.me_status(token).await, 401);
    let me = d
        .app
        .client
        .get(d.app.url("/me"))
        .header("Authorization", format!("DPoP {token}"))
        .header(
            "DPoP",
            key.proof("GET", &htu(&d.app, "/me"), Some(token), None),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
}

#[tokio::test]
async fn resources_select_the_audience_of_client_and_code_flow_tokens() {
    let d = deployment().await;
    // client_credentials: a registered resource the client may ask for, several at once.
    let response = d
        .token(
            "svc-a",
            &[("grant_type", "client_credentials"), ("resource", B)],
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(claims_of(body["access_token"].as_str().unwrap())["aud"], B);
    let both = d
        .token(
            "svc-a",
            &[
                ("grant_type", "client_credentials"),
                ("resource", B),
                ("resource", LEDGER),
            ],
        )
        .await;
    let body: Value = both.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(claims_of(token)["aud"], json!([B, LEDGER]));
    let introspection = d.introspect("svc-a", token).await;
    assert_eq!(introspection["aud"], json!([B, LEDGER]));
    let refused = d
        .token(
            "svc-a",
            &[("grant_type", "client_credentials"), ("resource", C)],
        )
        .await;
    let (status, error, _) = error_of(refused).await;
    assert_eq!((status, error.as_str()), (400, "invalid_target"));

    // The legacy password grant has no client to allow a resource: it says so.
    let password = d.app.register("carol").await;
    let legacy = d
        .app
        .client
        .post(d.app.url("/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "carol"),
            ("password", &password),
            ("resource", A),
        ])
        .send()
        .await
        .unwrap();
    let (status, error, _) = error_of(legacy).await;
    assert_eq!((status, error.as_str()), (400, "invalid_target"));
    // An empty value is no resource (Swagger UI sends one for an empty list).
    let empty = d
        .app
        .client
        .post(d.app.url("/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "carol"),
            ("password", &password),
            ("resource", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 200);

    // The code flow: the session keeps A; a refresh may ask for it, not for more.
    let alice = d.alice_for_a().await;
    let refresh = |token: String, resource: &'static str| {
        let d = &d;
        async move {
            d.token(
                "web",
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &token),
                    ("resource", resource),
                ],
            )
            .await
        }
    };
    let wider = refresh(alice["refresh_token"].as_str().unwrap().to_owned(), "authd").await;
    let (status, error, _) = error_of(wider).await;
    assert_eq!((status, error.as_str()), (400, "invalid_target"));
    // The refused refresh left the refresh token usable.
    let again = refresh(alice["refresh_token"].as_str().unwrap().to_owned(), A).await;
    assert_eq!(again.status(), 200);
    let body: Value = again.json().await.unwrap();
    assert_eq!(claims_of(body["access_token"].as_str().unwrap())["aud"], A);

    // An authorization request for a resource the client may not ask for.
    let mut browser = Browser::new(&d.app);
    browser.signed_in_as("bob").await;
    let (_, challenge) = pkce();
    let mut request = crate::code_flow::request("web", &challenge, "orders:read");
    request.push(("resource", B));
    let page = browser
        .get(&crate::code_flow::authorize_path(&request))
        .await;
    let answer = crate::code_flow::client_answer(&page).unwrap();
    assert_eq!(answer["error"], "invalid_target");
}

#[tokio::test]
async fn the_metadata_lists_the_token_exchange_grant() {
    let d = deployment().await;
    let metadata: Value = d
        .app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    let grants = metadata["grant_types_supported"].as_array().unwrap();
    assert!(grants.contains(&json!(EXCHANGE)), "{grants:?}");
}

#[tokio::test]
async fn a_third_party_client_delegates_twice_and_pyjwt_verifies_the_result() {
    // requests-oauth2client (PyPI) speaks RFC 8693; PyJWT checks what it ends up with.
    let d = deployment().await;
    let alice = d.alice_for_a().await;
    let for_a = alice["access_token"].as_str().unwrap();
    let user_id = claims_of(for_a)["sub"].as_str().unwrap().to_owned();
    // Async: the app under test serves on this same runtime thread.
    let output = tokio::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/token_exchange_client.py"
        ))
        .args([
            &d.app.address,
            crate::helpers::ISSUER,
            &d.svc_a_secret,
            &d.svc_b_secret,
            for_a,
            &user_id,
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
