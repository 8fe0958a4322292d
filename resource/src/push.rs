//! The endpoint a push stream (RFC 8935) delivers to: a tower service the application mounts
//! at the stream's `endpoint_url` (axum: `Router::route_service`), outside
//! [`crate::RequireAuthdToken`], since authd calls it with the stream's own credential, not
//! an access token.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::ResourceServer;

/// The largest SET taken: authd's are a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;

/// Takes the SETs authd pushes (see [`ResourceServer::push_endpoint`]).
#[derive(Clone)]
pub struct PushEndpoint {
    server: Arc<ResourceServer>,
}

impl PushEndpoint {
    pub(crate) fn new(server: Arc<ResourceServer>) -> Self {
        Self { server }
    }
}

impl<B> tower_service::Service<Request<B>> for PushEndpoint
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let server = self.server.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            if parts.method != Method::POST {
                return Ok(answer(StatusCode::METHOD_NOT_ALLOWED, String::new()));
            }
            let body = match Limited::new(body, MAX_BODY).collect().await {
                Ok(body) => body.to_bytes(),
                Err(err) if err.is::<LengthLimitError>() => {
                    return Ok(answer(StatusCode::PAYLOAD_TOO_LARGE, String::new()));
                }
                Err(_) => return Ok(answer(StatusCode::BAD_REQUEST, String::new())),
            };
            let (status, error) = server.receive(&parts.headers, &body).await;
            let body = error.map(|error| error.to_string()).unwrap_or_default();
            Ok(answer(status, body))
        })
    }
}

fn answer(status: StatusCode, body: String) -> Response<String> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if !response.body().is_empty() {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
    }
    response
}
