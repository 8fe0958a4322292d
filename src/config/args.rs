//! Flag groups several commands share, each flattened into them (`#[command(flatten)]`): where
//! Postgres and Redis are, the master key, a client's fields, and the settings of a replica.

use std::{num::NonZeroU32, path::PathBuf, time::Duration};

use clap::Args;
use ipnet::IpNet;

use crate::{
    store::{ApplicationType, PkcePolicy},
    telemetry::AccessLog,
};

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

/// A client's registration, as `authd clients create` sets it and `update` replaces it.
#[derive(Args)]
pub struct ClientFieldArgs {
    /// A name people recognise the client by (shown on the consent page).
    #[arg(long)]
    pub name: Option<String>,

    /// Space-separated scopes the client may be granted.
    #[arg(long)]
    pub scope: Option<String>,

    /// Where the authorization endpoint may send codes (repeat for several): https, or http
    /// on a loopback address. On update, replaces every registered one.
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,

    /// authorization_code, refresh_token, client_credentials or
    /// urn:ietf:params:oauth:grant-type:token-exchange (repeat for several). Default:
    /// authorization_code and refresh_token with a redirect URI, else client_credentials. On
    /// update, replaces the allowed ones.
    #[arg(long = "grant-type")]
    pub grant_types: Vec<String>,

    /// Requests per second the client may make at the token, introspection, revocation and PAR
    /// endpoints, across replicas (then 429 with Retry-After); `default` follows the server's
    /// AUTHD_CLIENT_RATE_LIMIT.
    #[arg(long, value_parser = client_rate_limit)]
    pub rate_limit: Option<RateLimitChoice>,

    /// Whether requests without PKCE may carry an OpenID Connect nonce instead:
    /// `required` or `nonce-allowed`; `default` follows the server's AUTHD_PKCE_POLICY.
    /// Public and native clients always need PKCE.
    #[arg(long, value_parser = client_pkce_policy)]
    pub pkce: Option<PkceChoice>,

    /// A browser origin (`https://host[:port]`) whose scripts may call the token, revocation
    /// and userinfo endpoints (repeat for several). Default: the redirect URIs' origins. On
    /// update, replaces the registered ones; `--allowed-origin ''` goes back to the default.
    #[arg(long = "allowed-origin")]
    pub allowed_origins: Vec<String>,

    /// An operator vouches for the client's name (`--verified` alone, or `--verified
    /// true|false`). Clients made here are verified; dynamically registered ones are not
    /// until this is set, and the consent page says so.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub verified: Option<bool>,

    /// `web` or `native` (an app on the user's device, RFC 8252). Default: `native` when a
    /// redirect URI uses a private-use scheme (`com.example.app:/callback`), else `web`.
    #[arg(long, value_parser = application_type)]
    pub application_type: Option<ApplicationType>,

    /// The client must push its authorization requests first (RFC 9126): `--require-par`
    /// alone, or `--require-par true|false`.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub require_par: Option<bool>,

    /// A JWK set file of the client's public keys: the client authenticates with
    /// private_key_jwt (RFC 7523) instead of a secret. On update, replaces the set.
    #[arg(long)]
    pub jwks: Option<PathBuf>,

    /// Where RP-initiated logout may send the browser back to (repeat for several). On
    /// update, replaces every registered one.
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,

    /// Where authd POSTs a logout token when a session of this client ends (OpenID Connect
    /// Back-Channel Logout 1.0). `--backchannel-logout-uri ''` removes it.
    #[arg(long)]
    pub backchannel_logout_uri: Option<String>,

    /// The client needs `sid` in its logout tokens (authd always sends it): `--…` alone, or
    /// with `true|false`.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub backchannel_logout_session_required: Option<bool>,

    /// The page authd's sign-out page loads in an iframe when a session of this client ends
    /// in that browser (OpenID Connect Front-Channel Logout 1.0). `''` removes it.
    #[arg(long)]
    pub frontchannel_logout_uri: Option<String>,

    /// The front-channel page needs `iss` and `sid` in its query: `--…` alone, or with
    /// `true|false`.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub frontchannel_logout_session_required: Option<bool>,
}

/// Settings shared by `serve` and `dev`.
#[derive(Args)]
pub struct CommonArgs {
    #[command(flatten)]
    pub mail: super::MailArgs,

    #[command(flatten)]
    pub ldap: super::LdapArgs,

    /// `iss` of issued tokens: the public base URL of this authority. Default:
    /// `http://localhost:8080` for `serve`; for `dev`, `http://localhost:PORT` with the port
    /// it listens on.
    #[arg(long, env = "AUTHD_ISSUER")]
    pub issuer: Option<String>,

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
    #[arg(long, env = "AUTHD_SIGNING_ALG", default_value = "RS256", value_parser = super::parse_signing_alg)]
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

    /// Requests per second each client may make at the token, introspection, revocation and
    /// PAR endpoints, counted across replicas, for clients without a limit of their own
    /// (`authd clients update --rate-limit N`). 0 (the default): no limit but the client's own.
    #[arg(long, env = "AUTHD_CLIENT_RATE_LIMIT", default_value_t = 0)]
    pub client_rate_limit: u32,

    /// Which requests get an access line: `off`, `errors` (4xx and 5xx answers), `writes`
    /// (every request but GET, HEAD and OPTIONS, and every error: the default) or `all`. Apart
    /// from AUTHD_LOG, which filters every other line.
    #[arg(long, env = "AUTHD_ACCESS_LOG", default_value = "writes", value_parser = access_log)]
    pub access_log: AccessLog,

    /// Comma-separated origins whose browser scripts may call authd (CORS), e.g.
    /// `https://app.example.com`. Empty (the default): no cross-origin access.
    #[arg(long, env = "AUTHD_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Every authorization request must be pushed to `/oauth/par` first (RFC 9126 §6), for all
    /// clients; without it, only clients registered with `--require-par` must.
    #[arg(long, env = "AUTHD_REQUIRE_PAR", default_value_t = false)]
    pub require_par: bool,

    /// Whether confidential clients that name no policy of their own need PKCE:
    /// `nonce-allowed` (the default) also takes an OpenID Connect request with a `nonce`
    /// instead (RFC 9700 §2.1.1); `required` always asks for PKCE. Public and native clients
    /// always need PKCE.
    #[arg(long, env = "AUTHD_PKCE_POLICY", default_value = "nonce-allowed", value_parser = pkce_policy)]
    pub pkce_policy: PkcePolicy,

    /// The group whose members may be granted the admin API's scopes (`authd:admin`,
    /// `authd:admin:read`) in the code flow; a client's own token needs only the scope.
    #[arg(long, env = "AUTHD_ADMIN_GROUP", default_value = "authd-admins")]
    pub admin_group: String,

    /// Deliver webhooks to loopback and private addresses too. Off by default: a webhook URL
    /// must not reach into the network authd runs in (SSRF). For tests and local setups.
    #[arg(long, env = "AUTHD_WEBHOOK_ALLOW_LOOPBACK", default_value_t = false)]
    pub webhook_allow_loopback: bool,

    /// Deliver back-channel logout tokens to loopback and private addresses too. Off by
    /// default, for the same reason as webhooks. For tests and local setups.
    #[arg(
        long,
        env = "AUTHD_BACKCHANNEL_ALLOW_LOOPBACK",
        default_value_t = false
    )]
    pub backchannel_allow_loopback: bool,

    /// Push Shared Signals events (SETs) to loopback and private addresses too. Off by
    /// default, for the same reason as webhooks. For tests and local setups.
    #[arg(long, env = "AUTHD_SSF_ALLOW_LOOPBACK", default_value_t = false)]
    pub ssf_allow_loopback: bool,

    /// How long a Security Event Token waits in a poll stream for its receiver to take and
    /// acknowledge it before it is dropped.
    #[arg(long, env = "AUTHD_SSF_RETENTION", default_value = "7days", value_parser = humantime::parse_duration)]
    pub ssf_retention: Duration,

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

/// `--rate-limit` of a client: a limit of its own, or `None` for the server's.
#[derive(Debug, Clone, Copy)]
pub struct RateLimitChoice(pub Option<NonZeroU32>);

fn client_rate_limit(value: &str) -> Result<RateLimitChoice, String> {
    if value == "default" {
        return Ok(RateLimitChoice(None));
    }
    value
        .parse::<NonZeroU32>()
        .map(|limit| RateLimitChoice(Some(limit)))
        .map_err(|_| "must be a positive number of requests per second, or `default`".to_owned())
}

fn access_log(value: &str) -> Result<AccessLog, String> {
    AccessLog::parse(value).ok_or_else(|| format!("must be one of {}", AccessLog::NAMES.join(", ")))
}

fn pkce_policy(value: &str) -> Result<PkcePolicy, String> {
    PkcePolicy::parse(value).ok_or_else(|| "must be `required` or `nonce-allowed`".to_owned())
}

/// `--pkce` of a client: a policy of its own, or `None` for the server's.
#[derive(Debug, Clone, Copy)]
pub struct PkceChoice(pub Option<PkcePolicy>);

fn client_pkce_policy(value: &str) -> Result<PkceChoice, String> {
    if value == "default" {
        return Ok(PkceChoice(None));
    }
    PkcePolicy::parse(value)
        .map(|policy| PkceChoice(Some(policy)))
        .ok_or_else(|| "must be `required`, `nonce-allowed` or `default`".to_owned())
}

fn application_type(value: &str) -> Result<ApplicationType, String> {
    ApplicationType::parse(value).ok_or_else(|| "must be `web` or `native`".to_owned())
}
