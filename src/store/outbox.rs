//! The outbox: durable side effects (mail, webhooks, logout tokens and security
//! events) written beside the change that causes them and delivered by a background worker
//! on any replica, at least once.

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{SealedBox, StoreError};

/// What kind of delivery a message needs; each topic has one deliverer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    Mail,
    /// A batch of audit events, fanned out to the webhook subscriptions and logout channels
    /// that want them.
    Events,
    /// One event for one webhook subscription.
    Webhook,
    /// One ended session for one client's back channel (a logout token).
    Logout,
    /// One Security Event Token for one Shared Signals stream, pushed or held for a poll.
    SecurityEvent,
}

impl Topic {
    pub const ALL: [Topic; 5] = [
        Topic::Mail,
        Topic::Events,
        Topic::Webhook,
        Topic::Logout,
        Topic::SecurityEvent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Mail => "mail",
            Topic::Events => "events",
            Topic::Webhook => "webhook",
            Topic::Logout => "logout",
            Topic::SecurityEvent => "security_event",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|topic| topic.as_str() == stored)
    }
}

/// A message as stored: its payload sealed under the master key named (the payload of a mail
/// may hold a single-use link, which is a secret until it is used).
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub id: Uuid,
    pub topic: Topic,
    pub sealed: SealedBox,
    pub master_key_id: String,
    pub created_at: OffsetDateTime,
}

/// A message claimed for one delivery attempt, and how many attempts (this one included) it
/// has had.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub message: OutboxMessage,
    pub attempts: u32,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone)]
pub enum Attempt {
    Sent,
    /// Try again at `at`.
    Retry {
        at: OffsetDateTime,
        error: String,
    },
    /// Given up: the message stays, marked failed, for an operator to see.
    Failed {
        error: String,
    },
}

/// Messages by state, for the queue-depth metric.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxDepth {
    /// Waiting for a first or a further attempt.
    pub pending: u64,
    pub failed: u64,
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Adds messages on their own (a change that must commit with its message uses the store
    /// method for that change, which takes the message).
    async fn enqueue(&self, messages: &[OutboxMessage]) -> Result<(), StoreError>;
    /// Claims up to `limit` due messages of `topic` for one attempt each: their next attempt
    /// moves to `now + lease`, so no other worker takes them while this one tries, and one
    /// that dies trying leaves them to be taken again once the lease ends.
    async fn claim(
        &self,
        topic: Topic,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Claimed>, StoreError>;
    /// Records how the attempt on message `id` ended. A sent message keeps no payload.
    async fn finish(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        attempt: Attempt,
    ) -> Result<(), StoreError>;
    async fn depth(&self) -> Result<OutboxDepth, StoreError>;
}
