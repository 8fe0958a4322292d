//! Webhook subscriptions.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{SealedBox, StoreError, Written};

#[derive(Debug, Clone)]
pub struct WebhookRecord {
    pub id: Uuid,
    pub url: String,
    /// Event types delivered (`user.created`, …), or `*` for all.
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub description: String,
    /// The signing secret's bytes, sealed under the master key named (the id as associated
    /// data): authd signs with it, so it keeps more than a hash.
    pub secret: SealedBox,
    pub master_key_id: String,
    pub created_at: OffsetDateTime,
    pub revision: i64,
}

/// What an administrator may change on a subscription (every field written).
#[derive(Debug, Clone)]
pub struct WebhookChange {
    pub url: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub description: String,
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn insert_webhook(&self, webhook: &WebhookRecord) -> Result<(), StoreError>;
    async fn find_webhook(&self, id: Uuid) -> Result<Option<WebhookRecord>, StoreError>;
    /// Subscriptions in id order after `after`.
    async fn list_webhooks(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<WebhookRecord>, StoreError>;
    /// Every enabled subscription: the fan-out reads them for each batch of events.
    async fn enabled_webhooks(&self) -> Result<Vec<WebhookRecord>, StoreError>;
    async fn change_webhook(
        &self,
        id: Uuid,
        change: &WebhookChange,
        expected: Option<i64>,
    ) -> Result<Written<WebhookRecord>, StoreError>;
    async fn delete_webhook(&self, id: Uuid) -> Result<bool, StoreError>;
    /// Replaces a subscription's sealed secret (`authd keys rewrap`), if it is still sealed
    /// under `previous_master`; whether it was.
    async fn reseal_webhook(
        &self,
        id: Uuid,
        previous_master: &str,
        sealed: &SealedBox,
        master_key_id: &str,
    ) -> Result<bool, StoreError>;
}
