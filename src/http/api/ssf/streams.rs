//! Stream management (SSF 1.0 §8.1): the configuration endpoint (`/ssf/streams`: create, read,
//! update, replace, delete), the status endpoint and the verification endpoint.

use poem::Request;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::Query,
    payload::Json,
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON},
};
use zeroize::Zeroizing;

use super::{ApiTags, poll_url, receiver, stream_id};
use crate::{
    error::Error,
    http::{bodies::fields, callers::access::AccessAuth, error::ApiError},
    ssf::{
        DeliveryDraft, POLL, PUSH, StreamDelivery, StreamDraft, StreamStatus, StreamView,
        signals::SUPPORTED,
    },
    state::AppState,
};

pub struct SsfStreamsApi(pub AppState);

/// A stream's configuration (SSF 1.0 §8.1.1). A push stream's `authorization_header` is
/// written, never read back.
#[derive(Object)]
struct StreamConfig {
    stream_id: String,
    iss: String,
    aud: String,
    delivery: DeliveryConfig,
    events_supported: Vec<String>,
    events_requested: Vec<String>,
    events_delivered: Vec<String>,
    description: String,
}

#[derive(Object)]
struct DeliveryConfig {
    /// `urn:ietf:rfc:8935` (push) or `urn:ietf:rfc:8936` (poll).
    method: String,
    /// Push: the receiver's URL. Poll: where the receiver polls, authd's.
    endpoint_url: String,
}

/// How the receiver wants its events.
#[derive(Object)]
struct DeliveryRequest {
    /// `urn:ietf:rfc:8935` (push) or `urn:ietf:rfc:8936` (poll).
    #[oai(deserialize_with = "fields::method")]
    method: String,
    /// Push only: https (http only where `AUTHD_SSF_ALLOW_LOOPBACK` is on), never a
    /// loopback, private or link-local address. Ignored for poll (authd supplies it).
    #[oai(deserialize_with = "fields::optional_endpoint_url")]
    endpoint_url: Option<String>,
    /// Push only: sent as the `Authorization` header of every delivery.
    #[oai(deserialize_with = "fields::optional_authorization_header")]
    authorization_header: Option<String>,
}

/// The receiver-supplied fields of a stream. On create and replace a field left out takes its
/// default (poll; every supported event; no description), on update it stays as it was. The
/// transmitter-supplied ones may be sent back (`iss`, `aud`, `events_delivered`, …) and must
/// then match.
#[derive(Object)]
struct StreamRequest {
    #[oai(deserialize_with = "delivery")]
    delivery: Option<DeliveryRequest>,
    #[oai(deserialize_with = "fields::events_requested")]
    events_requested: Option<Vec<String>>,
    #[oai(deserialize_with = "fields::optional_description")]
    description: Option<String>,
    #[oai(deserialize_with = "fields::optional_iss")]
    iss: Option<String>,
    aud: Option<serde_json::Value>,
    #[oai(deserialize_with = "fields::events_supported")]
    events_supported: Option<Vec<String>>,
    #[oai(deserialize_with = "fields::events_delivered")]
    events_delivered: Option<Vec<String>>,
}

/// An update or a replacement: the stream, and its fields.
#[derive(Object)]
struct StreamRewrite {
    #[oai(deserialize_with = "fields::stream_id")]
    stream_id: String,
    #[oai(flatten)]
    fields: StreamRequest,
}

/// `delivery` when present; `null` is refused, as its schema (an object, not nullable) says.
fn delivery(value: Option<serde_json::Value>) -> ParseResult<Option<DeliveryRequest>> {
    match value {
        None => Ok(None),
        Some(serde_json::Value::Null) => Err(ParseError::custom(
            "field `delivery`: must be an object when present; leave it out rather than send null",
        )),
        Some(value) => DeliveryRequest::parse_from_json(Some(value))
            .map(Some)
            .map_err(ParseError::propagate),
    }
}

#[derive(Object)]
struct StatusRequest {
    #[oai(deserialize_with = "fields::stream_id")]
    stream_id: String,
    /// `enabled`, `paused` (events held until enabled) or `disabled` (events dropped).
    #[oai(deserialize_with = "fields::status")]
    status: String,
    #[oai(deserialize_with = "fields::optional_reason")]
    reason: Option<String>,
}

#[derive(Object)]
struct StreamStatusBody {
    stream_id: String,
    status: String,
    #[oai(skip_serializing_if_is_none)]
    reason: Option<String>,
}

impl StreamStatusBody {
    fn of(view: StreamView) -> Self {
        Self {
            stream_id: view.record.id.to_string(),
            status: view.record.status.as_str().to_owned(),
            reason: view.record.reason,
        }
    }
}

/// What a PATCH or a PUT does to the fields it leaves out.
#[derive(Clone, Copy)]
enum Rewrite {
    /// They stay.
    Update,
    /// They take their defaults.
    Replace,
}

#[derive(Object)]
struct VerifyRequest {
    #[oai(deserialize_with = "fields::stream_id")]
    stream_id: String,
    /// Echoed in the verification event.
    #[oai(deserialize_with = "fields::optional_state")]
    state: Option<String>,
}

#[derive(ApiResponse)]
enum Answer<T: poem_openapi::types::ToJSON + Send + Sync> {
    #[oai(status = 200)]
    Ok(Json<T>, #[oai(header = "Cache-Control")] String),
}

#[derive(ApiResponse)]
enum Created {
    #[oai(status = 201)]
    Created(Json<StreamConfig>, #[oai(header = "Cache-Control")] String),
}

#[derive(ApiResponse)]
enum NoContent {
    #[oai(status = 204)]
    Done(#[oai(header = "Cache-Control")] String),
}

fn no_store() -> String {
    "no-store".to_owned()
}

fn ok<T: poem_openapi::types::ToJSON + Send + Sync>(body: T) -> Answer<T> {
    Answer::Ok(Json(body), no_store())
}

fn invalid(description: &str) -> Error {
    Error::OAuth {
        code: "invalid_request",
        description: description.to_owned(),
    }
}

impl SsfStreamsApi {
    fn config(&self, view: StreamView) -> StreamConfig {
        let record = view.record;
        let delivery = match record.delivery {
            StreamDelivery::Push { endpoint_url, .. } => DeliveryConfig {
                method: PUSH.to_owned(),
                endpoint_url,
            },
            StreamDelivery::Poll => DeliveryConfig {
                method: POLL.to_owned(),
                endpoint_url: poll_url(&self.0, record.id),
            },
        };
        StreamConfig {
            stream_id: record.id.to_string(),
            iss: self.0.config.issuer.clone(),
            aud: record.audience,
            delivery,
            events_supported: SUPPORTED.iter().map(|e| (*e).to_owned()).collect(),
            events_requested: record.events_requested,
            events_delivered: view.events_delivered,
            description: record.description,
        }
    }

    /// The draft a request makes, after checking the transmitter-supplied fields it echoes
    /// against `current` (SSF 1.0 §8.1.1.3: they must match).
    fn draft(
        &self,
        body: StreamRequest,
        current: Option<&StreamConfig>,
    ) -> Result<StreamDraft, Error> {
        if body
            .iss
            .as_ref()
            .is_some_and(|iss| *iss != self.0.config.issuer)
        {
            return Err(invalid("iss is the transmitter's and cannot change"));
        }
        if let Some(current) = current {
            let same_aud = match &body.aud {
                None => true,
                Some(serde_json::Value::String(aud)) => *aud == current.aud,
                Some(serde_json::Value::Array(auds)) => {
                    auds.len() == 1 && auds[0].as_str() == Some(current.aud.as_str())
                }
                Some(_) => false,
            };
            if !same_aud {
                return Err(invalid("aud is the transmitter's and cannot change"));
            }
            if body
                .events_delivered
                .as_ref()
                .is_some_and(|delivered| *delivered != current.events_delivered)
            {
                return Err(invalid("events_delivered does not match the stream's"));
            }
        }
        let delivery = match body.delivery {
            None => None,
            Some(delivery) if delivery.method == POLL => Some(DeliveryDraft::Poll),
            Some(delivery) if delivery.method == PUSH => Some(DeliveryDraft::Push {
                endpoint_url: delivery
                    .endpoint_url
                    .ok_or_else(|| invalid("a push stream needs delivery.endpoint_url"))?,
                authorization_header: delivery.authorization_header.map(Zeroizing::new),
            }),
            Some(_) => {
                return Err(invalid(
                    "delivery.method must be urn:ietf:rfc:8935 (push) or urn:ietf:rfc:8936 (poll)",
                ));
            }
        };
        Ok(StreamDraft {
            delivery,
            events_requested: body.events_requested,
            description: body.description,
        })
    }

    /// Updates or replaces the stream `body` names, after checking the fields it echoes.
    async fn rewrite(
        &self,
        req: &Request,
        auth: &AccessAuth,
        body: StreamRewrite,
        how: Rewrite,
    ) -> Result<Answer<StreamConfig>, ApiError> {
        let client_id = receiver(&self.0, req, auth, true).await?;
        let id = stream_id(&body.stream_id)?;
        let current = self.config(self.0.shared_signals.stream(&client_id, id).await?);
        let draft = self.draft(body.fields, Some(&current))?;
        let signals = &self.0.shared_signals;
        let view = match how {
            Rewrite::Update => signals.update(&client_id, id, draft).await?,
            Rewrite::Replace => signals.replace(&client_id, id, draft).await?,
        };
        Ok(ok(self.config(view)))
    }
}

#[OpenApi(prefix_path = "/ssf", tag = "ApiTags::SharedSignals")]
impl SsfStreamsApi {
    /// Create a stream
    ///
    /// Without `delivery`, a poll stream (its `endpoint_url` in the answer); without
    /// `events_requested`, every event authd sends. At most 10 streams per receiver (403).
    #[oai(path = "/streams", method = "post")]
    async fn create(
        &self,
        req: &Request,
        auth: AccessAuth,
        body: Json<StreamRequest>,
    ) -> Result<Created, ApiError> {
        let client_id = receiver(&self.0, req, &auth, true).await?;
        let draft = self.draft(body.0, None)?;
        let view = self.0.shared_signals.create(&client_id, draft).await?;
        Ok(Created::Created(Json(self.config(view)), no_store()))
    }

    /// Read a stream, or all of the receiver's
    ///
    /// With `stream_id`, that stream's configuration (an object); without, a list of every
    /// stream of the receiver (SSF 1.0 §8.1.1.2), empty if none.
    #[oai(path = "/streams", method = "get")]
    async fn read(
        &self,
        req: &Request,
        auth: AccessAuth,
        stream_id: Query<Option<String>>,
    ) -> Result<Answer<serde_json::Value>, ApiError> {
        let client_id = receiver(&self.0, req, &auth, true).await?;
        let signals = &self.0.shared_signals;
        let answer = match stream_id.0 {
            Some(id) => self
                .config(signals.stream(&client_id, super::stream_id(&id)?).await?)
                .to_json(),
            None => signals
                .streams(&client_id)
                .await?
                .into_iter()
                .map(|view| self.config(view))
                .collect::<Vec<_>>()
                .to_json(),
        };
        Ok(ok(answer.unwrap_or_default()))
    }

    /// Update a stream
    ///
    /// The fields sent replace their values; the others stay.
    #[oai(path = "/streams", method = "patch")]
    async fn update(
        &self,
        req: &Request,
        auth: AccessAuth,
        body: Json<StreamRewrite>,
    ) -> Result<Answer<StreamConfig>, ApiError> {
        self.rewrite(req, &auth, body.0, Rewrite::Update).await
    }

    /// Replace a stream
    ///
    /// Every receiver-supplied field takes the value sent, or its default.
    #[oai(path = "/streams", method = "put")]
    async fn replace(
        &self,
        req: &Request,
        auth: AccessAuth,
        body: Json<StreamRewrite>,
    ) -> Result<Answer<StreamConfig>, ApiError> {
        self.rewrite(req, &auth, body.0, Rewrite::Replace).await
    }

    /// Delete a stream
    ///
    /// SETs not yet delivered on it are dropped.
    #[oai(path = "/streams", method = "delete")]
    async fn delete(
        &self,
        req: &Request,
        auth: AccessAuth,
        stream_id: Query<String>,
    ) -> Result<NoContent, ApiError> {
        let client_id = receiver(&self.0, req, &auth, true).await?;
        let id = super::stream_id(&stream_id.0)?;
        self.0.shared_signals.delete(&client_id, id).await?;
        Ok(NoContent::Done(no_store()))
    }

    /// Read a stream's status
    #[oai(path = "/status", method = "get")]
    async fn status(
        &self,
        req: &Request,
        auth: AccessAuth,
        stream_id: Query<String>,
    ) -> Result<Answer<StreamStatusBody>, ApiError> {
        let client_id = receiver(&self.0, req, &auth, true).await?;
        let id = super::stream_id(&stream_id.0)?;
        let view = self.0.shared_signals.stream(&client_id, id).await?;
        Ok(ok(StreamStatusBody::of(view)))
    }

    /// Update a stream's status
    ///
    /// `paused`: events are held (a push stream's are retried until it is enabled, within the
    /// outbox's bounds; a poll stream's wait). `disabled`: events are dropped.
    #[oai(path = "/status", method = "post")]
    async fn set_status(
        &self,
        req: &Request,
        auth: AccessAuth,
        body: Json<StatusRequest>,
    ) -> Result<Answer<StreamStatusBody>, ApiError> {
        let client_id = receiver(&self.0, req, &auth, true).await?;
        let id = stream_id(&body.0.stream_id)?;
        let status = StreamStatus::parse(&body.0.status)
            .ok_or_else(|| invalid("status must be enabled, paused or disabled"))?;
        let view = self
            .0
            .shared_signals
            .set_status(&client_id, id, status, body.0.reason)
            .await?;
        Ok(ok(StreamStatusBody::of(view)))
    }

    /// Ask for a verification event
    ///
    /// A verification SET with the `state` sent is delivered on the stream like any other
    /// event (SSF 1.0 §8.1.4).
    #[oai(path = "/verify", method = "post")]
    async fn verify(
        &self,
        req: &Request,
        auth: AccessAuth,
        body: Json<VerifyRequest>,
    ) -> Result<NoContent, ApiError> {
        let client_id = receiver(&self.0, req, &auth, true).await?;
        let id = stream_id(&body.0.stream_id)?;
        self.0
            .shared_signals
            .verify(&client_id, id, body.0.state)
            .await?;
        Ok(NoContent::Done(no_store()))
    }
}
