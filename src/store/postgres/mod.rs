//! Postgres: users, signing keys and auth logs — what must outlive any replica.

mod audit_events;
mod auth_logs;
mod clients;
mod connect;
mod directory;
mod groups;
mod housekeeping;
mod ldap_accounts;
mod links;
mod migrate;
mod outbox;
mod passkeys;
mod profiles;
mod revocations;
mod second_factors;
mod sessions;
mod signing_keys;
mod streams;
mod upstreams;
mod users;
mod webhooks;

use std::{sync::Arc, time::Instant};

use async_trait::async_trait;
use deadpool_postgres::Pool;

pub use connect::connect;
pub use migrate::{SchemaState, run_migrations, schema_state};

use connect::client_config;

use super::{PoolCounters, Probe, StoreError};

const SERVICE: &str = "postgres";

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

    /// Runs one statement on a pooled connection; how many rows it changed.
    async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        self.client()
            .await?
            .execute(sql, params)
            .await
            .map_err(|err| unavailable(&err))
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

    pub fn outbox(&self) -> Arc<outbox::PostgresOutbox> {
        Arc::new(outbox::PostgresOutbox(self.clone()))
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

    pub fn groups(&self) -> Arc<groups::PostgresGroups> {
        Arc::new(groups::PostgresGroups(self.clone()))
    }

    pub fn audit(&self) -> Arc<audit_events::PostgresAudit> {
        Arc::new(audit_events::PostgresAudit(self.clone()))
    }

    pub fn upstreams(&self) -> Arc<upstreams::PostgresUpstreams> {
        Arc::new(upstreams::PostgresUpstreams(self.clone()))
    }

    pub fn ldap_accounts(&self) -> Arc<ldap_accounts::PostgresLdapAccounts> {
        Arc::new(ldap_accounts::PostgresLdapAccounts(self.clone()))
    }

    pub fn streams(&self) -> Arc<streams::PostgresStreams> {
        Arc::new(streams::PostgresStreams(self.clone()))
    }

    pub fn webhooks(&self) -> Arc<webhooks::PostgresWebhooks> {
        Arc::new(webhooks::PostgresWebhooks(self.clone()))
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

/// What a conditional `UPDATE … WHERE id = $1 AND revision = …` that wrote nothing meant:
/// `Stale` if the row `exists` finds (`SELECT 1 FROM … WHERE id = $1`) is there, else `Missing`.
async fn missing_or_stale<T>(
    client: &impl deadpool_postgres::GenericClient,
    exists: &str,
    id: &(dyn tokio_postgres::types::ToSql + Sync),
) -> Result<super::Written<T>, StoreError> {
    let found = client
        .query_opt(exists, &[id])
        .await
        .map_err(|err| unavailable(&err))?;
    Ok(if found.is_some() {
        super::Written::Stale
    } else {
        super::Written::Missing
    })
}

fn unavailable(err: &dyn std::fmt::Display) -> StoreError {
    StoreError::Unavailable {
        service: SERVICE,
        message: err.to_string(),
    }
}
