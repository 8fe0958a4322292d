//! Cleanup of expired rows, by one replica at a time.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{Postgres, unavailable};
use crate::store::{CleanupReport, Housekeeping, StoreError};

/// Held for one transaction; a replica that cannot take it skips this round.
const CLEANUP_LOCK: i64 = 0x6175_7468_645f_636c; // "authd_cl"

pub struct PostgresHousekeeping(pub(super) Postgres);

#[async_trait]
impl Housekeeping for PostgresHousekeeping {
    #[tracing::instrument(
        name = "postgres housekeeping.clean",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn clean(
        &self,
        now: OffsetDateTime,
        retired_keys_before: OffsetDateTime,
        keep_expired_test_key: bool,
        auth_logs_before: OffsetDateTime,
    ) -> Result<Option<CleanupReport>, StoreError> {
        let mut client = self.0.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|err| unavailable(&err))?;
        let locked: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&CLEANUP_LOCK])
            .await
            .map_err(|err| unavailable(&err))?
            .get(0);
        if !locked {
            return Ok(None);
        }
        let delete = |sql: &'static str, at: OffsetDateTime| {
            let tx = &tx;
            async move {
                tx.execute(sql, &[&at])
                    .await
                    .map_err(|err| unavailable(&err))
            }
        };
        let report = CleanupReport {
            refresh_tokens: delete("DELETE FROM refresh_tokens WHERE expires_at <= $1", now)
                .await?,
            sessions: delete(
                "DELETE FROM refresh_families f WHERE created_at <= $1
                 AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.id)",
                now,
            )
            .await?,
            revocations: delete("DELETE FROM revocations WHERE expires_at <= $1", now).await?,
            // The test key is retired from the day it is made; it goes once the test mode is off.
            signing_keys: tx
                .execute(
                    "DELETE FROM signing_keys WHERE retire_at <= $1
                     AND (purpose <> 'expired_test' OR NOT $2)",
                    &[&retired_keys_before, &keep_expired_test_key],
                )
                .await
                .map_err(|err| unavailable(&err))?,
            auth_logs: delete(
                "DELETE FROM auth_logs WHERE request_timestamp < $1",
                auth_logs_before,
            )
            .await?,
            audit_events: delete(
                "DELETE FROM audit_events WHERE occurred_at < $1",
                auth_logs_before,
            )
            .await?,
            account_links: delete("DELETE FROM account_links WHERE expires_at <= $1", now).await?,
            outbox: delete(
                "DELETE FROM outbox WHERE coalesce(sent_at, failed_at) < $1",
                auth_logs_before,
            )
            .await?,
        };
        tx.commit().await.map_err(|err| unavailable(&err))?;
        Ok(Some(report))
    }
}
