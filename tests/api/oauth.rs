//! `POST /oauth/token` (password and refresh_token grants) and `POST /oauth/revoke` (RFC 7009).

use serde_json::Value;

use crate::helpers::{AppOptions, TestApp, spawn_app, spawn_app_with};

async fn token_request(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url("/oauth/token"))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Registers `username` and runs the password grant; returns the token response.
async fn password_grant(app: &TestApp, username: &str, scope: &str) -> Value {
    let password = app.register(username).await;
    let response = token_request(
        app,
        &[
            ("grant_type", "password"),
            ("username", username),
            ("password", &password),
            ("scope", scope),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

async fn refresh(app: &TestApp, refresh_token: &str) -> reqwest::Response {
    token_request(
        app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

async fn oauth_error(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert!(body["error_description"].is_string(), "{body}");
    (status, body["error"].as_str().unwrap().to_owned())
}

fn claims_of(token: &str) -> Value {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn the_password_grant_returns_an_access_and_a_refresh_token() {
    let app = spawn_app().await;
    let body = password_grant(&app, "alice", "write  read write").await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "write read");
    let refresh_token = body["refresh_token"].as_str().unwrap();
    assert_eq!(refresh_token.len(), 43, "256 random bits, base64url");
    let access_token = body["access_token"].as_str().unwrap();
    let claims = claims_of(access_token);
    assert_eq!(claims["scope"], "write read");
    assert!(claims["sid"].is_string());
    assert_eq!(app.me_status(access_token).await, 200);

    // Stored only as a hash.
    let rows = app
        .db()
        .await
        .query("SELECT token_hash FROM refresh_tokens", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let hash: Vec<u8> = rows[0].get(0);
    assert_eq!(hash.len(), 32);
    assert!(!String::from_utf8_lossy(&hash).contains(refresh_token));
}

#[tokio::test]
async fn bad_requests_get_rfc_6749_errors() {
    let app = spawn_app().await;
    let password = app.register("bob").await;
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("grant_type", "password"),
                ("username", "bob"),
                ("password", "wrong password"),
            ],
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("username", "nobody"),
                ("password", "wrong password"),
            ],
            "invalid_grant",
        ),
        (
            vec![("username", "bob"), ("password", &password)],
            "invalid_request",
        ),
        (
            vec![("grant_type", "password"), ("username", "bob")],
            "invalid_request",
        ),
        (
            vec![("grant_type", "implicit"), ("code", "x")],
            "unsupported_grant_type",
        ),
        (
            vec![("grant_type", "authorization_code")],
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("username", "bob"),
                ("password", &password),
                ("scope", "a\"b"),
            ],
            "invalid_scope",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", "not-a-real-token"),
            ],
            "invalid_grant",
        ),
        (vec![("grant_type", "refresh_token")], "invalid_request"),
    ];
    for (form, expected) in cases {
        let (status, error) = oauth_error(token_request(&app, &form).await).await;
        assert_eq!((status, error.as_str()), (400, expected), "{form:?}");
    }
}

#[tokio::test]
async fn a_refresh_rotates_both_tokens_and_keeps_the_session() {
    let app = spawn_app().await;
    let first = password_grant(&app, "carol", "read").await;
    let response = refresh(&app, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), 200);
    let second: Value = response.json().await.unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["access_token"], first["access_token"]);
    assert_eq!(second["scope"], "read");
    let (a, b) = (
        claims_of(first["access_token"].as_str().unwrap()),
        claims_of(second["access_token"].as_str().unwrap()),
    );
    assert_eq!(a["sid"], b["sid"]);
    assert_eq!(
        app.me_status(second["access_token"].as_str().unwrap())
            .await,
        200
    );
    // The new refresh token works in turn.
    assert_eq!(
        refresh(&app, second["refresh_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn reusing_a_refresh_token_revokes_the_whole_session() {
    let app = spawn_app().await;
    let first = password_grant(&app, "dave", "").await;
    let stolen = first["refresh_token"].as_str().unwrap();
    let second: Value = refresh(&app, stolen).await.json().await.unwrap();

    let (status, error) = oauth_error(refresh(&app, stolen).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));

    // Every token of the session is dead: the successor refresh token and both access tokens.
    let (_, error) =
        oauth_error(refresh(&app, second["refresh_token"].as_str().unwrap()).await).await;
    assert_eq!(error, "invalid_grant");
    assert_eq!(
        app.me_status(first["access_token"].as_str().unwrap()).await,
        401
    );
    assert_eq!(
        app.me_status(second["access_token"].as_str().unwrap())
            .await,
        401
    );
}

#[tokio::test]
async fn of_concurrent_uses_of_one_refresh_token_exactly_one_succeeds() {
    let app = spawn_app().await;
    let body = password_grant(&app, "erin", "").await;
    let token = body["refresh_token"].as_str().unwrap();
    let attempts = (0..8).map(|_| refresh(&app, token));
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        7,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn revoking_an_access_token_or_a_refresh_token() {
    let app = spawn_app().await;
    let body = password_grant(&app, "frank", "").await;
    let access = body["access_token"].as_str().unwrap();
    let refresh_token = body["refresh_token"].as_str().unwrap();
    let revoke = |token: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/oauth/revoke"))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap()
        }
    };

    assert_eq!(revoke(access.to_owned()).await.status(), 200);
    assert_eq!(app.me_status(access).await, 401);
    // The session lives on: the refresh token still works...
    let next: Value = refresh(&app, refresh_token).await.json().await.unwrap();
    // ...until it is revoked, which ends the session and its access tokens.
    let next_access = next["access_token"].as_str().unwrap();
    assert_eq!(app.me_status(next_access).await, 200);
    assert_eq!(
        revoke(next["refresh_token"].as_str().unwrap().to_owned())
            .await
            .status(),
        200
    );
    assert_eq!(app.me_status(next_access).await, 401);
    let (_, error) =
        oauth_error(refresh(&app, next["refresh_token"].as_str().unwrap()).await).await;
    assert_eq!(error, "invalid_grant");

    // Unknown and already-revoked tokens: still 200 (RFC 7009 §2.2). No token: 400.
    assert_eq!(revoke("no-such-token".to_owned()).await.status(), 200);
    assert_eq!(revoke(access.to_owned()).await.status(), 200);
    let missing = app
        .client
        .post(app.url("/oauth/revoke"))
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    let (status, error) = oauth_error(missing).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));
}

#[tokio::test]
async fn logout_with_a_refresh_token_ends_the_session() {
    let app = spawn_app().await;
    let body = password_grant(&app, "grace", "").await;
    let access = body["access_token"].as_str().unwrap();
    let response = app
        .client
        .post(app.url("/logout"))
        .bearer_auth(access)
        .json(&serde_json::json!({"refresh_token": body["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(app.me_status(access).await, 401);
    let (_, error) =
        oauth_error(refresh(&app, body["refresh_token"].as_str().unwrap()).await).await;
    assert_eq!(error, "invalid_grant");
}

#[tokio::test]
async fn the_token_endpoint_is_rate_limited() {
    let app = spawn_app_with(AppOptions {
        rate_limit: 10,
        ..AppOptions::default()
    })
    .await;
    let attempts = (0..11).map(|_| {
        token_request(
            &app,
            &[
                ("grant_type", "password"),
                ("username", "x"),
                ("password", "y"),
            ],
        )
    });
    let responses = futures_util::future::join_all(attempts).await;
    let limited: Vec<_> = responses.iter().filter(|r| r.status() == 429).collect();
    assert_eq!(limited.len(), 1);
    assert!(limited[0].headers().contains_key("retry-after"));
}

#[tokio::test]
async fn a_session_ends_at_its_maximum_lifetime_however_often_it_is_refreshed() {
    // ASVS 3.3.2: refreshing keeps a session going only until AUTHD_SESSION_MAX_LIFETIME.
    let started = time::OffsetDateTime::now_utc();
    let clock = std::sync::Arc::new(authd::clock::ManualClock::new(started));
    let app = spawn_app_with(AppOptions {
        clock: clock.clone(),
        session_max_lifetime: time::Duration::hours(2),
        ..AppOptions::default()
    })
    .await;
    let mut tokens = password_grant(&app, "alice", "").await;
    for _ in 0..3 {
        clock.advance(time::Duration::minutes(35));
        let response = refresh(&app, tokens["refresh_token"].as_str().unwrap()).await;
        assert_eq!(response.status(), 200, "within the lifetime");
        tokens = response.json().await.unwrap();
    }
    // 1h45 in: the refresh token is good until the session's end, not 14 days on.
    let (client_id, secret) = crate::clients::create_client(&app, "");
    let introspection: Value = app
        .client
        .post(app.url("/oauth/introspect"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("token", tokens["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspection["active"], true);
    let session_end = (started + time::Duration::hours(2)).unix_timestamp();
    assert!(
        (session_end - 1..=session_end).contains(&introspection["exp"].as_i64().unwrap()),
        "{introspection}"
    );

    clock.advance(time::Duration::minutes(20));
    let ended = refresh(&app, tokens["refresh_token"].as_str().unwrap()).await;
    let (status, error) = oauth_error(ended).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
}
