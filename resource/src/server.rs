//! The resource server's side of authd: [`ResourceServer::authorize`] decides a request from
//! its token alone (no round trip), and the stream keeps what it knows of revocations current.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use http::{
    HeaderMap, Method, StatusCode, Uri,
    header::{AUTHORIZATION, CONTENT_TYPE},
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    Rejection,
    dpop::DpopCheck,
    keys::KeySet,
    push::PushEndpoint,
    revoked::{Revoked, VERIFICATION},
    settings::{BeforeStart, Settings, WhenStale},
    stream::{self, ReceiverToken},
    token::{AccessClaims, TokenCheck},
};

/// The connection and answer limits of every call to authd (a long poll sets its own).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Verifies authd's access tokens for one service. Share it (`Arc`) between the layer, the
/// push endpoint if any, and handlers.
pub struct ResourceServer {
    pub(crate) settings: Settings,
    pub(crate) http: reqwest::Client,
    pub(crate) keys: KeySet,
    tokens: TokenCheck,
    dpop: DpopCheck,
    pub(crate) revoked: Revoked,
    pub(crate) receiver_token: ReceiverToken,
    pub(crate) started: Instant,
    started_at: i64,
    /// When this service last knew every revocation authd had sent it (None: not yet).
    heard: Mutex<Option<Instant>>,
    /// The verification event a push stream waits for: its `state`, and when it was asked.
    expected: Mutex<Option<(String, Instant)>>,
    /// The task following the stream, once started.
    follower: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The digest of the `Authorization` header authd pushes with (see [`push_authorization`]).
    push_authorization: Option<[u8; 32]>,
}

/// The `Authorization` header a push stream is given, and authd sends with each SET: derived
/// from the receiver's client secret, so every run and every replica of the service expects
/// the same, and SETs authd queued while the service restarted are taken at once.
pub(crate) fn push_authorization(client_secret: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"authd-resource push credential\0");
    digest.update(client_secret.as_bytes());
    format!("Bearer {}", URL_SAFE_NO_PAD.encode(digest.finalize()))
}

#[derive(Debug, thiserror::Error)]
#[error("could not build the HTTP client: {0}")]
pub struct BuildError(#[from] reqwest::Error);

impl ResourceServer {
    /// A server that verifies tokens but does not follow a stream yet (see [`Self::start`]).
    pub fn new(settings: Settings) -> Result<Arc<Self>, BuildError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let audience = settings
            .receiver
            .as_ref()
            .map(|receiver| receiver.client_id.clone())
            .unwrap_or_default();
        Ok(Arc::new(Self {
            keys: KeySet::new(&settings, http.clone()),
            tokens: TokenCheck::new(
                &settings.issuer,
                &settings.audience,
                settings.leeway,
                &settings.algorithms,
            ),
            dpop: DpopCheck::new(settings.resource_url.clone(), settings.leeway),
            revoked: Revoked::new(&settings.issuer, &audience, settings.token_lifetime),
            receiver_token: ReceiverToken::new(),
            started: Instant::now(),
            started_at: unix_now(),
            heard: Mutex::new(None),
            expected: Mutex::new(None),
            follower: Mutex::new(None),
            push_authorization: settings.receiver.as_ref().map(|receiver| {
                Sha256::digest(push_authorization(&receiver.client_secret).as_bytes()).into()
            }),
            settings,
            http,
        }))
    }

    /// A server that follows its Shared Signals stream in the background (on the current tokio
    /// runtime), if it has a receiver.
    pub fn start(settings: Settings) -> Result<Arc<Self>, BuildError> {
        let server = Self::new(settings)?;
        if let Some(receiver) = server.settings.receiver.clone() {
            let follower = tokio::spawn(stream::follow(server.clone(), receiver));
            *lock(&server.follower) = Some(follower);
        }
        Ok(server)
    }

    /// Stops following the stream (at shutdown): from then on, past the max lag, tokens are
    /// treated as [`WhenStale`] says. What authd sent and this service did not acknowledge
    /// waits at authd for the next run.
    pub fn stop(&self) {
        if let Some(follower) = lock(&self.follower).take() {
            follower.abort();
        }
    }

    /// Decides a request from its `Authorization` (and `DPoP`) header: the token's claims, or
    /// why it is refused.
    pub async fn authorize(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<AccessClaims, Rejection> {
        let value = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .ok_or(Rejection::Missing)?;
        let (scheme, token) = value.trim().split_once(' ').ok_or(Rejection::Missing)?;
        let token = token.trim();
        let claims = self.tokens.verify(&self.keys, token).await?;
        let jkt = claims.cnf.as_ref().and_then(|cnf| cnf.jkt.as_deref());
        match (scheme, jkt) {
            (scheme, Some(jkt)) if scheme.eq_ignore_ascii_case("DPoP") => {
                let proof = headers
                    .get("dpop")
                    .and_then(|value| value.to_str().ok())
                    .ok_or_else(|| Rejection::proof("a DPoP proof header is required"))?;
                self.dpop.verify(proof, method, uri.path(), token, jkt)?;
            }
            (_, Some(_)) => {
                return Err(Rejection::invalid("the token is bound to a key: use DPoP"));
            }
            (scheme, None) if scheme.eq_ignore_ascii_case("Bearer") => {}
            _ => return Err(Rejection::invalid("a bearer token was sent as DPoP")),
        }
        self.checked(token, claims).await
    }

    /// Verifies a bearer token alone (no DPoP, no request): what [`Self::authorize`] does for
    /// a request that carries `Authorization: Bearer <token>`.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, Rejection> {
        let claims = self.tokens.verify(&self.keys, token).await?;
        if claims.cnf.as_ref().is_some_and(|cnf| cnf.jkt.is_some()) {
            return Err(Rejection::invalid("the token is bound to a key: use DPoP"));
        }
        self.checked(token, claims).await
    }

    /// The revocation checks, once the token itself holds.
    async fn checked(&self, token: &str, claims: AccessClaims) -> Result<AccessClaims, Rejection> {
        let Some(receiver) = &self.settings.receiver else {
            return Ok(claims);
        };
        if let Some(why) = self.revoked.refuses(&claims) {
            return Err(Rejection::invalid(why));
        }
        if claims.iat <= self.started_at {
            match receiver.before_start {
                BeforeStart::Accept => {}
                BeforeStart::Refuse => {
                    return Err(Rejection::invalid("issued before this service started"));
                }
                BeforeStart::Introspect => return self.introspect(token, claims).await,
            }
        }
        if !self.is_current() {
            return match receiver.when_stale {
                WhenStale::Refuse => Err(Rejection::unavailable(
                    "revocations may be unknown: authd was not heard within the max lag",
                )),
                WhenStale::Introspect => self.introspect(token, claims).await,
            };
        }
        Ok(claims)
    }

    /// Whether this service heard from authd within its max lag.
    pub fn is_current(&self) -> bool {
        let Some(receiver) = &self.settings.receiver else {
            return true;
        };
        lock(&self.heard).is_some_and(|at| at.elapsed() <= receiver.max_lag)
    }

    /// The endpoint a push stream delivers to, a tower service: mount it at the path of
    /// [`crate::Delivery::Push`]'s `endpoint_url`, outside [`crate::RequireAuthdToken`]
    /// (axum: `Router::route_service("/ssf-events", authd.push_endpoint())`).
    pub fn push_endpoint(self: &Arc<Self>) -> PushEndpoint {
        PushEndpoint::new(self.clone())
    }

    /// A SET pushed by authd (RFC 8935), for frameworks [`Self::push_endpoint`] does not suit:
    /// the `POST`'s headers and body, and what to answer (202; 401 without the stream's
    /// credential; 400 and the body for a SET refused).
    pub async fn receive(&self, headers: &HeaderMap, body: &[u8]) -> (StatusCode, Option<Value>) {
        let refused = |description: String| {
            let body = json!({ "err": "invalid_request", "description": description });
            (StatusCode::BAD_REQUEST, Some(body))
        };
        // Checked before the signature, so that pushes from anyone else cost nothing. The
        // digests are compared, which leaks nothing of the credential.
        let Some(expected) = self.push_authorization else {
            let body =
                json!({ "err": "access_denied", "description": "this service takes no pushes" });
            return (StatusCode::FORBIDDEN, Some(body));
        };
        let given = headers
            .get(AUTHORIZATION)
            .map(|value| Sha256::digest(value.as_bytes()));
        if given.is_none_or(|given| given.as_slice() != expected) {
            let body = json!({ "err": "authentication_failed", "description": "not the stream's credential" });
            return (StatusCode::UNAUTHORIZED, Some(body));
        }
        let is_set = headers
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|value| {
                value
                    .trim()
                    .eq_ignore_ascii_case("application/secevent+jwt")
            });
        if !is_set {
            return refused("the content type is not application/secevent+jwt".to_owned());
        }
        let Ok(token) = std::str::from_utf8(body) else {
            return refused("the body is not a SET".to_owned());
        };
        match self.revoked.take(&self.keys, token.trim()).await {
            Ok(set) => {
                if let Some(state) = set
                    .events
                    .get(VERIFICATION)
                    .and_then(|event| event.get("state"))
                    .and_then(Value::as_str)
                {
                    let expected = lock(&self.expected).clone();
                    if let Some((waited, asked)) = expected
                        && waited == state
                    {
                        self.heard(asked);
                    }
                }
                (StatusCode::ACCEPTED, None)
            }
            Err(err) => refused(err.to_string()),
        }
    }

    /// Records that every revocation authd held at `asked` is known here.
    pub(crate) fn heard(&self, asked: Instant) {
        let mut heard = lock(&self.heard);
        if heard.is_none_or(|at| at < asked) {
            *heard = Some(asked);
        }
    }

    pub(crate) fn expect_verification(&self, state: &str, asked: Instant) {
        *lock(&self.expected) = Some((state.to_owned(), asked));
    }

    /// RFC 7662: authd decides, one round trip.
    async fn introspect(
        &self,
        token: &str,
        claims: AccessClaims,
    ) -> Result<AccessClaims, Rejection> {
        let receiver = self
            .settings
            .receiver
            .as_ref()
            .ok_or_else(|| Rejection::unavailable("no client to introspect with"))?;
        let answer: Value = self
            .http
            .post(self.settings.endpoint("/oauth/introspect"))
            .basic_auth(&receiver.client_id, Some(&receiver.client_secret))
            .form(&[("token", token)])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|err| Rejection::unavailable(format!("introspection: {err}")))?
            .json()
            .await
            .map_err(|err| Rejection::unavailable(format!("introspection: {err}")))?;
        if answer["active"] == true {
            Ok(claims)
        } else {
            Err(Rejection::invalid("authd says the token is not active"))
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs() as i64)
        .unwrap_or_default()
}
