//! The audit trail, and the webhooks that carry it to other programs.
//!
//! Every event authd records (a login, an ended session, an administrator's change) is one
//! row of `audit_events`, written with one outbox message holding the batch it came in. A
//! worker fans that message out ([`FanOut`]): one outbox message per subscription that wants an
//! event, each delivered, signed, retried and given up on by the outbox like a mail; and to
//! each [`Listener`] (back-channel logout turns `session.ended` into logout tokens). The event
//! and its delivery commit together or not at all; a slow or absent receiver delays nothing.

mod delivery;
mod guard;
mod webhooks;

use std::{net::IpAddr, sync::Arc};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

pub use delivery::{FanOut, Listener, WebhookSender, describe, signature};
pub use guard::AddressGuard;
pub use webhooks::{WebhookDraft, WebhookSecret, Webhooks};

use crate::{
    clock::Clock,
    error::Error,
    outbox::Outbox,
    store::{AuditEvent, AuditQuery, AuditStore, Topic},
};

crate::labels::closed_labels! {
    /// What happened: the audit trail's `event_type` and the webhooks' `type`.
    pub enum EventType {
        UserCreated => "user.created",
        UserUpdated => "user.updated",
        UserDisabled => "user.disabled",
        UserEnabled => "user.enabled",
        UserDeleted => "user.deleted",
        UserLoggedIn => "user.logged_in",
        UserLoginFailed => "user.login_failed",
        UserPasswordReset => "user.password_reset",
        UserFactorsReset => "user.factors_reset",
        /// A password set or changed, an authenticator app or a passkey added or removed, by
        /// the user (a reset by mail is `user.password_reset`).
        UserCredentialChanged => "user.credential_changed",
        IdentityLinked => "identity.linked",
        IdentityUnlinked => "identity.unlinked",
        SessionEnded => "session.ended",
        DeviceApproved => "device.approved",
        DeviceDenied => "device.denied",
        DeviceCodeRejected => "device.user_code_rejected",
        ClientCreated => "client.created",
        ClientUpdated => "client.updated",
        ClientSecretRotated => "client.secret_rotated",
        ClientDeleted => "client.deleted",
        KeyRotated => "key.rotated",
        GroupCreated => "group.created",
        GroupUpdated => "group.updated",
        GroupDeleted => "group.deleted",
        GroupMemberAdded => "group.member_added",
        GroupMemberRemoved => "group.member_removed",
        WebhookCreated => "webhook.created",
        WebhookUpdated => "webhook.updated",
        WebhookDeleted => "webhook.deleted",
        UpstreamCreated => "upstream.created",
        UpstreamUpdated => "upstream.updated",
        UpstreamDeleted => "upstream.deleted",
    }
}

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A user, by their own doing or with an admin token issued to them.
    User(Uuid),
    /// A client acting with its own token (client credentials).
    Client(String),
    /// The command line (`authd users …`, `authd clients …`).
    Operator,
    /// Nobody signed in (a failed login, a self-registration).
    Anonymous,
    /// authd itself, finishing what a replica that died had started (a revoked session's end).
    System,
}

impl Actor {
    fn label(&self) -> String {
        match self {
            Actor::User(id) => format!("user:{id}"),
            Actor::Client(id) => format!("client:{id}"),
            Actor::Operator => "operator".to_owned(),
            Actor::Anonymous => "anonymous".to_owned(),
            Actor::System => "system".to_owned(),
        }
    }
}

/// An event about to be recorded.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: EventType,
    pub actor: Actor,
    pub user_id: Option<Uuid>,
    pub client_id: Option<String>,
    pub ip: Option<IpAddr>,
    /// What changed, for the reader (never a secret).
    pub detail: serde_json::Value,
}

impl NewEvent {
    pub fn new(kind: EventType, actor: Actor) -> Self {
        Self {
            kind,
            actor,
            user_id: None,
            client_id: None,
            ip: None,
            detail: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    pub fn user(mut self, user_id: Uuid) -> Self {
        self.user_id = Some(user_id);
        self
    }

    pub fn client(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    pub fn ip(mut self, ip: Option<IpAddr>) -> Self {
        self.ip = ip;
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    fn at(self, occurred_at: OffsetDateTime) -> AuditEvent {
        AuditEvent {
            id: 0,
            occurred_at,
            event_type: self.kind.as_str().to_owned(),
            user_id: self.user_id,
            client_id: self.client_id,
            actor: self.actor.label(),
            ip: self.ip,
            detail: self.detail,
        }
    }
}

/// An event as a webhook carries it (the Standard Webhooks payload shape: `type`,
/// `timestamp`, `data`), and as the fan-out message holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventPayload {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    pub data: EventData,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    pub actor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    pub detail: serde_json::Value,
}

impl From<&AuditEvent> for EventPayload {
    fn from(event: &AuditEvent) -> Self {
        Self {
            kind: event.event_type.clone(),
            timestamp: event.occurred_at,
            data: EventData {
                user_id: event.user_id,
                client_id: event.client_id.clone(),
                actor: event.actor.clone(),
                ip: event.ip,
                detail: event.detail.clone(),
            },
        }
    }
}

/// Records events, and reads them back for administrators.
pub struct AuditTrail {
    store: Arc<dyn AuditStore>,
    outbox: Outbox,
    clock: Arc<dyn Clock>,
}

impl AuditTrail {
    pub fn new(store: Arc<dyn AuditStore>, outbox: Outbox, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            outbox,
            clock,
        }
    }

    /// Records one event now, with its delivery to webhook subscribers.
    pub async fn record(&self, event: NewEvent) -> Result<(), Error> {
        self.append(vec![event.at(self.clock.now())], &[]).await
    }

    /// Records `event`, the end of session `session_id`, which then no longer waits for a
    /// sweep to record it (see [`crate::store::SessionStore::claim_unrecorded_ends`]).
    pub async fn record_session_end(&self, event: NewEvent, session_id: Uuid) -> Result<(), Error> {
        self.append(vec![event.at(self.clock.now())], &[session_id])
            .await
    }

    /// Records events that already carry their time (a batch of logins), with one outbox
    /// message for all of them.
    pub async fn record_all(&self, events: Vec<AuditEvent>) -> Result<(), Error> {
        self.append(events, &[]).await
    }

    async fn append(&self, events: Vec<AuditEvent>, recorded_ends: &[Uuid]) -> Result<(), Error> {
        if events.is_empty() {
            return Ok(());
        }
        let payloads: Vec<EventPayload> = events.iter().map(EventPayload::from).collect();
        let body = serde_json::to_vec(&payloads)
            .map_err(|err| Error::Internal(format!("events do not serialise: {err}")))?;
        let message = self.outbox.seal(Topic::Events, &body)?;
        self.store
            .append_events(&events, Some(&message), recorded_ends)
            .await?;
        self.outbox.queued();
        Ok(())
    }

    /// A login event as the login audit writer batches it.
    pub fn login_event(
        occurred_at: OffsetDateTime,
        user_id: Option<Uuid>,
        ip: IpAddr,
        succeeded: bool,
        detail: serde_json::Value,
    ) -> AuditEvent {
        let kind = if succeeded {
            EventType::UserLoggedIn
        } else {
            EventType::UserLoginFailed
        };
        let actor = match (succeeded, user_id) {
            (true, Some(user_id)) => Actor::User(user_id),
            _ => Actor::Anonymous,
        };
        let mut event = NewEvent::new(kind, actor).ip(Some(ip)).detail(detail);
        event.user_id = user_id;
        event.at(occurred_at)
    }

    /// A page of the trail, newest first.
    pub async fn list(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, Error> {
        Ok(self.store.list_events(query).await?)
    }
}
