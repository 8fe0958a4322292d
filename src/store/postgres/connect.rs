//! Opening connections to Postgres, and saying in words what went wrong when it fails:
//! unreachable, the login refused, no such database, or TLS demanded.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;

use super::{SERVICE, unavailable};
use crate::store::StoreError;
use crate::store::tls::PostgresTls;

/// A pool of connections to `database_url`, checked by opening one connection now, so a wrong
/// URL, an unreachable server or a TLS mismatch is reported at start rather than at the first
/// request.
///
/// Several hosts (`postgres://h1:5432,h2:5432/db?target_session_attrs=read-write`) are tried in
/// turn for each new connection, so after a failover new connections find the promoted
/// standby; connections to the old primary close with it, and the pool drops closed ones.
pub async fn connect(database_url: &str) -> Result<Pool, StoreError> {
    let (config, connector) = client_config(database_url)?;
    let address = address(&config);
    let manager = Manager::from_config(
        config,
        connector,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(16)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .build()
        .map_err(|err| unavailable(&err))?;
    // One connection proves the URL.
    drop(pool.get().await.map_err(|err| {
        let cause = match &err {
            PoolError::Backend(err) => Some(err),
            _ => None,
        };
        connect_failure(&err, cause, &address)
    })?);
    Ok(pool)
}

/// What tokio-postgres connects with for `database_url`: its settings and the TLS connector
/// for its `sslmode` (see [`super::tls`]).
pub(super) fn client_config(
    database_url: &str,
) -> Result<
    (
        tokio_postgres::Config,
        tokio_postgres_rustls::MakeRustlsConnect,
    ),
    StoreError,
> {
    let tls = PostgresTls::parse(database_url).map_err(|err| invalid_url(&err))?;
    let mut config: tokio_postgres::Config = tls.url.parse().map_err(|err| invalid_url(&err))?;
    config.connect_timeout(Duration::from_secs(5));
    config.application_name("authd");
    Ok((config, tls.connector().map_err(|err| invalid_url(&err))?))
}

/// `err` and its sources, each said once. The pool's error says only that creating a
/// connection failed; the why (a refused certificate, a rejected login) is in its sources,
/// which some levels repeat in their own message and others do not.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.ends_with(&text) {
            let tail = message.rfind(": ").map_or(0, |at| at + 2);
            if text.starts_with(&message[tail..]) {
                message.truncate(tail);
                message.push_str(&text);
            } else {
                message = format!("{message}: {text}");
            }
        }
        source = cause.source();
    }
    message
}

fn invalid_url(err: &dyn std::fmt::Display) -> StoreError {
    StoreError::Unavailable {
        service: SERVICE,
        message: format!("not a valid connection URL: {err}"),
    }
}

/// Where `config` connects, as `host:port` (several, comma-separated, for a failover list).
pub(super) fn address(config: &tokio_postgres::Config) -> String {
    let ports = config.get_ports();
    config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let host = match host {
                tokio_postgres::config::Host::Tcp(host) => host.clone(),
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            format!("{host}:{port}")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Why connecting to `address` failed, in the words that point at the fix: `err` is what
/// failed, `cause` the server's or the network's error under it, if there is one.
pub(super) fn connect_failure(
    err: &dyn std::error::Error,
    cause: Option<&tokio_postgres::Error>,
    address: &str,
) -> StoreError {
    let message = match cause.and_then(tokio_postgres::Error::as_db_error) {
        // pg_hba.conf refusing a plain connection is an authorization error too, but the fix
        // is the URL's TLS mode, not the password.
        Some(db) if db.message().contains("no encryption") => format!(
            "Postgres at {address} refused a connection without TLS ({}): set sslmode=require \
             or verify-full",
            db.message()
        ),
        Some(db)
            if [
                SqlState::INVALID_PASSWORD,
                SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
            ]
            .contains(db.code()) =>
        {
            format!(
                "Postgres at {address} refused the login (authentication failed): {}; check \
                 the user and password",
                db.message()
            )
        }
        Some(db) if *db.code() == SqlState::INVALID_CATALOG_NAME => format!(
            "Postgres at {address} has no such database ({}): create it, or name another",
            db.message()
        ),
        Some(db) => format!(
            "Postgres at {address} refused the connection: {}",
            db.message()
        ),
        None => {
            let chain = error_chain(err);
            let chain = chain
                .strip_prefix("Error occurred while creating a new object: ")
                .unwrap_or(&chain);
            if chain.contains("no encryption") {
                format!(
                    "cannot connect to Postgres at {address}: {chain} (the server demands TLS: \
                     set sslmode=require or verify-full)"
                )
            } else if chain.starts_with("Timeout") {
                format!("cannot connect to Postgres at {address}: no answer within 5 s")
            } else {
                format!("cannot connect to Postgres at {address}: {chain}")
            }
        }
    };
    StoreError::Unavailable {
        service: SERVICE,
        message,
    }
}
