//! DPoP (RFC 9449): tokens bound to the client's key, proofs on every call.

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, jwk::Jwk};
use reqwest::Response;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::helpers::{AppOptions, TestApp, spawn_app, spawn_app_with};

/// A client's DPoP key pair.
pub struct DpopKey {
    encoding: EncodingKey,
    jwk: Jwk,
    alg: Algorithm,
}

impl DpopKey {
    /// An ES256 key, the most common choice.
    pub fn generate() -> Self {
        Self::generate_for(Algorithm::ES256)
    }

    pub fn generate_for(alg: Algorithm) -> Self {
        let rng = SystemRandom::new();
        let encoding = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_der(
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .unwrap()
                    .as_ref(),
            ),
            Algorithm::EdDSA => {
                EncodingKey::from_ed_der(Ed25519KeyPair::generate_pkcs8v1(&rng).unwrap().as_ref())
            }
            Algorithm::RS256 | Algorithm::PS256 => {
                use rsa::pkcs1::EncodeRsaPrivateKey;
                let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
                EncodingKey::from_rsa_der(private.to_pkcs1_der().unwrap().as_bytes())
            }
            other => panic!("{other:?} is not a DPoP algorithm"),
        };
        let jwk = Jwk::from_encoding_key(&encoding, alg).unwrap();
        Self { encoding, jwk, alg }
    }

    /// The RFC 7638 SHA-256 thumbprint of the public key (what `dpop_jkt` and `cnf.jkt` name).
    pub fn thumbprint(&self) -> String {
        self.jwk
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap()
    }

    /// The public key as a JWK set, its `kid` the thumbprint: what a `private_key_jwt` client
    /// registers.
    pub fn public_jwks(&self) -> Value {
        let mut jwk = serde_json::to_value(&self.jwk).unwrap();
        jwk["kid"] = json!(self.thumbprint());
        json!({ "keys": [jwk] })
    }

    /// A JWT with `claims`, its header naming the key by `kid` (a client assertion, RFC 7523).
    pub fn assertion(&self, claims: &Value) -> String {
        self.assertion_with_kid(&self.thumbprint(), claims)
    }

    /// A JWT with `claims` signed by this key, its header naming `kid` (which may be another
    /// key's: a forgery).
    pub fn assertion_with_kid(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(kid.to_owned());
        encode(&header, claims, &self.encoding).unwrap()
    }

    /// A proof for `method` `url`, bound to `token` if given, carrying `nonce` if given.
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        let mut claims = json!({
            "jti": Uuid::new_v4().to_string(),
            "htm": method,
            "htu": url,
            "iat": time::OffsetDateTime::now_utc().unix_timestamp(),
        });
        if let Some(token) = token {
            claims["ath"] = json!(URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        self.sign(&claims)
    }

    /// A proof with exactly these claims.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.typ = Some("dpop+jwt".to_owned());
        header.jwk = Some(self.jwk.clone());
        encode(&header, claims, &self.encoding).unwrap()
    }
}

/// The URL a proof names for `path`: the app's public URL, as clients reach it.
pub fn htu(app: &TestApp, path: &str) -> String {
    format!("{}{path}", app.options.public_url.as_deref().unwrap())
}

/// The password grant with a DPoP proof.
pub async fn dpop_token_with(
    app: &TestApp,
    username: &str,
    password: &str,
    proof: &str,
) -> Response {
    app.client
        .post(app.url("/oauth/token"))
        .header("DPoP", proof)
        .form(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

/// Registers `username` and returns a DPoP-bound token response body for it.
pub async fn bound_session(app: &TestApp, username: &str, key: &DpopKey) -> Value {
    let password = app.register(username).await;
    let proof = key.proof("POST", &htu(app, "/oauth/token"), None, None);
    let response = dpop_token_with(app, username, &password, &proof).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn get_with_dpop(app: &TestApp, path: &str, token: &str, proof: &str) -> Response {
    app.client
        .get(app.url(path))
        .header("Authorization", format!("DPoP {token}"))
        .header("DPoP", proof)
        .send()
        .await
        .unwrap()
}

fn challenge(response: &Response) -> String {
    response.headers()["WWW-Authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_dpop_bound_token_works_with_a_fresh_proof_per_call() {
    let app = spawn_app().await;
    let key = DpopKey::generate();
    let body = bound_session(&app, "alice", &key).await;
    assert_eq!(body["token_type"], "DPoP");
    let token = body["access_token"].as_str().unwrap();

    for _ in 0..2 {
        let proof = key.proof("GET", &htu(&app, "/me"), Some(token), None);
        let response = get_with_dpop(&app, "/me", token, &proof).await;
        assert_eq!(response.status(), 200);
        let me: Value = response.json().await.unwrap();
        assert_eq!(me["username"], "alice");
        assert_eq!(
            me["claims"]["cnf"]["jkt"],
            key.jwk
                .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
                .unwrap()
        );
    }
    let proof = key.proof("GET", &htu(&app, "/api/profile"), Some(token), None);
    assert_eq!(
        get_with_dpop(&app, "/api/profile", token, &proof)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn every_advertised_proof_algorithm_works() {
    let app = spawn_app().await;
    for (n, alg) in [Algorithm::EdDSA, Algorithm::PS256, Algorithm::RS256]
        .into_iter()
        .enumerate()
    {
        let key = DpopKey::generate_for(alg);
        let body = bound_session(&app, &format!("user{n}"), &key).await;
        let token = body["access_token"].as_str().unwrap();
        let proof = key.proof("GET", &htu(&app, "/me"), Some(token), None);
        assert_eq!(
            get_with_dpop(&app, "/me", token, &proof).await.status(),
            200,
            "{alg:?}"
        );
    }
}

#[tokio::test]
async fn proofs_that_do_not_fit_the_request_are_refused() {
    let app = spawn_app().await;
    let key = DpopKey::generate();
    let body = bound_session(&app, "alice", &key).await;
    let token = body["access_token"].as_str().unwrap();
    let me = htu(&app, "/me");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let ath = URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()));
    let claims = |htm: &str, htu: &str, iat: i64, ath: Option<&str>| {
        let mut claims =
            json!({"jti": Uuid::new_v4().to_string(), "htm": htm, "htu": htu, "iat": iat});
        if let Some(ath) = ath {
            claims["ath"] = json!(ath);
        }
        claims
    };
    let cases = [
        (
            "another method",
            key.sign(&claims("POST", &me, now, Some(&ath))),
        ),
        (
            "another URL",
            key.sign(&claims("GET", &htu(&app, "/logout"), now, Some(&ath))),
        ),
        (
            "another origin",
            key.sign(&claims("GET", "https://evil.example/me", now, Some(&ath))),
        ),
        (
            "a stale iat",
            key.sign(&claims("GET", &me, now - 600, Some(&ath))),
        ),
        (
            "an iat in the future",
            key.sign(&claims("GET", &me, now + 600, Some(&ath))),
        ),
        ("no ath", key.sign(&claims("GET", &me, now, None))),
        (
            "the ath of another token",
            key.sign(&claims("GET", &me, now, Some("AAAA"))),
        ),
        (
            "another key",
            DpopKey::generate().proof("GET", &me, Some(token), None),
        ),
        ("garbage", "not.a.proof".to_owned()),
    ];
    for (case, proof) in cases {
        let response = get_with_dpop(&app, "/me", token, &proof).await;
        assert_eq!(response.status(), 401, "{case}");
        assert!(
            challenge(&response).starts_with("DPoP "),
            "{case}: {}",
            challenge(&response)
        );
    }
    // A query string and default port do not change the URL a proof names (RFC 9449 §4.3).
    let with_query = key.proof("GET", &format!("{me}?x=1#frag"), Some(token), None);
    assert_eq!(
        get_with_dpop(&app, "/me", token, &with_query)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_proof_works_once() {
    let app = spawn_app().await;
    let key = DpopKey::generate();
    let body = bound_session(&app, "alice", &key).await;
    let token = body["access_token"].as_str().unwrap();
    let proof = key.proof("GET", &htu(&app, "/me"), Some(token), None);
    assert_eq!(
        get_with_dpop(&app, "/me", token, &proof).await.status(),
        200
    );
    let replay = get_with_dpop(&app, "/me", token, &proof).await;
    assert_eq!(replay.status(), 401);
    assert!(challenge(&replay).contains(r#"error="invalid_dpop_proof""#));
}

#[tokio::test]
async fn replicas_share_the_replay_guard() {
    let app = spawn_app().await;
    let sibling = app.spawn_sibling().await;
    let key = DpopKey::generate();
    let body = bound_session(&app, "alice", &key).await;
    let token = body["access_token"].as_str().unwrap();
    let proof = key.proof("GET", &htu(&app, "/me"), Some(token), None);
    assert_eq!(
        get_with_dpop(&app, "/me", token, &proof).await.status(),
        200
    );
    assert_eq!(
        get_with_dpop(&sibling, "/me", token, &proof).await.status(),
        401
    );
}

#[tokio::test]
async fn a_bound_token_is_refused_as_bearer_and_a_tampered_one_anyhow() {
    let app = spawn_app().await;
    let key = DpopKey::generate();
    let body = bound_session(&app, "alice", &key).await;
    let token = body["access_token"].as_str().unwrap();

    let bearer = app.me(token).await;
    assert_eq!(bearer.status(), 401);
    assert!(challenge(&bearer).contains("bound to a key"));

    let tampered = crate::pop::tamper(token);
    let proof = key.proof("GET", &htu(&app, "/me"), Some(&tampered), None);
    let response = get_with_dpop(&app, "/me", &tampered, &proof).await;
    assert_eq!(response.status(), 401);
    assert!(
        challenge(&response)
            .starts_with(r#"DPoP algs="ES256 PS256 RS256 EdDSA", error="invalid_token""#),
        "{}",
        challenge(&response)
    );

    // And an unbound token cannot pose as a DPoP one.
    let password = app.register("bob").await;
    let plain = app.login("bob", &password).await;
    let proof = key.proof("GET", &htu(&app, "/me"), Some(&plain), None);
    assert_eq!(
        get_with_dpop(&app, "/me", &plain, &proof).await.status(),
        401
    );
}

#[tokio::test]
async fn the_token_endpoint_refuses_unusable_proofs() {
    let app = spawn_app().await;
    let password = app.register("alice").await;
    let key = DpopKey::generate();
    let url = htu(&app, "/oauth/token");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({"jti": "1", "htm": "POST", "htu": url, "iat": now});

    // A private key in the header.
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("dpop+jwt".to_owned());
    header.jwk = Some(key.jwk.clone());
    let mut leaky_header = serde_json::to_value(&header).unwrap();
    leaky_header["jwk"]["d"] = json!("c2VjcmV0");
    let leaky = resign(&leaky_header, &claims, &key);
    // HS256 with a guessable secret, and `none`.
    let mut hs = Header::new(Algorithm::HS256);
    hs.typ = Some("dpop+jwt".to_owned());
    let symmetric = encode(&hs, &claims, &EncodingKey::from_secret(b"secret")).unwrap();
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"dpop+jwt"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    // The wrong typ.
    let mut jwt_typ = header.clone();
    jwt_typ.typ = Some("JWT".to_owned());
    let wrong_typ = encode(&jwt_typ, &claims, &key.encoding).unwrap();

    for (case, proof) in [
        ("private key material", leaky),
        ("HS256", symmetric),
        ("alg none", none),
        ("typ JWT", wrong_typ),
    ] {
        let response = dpop_token_with(&app, "alice", &password, &proof).await;
        assert_eq!(response.status(), 400, "{case}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_dpop_proof", "{case}");
    }
    let two = app
        .client
        .post(app.url("/oauth/token"))
        .header("DPoP", key.proof("POST", &url, None, None))
        .header("DPoP", key.proof("POST", &url, None, None))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", &password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(two.status(), 400, "two proofs");
}

/// A JWS of `header` and `claims` signed by `key`, for headers jsonwebtoken would not write.
fn resign(header: &Value, claims: &Value, key: &DpopKey) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature =
        jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key.encoding, Algorithm::ES256)
            .unwrap();
    format!("{signing_input}.{signature}")
}

#[tokio::test]
async fn a_bound_refresh_token_needs_a_proof_by_the_same_key() {
    let app = spawn_app().await;
    let key = DpopKey::generate();
    let body = bound_session(&app, "alice", &key).await;
    let refresh_token = body["refresh_token"].as_str().unwrap();
    let url = htu(&app, "/oauth/token");
    let refresh = |proof: Option<String>| {
        let mut request = app.client.post(app.url("/oauth/token")).form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ]);
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        request.send()
    };
    let without = refresh(None).await.unwrap();
    assert_eq!(without.status(), 400);
    let body: Value = without.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    let other_key = refresh(Some(DpopKey::generate().proof("POST", &url, None, None)))
        .await
        .unwrap();
    assert_eq!(other_key.status(), 400);

    // The failed attempts did not spend the token.
    let ok = refresh(Some(key.proof("POST", &url, None, None)))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
}

#[tokio::test]
async fn server_nonces_are_demanded_handed_out_and_shared_by_replicas() {
    let app = spawn_app_with(AppOptions {
        dpop_nonce: true,
        ..AppOptions::default()
    })
    .await;
    let sibling = app.spawn_sibling().await;
    let password = app.register("alice").await;
    let key = DpopKey::generate();
    let url = htu(&app, "/oauth/token");

    let first = dpop_token_with(
        &app,
        "alice",
        &password,
        &key.proof("POST", &url, None, None),
    )
    .await;
    assert_eq!(first.status(), 400);
    let nonce = first.headers()["DPoP-Nonce"].to_str().unwrap().to_owned();
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["error"], "use_dpop_nonce");

    // The nonce one replica handed out works on the other.
    let second = dpop_token_with(
        &sibling,
        "alice",
        &password,
        &key.proof("POST", &url, None, Some(&nonce)),
    )
    .await;
    assert_eq!(second.status(), 200);
    let body: Value = second.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();

    // The resource side challenges the same way (RFC 9449 §9).
    let me = htu(&app, "/me");
    let challenged = get_with_dpop(
        &app,
        "/me",
        token,
        &key.proof("GET", &me, Some(token), None),
    )
    .await;
    assert_eq!(challenged.status(), 401);
    assert!(challenge(&challenged).contains(r#"error="use_dpop_nonce""#));
    let nonce = challenged.headers()["DPoP-Nonce"]
        .to_str()
        .unwrap()
        .to_owned();
    let answered = get_with_dpop(
        &app,
        "/me",
        token,
        &key.proof("GET", &me, Some(token), Some(&nonce)),
    )
    .await;
    assert_eq!(answered.status(), 200);
}

#[tokio::test]
async fn client_credentials_tokens_can_be_bound_and_introspection_shows_the_binding() {
    let app = spawn_app().await;
    let (client_id, secret) = crate::clients::create_client(&app, "read");
    let key = DpopKey::generate();
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&client_id, Some(&secret))
        .header(
            "DPoP",
            key.proof("POST", &htu(&app, "/oauth/token"), None, None),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let introspection: Value = app
        .client
        .post(app.url("/oauth/introspect"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("token", body["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspection["active"], true);
    assert_eq!(introspection["token_type"], "DPoP");
    assert_eq!(
        introspection["cnf"]["jkt"],
        key.jwk
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap()
    );
}

#[tokio::test]
async fn metadata_lists_the_dpop_algorithms() {
    let app = spawn_app().await;
    let metadata: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["dpop_signing_alg_values_supported"],
        json!(["ES256", "PS256", "RS256", "EdDSA"])
    );
}

#[tokio::test]
async fn a_third_party_dpop_client_interoperates() {
    // requests-oauth2client (PyPI) implements DPoP, including server nonces; run it against a
    // replica that demands them.
    let app = spawn_app_with(AppOptions {
        dpop_nonce: true,
        ..AppOptions::default()
    })
    .await;
    let password = app.register("alice").await;
    // Async: the app under test serves on this same runtime thread.
    let output = tokio::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/dpop_client.py"
        ))
        .args([&app.address, "alice", &password])
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
