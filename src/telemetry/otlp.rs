//! The OTLP span exporter, over the transport the standard variables name (OpenTelemetry
//! specification, "OTLP Exporter Configuration"): `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else
//! `OTEL_EXPORTER_OTLP_PROTOCOL`, else `http/protobuf`, the specification's default.
//!
//! opentelemetry-otlp reads the endpoint, headers and timeout from the environment itself (over
//! HTTP it appends `/v1/traces` to `OTEL_EXPORTER_OTLP_ENDPOINT`, and takes
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as it is), but not the protocol: that is chosen here.

use std::time::Duration;

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig, WithHttpConfig};

/// The transports authd exports spans over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// OTLP/gRPC; collectors listen on port 4317.
    Grpc,
    /// OTLP/HTTP with protobuf bodies; collectors listen on port 4318.
    HttpProtobuf,
}

/// Why spans cannot be exported as configured. Each message names the setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("{setting}={value}: authd exports OTLP as `grpc` or `http/protobuf`")]
    UnsupportedProtocol {
        setting: &'static str,
        value: String,
    },
    #[error("{setting}={value}: not a whole number of milliseconds")]
    BadTimeout {
        setting: &'static str,
        value: String,
    },
    #[error("OTLP/HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("OTLP exporter (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT): {0}")]
    Build(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("the OTLP exporter must be set up inside the Tokio runtime")]
    NoRuntime,
}

/// Most specific first: a signal's own setting overrides the general one.
const PROTOCOL_SETTINGS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
];
const TIMEOUT_SETTINGS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
];
/// The specification's default export timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The first of `names` set to something (the specification treats an empty value as unset),
/// with the name it was found under.
fn first_set(names: &[&'static str]) -> Option<(&'static str, String)> {
    names.iter().find_map(|&name| {
        let value = std::env::var(name).ok()?.trim().to_owned();
        (!value.is_empty()).then_some((name, value))
    })
}

/// The transport the environment asks for.
pub fn protocol_from_env() -> Result<OtlpProtocol, OtlpError> {
    match first_set(&PROTOCOL_SETTINGS) {
        None => Ok(OtlpProtocol::HttpProtobuf),
        Some((_, value)) if value == "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
        Some((_, value)) if value == "grpc" => Ok(OtlpProtocol::Grpc),
        // `http/json` included: the specification makes it optional, and no collector needs it.
        Some((setting, value)) => Err(OtlpError::UnsupportedProtocol { setting, value }),
    }
}

/// The span exporter over `protocol`. Runs inside the Tokio runtime: the gRPC channel and the
/// HTTP client's requests live on it.
pub fn span_exporter(protocol: OtlpProtocol) -> Result<SpanExporter, OtlpError> {
    let exporter = match protocol {
        OtlpProtocol::Grpc => SpanExporter::builder().with_tonic().build()?,
        OtlpProtocol::HttpProtobuf => SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_http_client(OnRuntime::new(http_timeout()?)?)
            .build()?,
    };
    Ok(exporter)
}

/// The HTTP export timeout: opentelemetry-otlp applies it only to clients it builds itself.
fn http_timeout() -> Result<Duration, OtlpError> {
    match first_set(&TIMEOUT_SETTINGS) {
        None => Ok(DEFAULT_TIMEOUT),
        Some((setting, value)) => value
            .parse()
            .map(Duration::from_millis)
            .map_err(|_| OtlpError::BadTimeout { setting, value }),
    }
}

/// reqwest's async client, driven on authd's runtime. The SDK's batch processor exports from a
/// thread of its own, outside the runtime, where reqwest cannot open a connection; reqwest's
/// blocking client would instead run a runtime of its own beside authd's.
#[derive(Debug)]
struct OnRuntime {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl OnRuntime {
    fn new(timeout: Duration) -> Result<Self, OtlpError> {
        Ok(Self {
            client: reqwest::Client::builder().timeout(timeout).build()?,
            runtime: tokio::runtime::Handle::try_current().map_err(|_| OtlpError::NoRuntime)?,
        })
    }
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.runtime
            .spawn(async move { client.send_bytes(request).await })
            .await?
    }
}
