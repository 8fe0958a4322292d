//! The cleanup pass: expired data goes, everything still meaningful stays.

use std::sync::Arc;

use authd::{AppState, clock::SystemClock, store::CleanupReport};
use serde_json::Value;

use crate::helpers::{spawn_app, stores_for, test_config};

#[tokio::test]
async fn cleanup_removes_only_what_can_no_longer_matter() {
    let app = spawn_app().await;
    let password = app.register("alice").await;
    let grant: Value = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", &password),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Rotate once: the first refresh token is now used but unexpired (reuse detection needs it).
    let refreshed = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", grant["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    let logout = app
        .client
        .post(app.url("/logout"))
        .bearer_auth(grant["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204, "a live revocation");

    let db = app.db().await;
    db.batch_execute(
        "INSERT INTO refresh_families (id, user_id, scope, created_at)
             SELECT gen_random_uuid(), id, '', now() - interval '30 days' FROM users;
         INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, issued_at, expires_at)
             SELECT gen_random_uuid(), f.id, f.user_id, sha256(f.id::text::bytea),
                    now() - interval '30 days', now() - interval '16 days'
             FROM refresh_families f WHERE f.created_at < now() - interval '1 day';
         INSERT INTO revocations (kind, id, expires_at, revoked_at)
             VALUES ('jti', 'long-dead', now() - interval '1 hour', now() - interval '2 hours');
         INSERT INTO signing_keys
             SELECT 'retired-kid', alg, public_jwk, private_key_ciphertext, private_key_nonce,
                    master_key_id, created_at, now() - interval '10 days',
                    now() - interval '9 days', now() - interval '8 days'
             FROM signing_keys LIMIT 1;
         INSERT INTO auth_logs (request_ip, request_timestamp, outcome)
             VALUES ('10.0.0.1', now() - interval '100 days', 'unknown_user');
         INSERT INTO account_links (token_hash, purpose, user_id, email, created_at, expires_at)
             SELECT sha256('expired'::bytea), 'reset_password', id, email,
                    now() - interval '2 hours', now() - interval '90 minutes' FROM users;
         INSERT INTO account_links (token_hash, purpose, user_id, email, created_at, expires_at)
             SELECT sha256('live'::bytea), 'verify_email', id, email, now(),
                    now() + interval '1 day' FROM users;
         INSERT INTO outbox (id, topic, payload, payload_nonce, master_key_id, created_at,
                             next_attempt_at, sent_at)
             VALUES (gen_random_uuid(), 'mail', '', '\\x000000000000000000000000', 'k',
                     now() - interval '100 days', now() - interval '100 days',
                     now() - interval '100 days'),
                    (gen_random_uuid(), 'mail', '', '\\x000000000000000000000000', 'k',
                     now() - interval '1 day', now() - interval '1 day', now() - interval '1 day');",
    )
    .await
    .unwrap();

    let stores = stores_for(&app.options, &app.resources).await;
    let state = AppState::build(
        test_config(&app.options),
        stores,
        &app.master_key,
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let report = state
        .operations
        .clean_up()
        .await
        .unwrap()
        .expect("no other replica is cleaning");
    assert_eq!(
        report,
        CleanupReport {
            refresh_tokens: 1,
            sessions: 1,
            revocations: 1,
            signing_keys: 1,
            auth_logs: 1,
            audit_events: 0,
            account_links: 1,
            outbox: 1,
        }
    );

    let count = |sql: &'static str| {
        let db = &db;
        async move { db.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!(
        count("SELECT count(*) FROM refresh_tokens").await,
        2,
        "used and live tokens stay"
    );
    assert_eq!(count("SELECT count(*) FROM refresh_families").await, 1);
    assert_eq!(count("SELECT count(*) FROM revocations").await, 1);
    assert_eq!(count("SELECT count(*) FROM signing_keys").await, 1);
    assert!(
        count("SELECT count(*) FROM auth_logs").await >= 1,
        "recent attempts stay"
    );
    assert_eq!(
        count("SELECT count(*) FROM account_links").await,
        1,
        "the live link stays"
    );
    assert_eq!(
        count("SELECT count(*) FROM outbox WHERE topic = 'mail'").await,
        1,
        "a recent record of a sent mail stays"
    );

    // Nothing that mattered was lost: the live session still refreshes, the logout still holds.
    let next: Value = refreshed.json().await.unwrap();
    let again = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", next["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let me = app
        .client
        .get(app.url("/me"))
        .bearer_auth(grant["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
}
