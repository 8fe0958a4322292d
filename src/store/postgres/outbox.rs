//! `outbox` table: claimed with `FOR UPDATE SKIP LOCKED`, so concurrent workers on several
//! replicas never take the same row.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use time::{Duration, OffsetDateTime};
use tokio_postgres::Row;
use uuid::Uuid;

use super::{Postgres, unavailable};
use crate::store::{
    Attempt, Claimed, OutboxDepth, OutboxMessage, OutboxStore, SealedBox, StoreError, Topic,
};

pub struct PostgresOutbox(pub(super) Postgres);

/// Inserts `messages` on `client`: a pooled connection, or the transaction of the change the
/// messages belong to.
pub(super) async fn insert(
    client: &impl GenericClient,
    messages: &[OutboxMessage],
) -> Result<(), StoreError> {
    for message in messages {
        client
            .execute(
                "INSERT INTO outbox (id, topic, payload, payload_nonce, master_key_id, created_at,
                                     next_attempt_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $6)",
                &[
                    &message.id,
                    &message.topic.as_str(),
                    &message.sealed.ciphertext,
                    &message.sealed.nonce,
                    &message.master_key_id,
                    &message.created_at,
                ],
            )
            .await
            .map_err(|err| unavailable(&err))?;
    }
    Ok(())
}

#[async_trait]
impl OutboxStore for PostgresOutbox {
    #[tracing::instrument(
        name = "postgres outbox.enqueue",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn enqueue(&self, messages: &[OutboxMessage]) -> Result<(), StoreError> {
        let mut client = self.0.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|err| unavailable(&err))?;
        insert(&tx, messages).await?;
        tx.commit().await.map_err(|err| unavailable(&err))
    }

    #[tracing::instrument(
        name = "postgres outbox.claim",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn claim(
        &self,
        topic: Topic,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Claimed>, StoreError> {
        let (client, statement) = self
            .0
            .prepared(
                "UPDATE outbox SET next_attempt_at = $3, attempts = attempts + 1
                 WHERE id IN (
                     SELECT id FROM outbox
                     WHERE topic = $1 AND sent_at IS NULL AND failed_at IS NULL
                       AND next_attempt_at <= $2
                     ORDER BY next_attempt_at
                     LIMIT $4
                     FOR UPDATE SKIP LOCKED)
                 RETURNING id, topic, payload, payload_nonce, master_key_id, created_at, attempts",
            )
            .await?;
        let rows = client
            .query(
                &statement,
                &[&topic.as_str(), &now, &(now + lease), &i64::from(limit)],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        let mut claimed: Vec<Claimed> = rows
            .iter()
            .map(claimed_from_row)
            .collect::<Result<_, _>>()?;
        // Oldest first, as they were queued.
        claimed.sort_by_key(|claimed| claimed.message.created_at);
        Ok(claimed)
    }

    #[tracing::instrument(
        name = "postgres outbox.finish",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn finish(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        attempt: Attempt,
    ) -> Result<(), StoreError> {
        match attempt {
            // The payload goes with the delivery: a sent mail's link stays nowhere but in the
            // mailbox it went to.
            Attempt::Sent => {
                self.0
                    .execute(
                        "UPDATE outbox SET sent_at = $2, payload = '', last_error = NULL
                         WHERE id = $1",
                        &[&id, &now],
                    )
                    .await?
            }
            Attempt::Retry { at, error } => {
                self.0
                    .execute(
                        "UPDATE outbox SET next_attempt_at = $2, last_error = $3 WHERE id = $1",
                        &[&id, &at, &error],
                    )
                    .await?
            }
            Attempt::Failed { error } => {
                self.0
                    .execute(
                        "UPDATE outbox SET failed_at = $2, payload = '', last_error = $3
                         WHERE id = $1",
                        &[&id, &now, &error],
                    )
                    .await?
            }
        };
        Ok(())
    }

    #[tracing::instrument(
        name = "postgres outbox.depth",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn depth(&self) -> Result<OutboxDepth, StoreError> {
        let (client, statement) = self
            .0
            .prepared(
                "SELECT count(*) FILTER (WHERE failed_at IS NULL),
                        count(*) FILTER (WHERE failed_at IS NOT NULL)
                 FROM outbox WHERE sent_at IS NULL",
            )
            .await?;
        let row = client
            .query_one(&statement, &[])
            .await
            .map_err(|err| unavailable(&err))?;
        let count = |index: usize| row.get::<_, i64>(index).max(0).unsigned_abs();
        Ok(OutboxDepth {
            pending: count(0),
            failed: count(1),
        })
    }
}

fn claimed_from_row(row: &Row) -> Result<Claimed, StoreError> {
    let corrupt = |err: tokio_postgres::Error| StoreError::Corrupt(format!("outbox row: {err}"));
    let topic: String = row.try_get("topic").map_err(corrupt)?;
    let attempts: i32 = row.try_get("attempts").map_err(corrupt)?;
    Ok(Claimed {
        message: OutboxMessage {
            id: row.try_get("id").map_err(corrupt)?,
            topic: Topic::parse(&topic)
                .ok_or_else(|| StoreError::Corrupt(format!("outbox topic {topic:?}")))?,
            sealed: SealedBox {
                nonce: row.try_get("payload_nonce").map_err(corrupt)?,
                ciphertext: row.try_get("payload").map_err(corrupt)?,
            },
            master_key_id: row.try_get("master_key_id").map_err(corrupt)?,
            created_at: row.try_get("created_at").map_err(corrupt)?,
        },
        attempts: u32::try_from(attempts).unwrap_or(0),
    })
}
