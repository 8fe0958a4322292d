//! DPoP proofs (RFC 9449 §4.3, §7.1): a token bound to a key is honoured only with a fresh
//! proof, signed by that key, for this request, used once.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use http::Method;
use jsonwebtoken::{
    Algorithm, DecodingKey, Validation, decode, decode_header,
    jwk::{AlgorithmParameters, Jwk},
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use crate::Rejection;

/// How far a proof's `iat` may be from now (beside the leeway): RFC 9449 §11.1 asks for a
/// short window.
const WINDOW: Duration = Duration::from_secs(60);
/// Proof ids remembered at most (past that, the expired are dropped; if none are, the oldest
/// half is).
const MAX_REMEMBERED: usize = 100_000;
const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::ES256,
    Algorithm::PS256,
    Algorithm::RS256,
    Algorithm::EdDSA,
];

#[derive(Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    ath: Option<String>,
}

pub(crate) struct DpopCheck {
    resource_url: Option<Url>,
    leeway: Duration,
    /// Proof ids seen, with when they stop mattering (unix seconds).
    seen: Mutex<HashMap<String, i64>>,
}

impl DpopCheck {
    pub fn new(resource_url: Option<Url>, leeway: Duration) -> Self {
        Self {
            resource_url,
            leeway,
            seen: Mutex::default(),
        }
    }

    /// Checks `proof` for a request of `method` to `path` with `token`, bound to `jkt`.
    pub fn verify(
        &self,
        proof: &str,
        method: &Method,
        path: &str,
        token: &str,
        jkt: &str,
    ) -> Result<(), Rejection> {
        let Some(base) = &self.resource_url else {
            return Err(Rejection::proof(
                "this service takes no DPoP-bound tokens (its URL is not configured)",
            ));
        };
        let header = decode_header(proof).map_err(|_| Rejection::proof("not a JWT"))?;
        if header.typ.as_deref() != Some("dpop+jwt") {
            return Err(Rejection::proof("typ is not dpop+jwt"));
        }
        if !ALGORITHMS.contains(&header.alg) {
            return Err(Rejection::proof("the algorithm is not an accepted one"));
        }
        let jwk = header
            .jwk
            .as_ref()
            .ok_or_else(|| Rejection::proof("the proof carries no public key"))?;
        if thumbprint(jwk)? != jkt {
            return Err(Rejection::proof("the proof's key is not the token's"));
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|_| Rejection::proof("unusable key"))?;
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = decode::<ProofClaims>(proof, &key, &validation)
            .map_err(|err| Rejection::proof(err.to_string()))?
            .claims;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| since.as_secs() as i64)
            .unwrap_or_default();
        let window = (WINDOW + self.leeway).as_secs() as i64;
        if (claims.iat - now).abs() > window {
            return Err(Rejection::proof("the proof is not fresh"));
        }
        if !claims.htm.eq_ignore_ascii_case(method.as_str()) {
            return Err(Rejection::proof("htm is not this request's method"));
        }
        let expected = base
            .join(path)
            .map_err(|_| Rejection::proof("this request's URL"))?;
        if !same_resource(&claims.htu, &expected) {
            return Err(Rejection::proof("htu is not this request's URL"));
        }
        let ath = URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()));
        if claims.ath.as_deref() != Some(ath.as_str()) {
            return Err(Rejection::proof("ath is not the token's hash"));
        }
        self.first_use(claims.jti, now + window)
    }

    fn first_use(&self, jti: String, until: i64) -> Result<(), Rejection> {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if seen.len() >= MAX_REMEMBERED {
            let now = until - (WINDOW + self.leeway).as_secs() as i64;
            seen.retain(|_, expires| *expires > now);
            if seen.len() >= MAX_REMEMBERED {
                let mut ages: Vec<i64> = seen.values().copied().collect();
                ages.sort_unstable();
                let median = ages[ages.len() / 2];
                seen.retain(|_, expires| *expires > median);
            }
        }
        if seen.insert(jti, until).is_some() {
            return Err(Rejection::proof("the proof was used before"));
        }
        Ok(())
    }
}

/// `htu` without its query and fragment (RFC 9449 §4.3) against this request's URL.
fn same_resource(htu: &str, expected: &Url) -> bool {
    let Ok(mut htu) = Url::parse(htu) else {
        return false;
    };
    htu.set_query(None);
    htu.set_fragment(None);
    let mut expected = expected.clone();
    expected.set_query(None);
    expected.set_fragment(None);
    htu == expected
}

/// The JWK SHA-256 thumbprint (RFC 7638) of a public key.
fn thumbprint(jwk: &Jwk) -> Result<String, Rejection> {
    let quote = |value: &str| serde_json::to_string(value).unwrap_or_default();
    let canonical = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            format!(
                r#"{{"e":{},"kty":"RSA","n":{}}}"#,
                quote(&rsa.e),
                quote(&rsa.n)
            )
        }
        AlgorithmParameters::EllipticCurve(ec) => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            serde_json::to_string(&ec.curve).unwrap_or_default(),
            quote(&ec.x),
            quote(&ec.y)
        ),
        AlgorithmParameters::OctetKeyPair(okp) => format!(
            r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
            serde_json::to_string(&okp.curve).unwrap_or_default(),
            quote(&okp.x)
        ),
        _ => {
            return Err(Rejection::proof(
                "a DPoP key is an RSA, EC or OKP public key",
            ));
        }
    };
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}
