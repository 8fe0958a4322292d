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
}

#[async_trait]
pub trait AuthLogStore: Send + Sync {
    /// Appends `entries`, all or none.
    async fn append(&self, entries: &[AuthLogEntry]) -> Result<(), StoreError>;
}
