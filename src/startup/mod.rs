//! Building authd: its state from config and stores, and the HTTP server around it.
//! `main` and the integration tests both start authd through here.

use std::{future::Future, io, net::SocketAddr, sync::Arc, time::Duration};

use poem::{Endpoint, EndpointExt};
use tokio::net::TcpListener;

use crate::http::server::{self, ConnectionLimits};
use crate::{
    accounts::{
        AUDIT_QUEUE_CAPACITY, Accounts, AuditLog, Factors, Passkeys, PasswordHasher, PendingLogins,
        Reauthentications, SecondFactors,
    },
    authorization::Authorizations,
    clients::{ClientAssertions, Clients},
    clock::Clock,
    config::{Config, ConfigError, RedisArgs},
    error::Error,
    exchange::{ExternalIssuers, Targets},
    invalidation::{self, Freshness, LocalCaches},
    keys::{KeyManager, KeyPolicy, KeyRing, KeyRingError, MasterKeys, RotationMode},
    metrics::Metrics,
    possession::{DpopVerifier, PopNonces},
    rate_limit::{LoginThrottle, RateLimiter},
    sessions::Sessions,
    state::AppState,
    store::{self, ClientStore, ProfileStore, StoreError, Stores, UserStore},
    tokens::{Revocations, TokenIssuer, TokenVerifier},
};

/// Why authd could not start. Each message names the setting or service to look at.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{setting}: {source}")]
    Connect {
        setting: &'static str,
        source: StoreError,
    },
    #[error("migrations: {0}")]
    Migrate(StoreError),
    #[error("signing keys: {0} (is AUTHD_MASTER_KEY the key they were sealed with?)")]
    Keys(#[from] KeyRingError),
    #[error(transparent)]
    Domain(#[from] Error),
    #[error("traces: {0}")]
    Telemetry(#[from] crate::telemetry::OtlpError),
    #[error("listen address {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
}

// The state's constructor lives here, not in `state`: building it is start-up work (it loads
// keys, hashes a dummy password and can fail with a `StartupError`), and `state` stays below `http`.
impl AppState {
    /// Loads (or creates) the signing keys and assembles the domain services over `stores`.
    pub async fn build(
        config: Config,
        stores: Stores,
        master_keys: impl Into<MasterKeys>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        let masters: MasterKeys = master_keys.into();
        let metrics = Arc::new(
            Metrics::new().map_err(|err| Error::Internal(format!("metrics registry: {err}")))?,
        );
        let now = clock.now();
        let mut key_ring = KeyRing::load(
            stores.signing_keys.as_ref(),
            &masters,
            config.signing_algorithm,
            now,
            config.signing_key_lifetime,
            config.access_token_ttl,
        )
        .await?;
        if config.expired_tokens {
            tracing::warn!(
                "expired-token test mode is ON: POST /auth?expired=true issues expired tokens"
            );
            key_ring = key_ring
                .with_expired_test_key(
                    stores.signing_keys.as_ref(),
                    &masters,
                    config.signing_algorithm,
                    now,
                )
                .await?;
        }
        let key_ring = Arc::new(key_ring);
        let max_token_lifetime = config.access_token_ttl + config.clock_leeway;
        // The TOTP secrets are sealed under the same master keys as the signing keys.
        let second_factors = Arc::new(SecondFactors::new(
            stores.second_factors.clone(),
            masters.clone(),
            clock.clone(),
            authenticator_label(&config.public_url),
        ));
        let passkeys = Arc::new(Passkeys::new(
            &config.public_url,
            &authenticator_label(&config.public_url),
            stores.passkeys.clone(),
            stores.proof_state.clone(),
            clock.clone(),
        ));
        let keys = Arc::new(KeyManager::new(
            stores.signing_keys.clone(),
            stores.events.clone(),
            key_ring.clone(),
            masters,
            clock.clone(),
            KeyPolicy {
                algorithm: config.signing_algorithm,
                key_lifetime: config.signing_key_lifetime,
                rotation_interval: config.key_rotation,
                max_token_lifetime,
            },
        ));
        let events = stores.events.clone();
        let freshness = Arc::new(Freshness::new(config.revocation_max_lag));
        let caches = Arc::new(LocalCaches::default());
        let (users, clients, profiles) = caches.wrap(
            freshness.clone(),
            events.clone(),
            stores.users,
            stores.clients,
            stores.profiles,
        );
        let (users, clients, profiles): (
            Arc<dyn UserStore>,
            Arc<dyn ClientStore>,
            Arc<dyn ProfileStore>,
        ) = (Arc::new(users), Arc::new(clients), Arc::new(profiles));
        let hasher = PasswordHasher::new(config.argon2).await?;
        let revocations = Arc::new(Revocations::new(
            stores.revocations,
            stores.token_cache,
            freshness.clone(),
            events.clone(),
            metrics.clone(),
        ));
        let sessions = Arc::new(Sessions::new(
            stores.sessions,
            revocations.clone(),
            clock.clone(),
            config.refresh_token_ttl,
            config.session_max_lifetime,
            config.access_token_ttl + config.clock_leeway,
            metrics.clone(),
        ));
        let trust = config.trust.clone();
        Ok(Self {
            pending_logins: Arc::new(PendingLogins::new(stores.proof_state.clone())),
            reauthentications: Arc::new(Reauthentications::new(stores.proof_state.clone())),
            targets: Arc::new(Targets::new(trust.clone(), config.audience.clone())),
            external_issuers: Arc::new(ExternalIssuers::new(
                &trust.issuers,
                clock.clone(),
                config.clock_leeway,
            )),
            trust,
            authorizations: Arc::new(Authorizations::new(
                stores.proof_state.clone(),
                stores.consents,
                sessions.clone(),
                clock.clone(),
            )),
            verifier: Arc::new(
                TokenVerifier::new(
                    key_ring.clone(),
                    revocations.clone(),
                    clock.clone(),
                    config.issuer.clone(),
                    config.audience.clone(),
                    config.clock_leeway,
                    metrics.clone(),
                )
                .with_resources(
                    config
                        .trust
                        .resources
                        .iter()
                        .map(|resource| resource.id.clone()),
                ),
            ),
            sessions,
            clients: Arc::new(Clients::new(clients, clock.clone()).with_assertions(
                ClientAssertions::new(
                    &config.issuer,
                    &config.public_url,
                    stores.proof_state.clone(),
                    clock.clone(),
                ),
            )),
            revocations,
            users: users.clone(),
            profiles,
            pop_nonces: Arc::new(PopNonces::new(
                stores.proof_state.clone(),
                clock.clone(),
                config.pop_nonce_ttl,
                config.pop_nonce_reuse,
            )),
            dpop: Arc::new(DpopVerifier::new(
                stores.proof_state,
                clock.clone(),
                config.public_url.clone(),
                config.dpop_nonce,
            )),
            accounts: Accounts::new(
                users.clone(),
                AuditLog::start(
                    stores.auth_logs,
                    users,
                    metrics.audit_queue_depth.clone(),
                    AUDIT_QUEUE_CAPACITY,
                ),
                hasher,
                Arc::new(LoginThrottle::new(
                    stores.rate_limits.clone(),
                    config.login_failure_limit,
                    config.login_failure_window,
                    clock.clone(),
                    metrics.clone(),
                )),
                Factors {
                    totp: second_factors,
                    passkeys,
                },
                clock.clone(),
                metrics.clone(),
            ),
            tokens: Arc::new(TokenIssuer::new(
                key_ring.clone(),
                config.issuer.clone(),
                config.audience.clone(),
                config.access_token_ttl,
            )),
            key_ring,
            keys,
            events,
            freshness,
            caches,
            housekeeping: stores.housekeeping.clone(),
            rate_limiter: Arc::new(RateLimiter::per_second(
                stores.rate_limits,
                config.rate_limit_per_second,
                clock.clone(),
                metrics.clone(),
            )),
            metrics,
            probes: stores.probes.into(),
            config: Arc::new(config),
            clock,
        })
    }
}

/// Connects to Postgres and Redis (failing fast, naming the setting) and wires their stores.
pub async fn connect_stores(
    database_url: &str,
    redis_args: &RedisArgs,
) -> Result<Stores, StartupError> {
    let pg_pool = store::postgres::connect(database_url)
        .await
        .map_err(|source| StartupError::Connect {
            setting: "DATABASE_URL",
            source,
        })?;
    let redis_connect = async {
        let target = store::redis::RedisTarget::parse(
            &redis_args.redis_url,
            redis_args.redis_ca_file.as_deref(),
        )?;
        let backend = store::redis::connect(&target).await?;
        Ok::<_, store::StoreError>((target, backend))
    };
    let (redis_target, redis_backend) =
        redis_connect
            .await
            .map_err(|source| StartupError::Connect {
                setting: "REDIS_URL",
                source,
            })?;
    let postgres = store::postgres::Postgres::new(pg_pool);
    let redis = store::redis::Redis::new(redis_backend, redis_args.redis_prefix.clone());
    let events = store::redis::RedisEvents::new(redis.clone(), redis_target);
    Ok(Stores {
        events: Arc::new(events),
        users: postgres.users(),
        signing_keys: postgres.signing_keys(),
        auth_logs: postgres.auth_logs(),
        rate_limits: Arc::new(store::redis::RedisRateLimits(redis.clone())),
        revocations: postgres.revocations(),
        sessions: postgres.sessions(),
        clients: postgres.clients(),
        consents: postgres.consents(),
        profiles: postgres.profiles(),
        second_factors: postgres.second_factors(),
        passkeys: postgres.passkeys(),
        proof_state: Arc::new(store::redis::RedisProofState(redis.clone())),
        housekeeping: postgres.housekeeping(),
        token_cache: Arc::new(store::redis::RedisTokenState(redis.clone())),
        probes: vec![Arc::new(postgres), Arc::new(redis)],
    })
}

/// The stores an administrative command (`authd clients …`, `authd users …`) changes: their
/// writes are announced on the invalidation channel like a replica's, so every running replica
/// forgets what it cached. The command follows no channel, so it reads from Postgres only.
pub struct AdminStores {
    pub clients: Arc<dyn ClientStore>,
    pub users: Arc<dyn UserStore>,
}

pub async fn connect_admin(
    database_url: &str,
    redis_args: &RedisArgs,
) -> Result<AdminStores, StartupError> {
    let stores = connect_stores(database_url, redis_args).await?;
    // Never caught up, so never current: every read goes to the store.
    let freshness = Arc::new(Freshness::new(Duration::ZERO));
    let (users, clients, _) = Arc::new(LocalCaches::default()).wrap(
        freshness,
        stores.events,
        stores.users,
        stores.clients,
        stores.profiles,
    );
    Ok(AdminStores {
        clients: Arc::new(clients),
        users: Arc::new(users),
    })
}

/// The HTTP application for `state`: used by `main` and by the tests alike.
pub fn build_app(state: &AppState) -> impl Endpoint + 'static {
    crate::http::routes(state).map_to_response()
}

/// A bound, not yet running server. Binding first lets callers learn the port (tests bind 0).
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

/// How long in-flight requests may take to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

impl Application {
    pub async fn bind(addr: SocketAddr, state: AppState) -> Result<Self, StartupError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        Ok(Self { listener, state })
    }

    /// Serves on a listener bound elsewhere (tests bind first to learn their public URL).
    pub fn from_listener(listener: std::net::TcpListener, state: AppState) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        Ok(Self {
            listener: TcpListener::from_std(listener)?,
            state,
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish.
    /// Meanwhile keeps the key ring current and rotates keys when due.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> io::Result<()> {
        let app = build_app(&self.state);
        let background = [
            tokio::spawn(invalidation::follow(self.state.clone())),
            tokio::spawn(invalidation::send_heartbeats(self.state.clone())),
            tokio::spawn(poll_keys(self.state.clone())),
            tokio::spawn(clean_up_periodically(self.state.clone())),
        ];
        let limits = ConnectionLimits {
            max_connections: self.state.config.max_connections,
            header_timeout: self.state.config.header_timeout,
            drain_timeout: DRAIN_TIMEOUT,
        };
        let served = server::serve(self.listener, app, limits, shutdown).await;
        for task in background {
            task.abort();
        }
        // The requests have drained: write the audit rows they queued before the process ends.
        self.state.accounts.flush_audit().await;
        served
    }
}

/// Every cleanup interval, one replica removes expired data (the others find the lock taken).
async fn clean_up_periodically(state: AppState) {
    let mut ticks = tokio::time::interval(state.config.cleanup_interval);
    loop {
        ticks.tick().await;
        if let Err(err) = state.clean_up().await {
            tracing::error!(error = %err, "cleanup failed");
        }
    }
}

/// Every reload interval: rotate if the schedule says so (one replica wins the lock), and
/// re-read the keys, so a missed announcement only delays.
async fn poll_keys(state: AppState) {
    let mut ticks = tokio::time::interval(state.config.key_reload_interval);
    ticks.tick().await; // the first tick is immediate; the ring was just loaded
    loop {
        ticks.tick().await;
        if let Err(err) = state.keys.rotate(RotationMode::Scheduled).await {
            tracing::error!(error = %err, "scheduled key rotation failed");
        }
        if let Err(err) = state.keys.reload().await {
            tracing::error!(error = %err, "could not reload signing keys");
        }
    }
}

/// What an authenticator app shows as the issuer of authd's codes: `authd` and the host users
/// reach it at, so two deployments are told apart (no `:`, which the Key Uri Format reserves).
fn authenticator_label(public_url: &str) -> String {
    match url::Url::parse(public_url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
    {
        Some(host) => format!("authd ({host})"),
        None => "authd".to_owned(),
    }
}
