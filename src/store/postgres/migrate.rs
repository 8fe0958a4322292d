//! Schema migrations (refinery, SQL files in `migrations/`), one replica at a time, and how
//! the schema a database has stands against the migrations this binary carries.

use super::{StoreError, client_config, connect::connect_failure, unavailable};

refinery::embed_migrations!("migrations");

/// Arbitrary but fixed: every authd replica takes this advisory lock to migrate.
const MIGRATION_LOCK: i64 = 0x6175_7468_645f_6d69; // "authd_mi"

/// Where a database's schema stands against this binary's migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaState {
    /// Every migration this binary carries is applied, and no other.
    Current,
    /// No authd schema at all: a database `authd migrate` never ran on.
    Missing,
    /// Migrated as far as `at`; this binary needs `needs`.
    Behind { at: i32, needs: i32 },
    /// Migrated by a newer authd, as far as `at`; this binary knows up to `knows`.
    Newer { at: i32, knows: i32 },
}

impl std::fmt::Display for SchemaState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Current => f.write_str("the database schema is up to date"),
            Self::Missing => f.write_str(
                "the database has no authd schema yet (schema missing): run `authd migrate`",
            ),
            Self::Behind { at, needs } => write!(
                f,
                "the database schema is behind this authd (at migration {at}, this authd \
                 needs {needs}): run `authd migrate`"
            ),
            Self::Newer { at, knows } => write!(
                f,
                "the database schema is newer than this authd (at migration {at}, this authd \
                 knows up to {knows}): run the authd release that migrated it, or a later one"
            ),
        }
    }
}

/// The newest migration this binary carries.
fn newest_known() -> i32 {
    migrations::runner()
        .get_migrations()
        .iter()
        .map(|migration| migration.version())
        .max()
        .unwrap_or_default()
}

/// Where the schema of `database_url`'s database stands.
pub async fn schema_state(database_url: &str) -> Result<SchemaState, StoreError> {
    let client = connect_once(database_url).await?;
    state_of(&client).await
}

async fn state_of(client: &tokio_postgres::Client) -> Result<SchemaState, StoreError> {
    let row = client
        .query_one(
            "SELECT to_regclass('refinery_schema_history') IS NOT NULL AS migrated",
            &[],
        )
        .await
        .map_err(|err| unavailable(&err))?;
    if !row.get::<_, bool>("migrated") {
        return Ok(SchemaState::Missing);
    }
    let row = client
        .query_one(
            "SELECT max(version) AS at FROM refinery_schema_history",
            &[],
        )
        .await
        .map_err(|err| unavailable(&err))?;
    let Some(at) = row.get::<_, Option<i32>>("at") else {
        return Ok(SchemaState::Missing);
    };
    let known = newest_known();
    Ok(match at.cmp(&known) {
        std::cmp::Ordering::Less => SchemaState::Behind { at, needs: known },
        std::cmp::Ordering::Equal => SchemaState::Current,
        std::cmp::Ordering::Greater => SchemaState::Newer { at, knows: known },
    })
}

/// Applies pending migrations under a session advisory lock, so replicas starting together
/// migrate one after another (the later ones find nothing to do). Returns how many ran. A
/// schema a newer authd migrated is left alone, and said so.
pub async fn run_migrations(database_url: &str) -> Result<usize, StoreError> {
    let mut client = connect_once(database_url).await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|err| unavailable(&err))?;
    let state = state_of(&client).await;
    let report = match state {
        Ok(newer @ SchemaState::Newer { .. }) => Err(StoreError::Unavailable {
            service: "postgres",
            message: newer.to_string(),
        }),
        Ok(_) => migrations::runner()
            .run_async(&mut client)
            .await
            .map_err(|err| StoreError::Unavailable {
                service: "postgres",
                message: format!("migration failed: {err}"),
            }),
        Err(err) => Err(err),
    };
    // The lock is released with the session in any case; unlock explicitly to be prompt.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let report = report?;
    for migration in report.applied_migrations() {
        tracing::info!(migration = %migration, "applied migration");
    }
    Ok(report.applied_migrations().len())
}

/// One connection outside the pool (migrations take a session lock of their own).
async fn connect_once(database_url: &str) -> Result<tokio_postgres::Client, StoreError> {
    let (config, connector) = client_config(database_url)?;
    let (client, connection) = config
        .connect(connector)
        .await
        .map_err(|err| connect_failure(&err, Some(&err), &super::connect::address(&config)))?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(error = %err, "migration connection closed");
        }
    });
    Ok(client)
}
