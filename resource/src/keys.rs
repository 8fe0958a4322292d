//! authd's signing keys, from its JWKS: fetched once, kept, and fetched again when a token
//! names a key not yet seen (a rotation), at most once per [`Settings::jwks_refetch`].

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use jsonwebtoken::{
    Algorithm, DecodingKey,
    jwk::{Jwk, JwkSet, KeyAlgorithm},
};
use tokio::sync::Mutex;

use crate::{Rejection, settings::Settings};

/// One verification key, pinned to its algorithm.
pub(crate) struct Key {
    pub decoding: DecodingKey,
    pub algorithm: Algorithm,
}

pub(crate) struct KeySet {
    url: String,
    http: reqwest::Client,
    algorithms: Vec<Algorithm>,
    refetch: Duration,
    keys: RwLock<HashMap<String, Arc<Key>>>,
    /// When the JWKS was last fetched; held while fetching, so one fetch serves every waiter.
    fetched: Mutex<Option<Instant>>,
}

impl KeySet {
    pub fn new(settings: &Settings, http: reqwest::Client) -> Self {
        Self {
            url: settings.endpoint("/.well-known/jwks.json"),
            http,
            algorithms: settings.algorithms.clone(),
            refetch: settings.jwks_refetch,
            keys: RwLock::default(),
            fetched: Mutex::new(None),
        }
    }

    /// The key `kid`, fetching the JWKS if it is not known and the last fetch is old enough.
    pub async fn key(&self, kid: &str) -> Result<Arc<Key>, Rejection> {
        if let Some(key) = self.known(kid) {
            return Ok(key);
        }
        let mut fetched = self.fetched.lock().await;
        if let Some(key) = self.known(kid) {
            return Ok(key);
        }
        if fetched.is_some_and(|at| at.elapsed() < self.refetch) {
            return Err(Rejection::invalid("the token's key is not authd's"));
        }
        *fetched = Some(Instant::now());
        self.fetch().await?;
        self.known(kid)
            .ok_or_else(|| Rejection::invalid("the token's key is not authd's"))
    }

    fn known(&self, kid: &str) -> Option<Arc<Key>> {
        self.keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(kid)
            .cloned()
    }

    async fn fetch(&self) -> Result<(), Rejection> {
        let set: JwkSet = self
            .http
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|err| Rejection::unavailable(format!("authd's JWKS: {err}")))?
            .json()
            .await
            .map_err(|err| Rejection::unavailable(format!("authd's JWKS: {err}")))?;
        let keys: HashMap<String, Arc<Key>> = set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, Arc::new(self.pinned(jwk)?))))
            .collect();
        tracing::debug!(keys = keys.len(), "authd's JWKS fetched");
        *self
            .keys
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = keys;
        Ok(())
    }

    /// A JWK as a key, if it names an asymmetric algorithm this service accepts.
    fn pinned(&self, jwk: &Jwk) -> Option<Key> {
        let algorithm = match jwk.common.key_algorithm? {
            KeyAlgorithm::RS256 => Algorithm::RS256,
            KeyAlgorithm::PS256 => Algorithm::PS256,
            KeyAlgorithm::ES256 => Algorithm::ES256,
            KeyAlgorithm::EdDSA => Algorithm::EdDSA,
            _ => return None,
        };
        if !self.algorithms.contains(&algorithm) {
            return None;
        }
        Some(Key {
            decoding: DecodingKey::from_jwk(jwk).ok()?,
            algorithm,
        })
    }
}
