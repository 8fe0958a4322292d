//! Verification (`GET /me`), logout and revocation, as clients and attackers see them.

use std::sync::Arc;

use authd::{
    clock::ManualClock,
    keys::{MasterKeys, SigningKey},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::helpers::{AppOptions, TestApp, spawn_app, spawn_app_with, stores_for};

async fn logged_in(app: &TestApp, username: &str) -> String {
    let password = app.register(username).await;
    app.login(username, &password).await
}

/// Asserts a 401 whose `WWW-Authenticate` names `invalid_token` and `description`.
async fn assert_invalid_token(response: reqwest::Response, description: &str) {
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with(r#"Bearer realm="authd", error="invalid_token""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(description),
        "{challenge} should mention {description:?}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
}

/// authd's own signing key, opened from the test database with the test's master key, to sign
/// tokens that are valid in every way but the one under test.
pub async fn signing_key(app: &TestApp) -> SigningKey {
    let stores = stores_for(&app.options, &app.resources).await;
    let record = stores.signing_keys.list_keys().await.unwrap().remove(0);
    SigningKey::open(&record, &MasterKeys::from(&app.master_key)).unwrap()
}

pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

pub async fn forge(
    app: &TestApp,
    token: &str,
    edit_header: impl FnOnce(&mut Header),
    edit_claims: impl FnOnce(&mut Value),
) -> String {
    let key = signing_key(app).await;
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("at+jwt".to_owned());
    header.kid = Some(key.kid.clone());
    edit_header(&mut header);
    let mut claims = claims_of(token);
    claims["jti"] = uuid::Uuid::new_v4().to_string().into();
    edit_claims(&mut claims);
    key.sign(&header, &claims).unwrap()
}

#[tokio::test]
async fn me_answers_with_the_bearers_user_and_claims() {
    let app = spawn_app().await;
    let token = logged_in(&app, "alice").await;
    for _ in 0..2 {
        // The second call is answered from the verified-token cache: same answer.
        let response = app.me(&token).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["username"], "alice");
        assert_eq!(body["email"], "alice@example.com");
        assert_eq!(body["claims"]["sub"], body["id"]);
        assert_eq!(body["claims"]["jti"], claims_of(&token)["jti"]);
    }
}

#[tokio::test]
async fn a_missing_token_is_challenged_with_both_schemes() {
    let app = spawn_app().await;
    let response = app.get("/me").await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="authd", DPoP algs="ES256 PS256 RS256 EdDSA""#
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
}

#[tokio::test]
async fn malformed_and_tampered_tokens_are_refused() {
    let app = spawn_app().await;
    let token = logged_in(&app, "alice").await;
    assert_invalid_token(app.me("not.a.jwt").await, "malformed").await;
    assert_invalid_token(app.me(&"x".repeat(10_000)).await, "malformed").await;

    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = claims_of(&token);
    claims["username"] = "mallory".into();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    assert_invalid_token(app.me(&tampered).await, "signature").await;
    let stripped = format!("{}.{}.", parts[0], parts[1]);
    assert_invalid_token(app.me(&stripped).await, "").await;
}

#[tokio::test]
async fn alg_none_and_hmac_with_the_public_key_are_refused() {
    let app = spawn_app().await;
    let token = logged_in(&app, "alice").await;
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    let payload = token.split('.').nth(1).unwrap();
    for alg in ["none", "None", "NONE"] {
        let header =
            URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "at+jwt", "kid": kid}).to_string());
        assert_invalid_token(app.me(&format!("{header}.{payload}.")).await, "").await;
    }

    // Algorithm confusion: HS256 keyed with the RSA public key as published.
    let jwks = app.jwks().await;
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".to_owned());
    header.kid = Some(kid);
    for secret in [
        jwks["keys"][0]["n"].to_string(),
        jwks["keys"][0].to_string(),
    ] {
        let forged = encode(
            &header,
            &claims_of(&token),
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap();
        assert_invalid_token(app.me(&forged).await, "signature").await;
    }
}

#[tokio::test]
async fn validly_signed_tokens_with_wrong_claims_or_headers_are_refused() {
    let app = spawn_app().await;
    let token = logged_in(&app, "alice").await;
    let cases: Vec<(String, &str)> = vec![
        (
            forge(
                &app,
                &token,
                |_| {},
                |c| c["iss"] = "https://evil.example".into(),
            )
            .await,
            "another authority",
        ),
        (
            forge(&app, &token, |_| {}, |c| c["aud"] = "someone-else".into()).await,
            "another audience",
        ),
        (
            forge(&app, &token, |h| h.typ = Some("JWT".into()), |_| {}).await,
            "typ",
        ),
        (forge(&app, &token, |h| h.typ = None, |_| {}).await, "typ"),
        (
            forge(
                &app,
                &token,
                |h| h.kid = Some("../../etc/passwd".into()),
                |_| {},
            )
            .await,
            "not signed by a key",
        ),
        (
            forge(&app, &token, |h| h.crit = Some(vec!["exp".into()]), |_| {}).await,
            "critical",
        ),
        (
            forge(
                &app,
                &token,
                |_| {},
                |c| {
                    c["nbf"] = (c["iat"].as_i64().unwrap() + 3600).into();
                },
            )
            .await,
            "not valid yet",
        ),
        (
            forge(
                &app,
                &token,
                |_| {},
                |c| {
                    c.as_object_mut().unwrap().remove("jti");
                },
            )
            .await,
            "malformed",
        ),
    ];
    for (forged, description) in cases {
        assert_invalid_token(app.me(&forged).await, description).await;
    }
    // The control: the same forge with nothing changed is accepted.
    let control = forge(&app, &token, |_| {}, |_| {}).await;
    assert_eq!(app.me(&control).await.status(), 200);
}

#[tokio::test]
async fn tokens_expire_by_the_injected_clock_even_when_cached() {
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let app = spawn_app_with(AppOptions {
        clock: clock.clone(),
        ..AppOptions::default()
    })
    .await;
    let token = logged_in(&app, "alice").await;
    assert_eq!(app.me(&token).await.status(), 200); // now cached

    clock.advance(time::Duration::minutes(15) + time::Duration::seconds(20));
    assert_eq!(app.me(&token).await.status(), 200, "inside the 30s leeway");
    clock.advance(time::Duration::seconds(15));
    assert_invalid_token(app.me(&token).await, "expired").await;
}

#[tokio::test]
async fn logout_revokes_the_token_on_every_replica() {
    let app = spawn_app().await;
    let other = app.spawn_sibling().await;
    let password = app.register("alice").await;
    let token = app.login("alice", &password).await;
    assert_eq!(other.me(&token).await.status(), 200);

    let response = app.logout(&token).await;
    assert_eq!(response.status(), 204);
    let revoked_at = std::time::Instant::now();
    // The replica that revoked knows at once.
    assert_invalid_token(app.me(&token).await, "revoked").await;
    // The other hears it on the channel: how soon is printed, and the bound is the assertion.
    let max_lag = app.options.revocation_max_lag;
    let mut heard_after = None;
    while heard_after.is_none() && revoked_at.elapsed() <= max_lag {
        if other.me_status(&token).await == 401 {
            heard_after = Some(revoked_at.elapsed());
        }
    }
    println!("the other replica refused the revoked token after {heard_after:?}");
    tokio::time::sleep(max_lag.saturating_sub(revoked_at.elapsed())).await;
    assert_invalid_token(other.me(&token).await, "revoked").await;
    assert!(heard_after.is_some(), "not refused within {max_lag:?}");

    let again = app.logout(&token).await;
    assert_eq!(again.status(), 401);
    // Only that token: a new login works.
    let fresh = app.login("alice", &password).await;
    assert_eq!(other.me(&fresh).await.status(), 200);
}

#[tokio::test]
async fn revocations_survive_redis_losing_its_data() {
    let app = spawn_app().await;
    let revoked = logged_in(&app, "alice").await;
    let live = logged_in(&app, "bob").await;
    let response = app.logout(&revoked).await;
    assert_eq!(response.status(), 204);

    // What FLUSHALL does to this app (other tests share the Redis server, so only our keys go).
    crate::helpers::delete_redis_keys(&app.resources.redis_prefix).await;

    assert_invalid_token(app.me(&revoked).await, "revoked").await;
    assert_eq!(app.me(&live).await.status(), 200);
    // A replica that verifies by round trip (not following the channel) finds the list gone,
    // answers from Postgres, and puts the list back in Redis.
    let state = authd::AppState::build(
        crate::helpers::test_config(&app.options),
        stores_for(&app.options, &app.resources).await,
        &app.master_key,
        Arc::new(authd::clock::SystemClock),
    )
    .await
    .unwrap();
    assert!(state.verifier.verify(&revoked).await.is_err());
    assert!(state.verifier.verify(&live).await.is_ok());
    let mut connection = crate::helpers::redis_connection().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}{{revocations}}:*", app.resources.redis_prefix))
        .query_async(&mut connection)
        .await
        .unwrap();
    let revoked: Vec<&String> = keys
        .iter()
        .filter(|key| !key.ends_with(":loaded"))
        .collect();
    assert_eq!(revoked.len(), 1, "{keys:?}");
}

#[tokio::test]
async fn a_token_of_a_deleted_user_is_refused() {
    let app = spawn_app().await;
    let token = logged_in(&app, "alice").await;
    assert_eq!(app.me_status(&token).await, 200); // the user row is now cached
    app.delete_user("alice").await;
    assert_invalid_token(app.me(&token).await, "no longer exists").await;
}

/// The hot path's budget (issue 21): while a replica follows the invalidation channel, a
/// verification asks neither Redis nor Postgres, cached or not. Counted on the stores' own
/// pools, with heartbeats far apart so that none falls inside the measurement.
#[tokio::test]
async fn a_verification_takes_no_round_trip_while_the_replica_is_current() {
    let app = spawn_app().await;
    let token = logged_in(&app, "counted").await;
    let options = AppOptions {
        revocation_max_lag: std::time::Duration::from_secs(50),
        ..app.options.clone()
    };
    let stores = stores_for(&app.options, &app.resources).await;
    let probes = stores.probes.clone();
    let state = authd::AppState::build(
        crate::helpers::test_config(&options),
        stores,
        &app.master_key,
        Arc::new(authd::clock::SystemClock),
    )
    .await
    .unwrap();
    let channel = authd::tasks::Channel::of(&state);
    let follower = tokio::spawn(channel.clone().follow());
    let heartbeats = tokio::spawn(channel.send_heartbeats());
    assert!(
        crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
            state.freshness.is_current()
        })
        .await,
        "the replica did not catch up with the channel"
    );
    let taken = |service: &str| {
        probes
            .iter()
            .find(|probe| probe.name() == service)
            .and_then(|probe| probe.pool_status())
            .map(|status| status.acquired)
            .unwrap()
    };
    for pass in ["uncached", "cached"] {
        let (redis, postgres) = (taken("redis"), taken("postgres"));
        state.verifier.verify(&token).await.unwrap();
        assert_eq!(taken("redis") - redis, 0, "{pass}: Redis connections");
        assert_eq!(
            taken("postgres") - postgres,
            0,
            "{pass}: Postgres connections"
        );
    }
    follower.abort();
    heartbeats.abort();
}

/// A replica that is not following the channel (here: never started to) cannot trust its
/// memory, and asks Redis once per verification, as before there was a channel.
#[tokio::test]
async fn a_replica_that_is_not_current_asks_redis_once_per_verification() {
    let app = spawn_app().await;
    let token = logged_in(&app, "counted").await;
    let stores = stores_for(&app.options, &app.resources).await;
    let probes = stores.probes.clone();
    let state = authd::AppState::build(
        crate::helpers::test_config(&app.options),
        stores,
        &app.master_key,
        Arc::new(authd::clock::SystemClock),
    )
    .await
    .unwrap();
    let taken = |service: &str| {
        probes
            .iter()
            .find(|probe| probe.name() == service)
            .and_then(|probe| probe.pool_status())
            .map(|status| status.acquired)
            .unwrap()
    };
    state.verifier.verify(&token).await.unwrap(); // may reload a lost list: not measured
    for pass in ["cached", "cached again"] {
        let (redis, postgres) = (taken("redis"), taken("postgres"));
        state.verifier.verify(&token).await.unwrap();
        assert_eq!(taken("redis") - redis, 1, "{pass}: Redis connections");
        assert_eq!(
            taken("postgres") - postgres,
            0,
            "{pass}: Postgres connections"
        );
    }
}
