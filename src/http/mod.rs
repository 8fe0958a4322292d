//! The HTTP edge: it translates requests into calls on the domain's services and their
//! answers (or errors, mapped once in [`error`]) into responses. Its parts:
//! - `api/`: the JSON API, one file per resource (`token/`: one file per grant), in the
//!   OpenAPI spec;
//! - `ui/`: the web UI's pages and the authorization and logout endpoints' pages;
//! - `callers/`: who is calling: an access token and its proof, a client's credentials;
//! - `bodies/`: request and response bodies poem-openapi has no type for;
//! - `plumbing/`: what wraps every request (connections, the request's span, id, metrics and
//!   access line, CORS, headers) and serves Swagger UI.

pub mod api;
mod bodies;
mod callers;
pub mod error;
pub mod plumbing;
mod scim;
mod ui;

use std::sync::Arc;

use poem::{
    Endpoint, EndpointExt, IntoEndpoint, IntoResponse, Response, Route,
    http::{HeaderValue, StatusCode, header::WWW_AUTHENTICATE},
    web::Json as PoemJson,
};

use crate::state::AppState;

pub use plumbing::{REQUEST_ID, client_ip, user_agent};

/// The whole HTTP application: the API, its spec at `/openapi.json`, Swagger UI at `/docs`, the
/// web UI at `/ui`, each request observed (see [`observe`]).
pub fn routes(state: &AppState) -> impl Endpoint + 'static {
    let api = api::api_service(state);
    let allowed = allowed_methods(&api.spec());
    let spec = api.spec_endpoint();
    let docs = plumbing::swagger_ui(api.swagger_ui_html());
    let observer = Arc::new(plumbing::Observer::new(state, allowed));
    let cors = Arc::new(plumbing::CorsPolicy::new(
        &state.config,
        state.clients.clone(),
    ));
    let pages = Route::new()
        .nest("/docs", docs)
        .nest("/ui", ui::routes(state))
        .nest("/oauth/authorize", ui::authorize_routes(state))
        .nest("/oauth/end_session", ui::end_session_routes(state))
        .nest("/scim/v2", scim::routes(state))
        .at("/openapi.json", spec);
    plumbing::Cors {
        inner: Front {
            api: api.into_endpoint(),
            pages,
        },
        policy: cors,
    }
    .around(move |endpoint, request| {
        let observer = observer.clone();
        async move { Ok(observer.call(&*endpoint, request).await) }
    })
}

/// The paths [`Front::pages`] serves: each prefix and everything under it.
const PAGE_PREFIXES: [&str; 6] = [
    "/docs",
    "/ui",
    "/oauth/authorize",
    "/oauth/end_session",
    "/openapi.json",
    "/scim/v2",
];

/// The top of the routing: a few prefixes go to the pages (Swagger UI, the web UI, the
/// authorization and logout pages, the spec), every other path to the API's own router.
///
/// The same split as nesting the API at `/` in a `Route`, without that outer router: a nested
/// route rewrites the URI, records the prefix and re-formats the matched pattern, allocating
/// each time, and moves the request through two more layers. On the hottest paths (token
/// verification, introspection, `/ping`) that was a measurable share of a request's cost.
struct Front<A> {
    api: A,
    pages: Route,
}

impl<A: Endpoint<Output = Response>> Endpoint for Front<A> {
    type Output = Response;

    async fn call(&self, request: poem::Request) -> poem::Result<Response> {
        let path = request.uri().path();
        let is_page = PAGE_PREFIXES.iter().any(|prefix| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        if is_page {
            self.pages.call(request).await
        } else {
            self.api.call(request).await
        }
    }
}

/// Each path's methods, as the spec lists them, for the `Allow` header of a 405 (RFC 9110
/// §15.5.6). Swagger UI and the spec itself answer GET.
fn allowed_methods(spec: &str) -> plumbing::AllowedMethods {
    let spec: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
    let mut allowed = plumbing::AllowedMethods::default();
    for (path, operations) in spec["paths"].as_object().into_iter().flatten() {
        let Some(operations) = operations.as_object() else {
            continue;
        };
        let methods = operations
            .keys()
            .map(|method| method.to_ascii_uppercase())
            .collect::<Vec<_>>()
            .join(", ");
        if let Ok(methods) = HeaderValue::from_str(&methods) {
            allowed.insert(path, methods);
        }
    }
    for path in ["/openapi.json", "/docs", "/docs/"] {
        allowed.insert(path, HeaderValue::from_static("GET"));
    }
    for (path, methods) in ui::ALLOWED_METHODS.into_iter().chain(scim::ALLOWED_METHODS) {
        allowed.insert(path, HeaderValue::from_static(methods));
    }
    allowed
}

/// Errors raised by the framework rather than by a handler (unparseable body, unknown route,
/// wrong method) get the same JSON shape as authd's own.
fn json_error(err: poem::Error) -> Response {
    if err.is_from_response() {
        return err.into_response(); // a handler's own ApiError: already in shape
    }
    let status = err.status();
    let code = match status {
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        status if status.is_client_error() => "invalid_request",
        _ => "internal_error",
    };
    let message = if status.is_server_error() {
        tracing::error!(error = %err, "unhandled error");
        "internal error".to_owned()
    } else {
        err.to_string()
    };
    let mut response = PoemJson(serde_json::json!({ "error": code, "message": message }))
        .with_status(status)
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        // A protected route called without a bearer token (RFC 6750 §3.1: no error code).
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(error::MISSING_TOKEN_CHALLENGE),
        );
    }
    response
}
