//! Poll-based SET delivery (RFC 8936) at each poll stream's `endpoint_url`.

use std::collections::BTreeMap;

use poem::Request;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::Path,
    payload::Json,
    types::{ParseError, ParseFromJSON, ParseResult},
};
use serde_json::Value;

use super::{ApiTags, receiver, stream_id};
use crate::{
    http::{bodies::fields, callers::access::AccessAuth, error::ApiError},
    ssf::Poll,
    state::AppState,
};

pub struct SsfPollApi(pub AppState);

/// A poll (RFC 8936 §2.4): acknowledge what was processed, and ask for more.
#[derive(Object)]
struct PollRequest {
    /// `jti`s of SETs processed since the last poll: they are not sent again.
    #[oai(deserialize_with = "fields::ack")]
    ack: Option<Vec<String>>,
    /// `jti`s of SETs refused, each with why (§2.4.4): they are not sent again either.
    #[oai(rename = "setErrs", deserialize_with = "set_errors")]
    set_errs: Option<BTreeMap<String, SetError>>,
    /// At most this many SETs (at most 100 are sent whatever is asked); 0 only acknowledges.
    #[oai(rename = "maxEvents", deserialize_with = "fields::max_events")]
    max_events: Option<u32>,
    /// Answer at once, even empty. Otherwise, with nothing waiting, the answer waits up to
    /// 5 s for a SET.
    #[oai(
        rename = "returnImmediately",
        deserialize_with = "fields::return_immediately"
    )]
    return_immediately: Option<bool>,
}

/// `setErrs`: an object of errors by `jti` when present; `null` is refused, as its schema (an
/// object, not nullable) says.
fn set_errors(value: Option<Value>) -> ParseResult<Option<BTreeMap<String, SetError>>> {
    match value {
        None => Ok(None),
        Some(Value::Object(errors)) => errors
            .into_iter()
            .map(|(jti, error)| {
                SetError::parse_from_json(Some(error))
                    .map(|error| (jti, error))
                    .map_err(ParseError::propagate)
            })
            .collect::<Result<BTreeMap<_, _>, ParseError<BTreeMap<String, SetError>>>>()
            .map(Some)
            .map_err(ParseError::propagate),
        Some(_) => Err(ParseError::custom(
            "field `setErrs`: expected an object of errors by jti",
        )),
    }
}

#[derive(Object)]
struct SetError {
    #[oai(deserialize_with = "fields::err")]
    err: String,
    #[oai(deserialize_with = "fields::optional_description")]
    description: Option<String>,
}

/// SETs by `jti`, oldest first in the order they were made; acknowledge them in the next poll.
#[derive(Object)]
struct PollResponse {
    sets: BTreeMap<String, String>,
    #[oai(rename = "moreAvailable")]
    more_available: bool,
}

#[derive(ApiResponse)]
enum Polled {
    #[oai(status = 200)]
    Ok(Json<PollResponse>, #[oai(header = "Cache-Control")] String),
}

#[OpenApi(tag = "ApiTags::SharedSignals")]
impl SsfPollApi {
    /// Poll a stream for Security Event Tokens
    ///
    /// RFC 8936. SETs not acknowledged are sent again at the next poll; each waits at most
    /// `AUTHD_SSF_RETENTION` (7 days by default).
    #[oai(path = "/ssf/poll/:stream_id", method = "post")]
    async fn poll(
        &self,
        req: &Request,
        auth: AccessAuth,
        #[oai(name = "stream_id")] id: Path<String>,
        body: Json<PollRequest>,
    ) -> Result<Polled, ApiError> {
        let client_id = receiver(&self.0, req, &auth, false).await?;
        let id = stream_id(&id.0)?;
        let body = body.0;
        let poll = Poll {
            acknowledged: body.ack.unwrap_or_default(),
            refused: body
                .set_errs
                .unwrap_or_default()
                .into_iter()
                .map(|(jti, error)| {
                    let why = match error.description {
                        Some(description) => format!("{}: {description}", error.err),
                        None => error.err,
                    };
                    (jti, why)
                })
                .collect(),
            max_events: body.max_events,
            return_immediately: body.return_immediately.unwrap_or(false),
        };
        let polled = self.0.shared_signals.poll(&client_id, id, poll).await?;
        Ok(Polled::Ok(
            Json(PollResponse {
                sets: polled.sets,
                more_available: polled.more_available,
            }),
            "no-store".to_owned(),
        ))
    }
}
