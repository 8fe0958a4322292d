//! `auth_logs` table: one row per login attempt.

use async_trait::async_trait;

use super::{Postgres, unavailable};
use crate::store::{AuthLogEntry, AuthLogStore, StoreError};

pub struct PostgresAuthLogs(pub(super) Postgres);

#[async_trait]
impl AuthLogStore for PostgresAuthLogs {
    #[tracing::instrument(
        name = "postgres auth_logs.append",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn append(&self, entry: &AuthLogEntry) -> Result<(), StoreError> {
        let (client, statement) = self
            .0
            .prepared(
                "INSERT INTO auth_logs (request_ip, request_timestamp, user_id, outcome, user_agent)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .await?;
        client
            .execute(
                &statement,
                &[
                    &entry.request_ip,
                    &entry.request_timestamp,
                    &entry.user_id,
                    &entry.outcome.as_str(),
                    &entry.user_agent,
                ],
            )
            .await
            .map(drop)
            .map_err(|err| unavailable(&err))
    }
}
