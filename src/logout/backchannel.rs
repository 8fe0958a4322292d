//! OpenID Connect Back-Channel Logout 1.0: when a session ends, however it ends, the client it
//! was granted to gets a logout token at its `backchannel_logout_uri`.
//!
//! It rides on the audit trail: every ended session is a `session.ended` event, recorded with
//! an outbox message. [`BackChannel`] listens to the trail's fan-out and turns each such event,
//! for a client that registered a back channel, into a `logout` outbox message; the
//! [`LogoutTokens`] deliverer signs a fresh logout token at each attempt and POSTs it. So a
//! logout is told at least once, from any replica, after a crash too, and never waits for a
//! relying party: a slow or absent one delays nothing but its own delivery.

use std::{sync::Arc, time::Duration as StdDuration};

use async_trait::async_trait;
use jsonwebtoken::Header;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::Duration;
use uuid::Uuid;

use crate::{
    clients::Clients,
    clock::Clock,
    events::{AddressGuard, EventPayload, EventType, Listener, describe},
    keys::KeyRing,
    outbox::{Deliverer, DeliveryError},
    store::Topic,
};

/// The `typ` of a logout token (Back-Channel Logout §2.4, RFC 8725 §3.11).
const LOGOUT_TOKEN_TYP: &str = "logout+jwt";
/// The event a logout token carries (§2.4).
const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A logout token is signed at each attempt and lives two minutes (§2.4 asks for a short
/// life; the relying party checks it on arrival).
const LOGOUT_TOKEN_TTL: Duration = Duration::minutes(2);
/// One attempt's limits: a relying party that does not answer in time is tried again later.
const REQUEST_TIMEOUT: StdDuration = StdDuration::from_secs(5);
const CONNECT_TIMEOUT: StdDuration = StdDuration::from_secs(3);

/// One ended session for one client, as its outbox message holds it.
#[derive(Debug, Serialize, Deserialize)]
struct EndedSession {
    client_id: String,
    session_id: Uuid,
    user_id: Uuid,
}

/// A logout token's claims (§2.4): never a `nonce`, so it cannot pass for an ID token.
#[derive(Debug, Serialize)]
struct LogoutTokenClaims<'a> {
    iss: &'a str,
    sub: String,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    events: serde_json::Value,
    sid: String,
}

/// Turns `session.ended` events into logout messages for the clients that registered a back
/// channel.
pub struct BackChannel {
    clients: Arc<Clients>,
}

impl BackChannel {
    pub fn new(clients: Arc<Clients>) -> Self {
        Self { clients }
    }
}

#[async_trait]
impl Listener for BackChannel {
    async fn deliveries(
        &self,
        events: &[EventPayload],
    ) -> Result<Vec<(Topic, Vec<u8>)>, DeliveryError> {
        let mut deliveries = Vec::new();
        for event in events {
            if event.kind != EventType::SessionEnded.as_str() {
                continue;
            }
            let (Some(client_id), Some(user_id)) = (&event.data.client_id, event.data.user_id)
            else {
                continue;
            };
            let Some(session_id) = event
                .data
                .detail
                .get("session_id")
                .and_then(|id| id.as_str())
                .and_then(|id| Uuid::parse_str(id).ok())
            else {
                continue;
            };
            let client = self
                .clients
                .find(client_id)
                .await
                .map_err(|err| DeliveryError::transient(err.to_string()))?;
            if client.is_none_or(|client| client.logout.backchannel_uri.is_none()) {
                continue;
            }
            let ended = EndedSession {
                client_id: client_id.clone(),
                session_id,
                user_id,
            };
            let payload = serde_json::to_vec(&ended)
                .map_err(|err| DeliveryError::permanent(err.to_string()))?;
            deliveries.push((Topic::Logout, payload));
        }
        Ok(deliveries)
    }
}

/// Delivers logout tokens: signs one for the ended session and POSTs it, form-encoded, to the
/// client's back channel as registered now.
pub struct LogoutTokens {
    clients: Arc<Clients>,
    key_ring: Arc<KeyRing>,
    clock: Arc<dyn Clock>,
    issuer: String,
    guard: AddressGuard,
    http: reqwest::Client,
}

impl LogoutTokens {
    pub fn new(
        clients: Arc<Clients>,
        key_ring: Arc<KeyRing>,
        clock: Arc<dyn Clock>,
        issuer: String,
        guard: AddressGuard,
    ) -> Result<Self, reqwest::Error> {
        let http = guard.client(CONNECT_TIMEOUT, REQUEST_TIMEOUT)?;
        Ok(Self {
            clients,
            key_ring,
            clock,
            issuer,
            guard,
            http,
        })
    }

    /// A logout token for `ended`, with `jti` the message's id: the same at every attempt,
    /// so a relying party can drop a repeat.
    fn token(&self, id: Uuid, ended: &EndedSession) -> Result<String, DeliveryError> {
        let now = self.clock.now();
        let key = self
            .key_ring
            .signing_key(now)
            .ok_or_else(|| DeliveryError::transient("no signing key is active"))?;
        let claims = LogoutTokenClaims {
            iss: &self.issuer,
            sub: ended.user_id.to_string(),
            aud: &ended.client_id,
            iat: now.unix_timestamp(),
            exp: (now + LOGOUT_TOKEN_TTL).unix_timestamp(),
            jti: id.to_string(),
            events: json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
            sid: ended.session_id.to_string(),
        };
        let mut header = Header::new(key.algorithm);
        header.typ = Some(LOGOUT_TOKEN_TYP.to_owned());
        header.kid = Some(key.kid.clone());
        key.sign(&header, &claims)
            .map_err(|err| DeliveryError::transient(format!("could not sign: {err}")))
    }
}

#[async_trait]
impl Deliverer for LogoutTokens {
    async fn deliver(&self, id: Uuid, payload: &[u8]) -> Result<(), DeliveryError> {
        let ended: EndedSession = serde_json::from_slice(payload)
            .map_err(|err| DeliveryError::permanent(format!("unreadable logout: {err}")))?;
        let client = self
            .clients
            .find(&ended.client_id)
            .await
            .map_err(|err| DeliveryError::transient(err.to_string()))?;
        let Some(uri) = client.and_then(|client| client.logout.backchannel_uri) else {
            tracing::info!(client_id = %ended.client_id, "logout token dropped: the client no longer has a back channel");
            return Ok(());
        };
        let url = url::Url::parse(&uri)
            .map_err(|_| DeliveryError::permanent("the backchannel_logout_uri does not parse"))?;
        self.guard
            .check_url(&url)
            .map_err(|why| DeliveryError::permanent(format!("backchannel_logout_uri {why}")))?;
        let token = self.token(id, &ended)?;
        let response = self
            .http
            .post(url)
            .header("cache-control", "no-store")
            .form(&[("logout_token", token.as_str())])
            .send()
            .await
            .map_err(|err| DeliveryError::transient(describe(&err)))?;
        let status = response.status();
        if status.is_success() {
            tracing::info!(
                client_id = %ended.client_id, session = %ended.session_id,
                "logout token delivered"
            );
            return Ok(());
        }
        let message = format!("the relying party answered {status}");
        // §2.8: a 400 says the relying party refused this token; sending it again cannot help.
        // A server error or an overloaded one (429) may pass.
        if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(DeliveryError::permanent(message));
        }
        Err(DeliveryError::transient(message))
    }
}
