//! Schema migrations (refinery, SQL files in `migrations/`), one replica at a time.

use super::{StoreError, client_config, unavailable};

refinery::embed_migrations!("migrations");

/// Arbitrary but fixed: every authd replica takes this advisory lock to migrate.
const MIGRATION_LOCK: i64 = 0x6175_7468_645f_6d69; // "authd_mi"

/// Applies pending migrations under a session advisory lock, so replicas starting together
/// migrate one after another (the later ones find nothing to do). Returns how many ran.
pub async fn run_migrations(database_url: &str) -> Result<usize, StoreError> {
    let (config, connector) = client_config(database_url)?;
    let (mut client, connection) = config
        .connect(connector)
        .await
        .map_err(|err| unavailable(&err))?;
    let connection = tokio::spawn(connection);

    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|err| unavailable(&err))?;
    let report = migrations::runner().run_async(&mut client).await;
    // The lock is released with the session in any case; unlock explicitly to be prompt.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    drop(client);
    let _ = connection.await;

    let report = report.map_err(|err| StoreError::Unavailable {
        service: "postgres",
        message: format!("migration failed: {err}"),
    })?;
    for migration in report.applied_migrations() {
        tracing::info!(migration = %migration, "applied migration");
    }
    Ok(report.applied_migrations().len())
}
