//! `auth_logs` table: one row per login attempt, written in batches (see `accounts::AuditLog`).

use std::net::IpAddr;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

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
    async fn append(&self, entries: &[AuthLogEntry]) -> Result<(), StoreError> {
        // One statement for the whole batch: each column as an array, zipped by UNNEST.
        let (client, statement) = self
            .0
            .prepared(
                "INSERT INTO auth_logs (request_ip, request_timestamp, user_id, outcome, user_agent)
                 SELECT * FROM UNNEST($1::inet[], $2::timestamptz[], $3::uuid[], $4::text[], $5::text[])",
            )
            .await?;
        let ips: Vec<IpAddr> = entries.iter().map(|entry| entry.request_ip).collect();
        let times: Vec<OffsetDateTime> = entries.iter().map(|e| e.request_timestamp).collect();
        let users: Vec<Option<Uuid>> = entries.iter().map(|entry| entry.user_id).collect();
        let outcomes: Vec<&str> = entries.iter().map(|entry| entry.outcome.as_str()).collect();
        let agents: Vec<Option<&str>> = entries
            .iter()
            .map(|entry| entry.user_agent.as_deref())
            .collect();
        client
            .execute(&statement, &[&ips, &times, &users, &outcomes, &agents])
            .await
            .map(drop)
            .map_err(|err| unavailable(&err))
    }
}
