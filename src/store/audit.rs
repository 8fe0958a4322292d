//! The login audit log (`auth_logs`).

use std::net::IpAddr;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreError;

crate::labels::closed_labels! {
    /// How a password check ended: the `auth_logs.outcome` column and the `outcome` label of
    /// `authd_logins_total`.
    pub enum AuthOutcome {
        Success => "success",
        UnknownUser => "unknown_user",
        WrongPassword => "wrong_password",
    }
}

#[derive(Debug, Clone)]
pub struct AuthLogEntry {
    pub request_ip: IpAddr,
    pub request_timestamp: OffsetDateTime,
    pub user_id: Option<Uuid>,
    pub outcome: AuthOutcome,
    pub user_agent: Option<String>,
    /// The account a failed attempt named, when it exists: for the audit trail's
    /// `user.login_failed` (the `auth_logs` row names only the user of a success).
    pub attempted_user: Option<Uuid>,
}

#[async_trait]
pub trait AuthLogStore: Send + Sync {
    /// Appends `entries`, all or none.
    async fn append(&self, entries: &[AuthLogEntry]) -> Result<(), StoreError>;
}

/// One entry of the audit trail (`audit_events`).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Assigned by the store, increasing; 0 for an event not yet written.
    pub id: i64,
    pub occurred_at: OffsetDateTime,
    /// `user.created`, `user.logged_in`, `client.updated`, … (the webhooks' event types).
    pub event_type: String,
    /// The user the event is about, if any.
    pub user_id: Option<Uuid>,
    /// The client the event is about, if any.
    pub client_id: Option<String>,
    /// Who acted: `user:<id>`, `client:<id>`, `operator`, `anonymous` or `system`.
    pub actor: String,
    pub ip: Option<IpAddr>,
    /// The event's details (never a secret).
    pub detail: serde_json::Value,
}

/// A page of the audit trail, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub user_id: Option<Uuid>,
    pub client_id: Option<String>,
    pub event_type: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// Events older than this id (the previous page's last).
    pub before: Option<i64>,
    pub limit: u32,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends `events` with `outbox` (the message that tells subscribers about them), all or
    /// none. `recorded_ends` are the sessions whose end these events record: in the same
    /// transaction, they stop being due for a sweep
    /// ([`super::SessionStore::claim_unrecorded_ends`]), so an end is recorded once.
    async fn append_events(
        &self,
        events: &[AuditEvent],
        outbox: Option<&super::OutboxMessage>,
        recorded_ends: &[Uuid],
    ) -> Result<(), StoreError>;
    async fn list_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError>;
}
