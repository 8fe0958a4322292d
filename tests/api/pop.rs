//! The signed-nonce proof-of-possession scheme (seed 000): a registered RSA key signs
//! `nonce || token` on every call.

use aws_lc_rs::{
    rand::SystemRandom,
    rsa::{KeyPair, KeySize},
    signature::{KeyPair as _, RSA_PSS_SHA256},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::{RequestBuilder, Response};
use rsa::{
    RsaPublicKey,
    pkcs1::DecodeRsaPublicKey,
    pkcs8::{EncodePublicKey, LineEnding},
};
use serde_json::{Value, json};

use crate::helpers::{AppOptions, TestApp, spawn_app, spawn_app_with};

/// A user's RSA key pair, held by the test as a client would hold it.
pub struct UserKey(KeyPair);

impl UserKey {
    pub fn generate() -> Self {
        Self(KeyPair::generate(KeySize::Rsa2048).unwrap())
    }

    pub fn public_pem(&self) -> String {
        RsaPublicKey::from_pkcs1_der(self.0.public_key().as_ref())
            .unwrap()
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
    }

    /// `base64(RSA-PSS-SHA256(nonce || token))`.
    pub fn sign(&self, nonce: &str, token: &str) -> String {
        let mut signature = vec![0; self.0.public_modulus_len()];
        self.0
            .sign(
                &RSA_PSS_SHA256,
                &SystemRandom::new(),
                format!("{nonce}{token}").as_bytes(),
                &mut signature,
            )
            .unwrap();
        STANDARD.encode(signature)
    }
}

/// A PoP session as a client keeps it: the token and the nonce to sign next.
struct PopSession {
    token: String,
    nonce: String,
}

pub async fn register_with_key(app: &TestApp, username: &str, key: &UserKey) -> String {
    let response = app
        .post_json(
            "/register",
            json!({
                "username": username,
                "email": format!("{username}@example.com"),
                "public_key": key.public_pem(),
            }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["password"].as_str().unwrap().to_owned()
}

async fn pop_login(app: &TestApp, username: &str, password: &str) -> Response {
    app.post_json(
        "/pop/login",
        json!({"username": username, "password": password}),
    )
    .await
}

async fn start_session(app: &TestApp, username: &str, key: &UserKey) -> PopSession {
    let password = register_with_key(app, username, key).await;
    let response = pop_login(app, username, &password).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "PoP");
    assert_eq!(body["jwt"], body["token"], "the seed's name for the token");
    PopSession {
        token: body["token"].as_str().unwrap().to_owned(),
        nonce: body["nonce"].as_str().unwrap().to_owned(),
    }
}

/// `request` with PoP authorization: the token, the nonce signed and its signature.
fn with_pop(request: RequestBuilder, token: &str, nonce: &str, signature: &str) -> RequestBuilder {
    request
        .header("Authorization", format!("PoP {token}"))
        .header("PoP-Nonce", nonce)
        .header("PoP-Signature", signature)
}

fn next_nonce(response: &Response) -> String {
    response.headers()["PoP-Nonce"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn each_signed_call_works_once_and_brings_the_next_nonce() {
    let app = spawn_app().await;
    let key = UserKey::generate();
    let session = start_session(&app, "alice", &key).await;

    let signature = key.sign(&session.nonce, &session.token);
    let first = with_pop(
        app.client.get(app.url("/me")),
        &session.token,
        &session.nonce,
        &signature,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(first.status(), 200);
    let next = next_nonce(&first);
    let me: Value = first.json().await.unwrap();
    assert_eq!(me["username"], "alice");
    assert_eq!(me["claims"]["nonce"], session.nonce.as_str());
    assert_eq!(me["claims"]["cnf"]["jkt"].as_str().unwrap().len(), 43);

    // The captured request, replayed, is refused: its nonce is spent.
    let replay = with_pop(
        app.client.get(app.url("/me")),
        &session.token,
        &session.nonce,
        &signature,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(replay.status(), 401);
    assert!(
        replay.headers()["WWW-Authenticate"]
            .to_str()
            .unwrap()
            .starts_with("PoP ")
    );
    let body: Value = replay.json().await.unwrap();
    assert_eq!(body["error"], "invalid_proof");

    // The nonce authd handed out works, for the protected resource too.
    let put = with_pop(
        app.client.put(app.url("/api/profile")),
        &session.token,
        &next,
        &key.sign(&next, &session.token),
    )
    .json(&json!({"display_name": "Alice", "phone": "+1 555 0100"}))
    .send()
    .await
    .unwrap();
    assert_eq!(put.status(), 200);
    let next = next_nonce(&put);
    let get = with_pop(
        app.client.get(app.url("/api/profile")),
        &session.token,
        &next,
        &key.sign(&next, &session.token),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(get.status(), 200);
    let profile: Value = get.json().await.unwrap();
    assert_eq!(
        profile,
        json!({"display_name": "Alice", "phone": "+1 555 0100"})
    );
}

#[tokio::test]
async fn a_stolen_pop_token_opens_nothing_without_the_key() {
    let app = spawn_app().await;
    let key = UserKey::generate();
    let session = start_session(&app, "alice", &key).await;

    // As a plain bearer token.
    let bearer = app.me(&session.token).await;
    assert_eq!(bearer.status(), 401);
    let body: Value = bearer.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("bound to a key"));
    let profile = app
        .client
        .get(app.url("/api/profile"))
        .bearer_auth(&session.token)
        .send()
        .await
        .unwrap();
    assert_eq!(profile.status(), 401);

    // Signed by another key.
    let thief = UserKey::generate();
    let forged = with_pop(
        app.client.get(app.url("/me")),
        &session.token,
        &session.nonce,
        &thief.sign(&session.nonce, &session.token),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(forged.status(), 401);

    // Without a signature.
    let unsigned = app
        .client
        .get(app.url("/me"))
        .header("Authorization", format!("PoP {}", session.token))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);

    // A tampered token, even one signed by the right key, fails its own signature check.
    let tampered = tamper(&session.token);
    let tampered_call = with_pop(
        app.client.get(app.url("/me")),
        &tampered,
        &session.nonce,
        &key.sign(&session.nonce, &tampered),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(tampered_call.status(), 401);

    // None of this spent the owner's nonce.
    let owner = with_pop(
        app.client.get(app.url("/me")),
        &session.token,
        &session.nonce,
        &key.sign(&session.nonce, &session.token),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(owner.status(), 200);
}

#[tokio::test]
async fn the_seed_protected_endpoint_keeps_its_wire_format() {
    let app = spawn_app().await;
    let key = UserKey::generate();
    let session = start_session(&app, "alice", &key).await;
    let response = app
        .post_json(
            "/protected",
            json!({"jwt": session.token, "signed_message": key.sign(&session.nonce, &session.token)}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"], "Access granted");

    let missing = app
        .post_json("/protected", json!({"jwt": session.token}))
        .await;
    assert_eq!(missing.status(), 400);
    let body: Value = missing.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("signed_message"));
}

#[tokio::test]
async fn in_reuse_mode_one_nonce_serves_the_whole_token_life_as_in_the_seed() {
    let app = spawn_app_with(AppOptions {
        pop_nonce_reuse: true,
        ..AppOptions::default()
    })
    .await;
    let key = UserKey::generate();
    let session = start_session(&app, "alice", &key).await;
    let signature = key.sign(&session.nonce, &session.token);
    for _ in 0..3 {
        let response = app
            .post_json(
                "/protected",
                json!({"jwt": session.token, "signed_message": signature}),
            )
            .await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("PoP-Nonce").is_none());
    }
}

#[tokio::test]
async fn bad_public_keys_are_refused_with_400_and_nothing_is_written() {
    let app = spawn_app().await;
    let short = "-----BEGIN PUBLIC KEY-----\nMIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDGh245U6UVK4K4lhQb9UKlJlif\nogOq5glCvRyv58++P2N7mdJ5iZvUwekZQBtPa2vNOdfpX+l6X0RVFIExn0vYd8E8\n795cREOJet553O6i5oiXoGKO19VN6J9NK6Z21kQcRIB92a+RppTLesnVVKQ9VJeY\n0adG6oE4W2It/zHstwIDAQAB\n-----END PUBLIC KEY-----\n";
    let ec = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEY5jR72U09K9LhVTzo8M9bhtYw1Z8\nmFr7kZLnu/Met4Ki7ORcPdp7rdL7lpUkDoLT00uidc0wQ7rQzDRr8mvNfA==\n-----END PUBLIC KEY-----\n";
    for (public_key, expected) in [
        ("not a key", "not a valid PEM"),
        (short, "at least 2048 bits"),
        (ec, "not an RSA key"),
    ] {
        let response = app
            .post_json(
                "/register",
                json!({"username": "alice", "email": "alice@example.com", "public_key": public_key}),
            )
            .await;
        assert_eq!(response.status(), 400, "{public_key}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["field"], "public_key");
        assert!(
            body["message"].as_str().unwrap().contains(expected),
            "{body}"
        );
    }
    // No half-registered user was left behind.
    app.register("alice").await;
}

#[tokio::test]
async fn a_key_can_be_added_later_and_replacing_it_unbinds_old_tokens() {
    let app = spawn_app().await;
    let password = app.register("alice").await;
    let refused = pop_login(&app, "alice", &password).await;
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "pop_key_required");

    let bearer = app.login("alice", &password).await;
    let key = UserKey::generate();
    let put_key = |pem: String| {
        app.client
            .put(app.url("/me/public-key"))
            .bearer_auth(&bearer)
            .json(&json!({"public_key": pem, "password": password}))
            .send()
    };
    // ASVS 3.7.1: a token alone (perhaps a stolen one) cannot change the key.
    let first = UserKey::generate();
    let without = app
        .client
        .put(app.url("/me/public-key"))
        .bearer_auth(&bearer)
        .json(&json!({"public_key": first.public_pem()}))
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), 422);
    let body: Value = without.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("password"),
        "{body}"
    );
    let wrong = app
        .client
        .put(app.url("/me/public-key"))
        .bearer_auth(&bearer)
        .json(&json!({"public_key": first.public_pem(), "password": "not-the-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let response = put_key(key.public_pem()).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["jkt"].as_str().unwrap().len(), 43);

    let login: Value = pop_login(&app, "alice", &password)
        .await
        .json()
        .await
        .unwrap();
    let (token, nonce) = (
        login["token"].as_str().unwrap(),
        login["nonce"].as_str().unwrap(),
    );
    assert_eq!(body["jkt"], login_claims(token)["cnf"]["jkt"]);

    let replacement = UserKey::generate();
    assert_eq!(
        put_key(replacement.public_pem()).await.unwrap().status(),
        200
    );
    let stale = with_pop(
        app.client.get(app.url("/me")),
        token,
        nonce,
        &key.sign(nonce, token),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(stale.status(), 401);
    let body: Value = stale.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("replaced"));
}

#[tokio::test]
async fn a_python_client_written_like_the_seed_works_against_authd() {
    let app = spawn_app().await;
    // Async: the app under test serves on this same runtime thread.
    let output = tokio::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/seed_pop_client.py"
        ))
        .arg(&app.address)
        .output()
        .await
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "seed client failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The unverified claims of a token, to read what authd put in it.
fn login_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// `token` with one character of its payload changed.
pub fn tamper(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let payload = &mut parts[1];
    let replacement = if payload.starts_with('e') { "f" } else { "e" };
    payload.replace_range(0..1, replacement);
    parts.join(".")
}
