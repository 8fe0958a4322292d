//! Independent relying parties against a live authd: requests-oauth2client (PyPI) discovers
//! authd from its issuer alone, runs the code flow and validates the ID token itself; PyJWT
//! verifies the ID token against the JWKS, once for each signing algorithm; Authlib (PyPI)
//! runs the code flow on its own defaults (a nonce instead of PKCE, `offline_access`, hour-long
//! client assertions).

use jsonwebtoken::Algorithm;

use crate::{
    code_flow::register_client,
    helpers::{AppOptions, ISSUER, spawn_app_with},
};

#[tokio::test]
async fn a_certified_style_relying_party_logs_in_with_nothing_but_the_issuer() {
    for algorithm in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let app = spawn_app_with(AppOptions {
            signing_algorithm: algorithm,
            ..AppOptions::default()
        })
        .await;
        let password = app.register("alice").await;
        let redirect_uri = "http://127.0.0.1:9/callback";
        let client = register_client(
            &app,
            &[
                "--name",
                "Notes",
                "--redirect-uri",
                redirect_uri,
                "--post-logout-redirect-uri",
                "http://127.0.0.1:9/signed-out",
                "--scope",
                "notes:read",
            ],
        );
        let output = tokio::process::Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/interop/oidc_client.py"
            ))
            .args([
                app.address.as_str(),
                ISSUER,
                "alice",
                &password,
                client["client_id"].as_str().unwrap(),
                client["client_secret"].as_str().unwrap(),
                redirect_uri,
                &format!("{algorithm:?}"),
            ])
            .output()
            .await
            .expect("python3 runs");
        assert!(
            output.status.success(),
            "{algorithm:?}: the relying party failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[tokio::test]
async fn authlib_logs_in_on_its_defaults_with_a_nonce_offline_access_and_an_hour_long_assertion() {
    // Authlib (PyPI), configured as its documentation shows: a confidential client that sends
    // a nonce and no PKCE, asks for offline_access, and a private_key_jwt client whose
    // assertions live 3600 s. Both are registered on authd's defaults.
    use jsonwebtoken::{EncodingKey, jwk::Jwk};
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};

    let app = spawn_app_with(AppOptions::default()).await;
    let password = app.register("alice").await;
    let redirect_uri = "http://127.0.0.1:9/callback";
    let confidential = register_client(
        &app,
        &["--name", "Notes (Authlib)", "--redirect-uri", redirect_uri],
    );
    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let pem = private.to_pkcs8_pem(LineEnding::LF).unwrap();
    let key_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(key_file.path(), pem.as_bytes()).unwrap();
    let public = Jwk::from_encoding_key(
        &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        Algorithm::RS256,
    )
    .unwrap();
    let jwks = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        jwks.path(),
        serde_json::json!({ "keys": [public] }).to_string(),
    )
    .unwrap();
    let signed = register_client(
        &app,
        &[
            "--name",
            "Reports (Authlib)",
            "--redirect-uri",
            redirect_uri,
            "--jwks",
            jwks.path().to_str().unwrap(),
        ],
    );
    let output = tokio::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/authlib_client.py"
        ))
        .args([
            app.address.as_str(),
            ISSUER,
            "alice",
            &password,
            confidential["client_id"].as_str().unwrap(),
            confidential["client_secret"].as_str().unwrap(),
            signed["client_id"].as_str().unwrap(),
            key_file.path().to_str().unwrap(),
            redirect_uri,
        ])
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "Authlib failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("lifetime 3600 s"), "{stdout}");
}
