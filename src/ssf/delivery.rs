//! From recorded events to SETs in receivers' hands: [`StreamFanOut`] listens to the audit
//! trail's fan-out and makes one outbox message per (event, stream that wants it);
//! [`SetDelivery`] delivers each, pushed (RFC 8935) or held for a poll (RFC 8936).

use std::{sync::Arc, time::Duration as StdDuration};

use async_trait::async_trait;
use jsonwebtoken::Header;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    SET_TYP, SharedSignals,
    signals::{self, Signal},
    streams::{StreamView, wanted},
};
use crate::{
    accounts::Users,
    error::Error,
    events::{EventPayload, Listener, describe},
    outbox::{Deliverer, DeliveryError},
    store::{PendingSet, StreamDelivery, StreamStatus, Topic},
};

/// One attempt's limits: a receiver that does not answer in time is tried again later.
const REQUEST_TIMEOUT: StdDuration = StdDuration::from_secs(5);
const CONNECT_TIMEOUT: StdDuration = StdDuration::from_secs(3);

/// One SET for one stream, as its outbox message holds it: every claim but `jti` (the
/// message's id, the same at every attempt) and `iat` (the moment it is signed).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Outgoing {
    pub stream_id: Uuid,
    pub claims: Value,
}

impl Outgoing {
    pub fn to_payload(&self) -> Result<Vec<u8>, Error> {
        serde_json::to_vec(self).map_err(|err| Error::Internal(err.to_string()))
    }
}

/// Turns recorded events into SETs for the streams that want them.
pub struct StreamFanOut {
    signals: Arc<SharedSignals>,
    users: Arc<Users>,
}

impl StreamFanOut {
    pub fn new(signals: Arc<SharedSignals>, users: Arc<Users>) -> Self {
        Self { signals, users }
    }
}

#[async_trait]
impl Listener for StreamFanOut {
    async fn deliveries(
        &self,
        events: &[EventPayload],
    ) -> Result<Vec<(Topic, Vec<u8>)>, DeliveryError> {
        let transient = |err: Error| DeliveryError::transient(err.to_string());
        let issuer = self.signals.issuer();
        // Most batches are logins, which no receiver is told of: the streams are read only
        // for a batch that has something to tell.
        let mut made: Vec<Signal> = Vec::new();
        for event in events {
            let user = match (event.kind.as_str(), event.data.user_id) {
                ("user.updated", Some(user_id)) => {
                    self.users.find_any(user_id).await.map_err(transient)?
                }
                _ => None,
            };
            made.extend(signals::signals(issuer, event, user.as_ref()));
        }
        if made.is_empty() {
            return Ok(Vec::new());
        }
        let streams = self
            .signals
            .store
            .live_streams()
            .await
            .map_err(|err| DeliveryError::transient(err.to_string()))?;
        let mut deliveries = Vec::new();
        for stream in streams.into_iter().map(StreamView::of) {
            for signal in wanted(&stream, &made) {
                let outgoing = Outgoing {
                    stream_id: stream.record.id,
                    claims: signal.claims(issuer, &stream.record.audience),
                };
                let payload = outgoing.to_payload().map_err(transient)?;
                deliveries.push((Topic::SecurityEvent, payload));
            }
        }
        Ok(deliveries)
    }
}

/// Delivers one SET to its stream as the stream is now: pushed, held for a poll, held back
/// while the stream is paused, dropped if it is disabled or gone.
pub struct SetDelivery {
    signals: Arc<SharedSignals>,
    http: reqwest::Client,
}

impl SetDelivery {
    pub fn new(signals: Arc<SharedSignals>) -> Result<Self, reqwest::Error> {
        let http = signals.guard.client(CONNECT_TIMEOUT, REQUEST_TIMEOUT)?;
        Ok(Self { signals, http })
    }
}

#[async_trait]
impl Deliverer for SetDelivery {
    async fn deliver(&self, id: Uuid, payload: &[u8]) -> Result<(), DeliveryError> {
        let outgoing: Outgoing = serde_json::from_slice(payload)
            .map_err(|err| DeliveryError::permanent(format!("unreadable SET: {err}")))?;
        let store = &self.signals.store;
        let stream = store
            .find_stream(outgoing.stream_id)
            .await
            .map_err(|err| DeliveryError::transient(err.to_string()))?;
        let Some(stream) = stream else {
            tracing::info!(stream_id = %outgoing.stream_id, "SET dropped: the stream was deleted");
            return Ok(());
        };
        let mut claims = outgoing.claims;
        claims["jti"] = json!(id.simple().to_string());
        match (&stream.delivery, stream.status) {
            (_, StreamStatus::Disabled) => {
                tracing::info!(stream_id = %stream.id, "SET dropped: the stream is disabled");
                Ok(())
            }
            (StreamDelivery::Poll, _) => {
                let held = store
                    .hold_set(
                        stream.id,
                        &PendingSet { jti: id, claims },
                        self.signals.clock.now(),
                    )
                    .await
                    .map_err(|err| DeliveryError::transient(err.to_string()))?;
                if held {
                    self.signals.arrived.notify_waiters();
                }
                Ok(())
            }
            (StreamDelivery::Push { .. }, StreamStatus::Paused) => Err(DeliveryError::transient(
                "the stream is paused: held until it is enabled",
            )),
            (
                StreamDelivery::Push {
                    endpoint_url,
                    authorization,
                },
                StreamStatus::Enabled,
            ) => {
                let url = url::Url::parse(endpoint_url)
                    .map_err(|_| DeliveryError::permanent("the endpoint_url does not parse"))?;
                self.signals
                    .guard
                    .check_url(&url)
                    .map_err(|why| DeliveryError::permanent(format!("endpoint_url {why}")))?;
                let token = self
                    .signals
                    .sign(claims)
                    .map_err(|err| DeliveryError::transient(err.to_string()))?;
                let mut request = self
                    .http
                    .post(url)
                    .header("content-type", "application/secevent+jwt")
                    .header("accept", "application/json")
                    .body(token);
                if let Some(sealed) = authorization {
                    let header = self
                        .signals
                        .authorization(stream.id, sealed)
                        .map_err(|err| DeliveryError::permanent(err.to_string()))?;
                    request = request.header("authorization", header.as_str());
                }
                let response = request
                    .send()
                    .await
                    .map_err(|err| DeliveryError::transient(describe(&err)))?;
                push_outcome(response).await
            }
        }
    }
}

/// RFC 8935 §2.2–2.4: 202 (or any 2xx) is accepted; a 400 names why the receiver refused the
/// SET itself, which sending again cannot change; anything else may pass later.
async fn push_outcome(response: reqwest::Response) -> Result<(), DeliveryError> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    if status == reqwest::StatusCode::BAD_REQUEST {
        let body = response.bytes().await.unwrap_or_default();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let err = body.get("err").and_then(Value::as_str).unwrap_or("unknown");
        let description = body
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Err(DeliveryError::permanent(format!(
            "the receiver refused the SET: {err} {description}"
        )));
    }
    Err(DeliveryError::transient(format!(
        "the receiver answered {status}"
    )))
}

impl SharedSignals {
    /// Signs a SET's claims with the current signing key, `typ` `secevent+jwt`.
    pub(super) fn sign(&self, mut claims: Value) -> Result<String, Error> {
        let now = self.clock.now();
        let key = self
            .key_ring
            .signing_key(now)
            .ok_or_else(|| Error::Internal("no signing key is active".into()))?;
        claims["iat"] = json!(now.unix_timestamp());
        let mut header = Header::new(key.algorithm);
        header.typ = Some(SET_TYP.to_owned());
        header.kid = Some(key.kid.clone());
        key.sign(&header, &claims)
            .map_err(|err| Error::Internal(format!("could not sign a SET: {err}")))
    }
}
