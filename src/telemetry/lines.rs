//! Log lines, and the request each belongs to.
//!
//! A request's identity (id, trace id, method, client) lives in a task-local [`RequestContext`]
//! for as long as the request's task runs, not in a `tracing` span: a span with fields costs an
//! allocation and a formatting of every field per request, whether or not the request logs
//! anything, and most log nothing. The formatter here reads the context only when a line is
//! written. (When traces are exported, the request also gets its span, for the exporter.)

use std::{fmt, net::IpAddr};

use serde_json::{Map, Value};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use tracing::{Event, Subscriber, field::Field};
use tracing_subscriber::{
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    registry::LookupSpan,
};

use super::{LogFormat, REQUEST_SPAN};

/// Who a request is, for every line written while it is answered.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub method: &'static str,
    pub client: IpAddr,
    pub request_id: String,
    pub trace_id: String,
}

impl RequestContext {
    /// The line's `span` object, as the JSON layer wrote the request span's fields before.
    pub fn to_json(&self) -> Value {
        let mut span = Map::new();
        span.insert("name".to_owned(), REQUEST_SPAN.into());
        span.insert("http.request.method".to_owned(), self.method.into());
        span.insert("client.address".to_owned(), self.client.to_string().into());
        span.insert("request_id".to_owned(), self.request_id.clone().into());
        span.insert("trace_id".to_owned(), self.trace_id.clone().into());
        Value::Object(span)
    }
}

tokio::task_local! {
    static REQUEST: RequestContext;
}

/// Runs `future` as the request `context`: every line it writes names the request.
pub async fn in_request<F: Future>(context: RequestContext, future: F) -> F::Output {
    REQUEST.scope(context, future).await
}

/// The request the current task answers, if any (copied: only when a line is written).
fn current() -> Option<RequestContext> {
    REQUEST.try_with(RequestContext::clone).ok()
}

/// Formats each event as one line: JSON (the event's fields at the top level, the request's
/// under `span`) for `serve`, compact text for `dev`.
pub struct Lines(pub LogFormat);

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut fields = Map::new();
        event.record(&mut FieldsToJson(&mut fields));
        let timestamp = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        match self.0 {
            LogFormat::Json => {
                let mut line = Map::new();
                line.insert("timestamp".to_owned(), timestamp.into());
                line.insert("level".to_owned(), metadata.level().as_str().into());
                line.append(&mut fields);
                line.insert("target".to_owned(), metadata.target().into());
                if let Some(request) = current() {
                    line.insert("span".to_owned(), request.to_json());
                }
                writeln!(writer, "{}", Value::Object(line))
            }
            LogFormat::Pretty => {
                let message = fields
                    .remove("message")
                    .and_then(|message| message.as_str().map(str::to_owned))
                    .unwrap_or_default();
                write!(
                    writer,
                    "{timestamp} {:>5} {}: {message}",
                    metadata.level(),
                    metadata.target()
                )?;
                for (name, value) in &fields {
                    match value {
                        Value::String(text) => write!(writer, " {name}={text}")?,
                        other => write!(writer, " {name}={other}")?,
                    }
                }
                match current() {
                    Some(request) => writeln!(
                        writer,
                        " request_id={} client={}",
                        request.request_id, request.client
                    ),
                    None => writeln!(writer),
                }
            }
        }
    }
}

/// An event's fields as JSON values: numbers and booleans as themselves, anything else as its
/// text (`%value` fields by `Display`, `?value` by `Debug`).
struct FieldsToJson<'a>(&'a mut Map<String, Value>);

impl tracing::field::Visit for FieldsToJson<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), format!("{value:?}").into());
    }
}
