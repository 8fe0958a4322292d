//! Logs and traces: one `tracing` subscriber feeds both.
//!
//! - Logs: JSON lines for `serve` (each with the request span's fields: request id, trace id,
//!   route, client IP), human-readable for `dev`, written to stderr by a thread of their own.
//!   Filter with `AUTHD_LOG` (or `RUST_LOG`), e.g. `AUTHD_LOG=authd=debug,info`. The access
//!   log (a line per answered request) is chosen apart, with `AUTHD_ACCESS_LOG` ([`access`]).
//! - Traces: every `tracing` span is also an OpenTelemetry span, so log lines carry a trace id and
//!   a caller's W3C `traceparent` is honoured. Spans leave the process only when an OTLP endpoint
//!   is configured with the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT` or
//!   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, over the transport `OTEL_EXPORTER_OTLP_PROTOCOL` names,
//!   see [`otlp`], and the `OTEL_*` settings the SDK reads: `OTEL_SERVICE_NAME`,
//!   `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`).

mod access;
mod lines;
mod otlp;

use std::{
    io::{self, IsTerminal},
    sync::OnceLock,
};

use opentelemetry::{KeyValue, trace::TracerProvider as _};
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    trace::{SdkTracerProvider, SpanExporter},
};
use tracing::{Level, Subscriber};
use tracing_subscriber::{
    EnvFilter, Layer,
    filter::{FilterExt, filter_fn},
    fmt::MakeWriter,
    layer::SubscriberExt,
    registry::LookupSpan,
    util::SubscriberInitExt,
};

/// The name of the span each request runs in when spans are exported (`http::observe` opens
/// it), and of the `span` object that names the request on each of its log lines.
pub const REQUEST_SPAN: &str = "request";

pub use access::{AccessLog, AccessRecord, record as record_access};
pub use lines::{RequestContext, in_request};
pub use otlp::OtlpError;

/// How many log lines the non-blocking writer holds for stderr at most; beyond, lines are
/// dropped (and counted) rather than a request waiting for a slow terminal or pipe.
const BUFFERED_LINES: usize = 65_536;

/// The writer's count of lines it dropped, once a serving process has one.
static WRITER_DROPS: OnceLock<tracing_appender::non_blocking::ErrorCounter> = OnceLock::new();

/// Log lines dropped because stderr could not keep up: access lines and others.
pub fn dropped_log_lines() -> u64 {
    let writer = WRITER_DROPS
        .get()
        .map_or(0, |counter| counter.dropped_lines());
    access::dropped() + u64::try_from(writer).unwrap_or(u64::MAX)
}

#[derive(Debug, Clone, Copy)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Keeps the trace pipeline alive; [`Telemetry::shutdown`] flushes spans still buffered.
#[must_use = "dropping the guard without shutdown() may lose the last spans"]
pub struct Telemetry {
    provider: SdkTracerProvider,
    /// Writes the lines still queued when dropped.
    _log_writer: tracing_appender::non_blocking::WorkerGuard,
}

impl Telemetry {
    /// Sends what the batch processor still holds. Blocking: runs off the async workers.
    pub async fn shutdown(self) {
        let Self {
            provider,
            _log_writer,
        } = self;
        // The access lines still queued go to the writer, which writes them when dropped.
        let _ =
            tokio::task::spawn_blocking(|| access::flush(std::time::Duration::from_secs(2))).await;
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(err)) = flushed {
            eprintln!("authd: could not flush traces: {err}");
        }
    }
}

/// Installs the process-wide subscriber and propagator. Must run inside the Tokio runtime: the
/// OTLP exporter's connections live on it. A second call (tests starting several apps) keeps
/// the first subscriber. Fails, naming the setting, when the OTLP settings are unusable: an
/// operator who asked for traces should not find out from their absence.
pub fn init(format: LogFormat) -> Result<Telemetry, OtlpError> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let exporter = otlp_exporter()?;
    // Without an exporter, OpenTelemetry spans would be built for every request and every query
    // only to be dropped: the request's trace id, all a log line needs, is minted by
    // `http::observe` instead.
    let exporting = exporter.is_some();
    EXPORTING.store(exporting, std::sync::atomic::Ordering::Relaxed);
    let provider = tracer_provider(exporter);
    // Every line, the access log's included, is written to stderr by one thread of its own:
    // a request never waits for a write, and no two lines interleave.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name("authd-log-writer")
        .finish(io::stderr());
    let _ = WRITER_DROPS.set(writer.error_counter());
    access::start(format, writer.clone());
    let logs = tracing_subscriber::registry().with(log_layer(format, writer, log_filter()));
    // Not `.with(Option<layer>)`: an absent layer counts as one that wants every span, so the
    // registry would build each `tracing` span of every request only to drop it unread.
    let _ = if exporting {
        logs.with(trace_layer(&provider)).try_init()
    } else {
        logs.try_init()
    };
    Ok(Telemetry {
        provider,
        _log_writer: guard,
    })
}

/// Logs only, for one-shot commands (`migrate`, `keys rotate`): nothing to trace.
pub fn init_logs(format: LogFormat) {
    let _ = tracing_subscriber::registry()
        .with(log_layer(format, io::stderr, log_filter()))
        .try_init();
}

/// `AUTHD_LOG`, else `RUST_LOG`, else `info`; it filters log lines only, never spans.
pub fn log_filter() -> EnvFilter {
    let filter = std::env::var("AUTHD_LOG")
        .ok()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    // tokio-postgres logs every statement's bound parameters at debug: password hashes, sealed
    // private keys, token hashes. No filter setting may turn that on.
    match "tokio_postgres::query=info".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}

/// Log lines to `writer`, filtered by `filter` (see [`log_filter`]): JSON objects (the
/// event's fields at the top level, the request's under `span`), or compact text.
pub fn log_layer<S, W>(format: LogFormat, writer: W, filter: EnvFilter) -> impl Layer<S> + use<S, W>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    // Colours only for a person at a terminal: in a file, a pipe or `docker logs` the escape
    // codes are noise in every line.
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(io::stderr().is_terminal())
        .event_format(lines::Lines(format));
    // No span is logged: a line names its request from the task's [`RequestContext`], so the
    // layer never formats a span's fields (a cost every request would pay).
    let events_only = filter_fn(|metadata| !metadata.is_span());
    layer.with_filter(filter.and(events_only))
}

/// Whether spans leave the process: only then does a request get a `tracing` span.
pub fn exporting_spans() -> bool {
    EXPORTING.load(std::sync::atomic::Ordering::Relaxed)
}

static EXPORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Turns authd's own `tracing` spans (and the events within them) into OpenTelemetry spans for
/// `provider`, whatever the log filter says. Other crates' spans stay out: the exporter's own
/// gRPC stack would otherwise trace its exports, and those exports, without end.
pub fn trace_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + use<S>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("authd"))
        // Source locations and thread names say nothing an operator needs, and cost per span.
        .with_location(false)
        .with_threads(false)
        .with_filter(filter_fn(|metadata| {
            // Spans at info; of the events, only warnings and errors become span events (an
            // info line per request would be a span event per request).
            let wanted = if metadata.is_span() {
                Level::INFO
            } else {
                Level::WARN
            };
            metadata.target().starts_with("authd") && *metadata.level() <= wanted
        }))
}

/// A provider that exports through `exporter` in batches, or, without one, only mints the trace
/// and span ids that log lines and propagation need.
pub fn tracer_provider(exporter: Option<impl SpanExporter + 'static>) -> SdkTracerProvider {
    let mut resource = Resource::builder().with_attributes([
        KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
        // Tells replicas apart in a trace viewer.
        KeyValue::new("service.instance.id", uuid::Uuid::new_v4().to_string()),
    ]);
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("authd");
    }
    let builder = SdkTracerProvider::builder().with_resource(resource.build());
    match exporter {
        Some(exporter) => builder.with_batch_exporter(exporter),
        None => builder,
    }
    .build()
}

/// The OTLP exporter, when the environment names an endpoint. Without one nothing is exported
/// (the specification would default to localhost; a replica has no collector there).
fn otlp_exporter() -> Result<Option<opentelemetry_otlp::SpanExporter>, OtlpError> {
    let configured = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|value| !value.trim().is_empty()));
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
        || std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.eq_ignore_ascii_case("none"));
    if !configured || disabled {
        return Ok(None);
    }
    otlp::span_exporter(otlp::protocol_from_env()?).map(Some)
}
