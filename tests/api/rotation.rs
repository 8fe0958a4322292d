//! Signing-key rotation across replicas: `authd keys rotate [--now]`, the grace period in which
//! the previous key still verifies, retirement, and `authd keys list`.

use std::{sync::Arc, time::Duration};

use authd::clock::ManualClock;
use serde_json::Value;

use crate::helpers::{AppOptions, TestApp, eventually, redis_url, spawn_app_with};

pub fn authd_keys(app: &TestApp, args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
        .env_clear()
        .arg("keys")
        .args(args)
        .env("DATABASE_URL", app.resources.database_url())
        .env("REDIS_URL", redis_url())
        .env("AUTHD_REDIS_PREFIX", &app.resources.redis_prefix)
        .env("AUTHD_MASTER_KEY", &app.resources.master_key_base64)
        .env("AUTHD_ARGON2_MEMORY_KIB", "8192")
        .env("AUTHD_ARGON2_ITERATIONS", "1")
        .env("AUTHD_ACCESS_TOKEN_TTL", "15m")
        .env("AUTHD_CLOCK_LEEWAY", "30s")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

pub fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn an_immediate_rotation_reaches_every_replica_and_retires_the_old_key() {
    let first = spawn_app_with(AppOptions::default()).await;
    let second = first.spawn_sibling().await;
    let password = first.register("alice").await;
    let old_token = first.login("alice", &password).await;
    let old_kid = kid_of(&old_token);

    let new_kid = authd_keys(&first, &["rotate", "--now"]).trim().to_owned();
    assert_ne!(new_kid, old_kid);
    for replica in [&first, &second] {
        let followed = eventually(Duration::from_secs(3), || async {
            replica.published_kids().await == [new_kid.clone()]
        })
        .await;
        assert!(followed, "a replica did not reload within 3s");
    }

    let new_token = first.login("alice", &password).await;
    assert_eq!(kid_of(&new_token), new_kid);
    assert_eq!(
        second.me_status(&new_token).await,
        200,
        "signed on one, verified on the other"
    );
    assert_eq!(
        second.me_status(&old_token).await,
        401,
        "the compromised key verifies nothing"
    );
}

#[tokio::test]
async fn a_planned_rotation_publishes_ahead_then_hands_over_with_a_grace_period() {
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let first = spawn_app_with(AppOptions {
        clock: clock.clone(),
        ..AppOptions::default()
    })
    .await;
    let second = first.spawn_sibling().await; // shares the clock
    let password = first.register("alice").await;
    let old_kid = kid_of(&first.login("alice", &password).await);

    let new_kid = authd_keys(&first, &["rotate"]).trim().to_owned();
    for replica in [&first, &second] {
        let both = eventually(Duration::from_secs(3), || async {
            let kids = replica.published_kids().await;
            kids.contains(&new_kid) && kids.contains(&old_kid)
        })
        .await;
        assert!(
            both,
            "the next key is published before it signs, next to the current one"
        );
    }
    let listed = authd_keys(&first, &["list"]);
    let state_of = |kid: &str| {
        listed
            .lines()
            .find(|line| line.starts_with(kid))
            .unwrap_or_else(|| panic!("{kid} not listed:\n{listed}"))
            .to_owned()
    };
    assert!(state_of(&new_kid).contains("published"), "{listed}");
    assert!(state_of(&old_kid).contains("signing"), "{listed}");

    // Until one JWKS cache lifetime has passed, the old key still signs.
    clock.advance(time::Duration::minutes(4));
    let late_old = first.login("alice", &password).await;
    assert_eq!(kid_of(&late_old), old_kid);
    clock.advance(time::Duration::minutes(2));
    let fresh = first.login("alice", &password).await;
    assert_eq!(kid_of(&fresh), new_kid);
    assert_eq!(second.me_status(&fresh).await, 200);

    // Grace: the old key no longer signs but still verifies the tokens it signed.
    clock.advance(time::Duration::minutes(13) + time::Duration::seconds(10)); // t = 19m10s
    assert_eq!(second.me_status(&late_old).await, 200);

    // Retired: gone from the JWKS, and its tokens refused.
    clock.advance(time::Duration::minutes(2)); // t = 21m10s
    assert_eq!(second.published_kids().await, vec![new_kid.clone()]);
    assert_eq!(second.me_status(&late_old).await, 401);
    let body: Value = first.jwks().await;
    assert_eq!(body["keys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn rewrap_moves_every_key_to_the_new_master_key_without_downtime() {
    use authd::keys::MasterKey;
    use base64::{Engine, engine::general_purpose::STANDARD};

    let app = spawn_app_with(AppOptions::default()).await;
    let password = app.register("alice").await;
    let token = app.login("alice", &password).await;
    // Bob has an authenticator: its secret is sealed under the master key too.
    let mut browser = crate::browser::Browser::new(&app);
    browser.signed_in_as("bob").await;
    let (secret, _) =
        crate::second_factor::enrol(&mut browser, time::OffsetDateTime::now_utc()).await;
    // A webhook subscription's signing secret is sealed too.
    let admin = crate::admin::Admin::new(&app).await;
    let subscribed = admin
        .post(
            "/admin/webhooks",
            serde_json::json!({ "url": "https://hooks.example.com/", "event_types": ["*"] }),
        )
        .await;
    assert_eq!(subscribed.status(), 201);
    let new_key = [7u8; 32];
    let rewrap = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
            .env_clear()
            .args(["keys", "rewrap"])
            .env("DATABASE_URL", app.resources.database_url())
            .env("REDIS_URL", redis_url())
            .env("AUTHD_REDIS_PREFIX", &app.resources.redis_prefix)
            .env(
                "AUTHD_MASTER_KEYS",
                format!(
                    "{},{}",
                    STANDARD.encode(new_key),
                    app.resources.master_key_base64
                ),
            )
            .env("AUTHD_ARGON2_MEMORY_KIB", "8192")
            .env("AUTHD_ARGON2_ITERATIONS", "1")
            .output()
            .unwrap()
    };
    let first = rewrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let said = String::from_utf8_lossy(&first.stderr);
    assert!(said.contains("1 signing key(s) re-sealed"), "{said}");
    assert!(said.contains("1 TOTP secret(s) re-sealed"), "{said}");
    assert!(said.contains("1 webhook secret(s) re-sealed"), "{said}");
    let again = rewrap();
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(said.contains("0 signing key(s) re-sealed"), "{said}");
    assert!(said.contains("0 TOTP secret(s) re-sealed"), "{said}");
    assert!(said.contains("0 webhook secret(s) re-sealed"), "{said}");

    // The replica that still serves kept its decrypted keys: no downtime.
    assert_eq!(app.me_status(&token).await, 200);

    let restart = |key: MasterKey| {
        let app = &app;
        async move {
            let stores = crate::helpers::stores_for(&app.options, &app.resources).await;
            authd::AppState::build(
                crate::helpers::test_config(&app.options),
                stores,
                &key,
                app.options.clock.clone(),
            )
            .await
        }
    };
    let new_only = restart(MasterKey::from_slice(&new_key).unwrap())
        .await
        .unwrap();
    assert!(
        new_only
            .key_ring
            .verification_key(&kid_of(&token), time::OffsetDateTime::now_utc())
            .is_some()
    );
    // Bob's codes still check under the new key alone (the next step's: this one was spent).
    let bob = new_only
        .users
        .find_by_username("bob")
        .await
        .unwrap()
        .unwrap();
    let code = crate::second_factor::code_at(&secret, time::OffsetDateTime::now_utc(), 1);
    new_only
        .accounts
        .second_factors()
        .verify(&bob, &code)
        .await
        .expect("the re-sealed secret opens with the new key");
    let old_only = restart(app.master_key.clone())
        .await
        .err()
        .expect("the old key opens nothing now");
    assert!(old_only.to_string().contains("master key"), "{old_only}");
}

#[tokio::test]
async fn the_schedule_rotates_once_when_due_however_many_replicas_try() {
    use authd::keys::RotationMode;

    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let app = spawn_app_with(AppOptions {
        clock: clock.clone(),
        ..AppOptions::default()
    })
    .await;
    let replica = || {
        let app = &app;
        async move {
            let stores = crate::helpers::stores_for(&app.options, &app.resources).await;
            authd::AppState::build(
                crate::helpers::test_config(&app.options),
                stores,
                &app.master_key,
                app.options.clock.clone(),
            )
            .await
            .unwrap()
        }
    };
    let (a, b) = (replica().await, replica().await);

    // The test config rotates daily: not due yet.
    assert_eq!(a.keys.rotate(RotationMode::Scheduled).await.unwrap(), None);

    clock.advance(time::Duration::days(1));
    let (first, second) = tokio::join!(
        a.keys.rotate(RotationMode::Scheduled),
        b.keys.rotate(RotationMode::Scheduled)
    );
    let rotated: Vec<String> = [first.unwrap(), second.unwrap()]
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(rotated.len(), 1, "exactly one replica rotates");
    let count: i64 = app
        .db()
        .await
        .query_one("SELECT count(*) FROM signing_keys", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 2);
    // And it is not due again until another interval has passed.
    assert_eq!(b.keys.rotate(RotationMode::Scheduled).await.unwrap(), None);
}
