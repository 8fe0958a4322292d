//! `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9): the client signs a short JWT
//! with a key whose public half it registered, instead of sending a secret.

use std::{collections::HashSet, sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{
    Algorithm, DecodingKey, Header, Validation, decode,
    errors::ErrorKind,
    jwk::{Jwk, JwkSet},
};
use serde::Deserialize;

use crate::{
    clock::Clock,
    error::ClientAuthFailure,
    possession::{DPOP_ALGORITHMS, key_fits},
    store::{ClientRecord, ProofStateStore},
};

/// `client_assertion_type` for a JWT assertion (RFC 7523 §2.2).
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What a client may sign with: the asymmetric algorithms DPoP proofs take too; never
/// `none` or an HMAC (no shared key exists).
const ALGORITHMS: [Algorithm; 4] = DPOP_ALGORITHMS;

/// An assertion may not claim to live longer than this. RFC 7523 §3 lets a server refuse an
/// `exp` "unreasonably far in the future"; common libraries sign for an hour, and the `jti` is
/// remembered until `exp`, so a longer life costs memory, never a replay.
pub const MAX_LIFETIME: Duration = Duration::from_secs(3600);

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
/// authd's, a life of at most [`MAX_LIFETIME`], and a `jti` never seen before (kept in Redis
/// until it expires).
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

    /// `Ok` if `assertion` authenticates `client`; otherwise the rule it broke.
    pub(super) async fn verify(
        &self,
        client: &ClientRecord,
        assertion: &str,
    ) -> Result<(), ClientAuthFailure> {
        let header = jsonwebtoken::decode_header(assertion)
            .map_err(|_| ClientAuthFailure::AssertionMalformed)?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(ClientAuthFailure::AssertionUnknownKey);
        }
        let jwk = signing_key(client, &header)?;
        let key =
            DecodingKey::from_jwk(&jwk).map_err(|_| ClientAuthFailure::AssertionUnknownKey)?;
        let mut validation = Validation::new(header.alg);
        validation.required_spec_claims = HashSet::from(["exp".to_owned(), "aud".to_owned()]);
        validation.set_audience(&self.audiences);
        validation.set_issuer(&[&client.client_id]);
        validation.sub = Some(client.client_id.clone());
        validation.leeway = LEEWAY_SECONDS;
        // Checked against the injected clock below, not the system's.
        validation.validate_exp = false;
        let claims = decode::<AssertionClaims>(assertion, &key, &validation)
            .map_err(|err| match err.kind() {
                ErrorKind::InvalidSignature => ClientAuthFailure::AssertionSignature,
                ErrorKind::InvalidAudience => ClientAuthFailure::AssertionAudience,
                ErrorKind::ImmatureSignature => ClientAuthFailure::AssertionExpired,
                _ => ClientAuthFailure::AssertionMalformed,
            })?
            .claims;
        let now = self.clock.now().unix_timestamp();
        let leeway = i64::try_from(LEEWAY_SECONDS).unwrap_or(0);
        let max_lifetime = i64::try_from(MAX_LIFETIME.as_secs()).unwrap_or(0);
        if claims.exp + leeway <= now {
            return Err(ClientAuthFailure::AssertionExpired);
        }
        let issued = claims.iat.unwrap_or(now);
        if claims.exp - issued.min(now) > max_lifetime + leeway {
            return Err(ClientAuthFailure::AssertionLifetime);
        }
        // Kept until the assertion could no longer be accepted anyway.
        let remaining = u64::try_from(claims.exp + leeway - now).unwrap_or(1).max(1);
        let fresh = self
            .replays
            .insert_new(
                &format!("client-assertion:{}:{}", client.client_id, claims.jti),
                Duration::from_secs(remaining),
            )
            .await
            .map_err(|err| {
                tracing::warn!(error = %err, "client assertion replays cannot be checked");
                ClientAuthFailure::Failed
            })?;
        if !fresh {
            return Err(ClientAuthFailure::AssertionReplayed);
        }
        Ok(())
    }
}

/// The registered key the header names (by `kid`, or the only key fit for `alg`).
fn signing_key(client: &ClientRecord, header: &Header) -> Result<Jwk, ClientAuthFailure> {
    let set: JwkSet = client
        .jwks
        .as_deref()
        .and_then(|jwks| serde_json::from_str(jwks).ok())
        .ok_or(ClientAuthFailure::AssertionUnknownKey)?;
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
        _ => Err(ClientAuthFailure::AssertionUnknownKey),
    }
}

/// The `sub` of an assertion before it is verified: only to find whose keys verify it.
pub(super) fn unverified_subject(assertion: &str) -> Result<String, ClientAuthFailure> {
    #[derive(Deserialize)]
    struct Subject {
        sub: String,
    }
    let payload = assertion
        .split('.')
        .nth(1)
        .ok_or(ClientAuthFailure::AssertionMalformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| ClientAuthFailure::AssertionMalformed)?;
    serde_json::from_slice::<Subject>(&bytes)
        .map(|subject| subject.sub)
        .map_err(|_| ClientAuthFailure::AssertionMalformed)
}
