//! The access log: one line per answered request, as `AUTHD_ACCESS_LOG` chooses, formatted and
//! written by a thread of its own.
//!
//! A request's task only copies a few fields into a bounded queue and moves on; it never formats
//! JSON, takes the stderr lock or waits for a write. When the queue is full (stderr is slower
//! than the traffic), the line is dropped and counted (`authd_log_lines_dropped_total`), never
//! waited for. Lines go through the same non-blocking writer as every other log line, so no two
//! lines interleave.

use std::{
    io::Write,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering},
        mpsc::{Receiver, SyncSender, TrySendError, sync_channel},
    },
    time::{Duration, SystemTime},
};

use poem::http::{Method, StatusCode};
use serde_json::json;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use tracing_appender::non_blocking::NonBlocking;

use super::{LogFormat, RequestContext};

/// Which requests get an access line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLog {
    Off,
    /// Answers with a 4xx or 5xx status.
    Errors,
    /// Requests that may change something (any method but GET, HEAD and OPTIONS, except the
    /// reads that protocols make POSTs: introspection, UserInfo), and every error: what an audit
    /// or an incident asks about, not the reads that make most traffic.
    Writes,
    /// Every request (health checks and scrapes at debug level only, as before).
    All,
}

impl AccessLog {
    pub const NAMES: [&'static str; 4] = ["off", "errors", "writes", "all"];

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "off" => Some(Self::Off),
            "errors" => Some(Self::Errors),
            "writes" => Some(Self::Writes),
            "all" => Some(Self::All),
            _ => None,
        }
    }

    /// Whether a request with `method` to `route`, answered `status`, gets a line.
    pub fn records(self, method: &Method, route: &str, status: StatusCode) -> bool {
        let error = status.is_client_error() || status.is_server_error();
        let read = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
            || READS_BY_POST.contains(&route);
        match self {
            Self::Off => false,
            Self::Errors => error,
            Self::Writes => error || !read,
            Self::All => true,
        }
    }
}

/// Routes that take a POST to read: RFC 7662 introspection (the token travels in the body),
/// and UserInfo (OpenID Connect Core §5.3.1 allows POST).
const READS_BY_POST: [&str; 2] = ["/oauth/introspect", "/userinfo"];

/// One answered request, as the request's task hands it over.
pub struct AccessRecord {
    pub at: SystemTime,
    pub method: Method,
    pub route: Arc<str>,
    pub status: StatusCode,
    pub latency: Duration,
    /// Who made the request: the `span` object of the line.
    pub context: RequestContext,
}

/// How many records wait for the writer at most: a few seconds of heavy traffic.
const QUEUE: usize = 16_384;

/// What the access log's thread is sent: a line to write, or a request to say when every
/// line sent before has been handed to the writer.
enum Message {
    Line(AccessRecord),
    Flush(SyncSender<()>),
}

struct Sink {
    records: SyncSender<Message>,
}

static SINK: OnceLock<Sink> = OnceLock::new();
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Starts the access log's thread, writing through `writer` in `format`. A second call (tests
/// starting several apps in one process) keeps the first.
pub(super) fn start(format: LogFormat, writer: NonBlocking) {
    if SINK.get().is_some() {
        return;
    }
    let (records, queue) = sync_channel(QUEUE);
    let spawned = std::thread::Builder::new()
        .name("authd-access-log".to_owned())
        .spawn(move || write_lines(&queue, format, writer));
    if spawned.is_ok() {
        let _ = SINK.set(Sink { records });
    }
}

/// Hands `record` to the access log's thread; drops it, counted, if the queue is full. Without
/// a started access log (tests, one-shot commands) the line is a plain `tracing` event.
pub fn record(record: AccessRecord) {
    let Some(sink) = SINK.get() else {
        tracing::info!(
            route = &*record.route,
            status = record.status.as_u16(),
            latency_ms = record.latency.as_secs_f64() * 1e3,
            "answered"
        );
        return;
    };
    match sink.records.try_send(Message::Line(record)) {
        Ok(()) => {}
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Waits, at most `patience`, until every line recorded so far is with the writer: before the
/// writer's own guard is dropped at shutdown, so the last requests' lines are not lost.
pub(super) fn flush(patience: Duration) {
    let Some(sink) = SINK.get() else { return };
    let (done, flushed) = sync_channel(1);
    if sink.records.send(Message::Flush(done)).is_ok() {
        let _ = flushed.recv_timeout(patience);
    }
}

/// Access lines dropped because the writer could not keep up.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

fn write_lines(queue: &Receiver<Message>, format: LogFormat, mut writer: NonBlocking) {
    let mut line = Vec::with_capacity(512);
    while let Ok(message) = queue.recv() {
        let record = match message {
            Message::Line(record) => record,
            Message::Flush(done) => {
                let _ = done.send(());
                continue;
            }
        };
        line.clear();
        match format {
            LogFormat::Json => json_line(&mut line, &record),
            LogFormat::Pretty => pretty_line(&mut line, &record),
        }
        line.push(b'\n');
        // The writer queues the line for its own thread; a full queue there drops it (counted
        // by its error counter, which `dropped_log_lines` adds in).
        let _ = writer.write_all(&line);
    }
}

fn timestamp(at: SystemTime) -> String {
    OffsetDateTime::from(at)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// The same shape as the JSON log layer's lines: the event's fields at the top level, the
/// request span's under `span`.
fn json_line(line: &mut Vec<u8>, record: &AccessRecord) {
    let value = json!({
        "timestamp": timestamp(record.at),
        "level": "INFO",
        "message": "answered",
        "route": &*record.route,
        "status": record.status.as_u16(),
        "latency_ms": record.latency.as_secs_f64() * 1e3,
        "target": "authd::access",
        "span": record.context.to_json(),
    });
    let _ = serde_json::to_writer(line, &value);
}

fn pretty_line(line: &mut Vec<u8>, record: &AccessRecord) {
    let _ = write!(
        line,
        "{}  INFO answered: {} {} {} in {:.1} ms request_id={} client={}",
        timestamp(record.at),
        record.method,
        record.route,
        record.status.as_u16(),
        record.latency.as_secs_f64() * 1e3,
        record.context.request_id,
        record.context.client,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_state_changing_requests_and_every_error() {
        let writes = AccessLog::Writes;
        assert!(!writes.records(&Method::GET, "/me", StatusCode::OK));
        assert!(writes.records(&Method::GET, "/me", StatusCode::UNAUTHORIZED));
        assert!(writes.records(&Method::POST, "/oauth/token", StatusCode::OK));
        assert!(!writes.records(&Method::POST, "/oauth/introspect", StatusCode::OK));
        assert!(writes.records(&Method::POST, "/oauth/introspect", StatusCode::UNAUTHORIZED));
        assert!(writes.records(&Method::DELETE, "/me/public-key", StatusCode::NO_CONTENT));
        let errors = AccessLog::Errors;
        assert!(!errors.records(&Method::POST, "/oauth/token", StatusCode::OK));
        assert!(errors.records(&Method::GET, "/me", StatusCode::SERVICE_UNAVAILABLE));
        assert!(AccessLog::All.records(&Method::GET, "/me", StatusCode::OK));
        assert!(!AccessLog::Off.records(&Method::POST, "/auth", StatusCode::BAD_GATEWAY));
    }
}
