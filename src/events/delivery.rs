//! The two deliverers of the audit trail's outbox messages: [`FanOut`] turns a batch of events
//! into one message per subscription that wants each (and whatever its [`Listener`]s make of
//! the batch), and [`WebhookSender`] posts one, signed as Standard Webhooks specifies.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use super::{EventPayload, Webhooks, webhooks::wants};
use crate::{
    clock::Clock,
    outbox::{Deliverer, DeliveryError, Outbox},
    store::{OutboxMessage, Topic},
};

/// How long one webhook delivery may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One event for one subscription, as its outbox message holds it: the exact bytes to post,
/// so every attempt signs and sends the same body.
#[derive(Serialize, Deserialize)]
struct Delivery {
    webhook_id: Uuid,
    body: String,
}

/// Another consumer of the recorded events beside the webhooks (back-channel logout): what it
/// has to deliver for a batch, as outbox payloads, each with its topic. Called at least once
/// per batch, so its deliveries must bear repeating.
#[async_trait]
pub trait Listener: Send + Sync {
    async fn deliveries(
        &self,
        events: &[EventPayload],
    ) -> Result<Vec<(Topic, Vec<u8>)>, DeliveryError>;
}

/// Fans a batch of events out to the subscriptions and listeners that want them.
pub struct FanOut {
    webhooks: Arc<Webhooks>,
    outbox: Outbox,
    listeners: Vec<Arc<dyn Listener>>,
}

impl FanOut {
    pub fn new(webhooks: Arc<Webhooks>, outbox: Outbox) -> Self {
        Self {
            webhooks,
            outbox,
            listeners: Vec::new(),
        }
    }

    pub fn with_listener(mut self, listener: Arc<dyn Listener>) -> Self {
        self.listeners.push(listener);
        self
    }
}

#[async_trait]
impl Deliverer for FanOut {
    async fn deliver(&self, _id: Uuid, payload: &[u8]) -> Result<(), DeliveryError> {
        let events: Vec<EventPayload> = serde_json::from_slice(payload)
            .map_err(|err| DeliveryError::permanent(format!("unreadable events: {err}")))?;
        let subscriptions = self
            .webhooks
            .store()
            .enabled_webhooks()
            .await
            .map_err(|err| DeliveryError::transient(err.to_string()))?;
        let mut messages: Vec<OutboxMessage> = Vec::new();
        for webhook in &subscriptions {
            for event in events.iter().filter(|event| wants(webhook, &event.kind)) {
                let body = serde_json::to_string(event)
                    .map_err(|err| DeliveryError::permanent(err.to_string()))?;
                let delivery = serde_json::to_vec(&Delivery {
                    webhook_id: webhook.id,
                    body,
                })
                .map_err(|err| DeliveryError::permanent(err.to_string()))?;
                messages.push(
                    self.outbox
                        .seal(Topic::Webhook, &delivery)
                        .map_err(|err| DeliveryError::transient(err.to_string()))?,
                );
            }
        }
        for listener in &self.listeners {
            for (topic, payload) in listener.deliveries(&events).await? {
                messages.push(
                    self.outbox
                        .seal(topic, &payload)
                        .map_err(|err| DeliveryError::transient(err.to_string()))?,
                );
            }
        }
        if !messages.is_empty() {
            // Should this fail after the write, the batch is fanned out again: at least once.
            self.outbox
                .enqueue(&messages)
                .await
                .map_err(|err| DeliveryError::transient(err.to_string()))?;
        }
        Ok(())
    }
}

/// Posts one event to one subscription.
pub struct WebhookSender {
    webhooks: Arc<Webhooks>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl WebhookSender {
    pub fn new(webhooks: Arc<Webhooks>, clock: Arc<dyn Clock>) -> Result<Self, reqwest::Error> {
        let http = webhooks.guard().client(CONNECT_TIMEOUT, REQUEST_TIMEOUT)?;
        Ok(Self {
            webhooks,
            http,
            clock,
        })
    }
}

#[async_trait]
impl Deliverer for WebhookSender {
    async fn deliver(&self, id: Uuid, payload: &[u8]) -> Result<(), DeliveryError> {
        let delivery: Delivery = serde_json::from_slice(payload)
            .map_err(|err| DeliveryError::permanent(format!("unreadable delivery: {err}")))?;
        let webhook = self
            .webhooks
            .find(delivery.webhook_id)
            .await
            .map_err(|err| DeliveryError::transient(err.to_string()))?;
        let Some(webhook) = webhook.filter(|webhook| webhook.enabled) else {
            tracing::info!(webhook_id = %delivery.webhook_id, "webhook delivery dropped: the subscription was deleted or disabled");
            return Ok(());
        };
        let url = url::Url::parse(&webhook.url)
            .map_err(|_| DeliveryError::permanent("the subscription's URL does not parse"))?;
        self.webhooks
            .guard()
            .check_url(&url)
            .map_err(DeliveryError::permanent)?;
        let key = self
            .webhooks
            .key(&webhook)
            .map_err(|err| DeliveryError::permanent(err.to_string()))?;
        let message_id = format!("msg_{}", id.simple());
        let timestamp = self.clock.now().unix_timestamp();
        let signed = signature(&key, &message_id, timestamp, delivery.body.as_bytes());
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signed)
            .body(delivery.body)
            .send()
            .await
            .map_err(|err| DeliveryError::transient(describe(&err)))?;
        let status = response.status();
        if status.is_success() {
            tracing::debug!(webhook_id = %webhook.id, %message_id, "webhook delivered");
            return Ok(());
        }
        let message = format!("the receiver answered {status}");
        // 410 Gone: the receiver says this endpoint will never take deliveries again.
        if status == reqwest::StatusCode::GONE {
            return Err(DeliveryError::permanent(message));
        }
        Err(DeliveryError::transient(message))
    }
}

/// The `webhook-signature` header's value: `v1,` and the base64 of HMAC-SHA256 over
/// `{id}.{timestamp}.{body}` (Standard Webhooks §Signature scheme).
pub fn signature(key: &[u8], message_id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length: this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(format!("{message_id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// A transport error with its causes (reqwest's own message stops at the first).
pub fn describe(err: &reqwest::Error) -> String {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::signature;

    /// The vector checked against the `standardwebhooks` reference library.
    #[test]
    fn signs_as_standard_webhooks_does() {
        let signed = signature(
            b"0123456789abcdef0123456789abcdef",
            "msg_1",
            1_700_000_000,
            br#"{"type":"user.created","data":{"id":"u1"}}"#,
        );
        assert_eq!(signed, "v1,PSTaIZW0Cm+cqRI0n5c2s4tZ9uG85qfxSqVezj3FsH8=");
    }
}
