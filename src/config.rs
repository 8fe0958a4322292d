//! Command line and environment: every flag is also an `AUTHD_*` (or conventional) variable.
//!
//! Parsing happens once, here; the rest of authd receives a validated [`Config`].

use std::{
    net::SocketAddr,
    num::NonZeroU32,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use base64::{Engine, engine::general_purpose::STANDARD};
use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;
use zeroize::Zeroizing;

pub use crate::accounts::Argon2Settings;
use crate::{
    exchange::TrustFile,
    keys::{MasterKey, MasterKeys},
};

#[derive(Parser)]
#[command(
    name = "authd",
    version,
    about = "A token authority: issues and verifies JWTs for an application's users",
    long_about = "A token authority: issues and verifies JWTs for an application's users.\n\n\
        Start with `authd dev` (no services needed, nothing persists); run `authd serve` \
        against Postgres and Redis in production."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the API against Postgres and Redis (production, tests, clusters).
    Serve(ServeArgs),
    /// Serve the same API from in-memory stores with an ephemeral master key. Nothing persists.
    Dev(DevArgs),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Manage confidential OAuth clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Rotate and list signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage user accounts.
    #[command(subcommand)]
    Users(UsersCommand),
}

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Delete a user, with their sessions, consents and profile; their access tokens stop
    /// working on every replica within AUTHD_REVOCATION_MAX_LAG.
    Delete(UsernameArgs),
}

#[derive(Args)]
pub struct UsernameArgs {
    pub username: String,

    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub redis: RedisArgs,
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Publish a new signing key now; it signs after one JWKS cache lifetime, and the current
    /// key verifies for one more token lifetime. Every replica follows within a second.
    // Boxed: parsed once, and much larger than the other variant.
    Rotate(Box<RotateKeysArgs>),
    /// Print every stored key: kid, alg, state and dates.
    List(DatabaseArgs),
    /// Re-encrypt every private key under the first of AUTHD_MASTER_KEYS, while serving.
    Rewrap(Box<RewrapKeysArgs>),
}

#[derive(Args)]
pub struct RewrapKeysArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Args)]
pub struct RotateKeysArgs {
    /// For a key thought compromised: sign with the new key at once and retire every other key
    /// at once (tokens they signed stop verifying). Revokes nothing else.
    #[arg(long)]
    pub now: bool,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Subcommand)]
pub enum ClientsCommand {
    /// Register a client; prints it as JSON, with its client_secret (shown this once) if it
    /// is confidential.
    Create(CreateClientArgs),
    /// Print every client as JSON lines.
    List(DatabaseArgs),
    /// Print one client as JSON.
    Show(ClientIdArgs),
    /// Change a client's registration: each option given replaces that field.
    Update(UpdateClientArgs),
    /// Give a confidential client a new secret (printed this once); the old one is refused at
    /// once, or after `--previous-valid-for`.
    RotateSecret(RotateSecretArgs),
    /// Delete a client, the consents users gave it and its sessions' refresh tokens.
    Delete(ClientIdArgs),
}

#[derive(Args)]
pub struct CreateClientArgs {
    /// A name people recognise the client by (shown on the consent page).
    #[arg(long)]
    pub name: String,

    /// The client's id, for one a trust file or a deployment names in advance: 1 to 64
    /// letters, digits, `.`, `_` or `-`. Default: a random `client_…`.
    #[arg(long)]
    pub client_id: Option<String>,

    /// A public client (a browser or native app): no secret, token endpoint auth `none`.
    #[arg(long, conflicts_with = "jwks")]
    pub public: bool,

    /// Space-separated scopes the client may be granted.
    #[arg(long, default_value = "")]
    pub scope: String,

    /// Where the authorization endpoint may send codes (repeat for several): https, or http
    /// on a loopback address.
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,

    /// authorization_code, refresh_token, client_credentials or
    /// urn:ietf:params:oauth:grant-type:token-exchange (repeat for several). Default:
    /// authorization_code and refresh_token with a redirect URI, else client_credentials.
    #[arg(long = "grant-type")]
    pub grant_types: Vec<String>,

    /// The client must push its authorization requests first (RFC 9126).
    #[arg(long)]
    pub require_par: bool,

    /// A JWK set file of the client's public keys: the client authenticates with
    /// private_key_jwt (RFC 7523) instead of a secret.
    #[arg(long)]
    pub jwks: Option<PathBuf>,

    /// Where RP-initiated logout may send the browser back to (repeat for several).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Args)]
pub struct ClientIdArgs {
    pub client_id: String,

    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub redis: RedisArgs,
}

#[derive(Args)]
pub struct RotateSecretArgs {
    pub client_id: String,

    /// How long the replaced secret is still accepted (e.g. `1h`), so the client can be given
    /// the new one without an outage. The default, 0s, refuses it at once: for a leaked secret.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub previous_valid_for: Duration,

    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub redis: RedisArgs,
}

#[derive(Args)]
pub struct UpdateClientArgs {
    pub client_id: String,

    #[arg(long)]
    pub name: Option<String>,

    #[arg(long)]
    pub scope: Option<String>,

    /// Replaces every registered redirect URI (repeat for several).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,

    /// Replaces the allowed grant types (repeat for several).
    #[arg(long = "grant-type")]
    pub grant_types: Vec<String>,

    #[arg(long)]
    pub require_par: Option<bool>,

    /// Replaces the client's JWK set (private_key_jwt clients).
    #[arg(long)]
    pub jwks: Option<PathBuf>,

    /// Replaces every post-logout redirect URI (repeat for several).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,

    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub redis: RedisArgs,
}

#[derive(Args)]
pub struct DatabaseArgs {
    /// Postgres connection URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/authd",
        hide_env_values = true
    )]
    pub database_url: String,
}

/// Where the shared state lives: commands that change what replicas cache announce it there.
#[derive(Args)]
pub struct RedisArgs {
    /// Redis connection URL: `redis://host:port` (`rediss://` for TLS) for one node, or
    /// `redis+cluster://host1:port1,host2:port2` (`rediss+cluster://`) for a Redis Cluster.
    #[arg(
        long,
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub redis_url: String,

    /// Prefix of every Redis key authd writes (lets several deployments share one Redis).
    #[arg(long, env = "AUTHD_REDIS_PREFIX", default_value = "authd:")]
    pub redis_prefix: String,

    /// PEM file of the CA that signs the Redis servers' certificates, for `rediss://` when it is
    /// not one the system trusts.
    #[arg(long, env = "AUTHD_REDIS_CA_FILE")]
    pub redis_ca_file: Option<std::path::PathBuf>,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "AUTHD_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Skip running migrations at start (when a separate `authd migrate` job runs them).
    #[arg(long, env = "AUTHD_NO_MIGRATE")]
    pub no_migrate: bool,

    /// Test mode: allow `POST /auth?expired=true` to issue already-expired tokens. Never in production.
    #[arg(long, env = "AUTHD_EXPIRED_TOKENS")]
    pub expired_tokens: bool,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// Where the durable and shared state live, and the key that opens the signing keys.
#[derive(Args)]
pub struct ConnectionArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub redis: RedisArgs,

    /// Master key encrypting signing keys at rest: base64 of 32 random bytes
    /// (e.g. `openssl rand -base64 32`). Required.
    #[arg(long, env = "AUTHD_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,

    /// Instead of AUTHD_MASTER_KEY while rotating it: comma-separated master keys, the new one
    /// first. The first seals new keys; all open the keys they sealed. See `authd keys rewrap`.
    #[arg(long, env = "AUTHD_MASTER_KEYS", hide_env_values = true)]
    pub master_keys: Option<String>,

    /// A file holding the master key (base64, as AUTHD_MASTER_KEY), for secrets mounted as files
    /// (Docker, Kubernetes). AUTHD_MASTER_KEY or AUTHD_MASTER_KEYS, when set, take precedence.
    #[arg(long, env = "AUTHD_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
}

impl ConnectionArgs {
    /// The master keys this deployment holds, from AUTHD_MASTER_KEY or AUTHD_MASTER_KEYS, else
    /// from AUTHD_MASTER_KEY_FILE. An empty variable counts as unset: compose passes
    /// `${AUTHD_MASTER_KEY:-}` through as an empty string when the operator set none.
    pub fn master_keys(&self) -> Result<MasterKeys, ConfigError> {
        fn set(value: &Option<String>) -> Option<&str> {
            value.as_deref().filter(|v| !v.trim().is_empty())
        }
        match (set(&self.master_key), set(&self.master_keys)) {
            (Some(_), Some(_)) => Err(ConfigError::new(
                "AUTHD_MASTER_KEYS",
                "set AUTHD_MASTER_KEY or AUTHD_MASTER_KEYS, not both",
            )),
            (None, Some(list)) => {
                let mut keys = list
                    .split(',')
                    .map(|key| decode_master_key("AUTHD_MASTER_KEYS", Some(key)));
                let current = keys
                    .next()
                    .unwrap_or_else(|| Err(ConfigError::new("AUTHD_MASTER_KEYS", "is empty")))?;
                Ok(MasterKeys::new(current, keys.collect::<Result<_, _>>()?))
            }
            (Some(single), None) => parse_master_key(Some(single)).map(MasterKeys::from),
            (None, None) => match &self.master_key_file {
                Some(path) => read_master_key_file(path).map(MasterKeys::from),
                None => parse_master_key(None).map(MasterKeys::from),
            },
        }
    }
}

/// Reads `AUTHD_MASTER_KEY_FILE`. Neither the key nor the file's contents reach an error message.
fn read_master_key_file(path: &Path) -> Result<MasterKey, ConfigError> {
    let contents = Zeroizing::new(std::fs::read_to_string(path).map_err(|err| {
        ConfigError::new(
            "AUTHD_MASTER_KEY_FILE",
            format!("cannot read {}: {err}", path.display()),
        )
    })?);
    decode_master_key("AUTHD_MASTER_KEY_FILE", Some(&contents))
}

#[derive(Args)]
pub struct DevArgs {
    /// Address to listen on.
    #[arg(long, env = "AUTHD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// Settings shared by `serve` and `dev`.
#[derive(Args)]
pub struct CommonArgs {
    /// `iss` of issued tokens: the public base URL of this authority.
    #[arg(long, env = "AUTHD_ISSUER", default_value = "http://localhost:8080")]
    pub issuer: String,

    /// The base URL clients reach authd at (behind the load balancer). DPoP proofs name it in
    /// `htu`; a proof for any other origin is refused. Default: AUTHD_ISSUER.
    #[arg(long, env = "AUTHD_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// How long a proof-of-possession nonce stays usable (PoP scheme).
    #[arg(long, env = "AUTHD_POP_NONCE_TTL", default_value = "2m", value_parser = humantime::parse_duration)]
    pub pop_nonce_ttl: Duration,

    /// Let a PoP client sign every call with its login nonce for the token's whole life, as the
    /// signjwt seed did. Off: each nonce works once, and every answer brings the next one.
    #[arg(long, env = "AUTHD_POP_NONCE_REUSE", default_value_t = false)]
    pub pop_nonce_reuse: bool,

    /// Require DPoP proofs to carry a server nonce (RFC 9449 §8): a proof without a current one
    /// is answered `use_dpop_nonce` with a fresh nonce in `DPoP-Nonce`.
    #[arg(long, env = "AUTHD_DPOP_NONCE", default_value_t = false)]
    pub dpop_nonce: bool,

    /// The longest a request may take before it is answered 503: the backstop for a backing
    /// service that accepts connections but never answers.
    #[arg(long, env = "AUTHD_REQUEST_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// `aud` of issued tokens: the resource servers that accept them.
    #[arg(long, env = "AUTHD_AUDIENCE", default_value = "authd")]
    pub audience: String,

    /// A TOML file of resources tokens may be issued for (RFC 8707), trusted outside issuers
    /// and token-exchange policies (RFC 8693); see docs/token-exchange.md. None: tokens are
    /// for AUTHD_AUDIENCE only, and no client may delegate or impersonate.
    #[arg(long, env = "AUTHD_TRUST_FILE")]
    pub trust_file: Option<PathBuf>,

    /// Lifetime of access tokens (e.g. `15m`, `900s`, `1h`).
    #[arg(long, env = "AUTHD_ACCESS_TOKEN_TTL", default_value = "15m", value_parser = humantime::parse_duration)]
    pub access_token_ttl: Duration,

    /// Lifetime of each refresh token; every use replaces it with a fresh one.
    #[arg(long, env = "AUTHD_REFRESH_TOKEN_TTL", default_value = "14days", value_parser = humantime::parse_duration)]
    pub refresh_token_ttl: Duration,

    /// The longest a session (a refresh-token family, or a web UI sign-in) lives from its
    /// login, however often it is refreshed; then the user signs in again (ASVS 3.3.2).
    #[arg(long, env = "AUTHD_SESSION_MAX_LIFETIME", default_value = "30days", value_parser = humantime::parse_duration)]
    pub session_max_lifetime: Duration,

    /// How long login attempts stay in `auth_logs`.
    #[arg(long, env = "AUTHD_AUTH_LOG_RETENTION", default_value = "90days", value_parser = humantime::parse_duration)]
    pub auth_log_retention: Duration,

    /// How often expired refresh tokens, revocations, retired keys and old auth logs are removed.
    #[arg(long, env = "AUTHD_CLEANUP_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub cleanup_interval: Duration,

    /// How stale a replica's in-memory revocations, clients and users may be: a replica that
    /// has not heard its own heartbeat back on the invalidation channel within this long asks
    /// Redis (or Postgres) on every request until it has caught up. A revocation made on one
    /// replica is refused by every other within it.
    #[arg(long, env = "AUTHD_REVOCATION_MAX_LAG", default_value = "250ms", value_parser = humantime::parse_duration)]
    pub revocation_max_lag: Duration,

    /// Tolerance for clock differences when checking a token's `exp` and `nbf`.
    #[arg(long, env = "AUTHD_CLOCK_LEEWAY", default_value = "30s", value_parser = humantime::parse_duration)]
    pub clock_leeway: Duration,

    /// Algorithm of new signing keys: RS256, ES256 or EdDSA. A change takes effect at the next
    /// rotation; existing keys keep verifying with their own algorithm.
    #[arg(long, env = "AUTHD_SIGNING_ALG", default_value = "RS256", value_parser = parse_signing_alg)]
    pub signing_alg: jsonwebtoken::Algorithm,

    /// How often the signing key is rotated (one replica rotates; the others follow).
    #[arg(long, env = "AUTHD_KEY_ROTATION", default_value = "24h", value_parser = humantime::parse_duration)]
    pub key_rotation: Duration,

    /// How often each replica re-reads the signing keys from Postgres, in case it missed a
    /// rotation announced on Redis.
    #[arg(long, env = "AUTHD_KEY_RELOAD_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub key_reload_interval: Duration,

    /// The longest a signing key may sign if rotation stops happening (a backstop).
    #[arg(long, env = "AUTHD_SIGNING_KEY_LIFETIME", default_value = "30days", value_parser = humantime::parse_duration)]
    pub signing_key_lifetime: Duration,

    /// Requests per second per client IP on `/auth` and `/register` (sliding one-second window).
    #[arg(long, env = "AUTHD_RATE_LIMIT", default_value = "10")]
    pub rate_limit: NonZeroU32,

    /// Comma-separated CIDRs of proxies whose `X-Forwarded-For` is believed (default: none).
    #[arg(long, env = "AUTHD_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpNet>,

    /// Failed logins for one username from one client address before that address must wait
    /// (per-username throttling, on top of AUTHD_RATE_LIMIT). Other addresses are unaffected,
    /// so an attacker cannot lock the real user out.
    #[arg(long, env = "AUTHD_LOGIN_FAILURE_LIMIT", default_value = "5")]
    pub login_failure_limit: NonZeroU32,

    /// The sliding window AUTHD_LOGIN_FAILURE_LIMIT counts failures in.
    #[arg(long, env = "AUTHD_LOGIN_FAILURE_WINDOW", default_value = "15m", value_parser = humantime::parse_duration)]
    pub login_failure_window: Duration,

    /// Connections served at once by this replica; more wait in the accept queue.
    #[arg(long, env = "AUTHD_MAX_CONNECTIONS", default_value = "4096")]
    pub max_connections: usize,

    /// How long a client may take to send a request's headers, and how long an idle
    /// keep-alive connection stays open.
    #[arg(long, env = "AUTHD_HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_timeout: Duration,

    /// Comma-separated origins whose browser scripts may call authd (CORS), e.g.
    /// `https://app.example.com`. Empty (the default): no cross-origin access.
    #[arg(long, env = "AUTHD_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Every authorization request must be pushed to `/oauth/par` first (RFC 9126 §6), for all
    /// clients; without it, only clients registered with `--require-par` must.
    #[arg(long, env = "AUTHD_REQUIRE_PAR", default_value_t = false)]
    pub require_par: bool,

    /// Let anyone register a client at `POST /oauth/register` (RFC 7591). Off by default:
    /// clients are made with `authd clients create`.
    #[arg(long, env = "AUTHD_DYNAMIC_REGISTRATION", default_value_t = false)]
    pub dynamic_registration: bool,

    /// With dynamic registration on: the initial access token a registration must bring as a
    /// Bearer token (RFC 7591 §3). Unset: registration is open.
    #[arg(long, env = "AUTHD_REGISTRATION_TOKEN", hide_env_values = true)]
    pub registration_token: Option<String>,

    /// Argon2id memory cost in KiB (OWASP: 19456).
    #[arg(long, env = "AUTHD_ARGON2_MEMORY_KIB", default_value = "19456")]
    pub argon2_memory_kib: u32,

    /// Argon2id iterations (OWASP: 2).
    #[arg(long, env = "AUTHD_ARGON2_ITERATIONS", default_value = "2")]
    pub argon2_iterations: u32,

    /// Argon2id lanes (OWASP: 1).
    #[arg(long, env = "AUTHD_ARGON2_PARALLELISM", default_value = "1")]
    pub argon2_parallelism: u32,
}

/// A setting that failed validation; the message names the variable, never its secret value.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub message: String,
}

impl ConfigError {
    fn new(setting: &'static str, message: impl Into<String>) -> Self {
        Self {
            setting,
            message: message.into(),
        }
    }
}

/// The validated settings of a running authd, shared by every replica of a deployment.
#[derive(Debug, Clone)]
pub struct Config {
    pub issuer: String,
    /// Where clients reach authd: the origin DPoP proofs must name in `htu`.
    pub public_url: String,
    pub audience: String,
    /// The trust file's resources, issuers and exchange policies (empty without one).
    pub trust: Arc<TrustFile>,
    pub access_token_ttl: time::Duration,
    pub signing_algorithm: jsonwebtoken::Algorithm,
    pub signing_key_lifetime: time::Duration,
    pub key_rotation: time::Duration,
    pub key_reload_interval: Duration,
    pub clock_leeway: time::Duration,
    pub revocation_max_lag: Duration,
    pub refresh_token_ttl: time::Duration,
    pub session_max_lifetime: time::Duration,
    pub auth_log_retention: time::Duration,
    pub cleanup_interval: Duration,
    pub rate_limit_per_second: NonZeroU32,
    pub trusted_proxies: Vec<IpNet>,
    pub argon2: Argon2Settings,
    pub expired_tokens: bool,
    pub pop_nonce_ttl: time::Duration,
    pub pop_nonce_reuse: bool,
    pub dpop_nonce: bool,
    pub request_timeout: Duration,
    pub login_failure_limit: NonZeroU32,
    pub login_failure_window: Duration,
    pub max_connections: usize,
    pub header_timeout: Duration,
    /// Origins allowed cross-origin access, each `scheme://host[:port]`; empty means none.
    pub cors_origins: Vec<String>,
    /// Every authorization request must be pushed first (RFC 9126 §6).
    pub require_par: bool,
    /// `POST /oauth/register` is open (RFC 7591).
    pub dynamic_registration: bool,
    /// The initial access token dynamic registration requires, if any.
    pub registration_token: Option<secrecy::SecretString>,
}

impl Config {
    /// Validates the settings shared by `serve` and `dev`.
    pub fn from_common(args: &CommonArgs, expired_tokens: bool) -> Result<Self, ConfigError> {
        let issuer = args.issuer.trim_end_matches('/').to_owned();
        if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
            return Err(ConfigError::new(
                "AUTHD_ISSUER",
                "must be an http(s) URL, e.g. https://auth.example.com",
            ));
        }
        let public_url = match &args.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => issuer.clone(),
        };
        if !url::Url::parse(&public_url)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
        {
            return Err(ConfigError::new(
                "AUTHD_PUBLIC_URL",
                "must be an http(s) URL, e.g. https://auth.example.com",
            ));
        }
        let pop_nonce_ttl = to_time(args.pop_nonce_ttl);
        if pop_nonce_ttl < time::Duration::seconds(5) || pop_nonce_ttl > time::Duration::HOUR {
            return Err(ConfigError::new(
                "AUTHD_POP_NONCE_TTL",
                "must be between 5s and 1h",
            ));
        }
        if args.request_timeout < Duration::from_secs(1) {
            return Err(ConfigError::new(
                "AUTHD_REQUEST_TIMEOUT",
                "must be at least 1s",
            ));
        }
        if args.audience.trim().is_empty() {
            return Err(ConfigError::new("AUTHD_AUDIENCE", "must not be empty"));
        }
        let trust = match &args.trust_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|err| {
                    ConfigError::new("AUTHD_TRUST_FILE", format!("{}: {err}", path.display()))
                })?;
                TrustFile::parse(&text).map_err(|err| {
                    ConfigError::new("AUTHD_TRUST_FILE", format!("{}: {err}", path.display()))
                })?
            }
            None => TrustFile::default(),
        };
        let access_token_ttl = to_time(args.access_token_ttl);
        if access_token_ttl < time::Duration::seconds(10) || access_token_ttl > time::Duration::DAY
        {
            return Err(ConfigError::new(
                "AUTHD_ACCESS_TOKEN_TTL",
                "must be between 10s and 24h",
            ));
        }
        let signing_key_lifetime = to_time(args.signing_key_lifetime);
        if signing_key_lifetime < time::Duration::HOUR {
            return Err(ConfigError::new(
                "AUTHD_SIGNING_KEY_LIFETIME",
                "must be at least 1h",
            ));
        }
        let key_rotation = to_time(args.key_rotation);
        if key_rotation < time::Duration::minutes(10) || key_rotation >= signing_key_lifetime {
            return Err(ConfigError::new(
                "AUTHD_KEY_ROTATION",
                "must be at least 10m and shorter than AUTHD_SIGNING_KEY_LIFETIME",
            ));
        }
        if args.key_reload_interval < Duration::from_secs(1) {
            return Err(ConfigError::new(
                "AUTHD_KEY_RELOAD_INTERVAL",
                "must be at least 1s",
            ));
        }
        let refresh_token_ttl = to_time(args.refresh_token_ttl);
        if refresh_token_ttl < access_token_ttl {
            return Err(ConfigError::new(
                "AUTHD_REFRESH_TOKEN_TTL",
                "must be at least AUTHD_ACCESS_TOKEN_TTL",
            ));
        }
        let session_max_lifetime = to_time(args.session_max_lifetime);
        if session_max_lifetime < access_token_ttl {
            return Err(ConfigError::new(
                "AUTHD_SESSION_MAX_LIFETIME",
                "must be at least AUTHD_ACCESS_TOKEN_TTL",
            ));
        }
        if !(Duration::from_millis(10)..=Duration::from_secs(60)).contains(&args.revocation_max_lag)
        {
            return Err(ConfigError::new(
                "AUTHD_REVOCATION_MAX_LAG",
                "must be between 10ms and 60s",
            ));
        }
        let clock_leeway = to_time(args.clock_leeway);
        if clock_leeway > time::Duration::minutes(5) {
            return Err(ConfigError::new("AUTHD_CLOCK_LEEWAY", "must be at most 5m"));
        }
        if args.max_connections == 0 {
            return Err(ConfigError::new(
                "AUTHD_MAX_CONNECTIONS",
                "must be at least 1",
            ));
        }
        if args.header_timeout < Duration::from_secs(1) {
            return Err(ConfigError::new(
                "AUTHD_HEADER_TIMEOUT",
                "must be at least 1s",
            ));
        }
        if args.login_failure_window < Duration::from_secs(1) {
            return Err(ConfigError::new(
                "AUTHD_LOGIN_FAILURE_WINDOW",
                "must be at least 1s",
            ));
        }
        let cors_origins = args
            .cors_origins
            .iter()
            .map(|origin| origin.trim())
            .filter(|origin| !origin.is_empty())
            .map(parse_origin)
            .collect::<Result<Vec<_>, _>>()?;
        // The argon2 crate enforces its own bounds; check here so the error names the variable.
        argon2::Params::new(
            args.argon2_memory_kib,
            args.argon2_iterations,
            args.argon2_parallelism,
            None,
        )
        .map_err(|err| ConfigError::new("AUTHD_ARGON2_*", err.to_string()))?;

        Ok(Self {
            issuer,
            public_url,
            audience: args.audience.clone(),
            trust: Arc::new(trust),
            access_token_ttl,
            signing_algorithm: args.signing_alg,
            signing_key_lifetime,
            key_rotation,
            key_reload_interval: args.key_reload_interval,
            clock_leeway,
            revocation_max_lag: args.revocation_max_lag,
            refresh_token_ttl,
            session_max_lifetime,
            auth_log_retention: to_time(args.auth_log_retention),
            cleanup_interval: args.cleanup_interval.max(Duration::from_secs(1)),
            rate_limit_per_second: args.rate_limit,
            trusted_proxies: args.trusted_proxies.clone(),
            argon2: Argon2Settings {
                memory_kib: args.argon2_memory_kib,
                iterations: args.argon2_iterations,
                parallelism: args.argon2_parallelism,
            },
            expired_tokens,
            pop_nonce_ttl,
            pop_nonce_reuse: args.pop_nonce_reuse,
            dpop_nonce: args.dpop_nonce,
            request_timeout: args.request_timeout,
            login_failure_limit: args.login_failure_limit,
            login_failure_window: args.login_failure_window,
            max_connections: args.max_connections,
            header_timeout: args.header_timeout,
            cors_origins,
            require_par: args.require_par,
            dynamic_registration: args.dynamic_registration,
            registration_token: args
                .registration_token
                .clone()
                .filter(|token| !token.is_empty())
                .map(secrecy::SecretString::from),
        })
    }
}

/// Decodes `AUTHD_MASTER_KEY`. The value never appears in an error message.
pub fn parse_master_key(value: Option<&str>) -> Result<MasterKey, ConfigError> {
    decode_master_key("AUTHD_MASTER_KEY", value)
}

fn decode_master_key(setting: &'static str, value: Option<&str>) -> Result<MasterKey, ConfigError> {
    let value = value.ok_or_else(|| {
        ConfigError::new(
            setting,
            "is required for `authd serve`: base64 of 32 random bytes (generate one with `openssl rand -base64 32`)",
        )
    })?;
    let bytes = Zeroizing::new(
        STANDARD
            .decode(value.trim())
            .map_err(|_| ConfigError::new(setting, "is not valid base64"))?,
    );
    MasterKey::from_slice(&bytes).ok_or_else(|| {
        ConfigError::new(
            setting,
            format!("must decode to exactly 32 bytes, got {}", bytes.len()),
        )
    })
}

/// An origin as browsers send it in `Origin`: scheme, host and port only. A wildcard is refused:
/// authd's answers carry tokens and account data.
fn parse_origin(value: &str) -> Result<String, ConfigError> {
    let invalid = || {
        ConfigError::new(
            "AUTHD_CORS_ORIGINS",
            format!("{value:?} is not an origin such as https://app.example.com"),
        )
    };
    let url = url::Url::parse(value).map_err(|_| invalid())?;
    let is_bare_origin = matches!(url.scheme(), "http" | "https")
        && url.has_host()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && !value.trim_end_matches('/').ends_with('/');
    if !is_bare_origin {
        return Err(invalid());
    }
    Ok(url.origin().ascii_serialization())
}

fn parse_signing_alg(value: &str) -> Result<jsonwebtoken::Algorithm, String> {
    crate::keys::SUPPORTED_ALGORITHMS
        .into_iter()
        .find(|alg| format!("{alg:?}").eq_ignore_ascii_case(value))
        .ok_or_else(|| "must be RS256, ES256 or EdDSA".to_owned())
}

fn to_time(duration: Duration) -> time::Duration {
    time::Duration::try_from(duration).unwrap_or(time::Duration::MAX)
}

/// Clap reports a bad value over several lines, naming only the flag (`--rate-limit`); most
/// deployments set the environment variable. This says it in one line naming both, e.g.
/// `AUTHD_RATE_LIMIT (--rate-limit): invalid value '0': number would be zero for non-zero type`.
/// `None` for errors that are not about one value (help, unknown subcommand, …).
pub fn explain_parse_error(err: &clap::Error) -> Option<String> {
    use clap::{
        CommandFactory,
        error::{ContextKind, ContextValue, ErrorKind},
    };
    if !matches!(
        err.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return None;
    }
    let Some(ContextValue::String(flag)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = flag.split_whitespace().next()?.trim_start_matches("--");
    let command = Cli::command();
    let env = command
        .get_subcommands()
        .flat_map(|sub| sub.get_arguments())
        .find(|arg| arg.get_long() == Some(long))
        .and_then(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned());
    let setting = match env {
        Some(env) => format!("{env} (--{long})"),
        None => format!("--{long}"),
    };
    let value = match err.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(value)) => format!(" '{value}'"),
        _ => String::new(),
    };
    let reason = std::error::Error::source(err)
        .map(|source| format!(": {source}"))
        .unwrap_or_default();
    Some(format!("{setting}: invalid value{value}{reason}"))
}
