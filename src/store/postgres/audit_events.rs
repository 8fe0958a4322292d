//! `audit_events` table: the audit trail, appended in batches with the outbox message that
//! tells webhook subscribers about them.

use std::net::IpAddr;

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{Postgres, storable, unavailable};
use crate::store::{AuditEvent, AuditQuery, AuditStore, OutboxMessage, StoreError};

pub struct PostgresAudit(pub(super) Postgres);

#[async_trait]
impl AuditStore for PostgresAudit {
    #[tracing::instrument(
        name = "postgres audit_events.append",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn append_events(
        &self,
        events: &[AuditEvent],
        outbox: Option<&OutboxMessage>,
        recorded_ends: &[Uuid],
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut client = self.0.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|err| unavailable(&err))?;
        // One statement for the whole batch: each column as an array, zipped by UNNEST.
        let times: Vec<OffsetDateTime> = events.iter().map(|e| e.occurred_at).collect();
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        let users: Vec<Option<Uuid>> = events.iter().map(|e| e.user_id).collect();
        let clients: Vec<Option<&str>> = events.iter().map(|e| e.client_id.as_deref()).collect();
        let actors: Vec<&str> = events.iter().map(|e| e.actor.as_str()).collect();
        let ips: Vec<Option<IpAddr>> = events.iter().map(|e| e.ip).collect();
        let details: Vec<&serde_json::Value> = events.iter().map(|e| &e.detail).collect();
        tx.execute(
            "INSERT INTO audit_events (occurred_at, event_type, user_id, client_id, actor, ip, detail)
             SELECT * FROM UNNEST($1::timestamptz[], $2::text[], $3::uuid[], $4::text[],
                                  $5::text[], $6::inet[], $7::jsonb[])",
            &[&times, &types, &users, &clients, &actors, &ips, &details],
        )
        .await
        .map_err(|err| unavailable(&err))?;
        if let Some(message) = outbox {
            super::outbox::insert(&tx, std::slice::from_ref(message)).await?;
        }
        if !recorded_ends.is_empty() {
            tx.execute(
                "UPDATE refresh_families SET end_record_due = NULL WHERE id = ANY($1)",
                &[&recorded_ends],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        }
        tx.commit().await.map_err(|err| unavailable(&err))
    }

    #[tracing::instrument(
        name = "postgres audit_events.list",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn list_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let texts = [query.client_id.as_deref(), query.event_type.as_deref()];
        if texts.iter().flatten().any(|text| !storable(text)) {
            return Ok(Vec::new());
        }
        let rows = self
            .0
            .client()
            .await?
            .query(
                "SELECT id, occurred_at, event_type, user_id, client_id, actor, ip, detail
                 FROM audit_events
                 WHERE ($1::bigint IS NULL OR id < $1)
                   AND ($2::uuid IS NULL OR user_id = $2)
                   AND ($3::text IS NULL OR client_id = $3)
                   AND ($4::text IS NULL OR event_type = $4)
                   AND ($5::timestamptz IS NULL OR occurred_at >= $5)
                   AND ($6::timestamptz IS NULL OR occurred_at < $6)
                 ORDER BY id DESC LIMIT $7",
                &[
                    &query.before,
                    &query.user_id,
                    &query.client_id,
                    &query.event_type,
                    &query.since,
                    &query.until,
                    &i64::from(query.limit),
                ],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        rows.iter().map(event_from_row).collect()
    }
}

fn event_from_row(row: &Row) -> Result<AuditEvent, StoreError> {
    let corrupt =
        |err: tokio_postgres::Error| StoreError::Corrupt(format!("audit_events row: {err}"));
    Ok(AuditEvent {
        id: row.try_get("id").map_err(corrupt)?,
        occurred_at: row.try_get("occurred_at").map_err(corrupt)?,
        event_type: row.try_get("event_type").map_err(corrupt)?,
        user_id: row.try_get("user_id").map_err(corrupt)?,
        client_id: row.try_get("client_id").map_err(corrupt)?,
        actor: row.try_get("actor").map_err(corrupt)?,
        ip: row.try_get("ip").map_err(corrupt)?,
        detail: row.try_get("detail").map_err(corrupt)?,
    })
}
