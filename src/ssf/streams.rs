//! Stream management (SSF 1.0 §8.1): a receiver creates, reads, updates, replaces and deletes
//! its own streams, sets their status and asks for a verification event.

use serde_json::json;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{
    SharedSignals,
    delivery::Outgoing,
    signals::{SUPPORTED, Signal, VERIFICATION},
};
use crate::{
    error::Error,
    store::{SealedAuthorization, StreamDelivery, StreamRecord, StreamStatus},
};

/// Streams one receiver may have: enough for one per environment or service, and a bound on
/// what a compromised receiver can make authd do for each event.
pub const MAX_STREAMS_PER_RECEIVER: usize = 10;
const MAX_URL: usize = 2048;
const MAX_AUTHORIZATION: usize = 4096;
const MAX_DESCRIPTION: usize = 1000;
const MAX_EVENT_TYPES: usize = 50;
const MAX_STATE: usize = 1024;

/// How a receiver wants its events, as it asked.
#[derive(Debug, Clone)]
pub enum DeliveryDraft {
    Push {
        endpoint_url: String,
        authorization_header: Option<Zeroizing<String>>,
    },
    Poll,
}

/// The receiver-supplied fields of a stream (SSF 1.0 §8.1.1). On create and replace a field
/// left out takes its default (poll, every supported event, no description); on update it
/// stays as it was.
#[derive(Debug, Clone, Default)]
pub struct StreamDraft {
    pub delivery: Option<DeliveryDraft>,
    pub events_requested: Option<Vec<String>>,
    pub description: Option<String>,
}

/// An update: the same fields, each replacing its value only when present.
pub type StreamPatch = StreamDraft;

impl StreamDraft {
    fn storable(&self) -> Result<(), Error> {
        if let Some(DeliveryDraft::Push { endpoint_url, .. }) = &self.delivery {
            storable("delivery.endpoint_url", endpoint_url)?;
        }
        for event_type in self.events_requested.iter().flatten() {
            storable("events_requested", event_type)?;
        }
        if let Some(description) = &self.description {
            storable("description", description)?;
        }
        Ok(())
    }
}

/// A stream as its receiver reads it.
#[derive(Debug, Clone)]
pub struct StreamView {
    pub record: StreamRecord,
    /// What authd sends on it: the requested events it supports.
    pub events_delivered: Vec<String>,
}

impl StreamView {
    pub(super) fn of(record: StreamRecord) -> Self {
        let events_delivered = SUPPORTED
            .iter()
            .filter(|supported| record.events_requested.iter().any(|e| e == *supported))
            .map(|supported| (*supported).to_owned())
            .collect();
        Self {
            record,
            events_delivered,
        }
    }

    pub fn delivers(&self, event_type: &str) -> bool {
        self.events_delivered.iter().any(|e| e == event_type)
    }
}

/// Refuses a NUL character, which Postgres cannot store in text or JSON.
fn storable(field: &str, text: &str) -> Result<(), Error> {
    if text.contains('\0') {
        return Err(invalid(format!("{field} may not contain a NUL character")));
    }
    Ok(())
}

fn invalid(description: impl Into<String>) -> Error {
    Error::OAuth {
        code: "invalid_request",
        description: description.into(),
    }
}

impl SharedSignals {
    pub async fn create(&self, client_id: &str, draft: StreamDraft) -> Result<StreamView, Error> {
        draft.storable()?;
        if self.store.client_streams(client_id).await?.len() >= MAX_STREAMS_PER_RECEIVER {
            return Err(Error::Forbidden(
                "this receiver has as many streams as one may have (10): delete one first",
            ));
        }
        let id = Uuid::now_v7();
        let now = self.clock.now();
        let record = StreamRecord {
            id,
            client_id: client_id.to_owned(),
            audience: client_id.to_owned(),
            delivery: self.delivery(id, draft.delivery.unwrap_or(DeliveryDraft::Poll))?,
            events_requested: event_types(draft.events_requested)?,
            status: StreamStatus::Enabled,
            reason: None,
            description: description(draft.description),
            created_at: now,
            updated_at: now,
        };
        self.store.insert_stream(&record).await?;
        tracing::info!(stream_id = %id, client_id, "SSF stream created");
        Ok(StreamView::of(record))
    }

    pub async fn streams(&self, client_id: &str) -> Result<Vec<StreamView>, Error> {
        let streams = self.store.client_streams(client_id).await?;
        Ok(streams.into_iter().map(StreamView::of).collect())
    }

    /// A stream of this receiver's; another's is as absent as one that never was.
    pub async fn stream(&self, client_id: &str, id: Uuid) -> Result<StreamView, Error> {
        Ok(StreamView::of(self.owned(client_id, id).await?))
    }

    pub async fn update(
        &self,
        client_id: &str,
        id: Uuid,
        patch: StreamPatch,
    ) -> Result<StreamView, Error> {
        patch.storable()?;
        let mut record = self.owned(client_id, id).await?;
        if let Some(delivery) = patch.delivery {
            record.delivery = self.delivery(id, delivery)?;
        }
        if let Some(requested) = patch.events_requested {
            record.events_requested = event_types(Some(requested))?;
        }
        if let Some(text) = patch.description {
            record.description = description(Some(text));
        }
        self.write(record).await
    }

    pub async fn replace(
        &self,
        client_id: &str,
        id: Uuid,
        draft: StreamDraft,
    ) -> Result<StreamView, Error> {
        draft.storable()?;
        let mut record = self.owned(client_id, id).await?;
        record.delivery = self.delivery(id, draft.delivery.unwrap_or(DeliveryDraft::Poll))?;
        record.events_requested = event_types(draft.events_requested)?;
        record.description = description(draft.description);
        self.write(record).await
    }

    pub async fn delete(&self, client_id: &str, id: Uuid) -> Result<(), Error> {
        self.owned(client_id, id).await?;
        if !self.store.delete_stream(id).await? {
            return Err(Error::NotFound("stream"));
        }
        tracing::info!(stream_id = %id, client_id, "SSF stream deleted");
        Ok(())
    }

    pub async fn set_status(
        &self,
        client_id: &str,
        id: Uuid,
        status: StreamStatus,
        reason: Option<String>,
    ) -> Result<StreamView, Error> {
        if let Some(reason) = &reason {
            storable("reason", reason)?;
        }
        let mut record = self.owned(client_id, id).await?;
        record.status = status;
        record.reason = reason.map(|reason| description(Some(reason)));
        self.write(record).await
    }

    /// Queues a verification event on the stream (SSF 1.0 §8.1.4), delivered like any other.
    pub async fn verify(
        &self,
        client_id: &str,
        id: Uuid,
        state: Option<String>,
    ) -> Result<(), Error> {
        if let Some(state) = &state {
            if state.len() > MAX_STATE {
                return Err(invalid("state is longer than 1024 bytes"));
            }
            storable("state", state)?;
        }
        let record = self.owned(client_id, id).await?;
        let mut event = json!({});
        if let Some(state) = state {
            event["state"] = json!(state);
        }
        let signal = Signal {
            event_type: VERIFICATION,
            subject: json!({ "format": "opaque", "id": id.to_string() }),
            event,
            txn: Uuid::now_v7().to_string(),
        };
        let outgoing = Outgoing {
            stream_id: id,
            claims: signal.claims(&self.issuer, &record.audience),
        };
        let message = self
            .outbox
            .seal(crate::store::Topic::SecurityEvent, &outgoing.to_payload()?)?;
        self.outbox.enqueue(&[message]).await
    }

    /// Re-seals every push stream's authorization header under the current master key, as
    /// `authd keys rewrap` does for the signing keys; how many it re-sealed.
    pub async fn rewrap(&self) -> Result<usize, Error> {
        let current = self.master_keys.current();
        let mut resealed = 0;
        for stream in self.store.sealed_streams().await? {
            let StreamDelivery::Push {
                authorization: Some(sealed),
                ..
            } = &stream.delivery
            else {
                continue;
            };
            if sealed.master_key_id == current.id() {
                continue;
            }
            let header = self.authorization(stream.id, sealed)?;
            let resealed_header = SealedAuthorization {
                sealed: current
                    .seal(header.as_bytes(), stream.id.as_bytes())
                    .map_err(|_| Error::Internal("could not seal a stream's header".into()))?,
                master_key_id: current.id(),
            };
            if self
                .store
                .reseal_stream(stream.id, &sealed.master_key_id, &resealed_header)
                .await?
            {
                resealed += 1;
            }
        }
        Ok(resealed)
    }

    /// A push stream's authorization header, opened.
    pub(super) fn authorization(
        &self,
        stream_id: Uuid,
        sealed: &SealedAuthorization,
    ) -> Result<Zeroizing<String>, Error> {
        let key = self
            .master_keys
            .find(&sealed.master_key_id)
            .ok_or_else(|| {
                Error::Internal(format!(
                    "a stream's header is sealed under master key {}, which this replica lacks",
                    sealed.master_key_id
                ))
            })?;
        let opened = key
            .open(&sealed.sealed, stream_id.as_bytes())
            .map_err(|_| Error::Internal("a stream's header does not open".into()))?;
        String::from_utf8(opened.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| Error::Internal("a stream's header is not text".into()))
    }

    async fn owned(&self, client_id: &str, id: Uuid) -> Result<StreamRecord, Error> {
        self.store
            .find_stream(id)
            .await?
            .filter(|stream| stream.client_id == client_id)
            .ok_or(Error::NotFound("stream"))
    }

    async fn write(&self, mut record: StreamRecord) -> Result<StreamView, Error> {
        record.updated_at = self.clock.now();
        if !self.store.update_stream(&record).await? {
            return Err(Error::NotFound("stream"));
        }
        Ok(StreamView::of(record))
    }

    fn delivery(&self, id: Uuid, draft: DeliveryDraft) -> Result<StreamDelivery, Error> {
        let DeliveryDraft::Push {
            endpoint_url,
            authorization_header,
        } = draft
        else {
            return Ok(StreamDelivery::Poll);
        };
        if endpoint_url.len() > MAX_URL {
            return Err(invalid("delivery.endpoint_url is longer than 2048 bytes"));
        }
        let url = url::Url::parse(&endpoint_url)
            .map_err(|_| invalid("delivery.endpoint_url is not an absolute URL"))?;
        self.guard
            .check_url(&url)
            .map_err(|why| invalid(format!("delivery.endpoint_url {why}")))?;
        let authorization = match authorization_header {
            None => None,
            Some(header) => {
                let printable = header.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
                if header.is_empty() || header.len() > MAX_AUTHORIZATION || !printable {
                    return Err(invalid(
                        "delivery.authorization_header must be 1 to 4096 printable ASCII characters",
                    ));
                }
                let master = self.master_keys.current();
                Some(SealedAuthorization {
                    sealed: master
                        .seal(header.as_bytes(), id.as_bytes())
                        .map_err(|_| Error::Internal("could not seal a stream's header".into()))?,
                    master_key_id: master.id(),
                })
            }
        };
        Ok(StreamDelivery::Push {
            endpoint_url,
            authorization,
        })
    }
}

/// The events asked for; left out, every one authd sends. Types authd does not know are kept
/// (the receiver reads back what it asked) and not delivered (SSF 1.0 §8.1.1).
fn event_types(requested: Option<Vec<String>>) -> Result<Vec<String>, Error> {
    let Some(requested) = requested else {
        return Ok(SUPPORTED.iter().map(|e| (*e).to_owned()).collect());
    };
    if requested.len() > MAX_EVENT_TYPES || requested.iter().any(|e| e.len() > MAX_URL) {
        return Err(invalid(
            "events_requested names too many or too long event types",
        ));
    }
    let mut unique: Vec<String> = Vec::with_capacity(requested.len());
    for event_type in requested {
        if !unique.contains(&event_type) {
            unique.push(event_type);
        }
    }
    Ok(unique)
}

/// A description, cut to its bound (SSF 1.0 lets the transmitter truncate it).
fn description(text: Option<String>) -> String {
    text.unwrap_or_default()
        .chars()
        .take(MAX_DESCRIPTION)
        .collect()
}

/// The signals of one recorded event that this stream wants.
pub(super) fn wanted<'a>(view: &StreamView, signals: &'a [Signal]) -> Vec<&'a Signal> {
    signals
        .iter()
        .filter(|signal| view.delivers(signal.event_type))
        .collect()
}
