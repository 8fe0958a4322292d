//! `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9): the client signs a short JWT
//! with a key whose public half it registered, instead of sending a secret.

use std::{collections::HashSet, sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{
    Algorithm, DecodingKey, Header, Validation, decode,
    jwk::{Jwk, JwkSet},
};
use serde::Deserialize;

use crate::{
    clock::Clock,
    error::Error,
    possession::{DPOP_ALGORITHMS, key_fits},
    store::{ClientRecord, ProofStateStore},
};

/// `client_assertion_type` for a JWT assertion (RFC 7523 §2.2).
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What a client may sign with: the asymmetric algorithms DPoP proofs take too; never
/// `none` or an HMAC (no shared key exists).
const ALGORITHMS: [Algorithm; 4] = DPOP_ALGORITHMS;

/// An assertion may not claim to live longer than this: it is a one-time credential.
const MAX_LIFETIME: Duration = Duration::from_secs(300);

/// Allowed clock difference between the client and authd.
const LEEWAY_SECONDS: u64 = 30;

#[derive(Deserialize)]
struct AssertionClaims {
    jti: String,
    exp: i64,
    #[serde(default)]
    iat: Option<i64>,
}

/// Checks assertions: signature by a registered key, `iss` = `sub` = the client, an `aud` of
/// authd's, a short life, and a `jti` never seen before (kept in Redis until it expires).
pub struct ClientAssertions {
    /// What `aud` may name: the issuer, and the endpoints that take client authentication.
    audiences: Vec<String>,
    replays: Arc<dyn ProofStateStore>,
    clock: Arc<dyn Clock>,
}

impl ClientAssertions {
    pub fn new(
        issuer: &str,
        public_url: &str,
        replays: Arc<dyn ProofStateStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let mut audiences = vec![issuer.to_owned()];
        for path in [
            "/oauth/token",
            "/oauth/par",
            "/oauth/introspect",
            "/oauth/revoke",
        ] {
            audiences.push(format!("{public_url}{path}"));
        }
        Self {
            audiences,
            replays,
            clock,
        }
    }

    pub(super) async fn verify(&self, client: &ClientRecord, assertion: &str) -> Result<(), Error> {
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| Error::InvalidClient)?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(Error::InvalidClient);
        }
        let jwk = signing_key(client, &header)?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| Error::InvalidClient)?;
        let mut validation = Validation::new(header.alg);
        validation.required_spec_claims = HashSet::from(["exp".to_owned(), "aud".to_owned()]);
        validation.set_audience(&self.audiences);
        validation.set_issuer(&[&client.client_id]);
        validation.sub = Some(client.client_id.clone());
        validation.leeway = LEEWAY_SECONDS;
        // Checked against the injected clock below, not the system's.
        validation.validate_exp = false;
        let claims = decode::<AssertionClaims>(assertion, &key, &validation)
            .map_err(|err| {
                tracing::info!(client_id = %client.client_id, error = %err, "client assertion refused");
                Error::InvalidClient
            })?
            .claims;
        let now = self.clock.now().unix_timestamp();
        let leeway = i64::try_from(LEEWAY_SECONDS).unwrap_or(0);
        let max_lifetime = i64::try_from(MAX_LIFETIME.as_secs()).unwrap_or(0);
        let issued = claims.iat.unwrap_or(now);
        if claims.exp + leeway <= now || claims.exp - issued.min(now) > max_lifetime + leeway {
            return Err(Error::InvalidClient);
        }
        // Kept until the assertion could no longer be accepted anyway.
        let remaining = u64::try_from(claims.exp + leeway - now).unwrap_or(1).max(1);
        let fresh = self
            .replays
            .insert_new(
                &format!("client-assertion:{}:{}", client.client_id, claims.jti),
                Duration::from_secs(remaining),
            )
            .await?;
        if !fresh {
            return Err(Error::InvalidClient);
        }
        Ok(())
    }
}

/// The registered key the header names (by `kid`, or the only key fit for `alg`).
fn signing_key(client: &ClientRecord, header: &Header) -> Result<Jwk, Error> {
    let set: JwkSet = client
        .jwks
        .as_deref()
        .and_then(|jwks| serde_json::from_str(jwks).ok())
        .ok_or(Error::InvalidClient)?;
    let mut fitting = set
        .keys
        .into_iter()
        .filter(|jwk| key_fits(header.alg, jwk))
        .filter(|jwk| match &header.kid {
            Some(kid) => jwk.common.key_id.as_deref() == Some(kid.as_str()),
            None => true,
        });
    match (fitting.next(), fitting.next()) {
        (Some(jwk), None) => Ok(jwk),
        _ => Err(Error::InvalidClient),
    }
}

/// The `sub` of an assertion before it is verified: only to find whose keys verify it.
pub(super) fn unverified_subject(assertion: &str) -> Result<String, Error> {
    #[derive(Deserialize)]
    struct Subject {
        sub: String,
    }
    let payload = assertion.split('.').nth(1).ok_or(Error::InvalidClient)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| Error::InvalidClient)?;
    serde_json::from_slice::<Subject>(&bytes)
        .map(|subject| subject.sub)
        .map_err(|_| Error::InvalidClient)
}
