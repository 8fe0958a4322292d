//! What happens around every request, in one place: its id, its span (joined to the caller's
//! trace), the body limit and the deadline, framework errors shaped as JSON, the safety headers,
//! the request metrics, and one log line when it is answered.
//!
//! poem's `RequestId` and `OpenTelemetryTracing` middleware do not fit: the first echoes any
//! incoming id unchecked and opens an unnamed span, the second records the full URL (a query
//! string can carry a secret) and takes the client IP from headers any client can set.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use ipnet::IpNet;
use opentelemetry::trace::{TraceContextExt, TraceId};
use opentelemetry_http::HeaderExtractor;
use poem::{
    Endpoint, IntoResponse, PathPattern, Request, Response,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    web::Json,
};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::AllowedMethods;
use crate::http::{
    client_ip, json_error,
    plumbing::hygiene::{add_safety_headers, read_bounded_body},
};
use crate::{
    metrics::Metrics,
    state::AppState,
    telemetry::{
        AccessLog, AccessRecord, REQUEST_SPAN, RequestContext, exporting_spans, in_request,
        record_access,
    },
};

/// Names a request in the logs of every replica and of the client; echoed on every answer.
pub const REQUEST_ID: &str = "x-request-id";

/// An incoming id longer than this, or with other than visible ASCII, is replaced: it is
/// written to every log line of the request.
const MAX_REQUEST_ID_LEN: usize = 128;

/// Routes that orchestrators and scrapers call every few seconds: logged at debug only, never
/// in the access log.
const QUIET_ROUTES: [&str; 4] = ["/healthz", "/readyz", "/metrics", "/ping"];

pub struct Observer {
    metrics: Arc<Metrics>,
    /// The `Allow` header of each path, for 405 answers.
    allowed_methods: AllowedMethods,
    trusted_proxies: Arc<[IpNet]>,
    deadline: Duration,
    /// `Strict-Transport-Security`, when authd is reached over https.
    hsts: Option<HeaderValue>,
    /// Which answers get an access line (`AUTHD_ACCESS_LOG`).
    access_log: AccessLog,
}

impl Observer {
    pub fn new(state: &AppState, allowed_methods: AllowedMethods) -> Self {
        Self {
            metrics: state.metrics.clone(),
            allowed_methods,
            trusted_proxies: state.config.trusted_proxies.clone().into(),
            deadline: state.config.request_timeout,
            hsts: hsts(&state.config.public_url),
            access_log: state.config.access_log,
        }
    }

    pub async fn call<E: Endpoint>(&self, endpoint: &E, request: Request) -> Response {
        let started = Instant::now();
        let request_id = request_id(request.headers());
        // A reference-counted copy: the path is looked up only for a 405, off the hot path.
        let uri = request.uri().clone();
        let method = request.method().clone();
        // Every field here is on every log line of the request, and every later `record` makes
        // the JSON log layer re-encode them all: what is known only at the end goes to the
        // trace alone (`set_attribute`) and to the one `answered` line.
        let client = client_ip(&request, &self.trusted_proxies);
        // A caller's W3C `traceparent` makes this request a child of its span.
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&HeaderExtractor(request.headers()))
        });
        let callers_trace = parent.span().span_context().trace_id();
        // A span only when spans leave the process: the log lines name the request from the
        // task's context, which costs nothing until a line is written.
        let span = exporting_spans().then(|| {
            let span = tracing::info_span!(
                REQUEST_SPAN,
                otel.name = method.as_str(),
                otel.kind = "server",
                http.request.method = method.as_str(),
            );
            span.set_parent(parent);
            span
        });
        // The span's trace when spans are exported; else the caller's, or a fresh one, so that
        // every log line of a request carries a trace id either way.
        let spans_trace = span.as_ref().map_or(TraceId::INVALID, |span| {
            span.context().span().span_context().trace_id()
        });
        let exported = spans_trace != TraceId::INVALID;
        let trace_id = [spans_trace, callers_trace]
            .into_iter()
            .find(|id| *id != TraceId::INVALID)
            .unwrap_or_else(|| TraceId::from_bytes(rand::random::<[u8; 16]>()));
        let context = RequestContext {
            method: static_method(&method),
            client,
            request_id: request_id.to_str().unwrap_or_default().to_owned(),
            trace_id: trace_id.to_string(),
        };
        let answering = self.answer(endpoint, request);
        let (route, mut response) = match &span {
            Some(span) => in_request(context.clone(), answering.instrument(span.clone())).await,
            None => in_request(context.clone(), answering).await,
        };
        let status = response.status();
        let elapsed = started.elapsed();
        if let Some(span) = span.as_ref().filter(|_| exported) {
            span.record("otel.name", format!("{method} {route}").as_str());
            span.set_attribute("http.route", route.to_string());
            span.set_attribute("http.response.status_code", i64::from(status.as_u16()));
            if status.is_server_error() {
                span.set_status(opentelemetry::trace::Status::error(""));
            }
        }
        self.metrics
            .observe_request(&route, method.as_str(), status, elapsed);
        if QUIET_ROUTES.contains(&&*route) {
            tracing::debug!(
                route = &*route,
                status = status.as_u16(),
                request_id = context.request_id,
                "answered"
            );
        } else if self.access_log.records(&method, &route, status) {
            record_access(AccessRecord {
                at: std::time::SystemTime::now(),
                method,
                route,
                status,
                latency: elapsed,
                context,
            });
        }
        response.headers_mut().insert(REQUEST_ID, request_id);
        if status == StatusCode::METHOD_NOT_ALLOWED
            && let Some(allow) = self.allowed_methods.get(uri.path())
        {
            response.headers_mut().insert(header::ALLOW, allow.clone());
        }
        add_safety_headers(&mut response);
        if let Some(hsts) = &self.hsts {
            response
                .headers_mut()
                .insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
        response
    }

    /// The route template that matched (never the raw path, so labels stay bounded) and the
    /// response, whatever went wrong.
    async fn answer<E: Endpoint>(&self, endpoint: &E, request: Request) -> (Arc<str>, Response) {
        // Every backend call has its own timeout; this is the backstop for anything that still
        // hangs (a Postgres server that accepts but never answers), and for a client that sends
        // its body slowly.
        let call = async {
            let mut request = request;
            read_bounded_body(&mut request).await?;
            endpoint
                .call(request)
                .await
                .map(IntoResponse::into_response)
        };
        match tokio::time::timeout(self.deadline, call).await {
            Ok(Ok(response)) => (route_of(response.data::<PathPattern>()), response),
            Ok(Err(err)) => (route_of(err.data::<PathPattern>()), json_error(err)),
            Err(_) => {
                tracing::error!(deadline = ?self.deadline, "request timed out");
                let body = Json(serde_json::json!({
                    "error": "service_unavailable",
                    "message": "the request timed out waiting for a backing service; try again shortly",
                }));
                (
                    Arc::from("timeout"),
                    body.with_status(StatusCode::SERVICE_UNAVAILABLE)
                        .into_response(),
                )
            }
        }
    }
}

/// The router leaves the matched template on the answer, error or not; a path no route matched
/// carries the bare nest prefix (empty).
fn route_of(pattern: Option<&PathPattern>) -> Arc<str> {
    pattern
        .map(|pattern| pattern.0.clone())
        .filter(|pattern| !pattern.is_empty())
        .unwrap_or_else(|| Arc::from("unmatched"))
}

/// The method's name, for methods a route answers; anything else is `OTHER`, as OpenTelemetry's
/// HTTP conventions spell an unknown method (a client may send any token as a method).
fn static_method(method: &poem::http::Method) -> &'static str {
    use poem::http::Method;
    [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
    ]
    .into_iter()
    .zip(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
    .find_map(|(known, name)| (known == *method).then_some(name))
    .unwrap_or("OTHER")
}

/// The caller's `X-Request-Id` when it is a sane token, else a fresh UUID. Kept as the header
/// value it is echoed in: a caller's is shared with the request, not copied.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    let sane = |id: &&HeaderValue| {
        let id = id.as_bytes();
        !id.is_empty() && id.len() <= MAX_REQUEST_ID_LEN && id.iter().all(u8::is_ascii_graphic)
    };
    headers
        .get(REQUEST_ID)
        .filter(sane)
        .cloned()
        .unwrap_or_else(|| {
            let mut buffer = uuid::Uuid::encode_buffer();
            let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
            HeaderValue::from_str(id).unwrap_or(HeaderValue::from_static("-"))
        })
}

/// RFC 6797: once a browser has reached authd over https, it must never again use plain http
/// for it (ASVS 14.4.5). A year, the common preload minimum. Only when the public URL is https:
/// on a plain-http development URL the header would be ignored, and on localhost it would
/// haunt every other local server.
fn hsts(public_url: &str) -> Option<HeaderValue> {
    public_url
        .starts_with("https://")
        .then(|| HeaderValue::from_static("max-age=31536000; includeSubDomains"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_id(id: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID, HeaderValue::from_str(id).unwrap());
        headers
    }

    #[test]
    fn a_sane_incoming_id_is_kept_and_anything_else_replaced() {
        assert_eq!(request_id(&with_id("abc-123_x.y")), "abc-123_x.y");
        for unfit in ["has space", &"x".repeat(129), ""] {
            let id = request_id(&with_id(unfit));
            assert_ne!(id, unfit);
            assert!(uuid::Uuid::parse_str(id.to_str().unwrap()).is_ok());
        }
        let fresh = request_id(&HeaderMap::new());
        assert!(uuid::Uuid::parse_str(fresh.to_str().unwrap()).is_ok());
    }
}
