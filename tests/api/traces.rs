//! OpenTelemetry traces: a real `authd serve` exports OTLP, over gRPC or HTTP/protobuf as the
//! standard variables say, to a collector stand-in in this test (the collector's own protobuf
//! types), and a login shows where its time goes.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::{AnyValue, KeyValue, any_value::Value as OtlpValue},
    trace::v1::{Span, span::SpanKind},
};
use prost::Message;
use serde_json::Value;

use crate::{
    helpers::{durable_resources, eventually},
    process::Served,
};

/// Keeps every span it is sent, with its service's name, and (over HTTP) the path and content
/// type of each export.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<(String, Span)>>>,
    http_posts: Arc<Mutex<Vec<(String, String)>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.receive(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    fn receive(&self, request: ExportTraceServiceRequest) {
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in request.resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|resource| text(&resource.attributes, "service.name"))
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                spans.extend(scope.spans.into_iter().map(|span| (service.clone(), span)));
            }
        }
    }

    /// An OTLP/gRPC receiver on a free port; returns the endpoint for
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`.
    async fn start(&self) -> String {
        let incoming =
            tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let endpoint = format!("http://{}", incoming.local_addr().unwrap());
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming),
        );
        endpoint
    }

    /// An OTLP/HTTP receiver on a free port: decodes the protobuf body of a POST to any path.
    /// Returns the base URL for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    async fn start_http(&self) -> String {
        use poem::{
            Body, Response,
            listener::{Acceptor, Listener},
        };
        let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let address = acceptor.local_addr()[0].as_socket_addr().cloned().unwrap();
        let collector = self.clone();
        let receiver = poem::endpoint::make(move |request: poem::Request| {
            let collector = collector.clone();
            async move {
                let path = request.uri().path().to_owned();
                let content_type = request.content_type().unwrap_or_default().to_owned();
                let body = request.into_body().into_vec().await.unwrap();
                collector
                    .http_posts
                    .lock()
                    .unwrap()
                    .push((path, content_type));
                collector.receive(ExportTraceServiceRequest::decode(body.as_slice()).unwrap());
                Response::builder()
                    .content_type("application/x-protobuf")
                    .body(Body::from(
                        ExportTraceServiceResponse::default().encode_to_vec(),
                    ))
            }
        });
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(receiver));
        format!("http://{address}")
    }

    fn spans_of(&self, trace_id: &[u8]) -> Vec<(String, Span)> {
        let spans = self.spans.lock().unwrap();
        spans
            .iter()
            .filter(|(_, span)| span.trace_id == trace_id)
            .cloned()
            .collect()
    }
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| match &attribute.value {
            Some(AnyValue {
                value: Some(OtlpValue::StringValue(value)),
            }) => Some(value.clone()),
            Some(AnyValue {
                value: Some(OtlpValue::IntValue(value)),
            }) => Some(value.to_string()),
            _ => None,
        })
}

/// The spans as an indented tree with their durations, for the eye (`--no-capture`).
fn tree(spans: &[(String, Span)]) -> String {
    fn walk(spans: &[(String, Span)], parent: &[u8], depth: usize, out: &mut String) {
        let mut children: Vec<&Span> = spans
            .iter()
            .map(|(_, span)| span)
            .filter(|span| span.parent_span_id == parent)
            .collect();
        children.sort_by_key(|span| span.start_time_unix_nano);
        for span in children {
            let millis = (span.end_time_unix_nano - span.start_time_unix_nano) as f64 / 1e6;
            out.push_str(&format!(
                "{}{} ({millis:.2} ms)\n",
                "  ".repeat(depth),
                span.name
            ));
            walk(spans, &span.span_id, depth + 1, out);
        }
    }
    let ids: Vec<&[u8]> = spans.iter().map(|(_, span)| &span.span_id[..]).collect();
    let mut out = String::new();
    for (_, root) in spans
        .iter()
        .filter(|(_, span)| !ids.contains(&&span.parent_span_id[..]))
    {
        let millis = (root.end_time_unix_nano - root.start_time_unix_nano) as f64 / 1e6;
        out.push_str(&format!("{} ({millis:.2} ms)\n", root.name));
        walk(spans, &root.span_id, 1, &mut out);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[tokio::test]
async fn a_login_is_one_trace_joined_to_the_callers_showing_hashing_storage_and_signing() {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let resources = durable_resources().await;
    let authd = Served::start(
        &resources,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let (_, password) = authd.register("traced").await;

    // The caller's own trace: authd's spans must join it (W3C Trace Context).
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let login = client
        .post(format!("{}/oauth/token", authd.url))
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .form(&[
            ("grant_type", "password"),
            ("username", "traced"),
            ("password", password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let tokens: Value = login.json().await.unwrap();

    let trace_bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&trace_id[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let arrived = eventually(Duration::from_secs(10), || {
        let collector = collector.clone();
        let trace_bytes = trace_bytes.clone();
        async move {
            collector
                .spans_of(&trace_bytes)
                .iter()
                .any(|(_, span)| span.name == "POST /oauth/token")
        }
    })
    .await;
    assert!(
        arrived,
        "the login's spans reach the collector; it has: {:?}",
        collector
            .spans
            .lock()
            .unwrap()
            .iter()
            .map(|(_, span)| (span.name.clone(), hex(&span.trace_id)))
            .collect::<Vec<_>>()
    );
    // The audit write finishes after the answer; give its span a moment too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let spans = collector.spans_of(&trace_bytes);

    println!("{}", tree(&spans));
    let root = &spans
        .iter()
        .find(|(_, span)| span.name == "POST /oauth/token")
        .unwrap()
        .1;
    assert_eq!(
        hex(&root.parent_span_id),
        caller_span,
        "a child of the caller's span"
    );
    assert_eq!(root.kind, SpanKind::Server as i32);
    assert_eq!(
        text(&root.attributes, "http.route").as_deref(),
        Some("/oauth/token")
    );
    assert_eq!(
        text(&root.attributes, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert!(spans.iter().all(|(service, _)| service == "authd"));

    // Every span of the request, by name, as children of the request span.
    let children: HashMap<&str, &Span> = spans
        .iter()
        .filter(|(_, span)| span.parent_span_id == root.span_id)
        .map(|(_, span)| (span.name.as_str(), span))
        .collect();
    let mut names: Vec<&str> = children.keys().copied().collect();
    names.sort_unstable();
    for expected in [
        "postgres users.find_by_username",
        "argon2 verify",
        "postgres sessions.start_session",
        "jwt sign",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    assert!(
        names.iter().any(|name| name.starts_with("redis ")),
        "the rate limiter's Redis command in {names:?}"
    );
    let argon2 = children["argon2 verify"];
    assert!(
        argon2.end_time_unix_nano - argon2.start_time_unix_nano > 0,
        "the hash takes time"
    );
    assert!(
        argon2
            .attributes
            .iter()
            .any(|attribute| attribute.key == "queued_ms"),
        "the time spent waiting for a core is on the span"
    );

    // No secret in any attribute of any span.
    let secrets = [
        password.as_str(),
        tokens["access_token"].as_str().unwrap(),
        tokens["refresh_token"].as_str().unwrap(),
        resources.master_key_base64.as_str(),
    ];
    for (_, span) in &spans {
        let dump = format!("{span:?}");
        for secret in secrets {
            assert!(!dump.contains(secret), "a secret in span {}", span.name);
        }
    }
    drop(authd);
}

/// Sends one traced request to a fresh `authd serve` started with `env`, and waits until
/// `collector` holds its span: whether it came.
async fn request_span_arrives(collector: &Collector, env: &[(&str, &str)]) -> bool {
    let resources = durable_resources().await;
    let mut env = env.to_vec();
    env.push(("OTEL_BSP_SCHEDULE_DELAY", "100"));
    let authd = Served::start(&resources, &env).await;
    let trace_id: [u8; 16] = rand::random();
    let response = reqwest::Client::new()
        .get(format!("{}/.well-known/jwks.json", authd.url))
        .header(
            "traceparent",
            format!("00-{}-00f067aa0ba902b7-01", hex(&trace_id)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    eventually(Duration::from_secs(10), || async {
        collector
            .spans_of(&trace_id)
            .iter()
            .any(|(_, span)| span.name == "GET /.well-known/jwks.json")
    })
    .await
}

#[tokio::test]
async fn spans_go_over_http_protobuf_by_default_to_the_endpoint_plus_v1_traces() {
    let collector = Collector::default();
    let endpoint = collector.start_http().await;
    let env = [("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())];
    assert!(
        request_span_arrives(&collector, &env).await,
        "the request's span reaches the OTLP/HTTP receiver"
    );
    let posts = collector.http_posts.lock().unwrap().clone();
    assert!(
        posts
            .iter()
            .all(|post| *post == ("/v1/traces".to_owned(), "application/x-protobuf".to_owned())),
        "{posts:?}"
    );
}

#[tokio::test]
async fn spans_go_over_http_protobuf_to_the_traces_endpoint_as_given() {
    let collector = Collector::default();
    let endpoint = format!("{}/otlp/spans", collector.start_http().await);
    let env = [
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ];
    assert!(request_span_arrives(&collector, &env).await);
    let posts = collector.http_posts.lock().unwrap().clone();
    assert!(
        posts.iter().all(|(path, _)| path == "/otlp/spans"),
        "{posts:?}"
    );
}

#[tokio::test]
async fn the_traces_protocol_setting_overrides_the_general_one() {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
    ];
    assert!(
        request_span_arrives(&collector, &env).await,
        "the request's span reaches the OTLP/gRPC receiver"
    );
}

#[test]
fn an_unsupported_protocol_stops_authd_naming_the_setting() {
    let master_key = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        rand::random::<[u8; 32]>(),
    );
    for (setting, value) in [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "udp"),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
            .arg("serve")
            .env("AUTHD_MASTER_KEY", &master_key)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
            .env(setting, value)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
        assert!(stderr.contains(&format!("{setting}={value}")), "{stderr}");
        assert!(
            stderr.contains("http/protobuf"),
            "says what works: {stderr}"
        );
    }
}
