//! What each cryptographic operation of a request costs, alone: the figures the load baselines
//! divide by (`bench/compare.sh`). Signing and verifying with each algorithm authd offers,
//! opening a sealed signing key (AES-256-GCM under the master key, done at start and reload),
//! and one Argon2id hash with the configured parameters (`AUTHD_ARGON2_MEMORY_KIB`,
//! `_ITERATIONS`, `_PARALLELISM`; `serve`'s defaults otherwise).
//!
//! Run: `cargo bench --bench crypto`.

use authd::{
    accounts::{Password, PasswordHasher},
    config::Argon2Settings,
    keys::{KeyWindow, MasterKey, MasterKeys, SigningKey, generate},
};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, EncodingKey, Header, Validation, decode, encode};
use rsa::{RsaPrivateKey, pkcs1::EncodeRsaPrivateKey};
use serde_json::{Value, json};

fn window(now: time::OffsetDateTime) -> KeyWindow {
    KeyWindow {
        not_before: now,
        expires_at: now + time::Duration::days(1),
        retire_at: now + time::Duration::days(2),
    }
}

fn signatures(c: &mut Criterion) {
    let master = MasterKey::generate_ephemeral();
    let masters = MasterKeys::from(&master);
    let now = time::OffsetDateTime::now_utc();
    // The size of a real access token's claims.
    let claims = json!({
        "iss": "https://auth.example.com", "sub": uuid::Uuid::now_v7(), "aud": "api",
        "exp": now.unix_timestamp() + 900, "iat": now.unix_timestamp(),
        "nbf": now.unix_timestamp(), "jti": uuid::Uuid::new_v4(), "username": "alice",
        "sid": uuid::Uuid::now_v7(), "scope": "profile",
    });
    let mut group = c.benchmark_group("signing key");
    for algorithm in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let (record, key) = generate(algorithm, &master, window(now), now).expect("a key");
        let header = Header::new(algorithm);
        group.bench_function(format!("sign {algorithm:?}"), |b| {
            b.iter(|| key.sign(&header, &claims).expect("signed"))
        });
        let token = key.sign(&header, &claims).expect("signed");
        let mut validation = Validation::new(algorithm);
        validation.set_audience(&["api"]);
        group.bench_function(format!("verify {algorithm:?}"), |b| {
            b.iter(|| decode::<Value>(&token, &key.decoding, &validation).expect("verified"))
        });
        group.bench_function(
            format!("open sealed {algorithm:?} key (AES-256-GCM)"),
            |b| b.iter(|| SigningKey::open(&record, &masters).expect("opened")),
        );
    }
    group.finish();
}

fn argon2(c: &mut Criterion) {
    let setting = |name: &str, default: u32| {
        std::env::var(name)
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(default)
    };
    let settings = Argon2Settings {
        memory_kib: setting("AUTHD_ARGON2_MEMORY_KIB", 19456),
        iterations: setting("AUTHD_ARGON2_ITERATIONS", 2),
        parallelism: setting("AUTHD_ARGON2_PARALLELISM", 1),
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let hasher = runtime
        .block_on(PasswordHasher::new(settings))
        .expect("hasher");
    let password = Password::generate();
    let mut group = c.benchmark_group("password");
    group.sample_size(20);
    group.bench_function(
        format!(
            "argon2id hash (m={} KiB, t={}, p={})",
            settings.memory_kib, settings.iterations, settings.parallelism
        ),
        |b| {
            b.to_async(&runtime)
                .iter(|| async { hasher.hash(&password).await.expect("hashed") })
        },
    );
    // One hash per core at once, as under a login load: divide the time by the cores for the
    // rate the machine sustains. It can fall short of one core's rate times the cores when the
    // hashes' working memory no longer fits the shared cache together.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    group.bench_function(format!("argon2id, {cores} hashes at once"), |b| {
        b.to_async(&runtime).iter(|| async {
            futures_util::future::join_all((0..cores).map(|_| hasher.hash(&password))).await
        })
    });
    group.finish();
}

/// What authd's RS256 signature cost before keys were kept parsed: jsonwebtoken's `encode`
/// parses the DER key, with its consistency checks, on every call.
fn reparsing_signature(c: &mut Criterion) {
    let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("a key");
    let der = private.to_pkcs1_der().expect("PKCS#1");
    let key = EncodingKey::from_rsa_der(der.as_bytes());
    let header = Header::new(Algorithm::RS256);
    let claims = json!({"sub": "alice", "aud": "api", "exp": 2_000_000_000});
    let mut group = c.benchmark_group("signing key");
    group.bench_function(
        "jsonwebtoken encode RS256 (key parsed per signature)",
        |b| b.iter(|| encode(&header, &claims, &key).expect("signed")),
    );
    group.finish();
}

criterion_group!(benches, signatures, reparsing_signature, argon2);
criterion_main!(benches);
