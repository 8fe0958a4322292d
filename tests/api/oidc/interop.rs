//! Independent relying parties against a live authd: requests-oauth2client (PyPI) discovers
//! authd from its issuer alone, runs the code flow and validates the ID token itself; PyJWT
//! verifies the ID token against the JWKS, once for each signing algorithm.

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
