//! `webhooks` table: subscriptions, their signing secrets sealed.

use async_trait::async_trait;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{Postgres, unavailable};
use crate::store::{SealedBox, StoreError, WebhookChange, WebhookRecord, WebhookStore, Written};

pub struct PostgresWebhooks(pub(super) Postgres);

const COLUMNS: &str = "id, url, event_types, enabled, description, secret, secret_nonce, \
                       master_key_id, created_at, revision";

#[async_trait]
impl WebhookStore for PostgresWebhooks {
    async fn insert_webhook(&self, webhook: &WebhookRecord) -> Result<(), StoreError> {
        self.0
            .execute(
                "INSERT INTO webhooks (id, url, event_types, enabled, description, secret,
                                       secret_nonce, master_key_id, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &webhook.id,
                    &webhook.url,
                    &webhook.event_types,
                    &webhook.enabled,
                    &webhook.description,
                    &webhook.secret.ciphertext,
                    &webhook.secret.nonce,
                    &webhook.master_key_id,
                    &webhook.created_at,
                ],
            )
            .await
            .map(drop)
    }

    async fn find_webhook(&self, id: Uuid) -> Result<Option<WebhookRecord>, StoreError> {
        let row = self
            .0
            .client()
            .await?
            .query_opt(
                &format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        row.as_ref().map(webhook_from_row).transpose()
    }

    async fn list_webhooks(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<WebhookRecord>, StoreError> {
        let rows = self
            .0
            .client()
            .await?
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM webhooks WHERE ($1::uuid IS NULL OR id > $1)
                     ORDER BY id LIMIT $2"
                ),
                &[&after, &i64::from(limit)],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        rows.iter().map(webhook_from_row).collect()
    }

    async fn enabled_webhooks(&self) -> Result<Vec<WebhookRecord>, StoreError> {
        let rows = self
            .0
            .client()
            .await?
            .query(
                &format!("SELECT {COLUMNS} FROM webhooks WHERE enabled ORDER BY id"),
                &[],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        rows.iter().map(webhook_from_row).collect()
    }

    async fn change_webhook(
        &self,
        id: Uuid,
        change: &WebhookChange,
        expected: Option<i64>,
    ) -> Result<Written<WebhookRecord>, StoreError> {
        let client = self.0.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "UPDATE webhooks SET url = $2, event_types = $3, enabled = $4, description = $5
                     WHERE id = $1 AND ($6::bigint IS NULL OR revision = $6)
                     RETURNING {COLUMNS}"
                ),
                &[
                    &id,
                    &change.url,
                    &change.event_types,
                    &change.enabled,
                    &change.description,
                    &expected,
                ],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        if let Some(row) = row {
            return Ok(Written::Done(webhook_from_row(&row)?));
        }
        super::missing_or_stale(&client, "SELECT 1 FROM webhooks WHERE id = $1", &id).await
    }

    async fn reseal_webhook(
        &self,
        id: Uuid,
        previous_master: &str,
        sealed: &SealedBox,
        master_key_id: &str,
    ) -> Result<bool, StoreError> {
        self.0
            .execute(
                "UPDATE webhooks SET secret = $3, secret_nonce = $4, master_key_id = $5
                 WHERE id = $1 AND master_key_id = $2",
                &[
                    &id,
                    &previous_master,
                    &sealed.ciphertext,
                    &sealed.nonce,
                    &master_key_id,
                ],
            )
            .await
            .map(|updated| updated == 1)
    }

    async fn delete_webhook(&self, id: Uuid) -> Result<bool, StoreError> {
        self.0
            .execute("DELETE FROM webhooks WHERE id = $1", &[&id])
            .await
            .map(|deleted| deleted == 1)
    }
}

fn webhook_from_row(row: &Row) -> Result<WebhookRecord, StoreError> {
    let corrupt = |err: tokio_postgres::Error| StoreError::Corrupt(format!("webhooks row: {err}"));
    Ok(WebhookRecord {
        id: row.try_get("id").map_err(corrupt)?,
        url: row.try_get("url").map_err(corrupt)?,
        event_types: row.try_get("event_types").map_err(corrupt)?,
        enabled: row.try_get("enabled").map_err(corrupt)?,
        description: row.try_get("description").map_err(corrupt)?,
        secret: SealedBox {
            ciphertext: row.try_get("secret").map_err(corrupt)?,
            nonce: row.try_get("secret_nonce").map_err(corrupt)?,
        },
        master_key_id: row.try_get("master_key_id").map_err(corrupt)?,
        created_at: row.try_get("created_at").map_err(corrupt)?,
        revision: row.try_get("revision").map_err(corrupt)?,
    })
}
