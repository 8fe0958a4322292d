//! Each trusted issuer's keys: its JWK set (RFC 7517 §5) fetched from the trust file's `jwks_uri`
//! with a capped body, cached, fetched again at a limited rate, and matched to a token's header.

use std::sync::{Arc, RwLock};

use jsonwebtoken::{
    Algorithm, DecodingKey, Header,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm},
};
use serde::Deserialize;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use super::{ExternalIssuers, ExternalTokenError, invalid};
use crate::exchange::trust::TrustedIssuer;

/// Larger than any real key set; an issuer (or whoever answers for it) cannot make authd buffer more.
pub(super) const MAX_JWKS_LEN: usize = 256 * 1024;
/// How long fetched keys are used before they are fetched again.
const KEYS_FRESH_FOR: Duration = Duration::minutes(10);
/// The least time between two fetches of one issuer's keys, however many unknown `kid`s arrive:
/// a flood of made-up `kid`s cannot make authd hammer the issuer.
const MIN_FETCH_INTERVAL: Duration = Duration::seconds(30);
/// How long keys stay usable when the issuer cannot be reached to fetch them again.
const STALE_KEYS_USABLE_FOR: Duration = Duration::hours(1);
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
const FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// One trusted issuer and what is known of its keys.
pub(super) struct IssuerKeys {
    pub(super) trusted: TrustedIssuer,
    /// Read on every verification, written only by a fetch; never held across an await.
    cached: RwLock<Option<Arc<CachedKeys>>>,
    /// Held while fetching, so concurrent refreshes of one issuer coalesce into one fetch.
    fetching: tokio::sync::Mutex<FetchState>,
}

#[derive(Default)]
struct FetchState {
    last_attempt: Option<OffsetDateTime>,
    last_failure: Option<String>,
}

struct CachedKeys {
    keys: Vec<Arc<PublishedKey>>,
    fetched_at: OffsetDateTime,
}

/// A public key of the issuer's set that authd can verify with.
pub(super) struct PublishedKey {
    pub(super) jwk: Jwk,
    pub(super) decoding: DecodingKey,
}

/// The key-fetching half of `ExternalIssuers`; its verifying half is in `mod.rs`.
impl ExternalIssuers {
    /// The key that must have signed the token: by `kid`, or the only key fit for `alg`.
    pub(super) async fn verification_key(
        &self,
        entry: &IssuerKeys,
        header: &Header,
    ) -> Result<Arc<PublishedKey>, ExternalTokenError> {
        let keys = match entry.cached_within(self.clock.now(), KEYS_FRESH_FOR) {
            Some(keys) => keys,
            None => self.refresh(entry).await?,
        };
        match find_key(&keys, header) {
            KeyLookup::Unknown => {
                // The issuer may have rotated its keys since they were fetched (RFC 7517 §5
                // does not promise a set stays the same); `refresh` limits how often.
                tracing::debug!(issuer = %entry.trusted.issuer, kid = ?header.kid, "unknown kid");
                let keys = self.refresh(entry).await?;
                find_key(&keys, header).into_result(&entry.trusted, header)
            }
            lookup => lookup.into_result(&entry.trusted, header),
        }
    }

    /// Fetches the issuer's keys, unless one fetch already ran in the last
    /// `MIN_FETCH_INTERVAL`; keeps its last keys (up to `STALE_KEYS_USABLE_FOR`) when it fails.
    async fn refresh(&self, entry: &IssuerKeys) -> Result<Arc<CachedKeys>, ExternalTokenError> {
        let issuer = &entry.trusted.issuer;
        let mut state = entry.fetching.lock().await;
        let now = self.clock.now();
        let recent = state
            .last_attempt
            .is_some_and(|at| now - at < MIN_FETCH_INTERVAL);
        if !recent {
            state.last_attempt = Some(now);
            match self.fetch_keys(&entry.trusted.jwks_uri).await {
                Ok((keys, skipped)) => {
                    tracing::debug!(%issuer, keys = keys.len(), skipped, "fetched the issuer's keys");
                    let keys = Arc::new(CachedKeys {
                        keys,
                        fetched_at: self.clock.now(),
                    });
                    entry.store(Arc::clone(&keys));
                    state.last_failure = None;
                    return Ok(keys);
                }
                Err(reason) => {
                    tracing::warn!(%issuer, %reason, "the issuer's keys could not be fetched");
                    state.last_failure = Some(reason);
                }
            }
        }
        // Either this fetch failed, or another ran moments ago (its keys are in the cache, or
        // its failure is in `state`).
        entry
            .cached_within(now, STALE_KEYS_USABLE_FOR)
            .ok_or_else(|| ExternalTokenError::KeysUnavailable {
                issuer: issuer.clone(),
                reason: state
                    .last_failure
                    .clone()
                    .unwrap_or_else(|| "no keys are cached".to_owned()),
            })
    }

    /// GETs the issuer's JWKS: its usable keys, and how many were skipped.
    async fn fetch_keys(&self, uri: &str) -> Result<(Vec<Arc<PublishedKey>>, usize), String> {
        let client = self.http.get_or_init(http_client).as_ref()?;
        let body = fetch_body(client, uri).await?;
        parse_jwks(&body)
    }
}

impl IssuerKeys {
    /// Nothing fetched yet: the first verification fetches the keys.
    pub(super) fn new(trusted: &TrustedIssuer) -> Self {
        Self {
            trusted: trusted.clone(),
            cached: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(FetchState::default()),
        }
    }

    /// The cached keys, if fetched less than `age` ago.
    fn cached_within(&self, now: OffsetDateTime, age: Duration) -> Option<Arc<CachedKeys>> {
        let cached = self
            .cached
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cached
            .as_ref()
            .filter(|keys| now - keys.fetched_at < age)
            .map(Arc::clone)
    }

    fn store(&self, keys: Arc<CachedKeys>) {
        *self
            .cached
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(keys);
    }
}

enum KeyLookup {
    Found(Arc<PublishedKey>),
    /// No key of the set has the token's `kid` (or, without one, fits its `alg`).
    Unknown,
    /// The key with the token's `kid` is not a key for its `alg`.
    Unfit,
    /// More than one key would do: the token must name its `kid`.
    Ambiguous,
}

impl KeyLookup {
    fn into_result(
        self,
        trusted: &TrustedIssuer,
        header: &Header,
    ) -> Result<Arc<PublishedKey>, ExternalTokenError> {
        let issuer = &trusted.issuer;
        match self {
            Self::Found(key) => Ok(key),
            Self::Unknown => Err(invalid(format!(
                "the token was not signed by a key {issuer} publishes"
            ))),
            Self::Unfit => Err(invalid("the token's alg does not fit the key it names")),
            Self::Ambiguous if header.kid.is_some() => Err(invalid(format!(
                "{issuer} publishes more than one key under the token's kid"
            ))),
            Self::Ambiguous => Err(invalid(format!(
                "the token names no kid and {issuer} publishes more than one key for its alg"
            ))),
        }
    }
}

fn find_key(keys: &CachedKeys, header: &Header) -> KeyLookup {
    let named: Vec<&Arc<PublishedKey>> = match &header.kid {
        Some(kid) => keys
            .keys
            .iter()
            .filter(|key| key.jwk.common.key_id.as_deref() == Some(kid.as_str()))
            .collect(),
        None => keys.keys.iter().collect(),
    };
    let fitting: Vec<&Arc<PublishedKey>> = named
        .iter()
        .copied()
        .filter(|key| key_fits(header.alg, &key.jwk))
        .collect();
    match (fitting.as_slice(), header.kid.is_some()) {
        ([key], _) => KeyLookup::Found(Arc::clone(key)),
        ([], true) if !named.is_empty() => KeyLookup::Unfit,
        ([], _) => KeyLookup::Unknown,
        _ => KeyLookup::Ambiguous,
    }
}

/// Whether `jwk` may verify a signature made with `alg`: the key's own `alg`, if it states one,
/// must be the same (RFC 7517 §4.4), and its type and curve must be the algorithm's (RFC 7518
/// §3.1, RFC 8037 §3.1). Symmetric keys never fit: they were skipped when the set was read.
pub(super) fn key_fits(alg: Algorithm, jwk: &Jwk) -> bool {
    if jwk
        .common
        .key_algorithm
        .is_some_and(|stated| stated != KeyAlgorithm::from(alg))
    {
        return false;
    }
    match (&jwk.algorithm, alg) {
        (
            AlgorithmParameters::RSA(_),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512,
        ) => true,
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => {
            ec.curve == EllipticCurve::P256
        }
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES384) => {
            ec.curve == EllipticCurve::P384
        }
        (AlgorithmParameters::OctetKeyPair(okp), Algorithm::EdDSA) => {
            okp.curve == EllipticCurve::Ed25519
        }
        _ => false,
    }
}

/// One client for every issuer. No redirects: a 3xx from the key host could point authd at any
/// address; the trust file names the one URL keys come from.
pub(super) fn http_client() -> Result<reqwest::Client, String> {
    // reqwest's rustls takes the process-wide provider; installing it again is harmless.
    crate::store::tls::install_provider();
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("authd/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| {
            tracing::error!(error = %err, "the HTTP client for issuers' keys could not be built");
            format!("the HTTP client could not be built: {err}")
        })
}

/// The body of a 200 answer, read no further than `MAX_JWKS_LEN`.
async fn fetch_body(client: &reqwest::Client, uri: &str) -> Result<Vec<u8>, String> {
    let too_large = || format!("the key set is larger than {} KiB", MAX_JWKS_LEN / 1024);
    let mut response = client
        .get(uri)
        .header(
            reqwest::header::ACCEPT,
            "application/jwk-set+json, application/json",
        )
        .send()
        .await
        .map_err(describe)?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(format!("the answer was {}", response.status()));
    }
    if response
        .content_length()
        .is_some_and(|len| len > MAX_JWKS_LEN as u64)
    {
        return Err(too_large());
    }
    // Chunk by chunk, so a body without a length cannot grow past the cap either.
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(describe)? {
        if body.len() + chunk.len() > MAX_JWKS_LEN {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What went wrong, in words that name neither the URL nor anything the answer said.
fn describe(err: reqwest::Error) -> String {
    if err.is_timeout() {
        "the request timed out".to_owned()
    } else if err.is_connect() {
        "the connection failed".to_owned()
    } else {
        err.without_url().to_string()
    }
}

/// The usable keys of a JWK set (RFC 7517 §5), and how many were skipped. A key authd cannot
/// use (an unknown `kty` or curve, RFC 7517 §5 says to ignore it) does not spoil the others.
pub(super) fn parse_jwks(body: &[u8]) -> Result<(Vec<Arc<PublishedKey>>, usize), String> {
    #[derive(Deserialize)]
    struct RawSet {
        keys: Vec<Value>,
    }
    let set: RawSet =
        serde_json::from_slice(body).map_err(|_| "the answer is not a JWK set".to_owned())?;
    let total = set.keys.len();
    let keys: Vec<Arc<PublishedKey>> = set.keys.into_iter().filter_map(public_key).collect();
    let skipped = total - keys.len();
    Ok((keys, skipped))
}

/// `member` as a key authd may verify signatures with, if it is one.
fn public_key(member: Value) -> Option<Arc<PublishedKey>> {
    let fields = member.as_object()?;
    // RFC 7517 §4.2, §4.3: a key meant for something other than verifying signatures is not
    // used for that.
    if fields
        .get("use")
        .is_some_and(|key_use| key_use.as_str() != Some("sig"))
    {
        return None;
    }
    if let Some(ops) = fields.get("key_ops") {
        let verifies = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")));
        if !verifies {
            return None;
        }
    }
    // RFC 7518 §6.2.2.1, §6.3.2.1, RFC 8037 §2: `d` is a private key. A set that publishes one
    // is broken, and whoever read it may sign with it.
    if fields.contains_key("d") {
        return None;
    }
    let jwk: Jwk = serde_json::from_value(member).ok()?;
    // An `oct` key is a shared secret, which no outside issuer shares with authd (RFC 8725 §3.1).
    if !matches!(
        jwk.algorithm,
        AlgorithmParameters::RSA(_)
            | AlgorithmParameters::EllipticCurve(_)
            | AlgorithmParameters::OctetKeyPair(_)
    ) {
        return None;
    }
    let decoding = DecodingKey::from_jwk(&jwk).ok()?;
    Some(Arc::new(PublishedKey { jwk, decoding }))
}
