//! Signing keys at rest: encrypted under the master key, bound to their kid and alg.

use std::sync::Arc;

use authd::{
    AppState,
    clock::{Clock, ManualClock, SystemClock},
    startup::StartupError,
};

use crate::helpers::{spawn_app, stores_for, test_config};

#[tokio::test]
async fn private_keys_are_stored_only_as_ciphertext() {
    let app = spawn_app().await;
    let rows = app
        .db()
        .await
        .query(
            "SELECT private_key_ciphertext, private_key_nonce, public_jwk::text FROM signing_keys",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let ciphertext: Vec<u8> = rows[0].get(0);
    let nonce: Vec<u8> = rows[0].get(1);
    let public_jwk: String = rows[0].get(2);
    assert_eq!(nonce.len(), 12);
    // A 2048-bit PKCS#8 key is ~1.2 KB of DER, plus the 16-byte GCM tag.
    assert!(ciphertext.len() > 1100, "{}", ciphertext.len());
    let as_text = String::from_utf8_lossy(&ciphertext);
    assert!(!as_text.contains("PRIVATE KEY"));
    // PKCS#8 DER starts with a SEQUENCE and carries the rsaEncryption OID 1.2.840.113549.1.1.1.
    let rsa_oid = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    assert!(
        !ciphertext
            .windows(rsa_oid.len())
            .any(|window| window == rsa_oid)
    );
    for private in ["\"d\"", "\"p\"", "\"q\""] {
        assert!(!public_jwk.contains(private), "{public_jwk}");
    }
}

async fn restart(app: &crate::helpers::TestApp) -> Result<AppState, StartupError> {
    restart_with_clock(app, Arc::new(SystemClock)).await
}

async fn restart_with_clock(
    app: &crate::helpers::TestApp,
    clock: Arc<dyn Clock>,
) -> Result<AppState, StartupError> {
    let stores = stores_for(&app.options, &app.resources).await;
    AppState::build(test_config(&app.options), stores, &app.master_key, clock).await
}

#[tokio::test]
async fn a_restarted_replica_signs_with_the_stored_key() {
    let app = spawn_app().await;
    let before = app.jwks().await;
    let sibling = app.spawn_sibling().await;
    assert_eq!(
        sibling.jwks().await,
        before,
        "the second replica created no key of its own"
    );
    let password = sibling.register("alice").await;
    let token = app.login("alice", &password).await;
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    assert_eq!(before["keys"][0]["kid"], kid);
}

#[tokio::test]
async fn a_key_row_copied_under_another_kid_does_not_decrypt() {
    let app = spawn_app().await;
    app.db()
        .await
        .execute(
            "INSERT INTO signing_keys
             SELECT 'copied-kid', alg, public_jwk, private_key_ciphertext, private_key_nonce,
                    master_key_id, created_at, not_before, expires_at, retire_at
             FROM signing_keys",
            &[],
        )
        .await
        .unwrap();
    let err = restart(&app)
        .await
        .err()
        .expect("the copied row must not open");
    let message = err.to_string();
    assert!(message.contains("copied-kid"), "{message}");
    assert!(message.contains("does not decrypt"), "{message}");
}

#[tokio::test]
async fn a_wrong_master_key_is_refused_at_start() {
    let mut app = spawn_app().await;
    app.master_key = authd::keys::MasterKey::generate_ephemeral();
    let message = restart(&app)
        .await
        .err()
        .expect("wrong master key")
        .to_string();
    assert!(message.contains("AUTHD_MASTER_KEY"), "{message}");
}

#[tokio::test]
async fn replicas_starting_together_create_one_key_between_them() {
    let app = spawn_app().await;
    app.db()
        .await
        .execute("DELETE FROM signing_keys", &[])
        .await
        .unwrap();
    let starts = (0..4).map(|_| restart(&app));
    for state in futures_util::future::join_all(starts).await {
        state.unwrap();
    }
    let count: i64 = app
        .db()
        .await
        .query_one("SELECT count(*) FROM signing_keys", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
}

#[tokio::test]
async fn a_replica_whose_clock_lags_adopts_the_key_another_just_created() {
    let app = spawn_app().await;
    let db = app.db().await;
    db.execute("DELETE FROM signing_keys", &[]).await.unwrap();
    let now = time::OffsetDateTime::now_utc();
    restart_with_clock(&app, Arc::new(ManualClock::new(now)))
        .await
        .unwrap();
    let lagging = restart_with_clock(
        &app,
        Arc::new(ManualClock::new(now - time::Duration::seconds(2))),
    )
    .await
    .unwrap();
    let count: i64 = db
        .query_one("SELECT count(*) FROM signing_keys", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
    assert!(
        lagging
            .key_ring
            .signing_key(now - time::Duration::seconds(2))
            .is_some()
    );
}
