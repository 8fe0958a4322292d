//! DPoP proofs (RFC 9449 §4.3): a JWT the client signs with its own key for each request, naming
//! the method and URL, so a token bound to that key is useless to anyone without it.

use std::{collections::HashSet, sync::Arc, time::Duration as StdDuration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{
    Algorithm, DecodingKey, Header, Validation, decode,
    errors::ErrorKind,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, ThumbprintHash},
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use time::Duration;
use url::Url;

use crate::{clock::Clock, error::Error, store::ProofStateStore};

/// The algorithms a proof may use (RFC 9449 §4.3 check 4: asymmetric only, never `none`).
pub const DPOP_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::ES256,
    Algorithm::PS256,
    Algorithm::RS256,
    Algorithm::EdDSA,
];

/// How far a proof's `iat` may lie from now, either way (RFC 9449 §11.1: "a few seconds").
pub const PROOF_WINDOW: Duration = Duration::seconds(60);
/// How long a server nonce is accepted after it is handed out.
pub const SERVER_NONCE_TTL: StdDuration = StdDuration::from_secs(300);
/// Proofs are small; anything larger is refused unparsed.
const MAX_PROOF_LEN: usize = 8 * 1024;
/// JWK members that only a private key has (RFC 7518 §6.2.2, §6.3.2, §6.4).
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

/// What a proof is checked against: the request it came with.
#[derive(Debug, Clone, Copy)]
pub struct ProofContext<'a> {
    pub method: &'a str,
    /// The request path, without the query.
    pub path: &'a str,
    /// The access token presented with the proof; `None` at the token endpoint.
    pub access_token: Option<&'a str>,
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    #[serde(default)]
    ath: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

pub struct DpopVerifier {
    store: Arc<dyn ProofStateStore>,
    clock: Arc<dyn Clock>,
    public_url: String,
    require_nonce: bool,
}

fn invalid(reason: &str) -> Error {
    Error::InvalidDpopProof(reason.to_owned())
}

impl DpopVerifier {
    pub fn new(
        store: Arc<dyn ProofStateStore>,
        clock: Arc<dyn Clock>,
        public_url: String,
        require_nonce: bool,
    ) -> Self {
        Self {
            store,
            clock,
            public_url,
            require_nonce,
        }
    }

    /// Checks `proof` against the request (RFC 9449 §4.3, in its order) and returns the
    /// RFC 7638 thumbprint of the key that signed it. The replay guard is consulted last, so a
    /// proof refused for another reason is not spent.
    pub async fn verify(&self, proof: &str, request: ProofContext<'_>) -> Result<String, Error> {
        if proof.len() > MAX_PROOF_LEN {
            return Err(invalid("the proof is too large"));
        }
        // The header is read once as JSON: jsonwebtoken's `Jwk` drops members it does not know,
        // so the private ones are looked for in the raw object.
        let raw_header = raw_header(proof).ok_or_else(|| invalid("the proof is not a JWT"))?;
        let header: Header = serde_json::from_value(raw_header.clone())
            .map_err(|_| invalid("the proof is not a JWT"))?;
        if !header
            .typ
            .as_deref()
            .is_some_and(|typ| typ.eq_ignore_ascii_case("dpop+jwt"))
        {
            return Err(invalid("typ must be dpop+jwt"));
        }
        if !DPOP_ALGORITHMS.contains(&header.alg) {
            return Err(invalid("alg must be one of ES256, PS256, RS256, EdDSA"));
        }
        let jwk = header
            .jwk
            .as_ref()
            .ok_or_else(|| invalid("the header must carry the public key as jwk"))?;
        if has_private_members(&raw_header) {
            return Err(invalid("the jwk must not contain private key material"));
        }
        if !key_fits(header.alg, jwk) {
            return Err(invalid("the jwk is not a key for the proof's alg"));
        }
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|_| invalid("the jwk is not a usable public key"))?;
        let mut validation = Validation::new(header.alg);
        validation.required_spec_claims = HashSet::new();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let claims = decode::<ProofClaims>(proof, &key, &validation)
            .map_err(|err| match err.kind() {
                ErrorKind::InvalidSignature => invalid("the proof's signature does not verify"),
                _ => invalid("the proof must carry jti, htm, htu and iat"),
            })?
            .claims;

        if claims.htm != request.method {
            return Err(invalid("htm does not match the request method"));
        }
        if !self.htu_matches(&claims.htu, request.path) {
            return Err(invalid("htu does not match the request URL"));
        }
        let now = self.clock.now().unix_timestamp();
        if (now - claims.iat).abs() > PROOF_WINDOW.whole_seconds() {
            return Err(invalid("iat is too far from the current time"));
        }
        if let Some(token) = request.access_token {
            let expected = access_token_hash(token);
            if claims.ath.as_deref() != Some(expected.as_str()) {
                return Err(invalid(
                    "ath must be the hash of the access token presented",
                ));
            }
        }
        if self.require_nonce {
            let current = match claims.nonce.as_deref() {
                Some(nonce) if nonce.len() <= 64 => {
                    self.store.get(&nonce_key(nonce), false).await?.is_some()
                }
                _ => false,
            };
            if !current {
                return Err(Error::UseDpopNonce {
                    nonce: self.issue_nonce().await?,
                });
            }
        }
        let jkt = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|_| invalid("the jwk is not a usable public key"))?;
        if claims.jti.is_empty() || claims.jti.len() > 128 {
            return Err(invalid("jti must be 1 to 128 characters"));
        }
        // Once per key and jti, for as long as the proof could be accepted.
        let window = StdDuration::from_secs(PROOF_WINDOW.whole_seconds().unsigned_abs() * 2);
        if !self
            .store
            .insert_new(&format!("dpop:{jkt}:{}", claims.jti), window)
            .await?
        {
            return Err(invalid("the proof has been used before"));
        }
        Ok(jkt)
    }

    /// A fresh server nonce (RFC 9449 §8), shared with every replica through the store.
    pub async fn issue_nonce(&self) -> Result<String, Error> {
        let mut bytes = [0u8; 16];
        rand::fill(&mut bytes);
        let nonce = URL_SAFE_NO_PAD.encode(bytes);
        self.store
            .put(&nonce_key(&nonce), "1", SERVER_NONCE_TTL)
            .await?;
        Ok(nonce)
    }

    /// RFC 9449 §4.3 check 9: `htu` names this server's URL for the request, compared without
    /// query and fragment after syntax-based normalisation (RFC 3986 §6.2.2, §6.2.3: case of
    /// scheme and host, default ports). The origin is the configured public URL, never the
    /// request's `Host` header, which the client controls.
    fn htu_matches(&self, htu: &str, path: &str) -> bool {
        let (Ok(claimed), Ok(expected)) = (
            Url::parse(htu),
            Url::parse(&format!("{}{path}", self.public_url)),
        ) else {
            return false;
        };
        claimed.scheme() == expected.scheme()
            && claimed.host_str() == expected.host_str()
            && claimed.port_or_known_default() == expected.port_or_known_default()
            && claimed.path() == expected.path()
    }
}

/// `ath` (RFC 9449 §4.2): base64url of the SHA-256 of the access token.
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

fn nonce_key(nonce: &str) -> String {
    format!("dpop-nonce:{nonce}")
}

/// The proof's JOSE header as JSON.
fn raw_header(proof: &str) -> Option<serde_json::Value> {
    let (header, _) = proof.split_once('.')?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()
}

/// Whether the header's `jwk` holds private key material (or is not a JSON object at all).
fn has_private_members(header: &serde_json::Value) -> bool {
    header
        .get("jwk")
        .and_then(serde_json::Value::as_object)
        .is_none_or(|jwk| {
            PRIVATE_MEMBERS
                .iter()
                .any(|member| jwk.contains_key(*member))
        })
}

/// The key type must be the one the algorithm signs with, so no key is used two ways.
pub fn key_fits(alg: Algorithm, jwk: &Jwk) -> bool {
    match (&jwk.algorithm, alg) {
        (AlgorithmParameters::RSA(_), Algorithm::RS256 | Algorithm::PS256) => true,
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => {
            ec.curve == EllipticCurve::P256
        }
        (AlgorithmParameters::OctetKeyPair(okp), Algorithm::EdDSA) => {
            okp.curve == EllipticCurve::Ed25519
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{clock::SystemClock, store::memory::MemoryProofState};

    fn verifier(public_url: &str) -> DpopVerifier {
        DpopVerifier::new(
            Arc::new(MemoryProofState::default()),
            Arc::new(SystemClock),
            public_url.to_owned(),
            false,
        )
    }

    #[test]
    fn htu_is_compared_after_normalisation_and_without_query_or_fragment() {
        let authd = verifier("https://auth.example.com");
        assert!(authd.htu_matches("https://auth.example.com/me", "/me"));
        assert!(authd.htu_matches("HTTPS://Auth.Example.COM:443/me?x=1#top", "/me"));
        assert!(!authd.htu_matches("http://auth.example.com/me", "/me"));
        assert!(!authd.htu_matches("https://auth.example.com:8443/me", "/me"));
        assert!(!authd.htu_matches("https://evil.example.com/me", "/me"));
        assert!(!authd.htu_matches("https://auth.example.com/me/", "/me"));
        assert!(!authd.htu_matches("/me", "/me"));
        // Behind a proxy that serves authd under a path prefix.
        let prefixed = verifier("https://example.com/auth");
        assert!(prefixed.htu_matches("https://example.com/auth/me", "/me"));
        assert!(!prefixed.htu_matches("https://example.com/me", "/me"));
    }
}
