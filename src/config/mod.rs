//! Settings: parsed once from the command line and environment ([`cli`], with the flag groups
//! in [`args`]), validated once into a [`Config`]; the rest of authd receives only that.

pub mod args;
pub mod cli;
mod ldap;
mod mail;
mod master_keys;
mod upstream_args;

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use ipnet::IpNet;

pub use crate::accounts::Argon2Settings;
pub use args::{ClientFieldArgs, CommonArgs, ConnectionArgs, DatabaseArgs, RedisArgs};
pub use cli::{
    Cli, ClientIdArgs, ClientsCommand, Command, CreateClientArgs, DevArgs, KeysCommand,
    RewrapKeysArgs, RotateKeysArgs, RotateSecretArgs, ServeArgs, UpdateClientArgs, UserAdminArgs,
    UsernameArgs, UsersCommand, explain_parse_error,
};
pub use ldap::{LdapAdoptArgs, LdapArgs, LdapCheckArgs, LdapCommand};
pub use mail::MailArgs;
pub use master_keys::parse_master_key;
pub use upstream_args::{
    CreateUpstreamArgs, ProvisioningArg, PublicUrlArgs, UpdateUpstreamArgs, UpstreamFieldArgs,
    UpstreamIdArgs, UpstreamKindArg, UpstreamOperatorArgs, UpstreamsCommand,
};

use crate::{exchange::TrustFile, store::PkcePolicy, telemetry::AccessLog};

/// The issuer when none is configured: authd on its default port of this machine.
pub const DEFAULT_ISSUER: &str = "http://localhost:8080";

/// A setting that failed validation; the message names the variable, never its secret value.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(setting: &'static str, message: impl Into<String>) -> Self {
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
    /// Requests per second per client, for clients without a limit of their own.
    pub client_rate_limit: Option<NonZeroU32>,
    /// Which answered requests get an access line.
    pub access_log: AccessLog,
    /// Origins allowed cross-origin access, each `scheme://host[:port]`; empty means none.
    pub cors_origins: Vec<String>,
    /// Every authorization request must be pushed first (RFC 9126 §6).
    pub require_par: bool,
    /// For confidential clients without a policy of their own.
    pub pkce_policy: PkcePolicy,
    /// `POST /oauth/register` is open (RFC 7591).
    pub dynamic_registration: bool,
    /// Members of this group may be granted the admin API's scopes through the code flow.
    pub admin_group: String,
    /// Webhooks may be delivered to loopback and private addresses (tests, local setups).
    pub webhook_allow_loopback: bool,
    /// Logout tokens may be delivered to loopback and private addresses (tests, local setups).
    pub backchannel_allow_loopback: bool,
    /// Push streams' SETs may be delivered to loopback and private addresses (tests).
    pub ssf_allow_loopback: bool,
    /// The Shared Signals transmitter's bounds.
    pub ssf: crate::ssf::SsfSettings,
    /// The initial access token dynamic registration requires, if any.
    pub registration_token: Option<secrecy::SecretString>,
    /// Where mail goes, as whom, and the mailed links' lifetimes.
    pub mail: crate::mail::MailSettings,
    /// The LDAP directory that holds some users' passwords, if any.
    pub ldap: Option<crate::ldap::LdapSettings>,
}

impl Config {
    /// Validates the settings shared by `serve` and `dev` (`dev`: mail kept in memory unless a
    /// mail server is set).
    pub fn from_common(
        args: &CommonArgs,
        expired_tokens: bool,
        in_memory_mail: bool,
    ) -> Result<Self, ConfigError> {
        let issuer = args
            .issuer
            .as_deref()
            .unwrap_or(DEFAULT_ISSUER)
            .trim_end_matches('/')
            .to_owned();
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
        let mail = args.mail.settings(in_memory_mail)?;
        let ldap = args.ldap.settings()?;

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
            access_log: args.access_log,
            client_rate_limit: NonZeroU32::new(args.client_rate_limit),
            cors_origins,
            require_par: args.require_par,
            pkce_policy: args.pkce_policy,
            dynamic_registration: args.dynamic_registration,
            admin_group: args.admin_group.trim().to_owned(),
            webhook_allow_loopback: args.webhook_allow_loopback,
            backchannel_allow_loopback: args.backchannel_allow_loopback,
            ssf_allow_loopback: args.ssf_allow_loopback,
            ssf: crate::ssf::SsfSettings {
                retention: to_time(args.ssf_retention),
                ..crate::ssf::SsfSettings::default()
            },
            registration_token: args
                .registration_token
                .clone()
                .filter(|token| !token.is_empty())
                .map(secrecy::SecretString::from),
            mail,
            ldap,
        })
    }
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

pub(crate) fn parse_signing_alg(value: &str) -> Result<jsonwebtoken::Algorithm, String> {
    crate::keys::SUPPORTED_ALGORITHMS
        .into_iter()
        .find(|alg| format!("{alg:?}").eq_ignore_ascii_case(value))
        .ok_or_else(|| "must be RS256, ES256 or EdDSA".to_owned())
}

fn to_time(duration: Duration) -> time::Duration {
    time::Duration::try_from(duration).unwrap_or(time::Duration::MAX)
}
