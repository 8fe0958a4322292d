//! Cross-origin access for browser applications, off unless `AUTHD_CORS_ORIGINS` lists origins.
//!
//! Without it, authd sends no CORS headers, so browsers let no other origin's script read its
//! answers (and preflights fail: no route answers `OPTIONS`). With it, only the listed origins
//! (and authd's own public origin, where Swagger UI runs) may call; a request from any other
//! origin is refused with 403 before it reaches a handler. Credentials mode stays off: authd
//! authenticates with headers (bearer, DPoP), never with cookies a browser would attach.

use poem::{http::Method, middleware::Cors};

use crate::config::Config;

/// Request headers a browser client needs to send: the token and its proofs.
const ALLOWED_HEADERS: [&str; 5] = [
    "authorization",
    "content-type",
    "dpop",
    "pop-signature",
    "pop-nonce",
];

/// Answer headers a browser client needs to read: the next nonces and the challenge.
const EXPOSED_HEADERS: [&str; 4] = [
    "dpop-nonce",
    "pop-nonce",
    "www-authenticate",
    "x-request-id",
];

/// How long a browser may reuse a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: i32 = 600;

/// The CORS middleware for `config`, or `None` when no origin is configured.
pub fn cors(config: &Config) -> Option<Cors> {
    if config.cors_origins.is_empty() {
        return None;
    }
    let own_origin = url::Url::parse(&config.public_url)
        .ok()
        .map(|url| url.origin().ascii_serialization());
    Some(
        Cors::new()
            .allow_origins(config.cors_origins.iter().cloned().chain(own_origin))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers(ALLOWED_HEADERS)
            .expose_headers(EXPOSED_HEADERS)
            .allow_credentials(false)
            .max_age(PREFLIGHT_MAX_AGE),
    )
}
