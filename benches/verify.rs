//! The cost of verifying an access token: from the replica's memory while it follows the
//! invalidation channel (no round trip), with the Redis round trip a replica makes when it has
//! lost the channel, and a cache miss (signature check). Against a real Redis; RS256 signing for
//! scale.
//!
//! Then the whole request path (`GET /me` through authd's HTTP stack, cache warm, memory
//! current) without telemetry, with the `serve` logs (a trace id minted per request), and with
//! spans exported: the cost of observability, as ratios of the same run (`cargo bench --bench verify -- overhead` runs
//! only that; it prints a table rather than criterion's report).
//!
//! Run: `cargo bench --bench verify` (Redis at `AUTHD_BENCH_REDIS_URL`, default 127.0.0.1:6379).

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use authd::{
    AppState,
    clock::SystemClock,
    config::{Argon2Settings, Config},
    keys::MasterKey,
    store::{self, UserRecord},
};
use authd::{
    startup::build_app,
    telemetry::{LogFormat, log_layer, trace_layer, tracer_provider},
};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use opentelemetry_sdk::{
    error::OTelSdkResult,
    trace::{SpanData, SpanExporter},
};
use poem::{Endpoint, IntoResponse, http::StatusCode};
use tracing_subscriber::{EnvFilter, layer::SubscriberExt};

fn config() -> Config {
    Config {
        issuer: "http://bench".to_owned(),
        public_url: "http://bench".to_owned(),
        audience: "bench".to_owned(),
        trust: Default::default(),
        access_token_ttl: time::Duration::minutes(15),
        signing_algorithm: jsonwebtoken::Algorithm::RS256,
        signing_key_lifetime: time::Duration::days(30),
        key_rotation: time::Duration::days(1),
        key_reload_interval: Duration::from_secs(30),
        clock_leeway: time::Duration::seconds(30),
        revocation_max_lag: Duration::from_millis(250),
        refresh_token_ttl: time::Duration::days(14),
        session_max_lifetime: time::Duration::days(30),
        auth_log_retention: time::Duration::days(90),
        cleanup_interval: Duration::from_secs(3600),
        rate_limit_per_second: NonZeroU32::MIN,
        trusted_proxies: Vec::new(),
        argon2: Argon2Settings {
            memory_kib: 8 * 1024,
            iterations: 1,
            parallelism: 1,
        },
        expired_tokens: false,
        pop_nonce_ttl: time::Duration::minutes(2),
        pop_nonce_reuse: false,
        dpop_nonce: false,
        request_timeout: Duration::from_secs(10),
        login_failure_limit: NonZeroU32::new(5).unwrap(),
        login_failure_window: Duration::from_secs(15 * 60),
        max_connections: 1_000,
        header_timeout: Duration::from_secs(10),
        cors_origins: Vec::new(),
        require_par: false,
        pkce_policy: authd::clients::PkcePolicy::NonceAllowed,
        access_log: authd::telemetry::AccessLog::Writes,
        client_rate_limit: None,
        dynamic_registration: false,
        admin_group: "authd-admins".to_owned(),
        webhook_allow_loopback: false,
        backchannel_allow_loopback: false,
        ssf_allow_loopback: false,
        ssf: authd::ssf::SsfSettings::default(),
        registration_token: None,
        mail: authd::mail::MailSettings::off(
            "authd <authd@localhost>".parse().expect("an address"),
        ),
        ldap: None,
    }
}

/// In-memory stores, except the revocation list and the invalidation channel: the Redis that
/// production uses.
/// The bench replica, and its user store (the bench's user is written there directly).
async fn state(prefix: &str) -> (AppState, Arc<dyn store::UserStore>) {
    let url = std::env::var("AUTHD_BENCH_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let target = store::redis::RedisTarget::parse(&url, None).expect("AUTHD_BENCH_REDIS_URL");
    let backend = store::redis::connect(&target)
        .await
        .expect("Redis for the bench");
    let redis = store::redis::Redis::new(backend, prefix.to_owned());
    let mut stores = store::memory::stores();
    stores.token_cache = Arc::new(store::redis::RedisTokenState(redis.clone()));
    stores.events = Arc::new(store::redis::RedisEvents::new(redis, target));
    let users = stores.users.clone();
    let state = AppState::build(
        config(),
        stores,
        &MasterKey::generate_ephemeral(),
        Arc::new(SystemClock),
    )
    .await
    .expect("state");
    (state, users)
}

fn bench_user() -> UserRecord {
    UserRecord {
        email_verified_at: None,
        id: uuid::Uuid::now_v7(),
        username: "bench".to_owned(),
        email: "bench@example.com".to_owned(),
        password_hash: None,
        created_at: time::OffsetDateTime::now_utc(),
        last_login_at: None,
        pop_public_key: None,
        disabled_at: None,
        revision: 1,
        external_id: None,
    }
}

fn verification(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let prefix = format!("authd-bench:{}:", uuid::Uuid::new_v4().simple());
    let (state, _) = runtime.block_on(state(&prefix));
    let user = bench_user();
    let issue = || {
        state
            .tokens
            .issue(&user, time::OffsetDateTime::now_utc())
            .expect("issue")
            .token
    };

    let mut group = c.benchmark_group("access token");
    group.bench_function("sign (RS256)", |b| b.iter(issue));

    let verifier = &state.verifier;
    let warm = issue();
    runtime.block_on(verifier.verify(&warm)).expect("verifies");
    // Not following the channel yet: every verification asks Redis, as a replica does while its
    // memory is not current.
    group.bench_function(
        "verify, cache hit, channel lost (one Redis round trip)",
        |b| {
            b.to_async(&runtime)
                .iter(|| async { verifier.verify(&warm).await.expect("verifies") });
        },
    );
    follow_channel(&runtime, &state);
    group.bench_function("verify, cache hit, memory current (no round trip)", |b| {
        b.to_async(&runtime)
            .iter(|| async { verifier.verify(&warm).await.expect("verifies") });
    });
    group.bench_function(
        "verify, cache miss, memory current (signature check, cache write)",
        |b| {
            b.to_async(&runtime).iter_batched(
                issue,
                |token| async move { verifier.verify(&token).await.expect("verifies") },
                BatchSize::SmallInput,
            );
        },
    );
    group.finish();
}

/// Starts what `serve` runs beside the HTTP server to keep memory current, and waits until the
/// replica trusts its memory.
fn follow_channel(runtime: &tokio::runtime::Runtime, state: &AppState) {
    let channel = authd::tasks::Channel::of(state);
    runtime.spawn(channel.clone().follow());
    runtime.spawn(channel.send_heartbeats());
    runtime.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !state.freshness.is_current() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the bench replica did not catch up with the invalidation channel"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
}

/// Takes spans as the batch processor hands them over, and drops them: what exporting costs the
/// request path, without a network in the measurement.
#[derive(Debug)]
struct DiscardSpans;

impl SpanExporter for DiscardSpans {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

/// Process CPU time (user + system) so far, from `/proc/self/stat` (Linux; 10 ms ticks).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<u64> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|field| field.parse().expect("a tick count"))
        .collect();
    Duration::from_millis(fields.iter().sum::<u64>() * 10)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// What observability costs the request path: `GET /me` (cache warm) through authd's HTTP
/// stack without telemetry, with `serve`'s (JSON log lines, each with the request's trace id),
/// and with spans exported (to an exporter that discards them, so no network is
/// measured). The variants alternate in rounds, so the drift of a shared machine hits all of
/// them alike; the medians per request, wall and CPU, are printed with their ratios.
fn telemetry_overhead(_: &mut Criterion) {
    const ROUNDS: usize = 15;
    // Enough for a round to span many 10 ms ticks of the process CPU clock.
    const REQUESTS: u32 = 15_000;
    // Requests run in `block_on`, on this thread, so the subscriber set for a variant is the
    // one they run under; the one worker keeps the channel followed between requests.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let prefix = format!("authd-bench:{}:", uuid::Uuid::new_v4().simple());
    let (state, users) = runtime.block_on(state(&prefix));
    follow_channel(&runtime, &state);
    let user = bench_user();
    runtime
        .block_on(users.insert_user(&user))
        .expect("the user /me reads");
    let token = state
        .tokens
        .issue(&user, time::OffsetDateTime::now_utc())
        .expect("issue")
        .token;
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let app = build_app(&state);
    let get_me = || {
        let request = poem::Request::builder()
            .uri(poem::http::Uri::from_static("/me"))
            .header("authorization", format!("Bearer {token}"))
            .finish();
        let response = runtime
            .block_on(app.call(request))
            .expect("answered")
            .into_response();
        assert_eq!(response.status(), StatusCode::OK);
    };
    get_me(); // warms the verified-token cache
    let round = || {
        let (wall, cpu) = (std::time::Instant::now(), cpu_time());
        for _ in 0..REQUESTS {
            get_me();
        }
        let per_request = |elapsed: Duration| elapsed.as_secs_f64() * 1e6 / f64::from(REQUESTS);
        (per_request(wall.elapsed()), per_request(cpu_time() - cpu))
    };

    let exporting = tracer_provider(Some(DiscardSpans));
    // As `telemetry::init` builds it: the OpenTelemetry layer only when spans are exported.
    let serve = |provider: Option<&_>, level: &str| {
        let logs = tracing_subscriber::registry().with(log_layer(
            LogFormat::Json,
            std::io::sink,
            EnvFilter::new(level),
        ));
        match provider {
            Some(provider) => tracing::Dispatch::new(logs.with(trace_layer(provider))),
            None => tracing::Dispatch::new(logs),
        }
    };
    let variants: [(&str, Option<tracing::Dispatch>); 4] = [
        ("no telemetry", None),
        (
            "serve: JSON log lines with trace ids",
            Some(serve(None, "info")),
        ),
        (
            "serve, spans exported",
            Some(serve(Some(&exporting), "info")),
        ),
        (
            "serve, spans exported, AUTHD_LOG=warn",
            Some(serve(Some(&exporting), "warn")),
        ),
    ];
    let mut samples = vec![(Vec::new(), Vec::new()); variants.len()];
    for _ in 0..ROUNDS {
        for ((_, dispatch), (walls, cpus)) in variants.iter().zip(&mut samples) {
            let (wall, cpu) = match dispatch {
                Some(dispatch) => tracing::dispatcher::with_default(dispatch, round),
                None => round(),
            };
            walls.push(wall);
            cpus.push(cpu);
        }
    }
    let _ = exporting.shutdown();
    println!(
        "\nGET /me (cache warm), {ROUNDS} alternating rounds of {REQUESTS} requests, medians per request:"
    );
    let (base_wall, base_cpu) = (median(samples[0].0.clone()), median(samples[0].1.clone()));
    for ((name, _), (walls, cpus)) in variants.iter().zip(samples) {
        let (wall, cpu) = (median(walls), median(cpus));
        println!(
            "  {name:<40} wall {wall:6.1} µs ({:.2}×)   CPU {cpu:6.1} µs ({:.2}×)",
            wall / base_wall,
            cpu / base_cpu
        );
    }
}

criterion_group!(benches, verification, telemetry_overhead);
criterion_main!(benches);
