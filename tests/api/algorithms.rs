//! `AUTHD_SIGNING_ALG`: ES256 and EdDSA keys, published with the right kty and crv, and verified
//! by independent libraries.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
use serde_json::Value;

use crate::{
    helpers::{AUDIENCE, AppOptions, ISSUER, spawn_app_with},
    jwks::pyjwt_verify,
};

async fn check(algorithm: Algorithm, alg: &str, kty: &str, crv: &str) {
    let app = spawn_app_with(AppOptions {
        signing_algorithm: algorithm,
        ..AppOptions::default()
    })
    .await;
    let password = app.register("alice").await;
    let token = app.login("alice", &password).await;
    assert_eq!(decode_header(&token).unwrap().alg, algorithm);

    let jwks = app.jwks().await;
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["alg"].as_str(),
            key["kty"].as_str(),
            key["crv"].as_str()
        ),
        (Some(alg), Some(kty), Some(crv))
    );
    assert!(key.get("n").is_none() && key.get("d").is_none(), "{key}");

    let set: JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let decoding = DecodingKey::from_jwk(&set.keys[0]).unwrap();
    let mut validation = Validation::new(algorithm);
    validation.set_audience(&[AUDIENCE]);
    validation.set_issuer(&[ISSUER]);
    let claims = decode::<Value>(&token, &decoding, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["username"], "alice");

    let verified = pyjwt_verify(&token, &jwks, alg);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );

    let me = app.me(&token).await;
    assert_eq!(me.status(), 200);
    let metadata: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["access_token_signing_alg_values_supported"],
        serde_json::json!([alg])
    );
}

#[tokio::test]
async fn es256_keys_sign_and_verify() {
    check(Algorithm::ES256, "ES256", "EC", "P-256").await;
}

#[tokio::test]
async fn eddsa_keys_sign_and_verify() {
    check(Algorithm::EdDSA, "EdDSA", "OKP", "Ed25519").await;
}
