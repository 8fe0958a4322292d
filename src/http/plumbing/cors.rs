//! Cross-origin access for browser applications (the Fetch standard's CORS protocol).
//!
//! Two kinds of origin may call from a browser:
//! - a registered client's ([`ClientRecord::origins`]: the ones it registered, or else its
//!   redirect URIs' origins), on the endpoints a single-page app needs: the token,
//!   revocation and userinfo endpoints, discovery and the JWKS. A client registered through
//!   RFC 7591 works from its own page without an operator's help, as Keycloak's "web origins"
//!   do;
//! - an origin in `AUTHD_CORS_ORIGINS` (and then authd's own, where Swagger UI runs), on every
//!   endpoint.
//!
//! Any other origin gets no CORS headers, so its scripts cannot read an answer, and its
//! preflights are refused with 403. Credentials mode stays off: authd authenticates with
//! headers (bearer, DPoP) and form fields, never with cookies a browser would attach.
//!
//! [`ClientRecord::origins`]: crate::clients::ClientRecord::origins

use std::{collections::HashSet, sync::Arc};

use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{
        HeaderMap, HeaderValue, Method, StatusCode,
        header::{
            ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
            ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
            ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
        },
    },
};

use crate::{clients::Clients, config::Config};

/// Request headers a browser client needs to send: the token and its proofs.
const ALLOWED_HEADERS: &str = "authorization, content-type, dpop, pop-signature, pop-nonce";

/// Answer headers a browser client needs to read: the next nonces and the challenge.
const EXPOSED_HEADERS: &str = "dpop-nonce, pop-nonce, www-authenticate, x-request-id";

/// How long a browser may reuse a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The endpoints a registered client's origins may call.
const CLIENT_PATHS: [&str; 6] = [
    "/oauth/token",
    "/oauth/revoke",
    "/userinfo",
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/.well-known/jwks.json",
];

/// Who may call from which origin.
pub struct CorsPolicy {
    /// `AUTHD_CORS_ORIGINS` and, when that lists any, authd's own origin: every endpoint.
    everywhere: HashSet<String>,
    /// The registered clients, whose origins may call [`CLIENT_PATHS`].
    clients: Arc<Clients>,
}

impl CorsPolicy {
    pub fn new(config: &Config, clients: Arc<Clients>) -> Self {
        let mut everywhere: HashSet<String> = config.cors_origins.iter().cloned().collect();
        if !everywhere.is_empty()
            && let Ok(own) = url::Url::parse(&config.public_url)
        {
            everywhere.insert(own.origin().ascii_serialization());
        }
        Self {
            everywhere,
            clients,
        }
    }

    async fn allows(&self, origin: &str, path: &str) -> bool {
        if self.everywhere.contains(origin) {
            return true;
        }
        if !CLIENT_PATHS.contains(&path) {
            return false;
        }
        self.clients
            .allows_origin(origin)
            .await
            .unwrap_or_else(|err| {
                // Refused, not failed: the browser's request is then refused as cross-origin.
                tracing::warn!(error = %err, "client origins could not be read");
                false
            })
    }
}

/// Wraps an endpoint with [`CorsPolicy`].
pub struct Cors<E> {
    pub inner: E,
    pub policy: Arc<CorsPolicy>,
}

impl<E: Endpoint<Output = Response>> Endpoint for Cors<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        let Some(origin) = request
            .headers()
            .get(ORIGIN)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
        else {
            return self.inner.call(request).await;
        };
        let allowed = self.policy.allows(&origin, request.uri().path()).await;
        let preflight = request.method() == Method::OPTIONS
            && request
                .headers()
                .contains_key(ACCESS_CONTROL_REQUEST_METHOD);
        if preflight {
            let mut answer = if allowed {
                let mut answer = StatusCode::OK.into_response();
                let headers = answer.headers_mut();
                headers.insert(
                    ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static("GET, POST, PUT, DELETE"),
                );
                headers.insert(
                    ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static(ALLOWED_HEADERS),
                );
                headers.insert(
                    ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from_static(PREFLIGHT_MAX_AGE),
                );
                allow(answer.headers_mut(), &origin);
                answer
            } else {
                StatusCode::FORBIDDEN.into_response()
            };
            answer
                .headers_mut()
                .append(VARY, HeaderValue::from_static("origin"));
            return Ok(answer);
        }
        let mut answer = match self.inner.call(request).await {
            Ok(answer) => answer,
            Err(err) => err.into_response(),
        };
        if allowed {
            allow(answer.headers_mut(), &origin);
        }
        // Whether the answer carries CORS headers depends on the origin: caches must know.
        answer
            .headers_mut()
            .append(VARY, HeaderValue::from_static("origin"));
        Ok(answer)
    }
}

fn allow(headers: &mut HeaderMap, origin: &str) {
    if let Ok(origin) = HeaderValue::from_str(origin) {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
}
