//! Properties checked over many generated cases (proptest): every token authd issues verifies,
//! and no single-byte change of one does, for each signing algorithm.

use std::sync::Arc;

use authd::{AppState, clock::SystemClock, keys::MasterKey, store::UserRecord, store::memory};
use proptest::{
    prelude::*,
    sample::Index,
    test_runner::{Config, TestRunner},
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::helpers::{AppOptions, Backend, test_config};

/// An authd on `authd dev`'s in-memory stores: the properties are about tokens, not storage.
fn authority(runtime: &tokio::runtime::Runtime, algorithm: jsonwebtoken::Algorithm) -> AppState {
    let options = AppOptions {
        backend: Backend::Memory,
        signing_algorithm: algorithm,
        ..AppOptions::default()
    };
    runtime
        .block_on(AppState::build(
            test_config(&options),
            memory::stores(),
            &MasterKey::generate_ephemeral(),
            Arc::new(SystemClock),
        ))
        .unwrap()
}

fn user(username: String, email: String) -> UserRecord {
    UserRecord {
        email_verified_at: None,
        id: Uuid::now_v7(),
        username,
        email,
        password_hash: None,
        created_at: OffsetDateTime::now_utc(),
        last_login_at: None,
        pop_public_key: None,
        disabled_at: None,
        revision: 1,
        external_id: None,
    }
}

/// Usernames and emails of any shape registration accepts, and a byte to change in the token:
/// where, and to what (a character a header could carry).
fn cases() -> impl Strategy<Value = (String, String, Index, u8)> {
    (
        "[A-Za-z0-9_.-]{1,64}",
        "[a-z0-9.+]{1,30}@[a-z0-9-]{1,30}\\.[a-z]{2,8}",
        any::<Index>(),
        0x21u8..0x7f,
    )
}

#[test]
fn every_issued_token_verifies_and_no_single_byte_change_of_it_does() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for algorithm in authd::keys::SUPPORTED_ALGORITHMS {
        let state = authority(&runtime, algorithm);
        let mut runner = TestRunner::new(Config {
            cases: 96,
            ..Config::default()
        });
        runner
            .run(&cases(), |(username, email, at, replacement)| {
                let user = user(username, email);
                let issued = state
                    .tokens
                    .issue(&user, OffsetDateTime::now_utc())
                    .unwrap();
                let verified = runtime
                    .block_on(state.verifier.verify(&issued.token))
                    .map_err(|err| TestCaseError::fail(format!("{algorithm:?}: {err}")))?;
                prop_assert_eq!(&verified.claims.sub, &user.id.to_string());
                prop_assert_eq!(
                    verified.claims.username.as_deref(),
                    Some(user.username.as_str())
                );

                let mut changed = issued.token.clone().into_bytes();
                let position = at.index(changed.len());
                prop_assume!(changed[position] != replacement);
                changed[position] = replacement;
                let changed = String::from_utf8(changed).unwrap();
                prop_assert!(
                    runtime.block_on(state.verifier.verify(&changed)).is_err(),
                    "{:?}: changing byte {} to {:?} still verified",
                    algorithm,
                    position,
                    char::from(replacement)
                );
                Ok(())
            })
            .unwrap();
    }
}
