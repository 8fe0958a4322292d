//! Spawning authd for a test: its own Postgres database (cloned from a migrated template) and
//! its own Redis key prefix, on a random port, torn down when the test ends, even by panic.

use std::{
    num::NonZeroU32,
    sync::Arc,
    time::{Duration, Instant},
};

use authd::{
    AppState, Application,
    clock::{Clock, SystemClock},
    config::{Argon2Settings, Config, RedisArgs},
    keys::MasterKey,
    startup::connect_stores,
    store::{self, Stores},
};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use tokio_postgres::NoTls;
use uuid::Uuid;

pub const ISSUER: &str = "http://authd.test";
pub const AUDIENCE: &str = "authd-tests";

/// A port free on 127.0.0.1 now (another process may take it before it is used).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn admin_database_url() -> String {
    std::env::var("AUTHD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub fn redis_url() -> String {
    std::env::var("AUTHD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn database_url(name: &str) -> String {
    let admin = admin_database_url();
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    format!("{base}/{name}")
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Backend {
    /// `authd serve`'s stores: Postgres and Redis.
    Durable,
    /// `authd dev`'s stores: in memory.
    Memory,
}

/// How to start an app. Defaults suit most tests: a generous rate limit (tests register many
/// users from 127.0.0.1) and cheap Argon2 (the tests check behaviour, not hashing cost).
#[derive(Clone)]
pub struct AppOptions {
    pub backend: Backend,
    pub rate_limit: u32,
    pub expired_tokens: bool,
    pub clock: Arc<dyn Clock>,
    pub signing_algorithm: jsonwebtoken::Algorithm,
    /// PoP nonces reusable for the token's life (the seed's mode) instead of single-use.
    pub pop_nonce_reuse: bool,
    /// Require DPoP server nonces.
    pub dpop_nonce: bool,
    /// Where clients reach the app (DPoP `htu`); `None` for the first replica's own address,
    /// which its siblings then share, as replicas behind one load balancer do.
    pub public_url: Option<String>,
    /// Failed logins per username and address before throttling (generous by default: tests
    /// log in wrongly on purpose, all from 127.0.0.1).
    pub login_failure_limit: u32,
    pub cors_origins: Vec<String>,
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub revocation_max_lag: Duration,
    /// Wait, when starting, until the app follows the invalidation channel.
    pub await_channel: bool,
    /// Proxies whose `X-Forwarded-For` is believed: lets a test speak from several addresses.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `AUTHD_REQUIRE_PAR`.
    pub require_par: bool,
    /// `AUTHD_DYNAMIC_REGISTRATION`, and its initial access token.
    pub dynamic_registration: bool,
    pub registration_token: Option<String>,
    /// `AUTHD_TRUST_FILE`'s contents, parsed.
    pub trust: Option<authd::exchange::TrustFile>,
    /// `AUTHD_SESSION_MAX_LIFETIME`.
    pub session_max_lifetime: time::Duration,
    /// `AUTHD_PKCE_POLICY`.
    pub pkce_policy: authd::clients::PkcePolicy,
    /// `AUTHD_CLIENT_RATE_LIMIT`.
    pub client_rate_limit: Option<std::num::NonZeroU32>,
    /// `AUTHD_SMTP_URL` and the rest: mail off unless a test sets it.
    pub mail: authd::mail::MailSettings,
    /// `AUTHD_LDAP_*`: no directory unless a test sets one.
    pub ldap: Option<authd::ldap::LdapSettings>,
    /// `AUTHD_WEBHOOK_ALLOW_LOOPBACK`: on by default, as the tests' receivers are local.
    pub webhook_allow_loopback: bool,
    /// The issuer is the app's own address (as for an upstream identity provider whose
    /// discovery document is fetched), not the tests' fixed [`ISSUER`].
    pub own_issuer: bool,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            backend: Backend::Durable,
            rate_limit: 10_000,
            expired_tokens: false,
            clock: Arc::new(SystemClock),
            signing_algorithm: jsonwebtoken::Algorithm::RS256,
            pop_nonce_reuse: false,
            dpop_nonce: false,
            public_url: None,
            login_failure_limit: 1_000,
            cors_origins: Vec::new(),
            max_connections: 1_000,
            header_timeout: Duration::from_secs(10),
            revocation_max_lag: Duration::from_millis(250),
            await_channel: true,
            trusted_proxies: Vec::new(),
            require_par: false,
            dynamic_registration: false,
            webhook_allow_loopback: true,
            own_issuer: false,
            registration_token: None,
            trust: None,
            session_max_lifetime: time::Duration::days(30),
            pkce_policy: authd::clients::PkcePolicy::NonceAllowed,
            client_rate_limit: None,
            mail: authd::mail::MailSettings::off("authd <authd@localhost>".parse().unwrap()),
            ldap: None,
        }
    }
}

pub fn test_config(options: &AppOptions) -> Config {
    Config {
        issuer: match (&options.public_url, options.own_issuer) {
            (Some(url), true) => url.clone(),
            _ => ISSUER.to_owned(),
        },
        public_url: options
            .public_url
            .clone()
            .unwrap_or_else(|| ISSUER.to_owned()),
        audience: AUDIENCE.to_owned(),
        trust: std::sync::Arc::new(options.trust.clone().unwrap_or_default()),
        access_token_ttl: time::Duration::minutes(15),
        signing_algorithm: options.signing_algorithm,
        signing_key_lifetime: time::Duration::days(30),
        key_rotation: time::Duration::days(1),
        key_reload_interval: Duration::from_secs(30),
        clock_leeway: time::Duration::seconds(30),
        revocation_max_lag: options.revocation_max_lag,
        refresh_token_ttl: time::Duration::days(14),
        session_max_lifetime: options.session_max_lifetime,
        auth_log_retention: time::Duration::days(90),
        cleanup_interval: Duration::from_secs(3600),
        rate_limit_per_second: NonZeroU32::new(options.rate_limit).unwrap(),
        trusted_proxies: options.trusted_proxies.clone(),
        argon2: Argon2Settings {
            memory_kib: 8 * 1024,
            iterations: 1,
            parallelism: 1,
        },
        expired_tokens: options.expired_tokens,
        pop_nonce_ttl: time::Duration::minutes(2),
        pop_nonce_reuse: options.pop_nonce_reuse,
        dpop_nonce: options.dpop_nonce,
        request_timeout: Duration::from_secs(5),
        login_failure_limit: NonZeroU32::new(options.login_failure_limit).unwrap(),
        login_failure_window: Duration::from_secs(15 * 60),
        max_connections: options.max_connections,
        header_timeout: options.header_timeout,
        cors_origins: options.cors_origins.clone(),
        require_par: options.require_par,
        pkce_policy: options.pkce_policy,
        access_log: authd::telemetry::AccessLog::All,
        client_rate_limit: options.client_rate_limit,
        dynamic_registration: options.dynamic_registration,
        admin_group: "authd-admins".to_owned(),
        webhook_allow_loopback: options.webhook_allow_loopback,
        backchannel_allow_loopback: options.webhook_allow_loopback,
        ssf_allow_loopback: options.webhook_allow_loopback,
        ssf: authd::ssf::SsfSettings::default(),
        registration_token: options
            .registration_token
            .clone()
            .map(secrecy::SecretString::from),
        mail: options.mail.clone(),
        ldap: options.ldap.clone(),
    }
}

/// A running authd and what it runs on.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub master_key: MasterKey,
    pub options: AppOptions,
    /// Shared with sibling apps; dropped (database and Redis keys removed) with the last one.
    pub resources: Arc<TestResources>,
    _shutdown: oneshot::Sender<()>,
}

/// The per-test database and Redis prefix.
pub struct TestResources {
    pub database: Option<String>,
    pub redis_prefix: String,
    /// `AUTHD_MASTER_KEY` for running the `authd` binary on this app's data.
    pub master_key_base64: String,
}

/// A fresh master key, and its `AUTHD_MASTER_KEY` form.
pub fn new_master_key() -> (MasterKey, String) {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes);
    (MasterKey::from_slice(&bytes).unwrap(), encoded)
}

impl TestResources {
    pub fn database_url(&self) -> String {
        database_url(self.database.as_deref().unwrap_or("postgres"))
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    let (master_key, master_key_base64) = new_master_key();
    let resources = match options.backend {
        Backend::Durable => Arc::new(TestResources {
            database: Some(create_test_database().await),
            redis_prefix: new_redis_prefix(),
            master_key_base64,
        }),
        Backend::Memory => Arc::new(TestResources {
            database: None,
            redis_prefix: String::new(),
            master_key_base64,
        }),
    };
    start(options, resources, master_key).await
}

impl TestApp {
    /// A second replica on the same database, Redis prefix and master key.
    pub async fn spawn_sibling(&self) -> TestApp {
        start(
            self.options.clone(),
            self.resources.clone(),
            self.master_key.clone(),
        )
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn db(&self) -> tokio_postgres::Client {
        connect_db(&self.resources.database_url()).await
    }

    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Registers `username` with a generated password and returns that password.
    pub async fn register(&self, username: &str) -> String {
        let response = self
            .post_json(
                "/register",
                serde_json::json!({"username": username, "email": format!("{username}@example.com")}),
            )
            .await;
        assert_eq!(response.status(), 201, "registering {username}");
        let body: serde_json::Value = response.json().await.unwrap();
        body["password"].as_str().unwrap().to_owned()
    }

    /// Logs in and returns the access token.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let response = self
            .post_json(
                "/auth",
                serde_json::json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(response.status(), 200, "logging in {username}");
        let body: serde_json::Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// `GET /me` with `token` as the bearer.
    pub async fn me(&self, token: &str) -> reqwest::Response {
        self.client
            .get(self.url("/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Deletes a user the supported way, `authd users delete`, which tells every replica.
    pub async fn delete_user(&self, username: &str) {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_authd"))
            .args(["users", "delete", username])
            .env("DATABASE_URL", self.resources.database_url())
            .env("REDIS_URL", redis_url())
            .env("AUTHD_REDIS_PREFIX", &self.resources.redis_prefix)
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "authd users delete: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        // Every replica has forgotten the user by the max lag: the bound a caller may rely on.
        tokio::time::sleep(self.options.revocation_max_lag).await;
    }

    /// The status of `GET /me` with `token` as the bearer.
    pub async fn me_status(&self, token: &str) -> u16 {
        self.me(token).await.status().as_u16()
    }

    /// `POST /logout` with `token` as the bearer and no body.
    pub async fn logout(&self, token: &str) -> reqwest::Response {
        self.client
            .post(self.url("/logout"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn jwks(&self) -> serde_json::Value {
        self.get("/.well-known/jwks.json")
            .await
            .json()
            .await
            .unwrap()
    }

    /// The kids the JWKS publishes, in its order.
    pub async fn published_kids(&self) -> Vec<String> {
        self.jwks().await["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|key| key["kid"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// Builds the stores for `options.backend` on `resources`.
pub async fn stores_for(options: &AppOptions, resources: &TestResources) -> Stores {
    match options.backend {
        Backend::Durable => connect_stores(
            &resources.database_url(),
            &RedisArgs {
                redis_url: redis_url(),
                redis_prefix: resources.redis_prefix.clone(),
                redis_ca_file: None,
            },
        )
        .await
        .unwrap(),
        Backend::Memory => store::memory::stores(),
    }
}

async fn start(
    mut options: AppOptions,
    resources: Arc<TestResources>,
    master_key: MasterKey,
) -> TestApp {
    // Bound before the state is built, so the first replica's address can be its public URL.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    options.public_url.get_or_insert(address);
    let stores = stores_for(&options, &resources).await;
    let state = AppState::build(
        test_config(&options),
        stores,
        &master_key,
        options.clock.clone(),
    )
    .await
    .unwrap();
    run(
        Application::from_listener(listener, state).unwrap(),
        options,
        resources,
        master_key,
    )
    .await
}

/// A replica on `database_url` and `redis_url` (stores wired as `serve` wires them), with
/// `resources`' Redis prefix and master key: for apps whose stores are not the tests' defaults.
pub async fn start_on(
    database_url: &str,
    redis_url: String,
    resources: Arc<TestResources>,
) -> (TestApp, AppState) {
    let redis = RedisArgs {
        redis_url,
        redis_prefix: resources.redis_prefix.clone(),
        redis_ca_file: None,
    };
    let stores = connect_stores(database_url, &redis).await.unwrap();
    let options = AppOptions::default();
    let master_key = authd::config::parse_master_key(Some(&resources.master_key_base64)).unwrap();
    let state = AppState::build(
        test_config(&options),
        stores,
        &master_key,
        options.clock.clone(),
    )
    .await
    .unwrap();
    let app = start_state(state.clone(), options, resources, master_key).await;
    (app, state)
}

pub async fn start_state(
    state: AppState,
    options: AppOptions,
    resources: Arc<TestResources>,
    master_key: MasterKey,
) -> TestApp {
    let app = Application::bind("127.0.0.1:0".parse().unwrap(), state)
        .await
        .unwrap();
    run(app, options, resources, master_key).await
}

async fn run(
    app: Application,
    options: AppOptions,
    resources: Arc<TestResources>,
    master_key: MasterKey,
) -> TestApp {
    let address = format!("http://{}", app.local_addr().unwrap());
    let state = app.state().clone();
    let (shutdown, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    // A replica answers correctly before it follows the invalidation channel (it asks Redis),
    // but tests that count round trips or warm its caches want it following, as it is within
    // milliseconds of starting.
    if options.await_channel {
        let following = eventually(Duration::from_secs(5), || async {
            state.freshness.is_current()
        });
        assert!(
            following.await,
            "the app did not start following the channel"
        );
    }
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        master_key,
        options,
        resources,
        _shutdown: shutdown,
    }
}

pub async fn connect_db(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

fn new_redis_prefix() -> String {
    format!("authd-test:{}:", Uuid::new_v4().simple())
}

/// A migrated database, a Redis prefix and a master key of their own, for processes the test
/// starts itself.
pub async fn durable_resources() -> TestResources {
    TestResources {
        database: Some(create_test_database().await),
        redis_prefix: new_redis_prefix(),
        master_key_base64: new_master_key().1,
    }
}

/// A database with nothing in it, not even the schema: for testing that authd migrates.
pub async fn empty_database() -> TestResources {
    let name = format!("authd_test_{}", Uuid::new_v4().simple());
    connect_db(&admin_database_url())
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    TestResources {
        database: Some(name),
        redis_prefix: format!("authd-test:{}:", Uuid::new_v4().simple()),
        master_key_base64: new_master_key().1,
    }
}

/// Migrating once per test would dominate the suite; instead the first test process to need it
/// builds a template database (named by a hash of the migrations, so a changed migration gets a
/// fresh one) and every test clones it, which takes milliseconds.
async fn create_test_database() -> String {
    let admin = connect_db(&admin_database_url()).await;
    let template = template_name();
    admin
        .execute("SELECT pg_advisory_lock(728213)", &[])
        .await
        .unwrap();
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&template])
        .await
        .unwrap()
        .is_some();
    if !exists {
        let building = format!("{template}_building");
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {building}"))
            .await
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {building}"))
            .await
            .unwrap();
        store::postgres::run_migrations(&database_url(&building))
            .await
            .unwrap();
        admin
            .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {template}"))
            .await
            .unwrap();
    }
    admin
        .execute("SELECT pg_advisory_unlock(728213)", &[])
        .await
        .unwrap();
    let name = format!("authd_test_{}", Uuid::new_v4().simple());
    admin
        .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
        .await
        .unwrap();
    name
}

fn template_name() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    let mut hash = Sha256::new();
    for file in files {
        hash.update(file.file_name().unwrap().as_encoded_bytes());
        hash.update(std::fs::read(&file).unwrap());
    }
    let digest = hash.finalize();
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("authd_test_template_{hex}")
}

impl Drop for TestResources {
    fn drop(&mut self) {
        let database = self.database.take();
        let prefix = std::mem::take(&mut self.redis_prefix);
        if database.is_none() && prefix.is_empty() {
            return;
        }
        // Drop cannot await, and may run inside the test's runtime: clean up on a thread of
        // its own, with a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                if let Some(name) = database {
                    let admin = connect_db(&admin_database_url()).await;
                    let _ = admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
                if !prefix.is_empty() {
                    delete_redis_keys(&prefix).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// A connection to the tests' Redis, one node or a cluster (`redis+cluster://`, see
/// tests/redis-cluster.sh), for looking at or changing what authd keeps there.
pub async fn redis_connection() -> TestRedis {
    let url = redis_url();
    match url.strip_prefix("redis+cluster://") {
        Some(nodes) => {
            let nodes: Vec<String> = nodes
                .split(',')
                .map(|node| format!("redis://{node}"))
                .collect();
            let client = redis::cluster::ClusterClient::new(nodes).unwrap();
            TestRedis::Cluster(client.get_async_connection().await.unwrap())
        }
        None => {
            let client = redis::Client::open(url).unwrap();
            TestRedis::Node(client.get_multiplexed_async_connection().await.unwrap())
        }
    }
}

pub enum TestRedis {
    Node(redis::aio::MultiplexedConnection),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl redis::aio::ConnectionLike for TestRedis {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Self::Node(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Self::Node(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        0
    }
}

pub async fn delete_redis_keys(prefix: &str) {
    // On a cluster, KEYS asks every master and DEL is split by slot.
    let mut connection = redis_connection().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut connection)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut connection)
            .await;
    }
}

/// Polls `check` until it holds or `timeout` passes (for effects written in the background).
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A new replica on `resources` (database, Redis prefix, master key), as after a restart.
pub async fn start_again(options: AppOptions, resources: Arc<TestResources>) -> TestApp {
    let master_key = authd::config::parse_master_key(Some(&resources.master_key_base64)).unwrap();
    start(options, resources, master_key).await
}
