//! Shared Signals event streams (SSF 1.0), and the Security Event Tokens a poll stream holds
//! until its receiver acknowledges them.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{SealedBox, StoreError};

/// How a stream's events reach its receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamDelivery {
    /// RFC 8935: authd POSTs each SET to the receiver's URL, with its authorization header if
    /// it gave one (sealed under the master key named).
    Push {
        endpoint_url: String,
        authorization: Option<SealedAuthorization>,
    },
    /// RFC 8936: the receiver takes SETs from authd's poll endpoint for the stream.
    Poll,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedAuthorization {
    /// The header's value, sealed with the stream id as associated data.
    pub sealed: SealedBox,
    pub master_key_id: String,
}

/// A stream's status (SSF 1.0 §8.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStatus {
    Enabled,
    /// Events are held, and sent once the stream is enabled again.
    Paused,
    /// Events are neither sent nor held.
    Disabled,
}

impl StreamStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamStatus::Enabled => "enabled",
            StreamStatus::Paused => "paused",
            StreamStatus::Disabled => "disabled",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Enabled, Self::Paused, Self::Disabled]
            .into_iter()
            .find(|status| status.as_str() == value)
    }
}

#[derive(Debug, Clone)]
pub struct StreamRecord {
    pub id: Uuid,
    /// The receiver: the client whose token created the stream.
    pub client_id: String,
    /// The `aud` of the stream's SETs.
    pub audience: String,
    pub delivery: StreamDelivery,
    /// Event type URIs the receiver asked for (authd delivers those it supports).
    pub events_requested: Vec<String>,
    pub status: StreamStatus,
    pub reason: Option<String>,
    pub description: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A SET waiting in a poll stream: its claims, signed when it is handed out.
#[derive(Debug, Clone)]
pub struct PendingSet {
    pub jti: Uuid,
    pub claims: serde_json::Value,
}

#[async_trait]
pub trait StreamStore: Send + Sync {
    async fn insert_stream(&self, stream: &StreamRecord) -> Result<(), StoreError>;
    async fn find_stream(&self, id: Uuid) -> Result<Option<StreamRecord>, StoreError>;
    /// A receiver's streams, oldest first.
    async fn client_streams(&self, client_id: &str) -> Result<Vec<StreamRecord>, StoreError>;
    /// Every stream that is not disabled: the fan-out reads them for each batch of events.
    async fn live_streams(&self) -> Result<Vec<StreamRecord>, StoreError>;
    /// Writes the receiver-supplied fields and the status of `stream` (its id, client and
    /// audience stay); false if it is gone.
    async fn update_stream(&self, stream: &StreamRecord) -> Result<bool, StoreError>;
    async fn delete_stream(&self, id: Uuid) -> Result<bool, StoreError>;
    /// Re-seals a push stream's authorization header (`authd keys rewrap`), if it is still
    /// sealed under `previous_master`; whether it was.
    async fn reseal_stream(
        &self,
        id: Uuid,
        previous_master: &str,
        sealed: &SealedAuthorization,
    ) -> Result<bool, StoreError>;
    /// Every stream with a sealed authorization header, for `authd keys rewrap`.
    async fn sealed_streams(&self) -> Result<Vec<StreamRecord>, StoreError>;

    /// Adds a SET to a poll stream; a repeat of the same `jti` adds nothing (the outbox
    /// delivers at least once). False if the stream is gone.
    async fn hold_set(
        &self,
        stream_id: Uuid,
        set: &PendingSet,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Removes the acknowledged SETs of a stream, then returns up to `limit` of those still
    /// waiting, oldest first, and whether more wait beyond them.
    async fn take_sets(
        &self,
        stream_id: Uuid,
        acknowledged: &[Uuid],
        limit: u32,
    ) -> Result<(Vec<PendingSet>, bool), StoreError>;
    /// Drops SETs that waited longer than the retention bound (made before `before`); how
    /// many.
    async fn expire_sets(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}
