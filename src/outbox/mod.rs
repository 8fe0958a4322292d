//! The one outbox every durable side effect leaves through: mail now, and webhooks, logout
//! tokens and security events as they come. A message is sealed under the master key and
//! written to the store, in the same transaction as the change that causes it where the store
//! offers one (a password reset and its notice commit together); a worker on every replica
//! ([`crate::tasks`]) claims due messages and hands each to its topic's [`Deliverer`].
//!
//! Guarantees: a committed message is delivered at least once, by any replica, surviving
//! restarts; one replica works on a message at a time (a claim is a lease); a failed attempt is
//! retried with exponential backoff, and after [`MAX_ATTEMPTS`] (or a permanent refusal) the
//! message is kept as failed, for an operator to see. "At least once": a replica that dies after
//! the mail server accepted a mail but before it recorded so sends it again when the lease ends.

use std::{sync::Arc, time::Duration as StdDuration};

use async_trait::async_trait;
use time::Duration;
use tokio::sync::{Notify, futures::Notified};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::{
    clock::Clock,
    error::Error,
    keys::MasterKeys,
    metrics::{Delivery, Metrics},
    store::{Attempt, OutboxMessage, OutboxStore, Topic},
};

/// Attempts before a message is given up: with [`backoff`], about three hours of trying.
pub const MAX_ATTEMPTS: u32 = 20;
/// How long a claimed message is left to its worker before another may take it: longer than
/// any one attempt may take (a mail server gets [`ATTEMPT_TIMEOUT`]).
pub const LEASE: Duration = Duration::minutes(2);
/// The longest one delivery attempt may take.
pub const ATTEMPT_TIMEOUT: StdDuration = StdDuration::from_secs(30);
/// Messages claimed at once by one worker: a full batch means more may be due.
pub const BATCH: u32 = 16;

/// The wait before attempt `attempts + 1`: 1 s, doubling, at most 15 minutes.
pub fn backoff(attempts: u32) -> Duration {
    let exponent = attempts.saturating_sub(1).min(10);
    Duration::seconds(1_i64 << exponent).min(Duration::minutes(15))
}

/// Why a delivery attempt failed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    /// Trying again cannot help (the receiver refused the message itself).
    pub permanent: bool,
    pub message: String,
}

impl DeliveryError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            permanent: false,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            permanent: true,
            message: message.into(),
        }
    }
}

/// Delivers the messages of one topic. `id` is stable across attempts (a receiver may use it
/// to drop a duplicate: a mail's Message-ID, a webhook's `webhook-id`).
#[async_trait]
pub trait Deliverer: Send + Sync {
    async fn deliver(&self, id: Uuid, payload: &[u8]) -> Result<(), DeliveryError>;
}

#[derive(Clone)]
pub struct Outbox {
    store: Arc<dyn OutboxStore>,
    master_keys: Arc<MasterKeys>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    /// Wakes this replica's workers when it queued something, so its own messages leave at
    /// once; the other replicas find them at their next poll.
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new(
        store: Arc<dyn OutboxStore>,
        master_keys: Arc<MasterKeys>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            master_keys,
            clock,
            metrics,
            wake: Arc::new(Notify::new()),
        }
    }

    /// A message for `topic`, sealed, for a store call that writes it with its change; call
    /// [`Self::queued`] once that committed.
    pub fn seal(&self, topic: Topic, payload: &[u8]) -> Result<OutboxMessage, Error> {
        let id = Uuid::now_v7();
        let key = self.master_keys.current();
        let sealed = key
            .seal(payload, id.as_bytes())
            .map_err(|_| Error::Internal("could not seal an outbox message".to_owned()))?;
        Ok(OutboxMessage {
            id,
            topic,
            sealed,
            master_key_id: key.id(),
            created_at: self.clock.now(),
        })
    }

    /// Queues messages that go with no change of their own.
    pub async fn enqueue(&self, messages: &[OutboxMessage]) -> Result<(), Error> {
        self.store.enqueue(messages).await?;
        self.queued();
        Ok(())
    }

    /// Says that messages were committed: this replica's workers look at once.
    pub fn queued(&self) {
        self.wake.notify_waiters();
    }

    /// Resolves when this replica queues a message (after `enable`, or from its first poll).
    pub fn woken(&self) -> Notified<'_> {
        self.wake.notified()
    }

    /// Claims due messages of `topic` and delivers each; how many were claimed (a full batch
    /// means more may be due).
    pub async fn deliver_due(&self, topic: Topic, deliverer: &dyn Deliverer) -> Result<u32, Error> {
        let claimed = self
            .store
            .claim(topic, self.clock.now(), LEASE, BATCH)
            .await?;
        let count = u32::try_from(claimed.len()).unwrap_or(u32::MAX);
        for claim in claimed {
            let message = &claim.message;
            let outcome = match self.open(message) {
                Ok(payload) => {
                    match tokio::time::timeout(
                        ATTEMPT_TIMEOUT,
                        deliverer.deliver(message.id, &payload),
                    )
                    .await
                    {
                        Ok(result) => result,
                        Err(_) => Err(DeliveryError::transient("timed out")),
                    }
                }
                Err(err) => Err(err),
            };
            let now = self.clock.now();
            let (attempt, counted) = match outcome {
                Ok(()) => (Attempt::Sent, Delivery::Sent),
                Err(err) if err.permanent || claim.attempts >= MAX_ATTEMPTS => {
                    tracing::error!(
                        id = %message.id, topic = topic.as_str(), attempts = claim.attempts,
                        error = %err, "outbox message given up"
                    );
                    (Attempt::Failed { error: err.message }, Delivery::Failed)
                }
                Err(err) => {
                    let at = now + backoff(claim.attempts);
                    tracing::warn!(
                        id = %message.id, topic = topic.as_str(), attempts = claim.attempts,
                        error = %err, retry_at = %at, "outbox delivery failed; will retry"
                    );
                    (
                        Attempt::Retry {
                            at,
                            error: err.message,
                        },
                        Delivery::Retried,
                    )
                }
            };
            self.metrics.outbox_delivery(topic, counted);
            self.store.finish(message.id, now, attempt).await?;
        }
        Ok(count)
    }

    /// Reads the queue's depth into the metrics.
    pub async fn measure(&self) -> Result<(), Error> {
        self.metrics.set_outbox_depth(self.store.depth().await?);
        Ok(())
    }

    fn open(&self, message: &OutboxMessage) -> Result<Zeroizing<Vec<u8>>, DeliveryError> {
        let key = self
            .master_keys
            .find(&message.master_key_id)
            .ok_or_else(|| {
                DeliveryError::permanent(format!(
                    "sealed under master key {}, which this replica does not have",
                    message.master_key_id
                ))
            })?;
        key.open(&message.sealed, message.id.as_bytes())
            .map_err(|_| DeliveryError::permanent("the sealed payload does not open"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_second_up_to_a_quarter_hour() {
        assert_eq!(backoff(1), Duration::seconds(1));
        assert_eq!(backoff(2), Duration::seconds(2));
        assert_eq!(backoff(5), Duration::seconds(16));
        assert_eq!(backoff(11), Duration::minutes(15));
        assert_eq!(backoff(MAX_ATTEMPTS), Duration::minutes(15));
    }
}
