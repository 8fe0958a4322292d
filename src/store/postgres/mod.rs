//! Postgres: users, signing keys and auth logs — what must outlive any replica.

mod auth_logs;
mod clients;
mod housekeeping;
mod migrate;
mod passkeys;
mod profiles;
mod revocations;
mod second_factors;
mod sessions;
mod signing_keys;
mod users;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

use super::tls::PostgresTls;

pub use migrate::run_migrations;

use super::{PoolCounters, Probe, StoreError};

const SERVICE: &str = "postgres";

/// A pool of connections to `database_url`, checked by opening one connection now, so a wrong
/// URL, an unreachable server or a TLS mismatch is reported at start rather than at the first
/// request.
///
/// Several hosts (`postgres://h1:5432,h2:5432/db?target_session_attrs=read-write`) are tried in
/// turn for each new connection, so after a failover new connections find the promoted
/// standby; connections to the old primary close with it, and the pool drops closed ones.
pub async fn connect(database_url: &str) -> Result<Pool, StoreError> {
    let (config, connector) = client_config(database_url)?;
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
        let message = error_chain(&err);
        if message.contains("no encryption") {
            unavailable(&format_args!(
                "{message} (the server demands TLS: set sslmode=require or verify-full)"
            ))
        } else {
            unavailable(&message)
        }
    })?);
    Ok(pool)
}

/// What tokio-postgres connects with for `database_url`: its settings and the TLS connector
/// for its `sslmode` (see [`super::tls`]).
fn client_config(
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

/// The Postgres-backed stores, sharing one pool.
#[derive(Clone)]
pub struct Postgres {
    pool: Pool,
    counters: Arc<PoolCounters>,
}

impl Postgres {
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            counters: Arc::default(),
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        let started = Instant::now();
        let client = self.pool.get().await;
        self.counters.record(started, &client);
        client.map_err(|err| unavailable(&err))
    }

    /// A pooled connection with `sql` prepared on it (cached per connection after the first use).
    async fn prepared(
        &self,
        sql: &str,
    ) -> Result<(deadpool_postgres::Object, tokio_postgres::Statement), StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(sql)
            .await
            .map_err(|err| unavailable(&err))?;
        Ok((client, statement))
    }

    pub fn users(&self) -> Arc<users::PostgresUsers> {
        Arc::new(users::PostgresUsers(self.clone()))
    }

    pub fn signing_keys(&self) -> Arc<signing_keys::PostgresSigningKeys> {
        Arc::new(signing_keys::PostgresSigningKeys(self.clone()))
    }

    pub fn revocations(&self) -> Arc<revocations::PostgresRevocations> {
        Arc::new(revocations::PostgresRevocations(self.clone()))
    }

    pub fn sessions(&self) -> Arc<sessions::PostgresSessions> {
        Arc::new(sessions::PostgresSessions(self.clone()))
    }

    pub fn clients(&self) -> Arc<clients::PostgresClients> {
        Arc::new(clients::PostgresClients(self.clone()))
    }

    pub fn consents(&self) -> Arc<clients::PostgresConsents> {
        Arc::new(clients::PostgresConsents(self.clone()))
    }

    pub fn profiles(&self) -> Arc<profiles::PostgresProfiles> {
        Arc::new(profiles::PostgresProfiles(self.clone()))
    }

    pub fn second_factors(&self) -> Arc<second_factors::PostgresSecondFactors> {
        Arc::new(second_factors::PostgresSecondFactors(self.clone()))
    }

    pub fn passkeys(&self) -> Arc<passkeys::PostgresPasskeys> {
        Arc::new(passkeys::PostgresPasskeys(self.clone()))
    }

    pub fn housekeeping(&self) -> Arc<housekeeping::PostgresHousekeeping> {
        Arc::new(housekeeping::PostgresHousekeeping(self.clone()))
    }

    pub fn auth_logs(&self) -> Arc<auth_logs::PostgresAuthLogs> {
        Arc::new(auth_logs::PostgresAuthLogs(self.clone()))
    }
}

#[async_trait]
impl Probe for Postgres {
    fn name(&self) -> &'static str {
        SERVICE
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.client()
            .await?
            .simple_query("SELECT 1")
            .await
            .map(drop)
            .map_err(|err| unavailable(&err))
    }

    fn pool_status(&self) -> Option<super::PoolStatus> {
        Some(self.counters.status(self.pool.status()))
    }
}

/// Whether Postgres can hold `text` at all: it refuses NUL characters (an error that is the
/// client's, not an outage). No stored name contains one, so a lookup by such a name (a login
/// attempt, a client id) matches nothing; found by schemathesis, where it answered 503.
fn storable(text: &str) -> bool {
    !text.contains('\0')
}

fn unavailable(err: &dyn std::fmt::Display) -> StoreError {
    StoreError::Unavailable {
        service: SERVICE,
        message: err.to_string(),
    }
}
