//! The Shared Signals transmitter's HTTP face (OpenID SSF 1.0): its discovery document, stream
//! management for receivers, and poll delivery (RFC 8936). Receivers call with an access token
//! of their own (client credentials) holding the `ssf:receiver` scope; a stream is only ever
//! its creator's, and another receiver's stream is answered as absent (404).

mod poll;
mod streams;

use poem::Request;
use poem_openapi::{Object, OpenApi, payload::Json};
use uuid::Uuid;

use super::ApiTags;
use crate::{
    error::Error,
    http::callers::{
        access::{AccessAuth, authorize},
        admitted,
    },
    rate_limit::RateLimitedRoute,
    ssf::{POLL, PUSH, RECEIVER_SCOPE},
    state::AppState,
    tokens::InvalidToken,
};

pub use poll::SsfPollApi;
pub use streams::SsfStreamsApi;

pub struct SsfConfigurationApi(pub AppState);

/// Transmitter configuration metadata (SSF 1.0 §7.1).
#[derive(Object)]
struct TransmitterConfiguration {
    /// `1_0`: the final Shared Signals Framework 1.0.
    spec_version: String,
    issuer: String,
    jwks_uri: String,
    delivery_methods_supported: Vec<String>,
    configuration_endpoint: String,
    status_endpoint: String,
    verification_endpoint: String,
    authorization_schemes: Vec<AuthorizationScheme>,
    /// `ALL`: a stream carries events about every user; there is no subject to add first.
    default_subjects: String,
}

#[derive(Object)]
struct AuthorizationScheme {
    spec_urn: String,
}

#[OpenApi(tag = "ApiTags::SharedSignals")]
impl SsfConfigurationApi {
    /// Shared Signals transmitter configuration
    ///
    /// Where a receiver manages its streams and how it authenticates there: an OAuth 2.0
    /// access token (client credentials) with scope `ssf:receiver`. SETs are signed with the
    /// keys at `jwks_uri`.
    #[oai(path = "/.well-known/ssf-configuration", method = "get")]
    async fn configuration(&self) -> Json<TransmitterConfiguration> {
        let base = self.0.config.public_url.trim_end_matches('/');
        Json(TransmitterConfiguration {
            spec_version: "1_0".to_owned(),
            issuer: self.0.config.issuer.clone(),
            jwks_uri: format!("{base}/.well-known/jwks.json"),
            delivery_methods_supported: vec![PUSH.to_owned(), POLL.to_owned()],
            configuration_endpoint: format!("{base}/ssf/streams"),
            status_endpoint: format!("{base}/ssf/status"),
            verification_endpoint: format!("{base}/ssf/verify"),
            authorization_schemes: vec![AuthorizationScheme {
                spec_urn: "urn:ietf:rfc:6749".to_owned(),
            }],
            default_subjects: "ALL".to_owned(),
        })
    }
}

/// Admits a receiver's call: the per-address limit (management calls only), then its token,
/// which must be a client's own with the receiver scope. The receiver's client id.
async fn receiver(
    state: &AppState,
    req: &Request,
    auth: &AccessAuth,
    limited: bool,
) -> Result<String, Error> {
    if limited {
        admitted(state, req, RateLimitedRoute::Ssf).await?;
    }
    let caller = authorize(state, req, auth).await?;
    let claims = &caller.verified.claims;
    let scoped = claims
        .scope
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .any(|scope| scope == RECEIVER_SCOPE);
    if !scoped {
        return Err(Error::InsufficientScope(RECEIVER_SCOPE));
    }
    if claims.username.is_some() {
        return Err(Error::Forbidden(
            "a receiver calls with its own token (client credentials), not a user's",
        ));
    }
    let client_id = claims.client_id.clone().ok_or(Error::Forbidden(
        "a receiver calls with its own token (client credentials)",
    ))?;
    // A deleted client's token may still verify until it expires; its streams are gone.
    if state.clients.find(&client_id).await?.is_none() {
        return Err(InvalidToken::UnknownSubject.into());
    }
    Ok(client_id)
}

/// A stream id as a receiver sends it; one that is no stream's id names no stream.
fn stream_id(value: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(value).map_err(|_| Error::NotFound("stream"))
}

/// The poll URL of a stream (SSF 1.0 §6.1.2: unique per stream).
fn poll_url(state: &AppState, id: Uuid) -> String {
    format!(
        "{}/ssf/poll/{id}",
        state.config.public_url.trim_end_matches('/')
    )
}
