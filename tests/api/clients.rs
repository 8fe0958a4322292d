//! Confidential clients: `authd clients create`, the client_credentials grant, introspection
//! (RFC 7662) and the authorization server metadata (RFC 8414).

use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

/// Registers a client with the real command line, as an operator would.
pub fn create_client(app: &TestApp, scope: &str) -> (String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
        .env_clear()
        .args(["clients", "create", "--name", "reporting", "--scope", scope])
        .env("DATABASE_URL", app.resources.database_url())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    (
        created["client_id"].as_str().unwrap().to_owned(),
        created["client_secret"].as_str().unwrap().to_owned(),
    )
}

async fn post_form(app: &TestApp, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .unwrap()
}

pub fn claims_of(token: &str) -> Value {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_client_gets_a_token_for_itself_by_basic_or_form_authentication() {
    let app = spawn_app().await;
    let (client_id, secret) = create_client(&app, "reports:read reports:write");

    let basic = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "reports:read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    let body: Value = basic.json().await.unwrap();
    assert_eq!(body["scope"], "reports:read");
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token for client credentials"
    );
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], client_id.as_str());
    assert_eq!(claims["client_id"], client_id.as_str());
    assert!(claims.get("username").is_none());

    let form = post_form(
        &app,
        "/oauth/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!(form.status(), 200);
    let body: Value = form.json().await.unwrap();
    assert_eq!(
        body["scope"], "reports:read reports:write",
        "no scope asked: all it may have"
    );

    // A client's token names no user: /me refuses it.
    let me = app
        .client
        .get(app.url("/me"))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
}

#[tokio::test]
async fn wrong_secrets_unknown_clients_and_excess_scope_are_refused() {
    let app = spawn_app().await;
    let (client_id, secret) = create_client(&app, "reports:read");
    for (id, secret) in [
        (client_id.as_str(), "wrong-secret"),
        ("client_unknown", secret.as_str()),
    ] {
        let response = app
            .client
            .post(app.url("/oauth/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Basic realm="authd""#
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
    }
    let response = post_form(
        &app,
        "/oauth/token",
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(response.status(), 401, "no credentials at all");

    let response = post_form(
        &app,
        "/oauth/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("scope", "admin"),
        ],
    )
    .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope");
}

#[tokio::test]
async fn introspection_describes_live_tokens_and_requires_client_authentication() {
    let app = spawn_app().await;
    let (client_id, secret) = create_client(&app, "");
    let password = app.register("alice").await;
    let grant: Value = post_form(
        &app,
        "/oauth/token",
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", &password),
            ("scope", "profile"),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    let access = grant["access_token"].as_str().unwrap();
    let refresh = grant["refresh_token"].as_str().unwrap();
    let introspect = |token: String| {
        let (app, client_id, secret) = (&app, client_id.clone(), secret.clone());
        async move {
            let response = app
                .client
                .post(app.url("/oauth/introspect"))
                .basic_auth(client_id, Some(secret))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["cache-control"], "no-store");
            response.json::<Value>().await.unwrap()
        }
    };

    let unauthenticated = post_form(&app, "/oauth/introspect", &[("token", access)]).await;
    assert_eq!(unauthenticated.status(), 401);

    let live = introspect(access.to_owned()).await;
    assert_eq!(live["active"], true);
    assert_eq!(live["username"], "alice");
    assert_eq!(live["scope"], "profile");
    assert_eq!(live["token_type"], "Bearer");
    assert_eq!(live["iss"], crate::helpers::ISSUER);
    assert_eq!(live["aud"], crate::helpers::AUDIENCE);
    for field in ["sub", "exp", "iat", "jti"] {
        assert!(!live[field].is_null(), "{field} missing: {live}");
    }
    let live_refresh = introspect(refresh.to_owned()).await;
    assert_eq!(live_refresh["active"], true);
    assert_eq!(live_refresh["token_type"], "refresh_token");
    assert_eq!(live_refresh["sub"], live["sub"]);

    for dead in ["garbage", "a.b.c"] {
        assert_eq!(
            introspect(dead.to_owned()).await,
            serde_json::json!({"active": false})
        );
    }
    // Revoked: inactive, and nothing else said.
    let revoked = post_form(&app, "/oauth/revoke", &[("token", refresh)]).await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(
        introspect(access.to_owned()).await,
        serde_json::json!({"active": false})
    );
    assert_eq!(
        introspect(refresh.to_owned()).await,
        serde_json::json!({"active": false})
    );
}

#[tokio::test]
async fn the_metadata_document_lists_real_endpoints() {
    let app = spawn_app().await;
    let response = app.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(response.status(), 200);
    let metadata: Value = response.json().await.unwrap();
    let issuer = crate::helpers::ISSUER;
    assert_eq!(metadata["issuer"], issuer);
    for (field, path) in [
        ("authorization_endpoint", "/oauth/authorize"),
        ("pushed_authorization_request_endpoint", "/oauth/par"),
        ("token_endpoint", "/oauth/token"),
        ("jwks_uri", "/.well-known/jwks.json"),
        ("revocation_endpoint", "/oauth/revoke"),
        ("introspection_endpoint", "/oauth/introspect"),
        (
            "device_authorization_endpoint",
            "/oauth/device_authorization",
        ),
    ] {
        // Absolute URLs under the public URL, which is where the tests reach the app.
        let url = metadata[field].as_str().unwrap();
        assert_eq!(url, app.url(path), "{field}");
        // The endpoint exists there (GET on a POST route is 405, not 404).
        let status = app.client.get(url).send().await.unwrap().status();
        assert_ne!(status, 404, "{url}");
    }
    assert_eq!(
        metadata["grant_types_supported"],
        serde_json::json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "urn:ietf:params:oauth:grant-type:device_code",
            "password"
        ])
    );
    // The code flow as RFC 9700 §2.1 wants it: code only, PKCE with S256 only, and `iss` in
    // every authorization response (RFC 9207).
    assert_eq!(
        metadata["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(metadata["require_pushed_authorization_requests"], false);
    assert!(metadata.get("registration_endpoint").is_none());
    assert_eq!(
        metadata["access_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    let methods = metadata["introspection_endpoint_auth_methods_supported"].to_string();
    assert!(methods.contains("client_secret_basic") && methods.contains("client_secret_post"));
}

#[tokio::test]
async fn basic_credentials_are_form_urldecoded_as_rfc_6749_says() {
    // RFC 6749 §2.3.1: id and secret are form-urlencoded, then put in Basic. Strict clients
    // (openid-client, oauth4webapi) encode every character but letters and digits.
    let app = spawn_app().await;
    let (client_id, secret) = create_client(&app, "reports:read");
    let strictly_encoded = |value: &str| -> String {
        value
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    let encoded_id = strictly_encoded(&client_id);
    assert_ne!(
        encoded_id, client_id,
        "client ids hold `_`, which gets encoded"
    );
    for (id, secret) in [
        (encoded_id.clone(), strictly_encoded(&secret)),
        (client_id.clone(), secret.clone()), // sent raw, as most clients do
    ] {
        let response = app
            .client
            .post(app.url("/oauth/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{id}");
    }
    // Decoded, a wrong secret is still wrong.
    let wrong = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&encoded_id, Some("%41"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
}
