//! `GET /.well-known/jwks.json`, and tokens verifying against it in third-party libraries.

use std::process::Command;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
use serde_json::Value;

use crate::helpers::{AUDIENCE, ISSUER, TestApp, spawn_app};

async fn token_and_jwks(app: &TestApp) -> (String, Value) {
    let password = app.register("alice").await;
    (app.login("alice", &password).await, app.jwks().await)
}

#[tokio::test]
async fn the_jwks_lists_the_signing_key_as_an_rsa_public_key() {
    let app = spawn_app().await;
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status(), 200);
    let cache = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cache.contains("max-age="), "{cache}");
    let jwks: Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["e"], "AQAB");
    assert!(key["kid"].as_str().unwrap().len() >= 32);
    // A 2048-bit modulus is 256 bytes: 342 base64url characters.
    assert_eq!(key["n"].as_str().unwrap().len(), 342);
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(
            key.get(private).is_none(),
            "private parameter {private} published"
        );
    }
}

#[tokio::test]
async fn a_token_verifies_with_its_published_key_and_not_once_tampered() {
    let app = spawn_app().await;
    let (token, jwks) = token_and_jwks(&app).await;
    let header = decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));

    let set: JwkSet = serde_json::from_value(jwks).unwrap();
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("kid is published");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[AUDIENCE]);
    validation.set_issuer(&[ISSUER]);
    let data = decode::<Value>(&token, &key, &validation).unwrap();
    assert_eq!(data.claims["username"], "alice");

    let tampered = tamper_payload(&token);
    assert!(decode::<Value>(&tampered, &key, &validation).is_err());
}

/// Replaces the username in the payload, keeping the original signature.
fn tamper_payload(token: &str) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["username"] = "mallory".into();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

/// PyJWT, an independent implementation, verifies the token against the JWKS alone.
const PYJWT_VERIFY: &str = r#"
import json, sys, jwt
token, jwks, audience, issuer, alg = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
kid = jwt.get_unverified_header(token)["kid"]
key = jwt.PyJWKSet.from_dict(jwks)[kid]
claims = jwt.decode(token, key.key, algorithms=[alg], audience=audience, issuer=issuer)
print(json.dumps(claims))
"#;

pub fn pyjwt_verify(token: &str, jwks: &Value, alg: &str) -> std::process::Output {
    let output = Command::new("python3")
        .args([
            "-c",
            PYJWT_VERIFY,
            token,
            &jwks.to_string(),
            AUDIENCE,
            ISSUER,
            alg,
        ])
        .output()
        .expect("python3 runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "PyJWT is missing: pip install -r tests/requirements.txt\n{stderr}"
    );
    output
}

#[tokio::test]
async fn pyjwt_verifies_a_token_against_the_jwks_and_rejects_a_tampered_one() {
    let app = spawn_app().await;
    let (token, jwks) = token_and_jwks(&app).await;

    let verified = pyjwt_verify(&token, &jwks, "RS256");
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let claims: Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!(claims["username"], "alice");

    let tampered = pyjwt_verify(&tamper_payload(&token), &jwks, "RS256");
    assert!(!tampered.status.success());
    assert!(String::from_utf8_lossy(&tampered.stderr).contains("InvalidSignatureError"));
}
