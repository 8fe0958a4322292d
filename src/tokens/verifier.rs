//! The one verification path for access tokens, used by every protected route.
//!
//! Order (RFC 8725 §3): parse the header; refuse `crit`; require `typ: at+jwt`; find the key by
//! `kid` in the in-memory ring and pin the algorithm to that key's (so `none` and HS/RS confusion
//! cannot pass, and `jku`/`x5u`/`jwk`/`x5c` are never consulted); then one round trip to Redis
//! for revocation and the verified-token cache; on a miss, verify the signature and the claims.

use std::{collections::HashSet, sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Validation, decode, decode_header, errors::ErrorKind};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{AccessClaims, Revocations, revocations::remaining};
use crate::{
    clock::Clock,
    error::Error,
    keys::{KeyRing, SigningKey},
    metrics::{Metrics, Verification},
};

/// Longer than any token authd issues; anything bigger is not ours and is refused unparsed.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Why a token was refused. Shown to the client as `error_description` (RFC 6750 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidToken {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token is not an access token (typ must be at+jwt)")]
    WrongType,
    #[error("the token uses an unsupported critical header extension")]
    CriticalExtension,
    #[error("the token was not signed by a key of this authority")]
    UnknownKey,
    #[error("the token signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by another authority")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("the token has been revoked")]
    Revoked,
    #[error("the token's user no longer exists")]
    UnknownSubject,
    #[error("the token is bound to a key: present it with the DPoP or PoP scheme and a proof")]
    BoundToKey,
    #[error("the token is not bound to a key: present it as a Bearer token")]
    NotBound,
    #[error("the proof was made with a key other than the one the token is bound to")]
    KeyMismatch,
}

/// A token that passed verification, with its hash (the cache and revocation key).
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub claims: AccessClaims,
    pub token_hash: String,
}

pub struct TokenVerifier {
    key_ring: Arc<KeyRing>,
    revocations: Arc<Revocations>,
    clock: Arc<dyn Clock>,
    issuer: String,
    audience: String,
    leeway: time::Duration,
    metrics: Arc<Metrics>,
}

/// The cache may hold a token at most this long, however long the token lives.
const CACHE_TTL_CAP: Duration = Duration::from_secs(300);

impl TokenVerifier {
    pub fn new(
        key_ring: Arc<KeyRing>,
        revocations: Arc<Revocations>,
        clock: Arc<dyn Clock>,
        issuer: String,
        audience: String,
        leeway: time::Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            key_ring,
            revocations,
            clock,
            issuer,
            audience,
            leeway,
            metrics,
        }
    }

    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, Error> {
        let result = self.check(token).await;
        self.metrics.verification(match &result {
            Ok((_, Cached::Yes)) => Verification::CacheHit,
            Ok((_, Cached::No)) => Verification::Ok,
            Err(Error::InvalidToken(InvalidToken::Expired)) => Verification::Expired,
            Err(Error::InvalidToken(InvalidToken::Revoked)) => Verification::Revoked,
            Err(Error::InvalidToken(InvalidToken::BadSignature)) => Verification::BadSignature,
            Err(Error::InvalidToken(_)) => Verification::Invalid,
            Err(_) => Verification::Unavailable,
        });
        result.map(|(verified, _)| verified)
    }

    async fn check(&self, token: &str) -> Result<(VerifiedToken, Cached), Error> {
        let now = self.clock.now();
        if token.len() > MAX_TOKEN_LEN {
            return Err(InvalidToken::Malformed.into());
        }
        let header = decode_header(token).map_err(|_| InvalidToken::Malformed)?;
        if header.crit.is_some() {
            return Err(InvalidToken::CriticalExtension.into());
        }
        let typ_ok = header.typ.as_deref().is_some_and(|typ| {
            typ.eq_ignore_ascii_case(super::ACCESS_TOKEN_TYP)
                || typ.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(InvalidToken::WrongType.into());
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.key_ring.verification_key(kid, now))
            .ok_or(InvalidToken::UnknownKey)?;
        if header.alg != key.algorithm {
            return Err(InvalidToken::BadSignature.into()); // the key's algorithm is pinned
        }

        // Only to look the token up: nothing read here is trusted before the signature is.
        let ids = unverified_ids(token).ok_or(InvalidToken::Malformed)?;
        let token_hash = hash_token(token);
        let status = self
            .revocations
            .status(&ids.jti, ids.sid.as_deref(), &token_hash, now)
            .await?;
        if status.revoked {
            // A security event worth a user id, so only once the signature shows the token is
            // one authd issued (anyone can put a revoked jti in a forged token).
            let claims = self.decode(token, &key)?;
            tracing::warn!(user_id = %claims.sub, jti = %claims.jti, "revoked token presented");
            return Err(InvalidToken::Revoked.into());
        }
        if let Some(cached) = status.verified_claims.as_deref()
            && let Ok(claims) = serde_json::from_str::<AccessClaims>(cached)
        {
            self.check_times(&claims, now)?;
            return Ok((VerifiedToken { claims, token_hash }, Cached::Yes));
        }

        let claims = self.decode(token, &key)?;
        if claims.jti != ids.jti || claims.sid != ids.sid {
            return Err(InvalidToken::Malformed.into()); // cannot happen for one token; be sure
        }
        self.check_times(&claims, now)?;

        let expires_at = OffsetDateTime::from_unix_timestamp(claims.exp).unwrap_or(now);
        let ttl = remaining(expires_at, now).min(CACHE_TTL_CAP);
        if let Ok(json) = serde_json::to_string(&claims)
            && !ttl.is_zero()
        {
            self.revocations
                .remember_verified(&token_hash, &json, ttl)
                .await;
        }
        Ok((VerifiedToken { claims, token_hash }, Cached::No))
    }

    /// Checks the signature with `key`'s pinned algorithm, and the issuer and audience; the
    /// times are checked by the caller against the injected clock, not jsonwebtoken's.
    fn decode(&self, token: &str, key: &SigningKey) -> Result<AccessClaims, InvalidToken> {
        let _span =
            tracing::info_span!("jwt verify", alg = ?key.algorithm, kid = %key.kid).entered();
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]
            .into_iter()
            .map(str::to_owned)
            .collect::<HashSet<_>>();
        decode::<AccessClaims>(token, &key.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                ErrorKind::InvalidSignature => InvalidToken::BadSignature,
                ErrorKind::InvalidIssuer => InvalidToken::WrongIssuer,
                ErrorKind::InvalidAudience => InvalidToken::WrongAudience,
                _ => InvalidToken::Malformed,
            })
    }

    fn check_times(&self, claims: &AccessClaims, now: OffsetDateTime) -> Result<(), InvalidToken> {
        let now = now.unix_timestamp();
        let leeway = self.leeway.whole_seconds();
        if now >= claims.exp.saturating_add(leeway) {
            return Err(InvalidToken::Expired);
        }
        if claims.nbf > now.saturating_add(leeway) {
            return Err(InvalidToken::NotYetValid);
        }
        Ok(())
    }
}

/// Whether a verification was answered from the verified-token cache.
enum Cached {
    Yes,
    No,
}

/// SHA-256 of the whole token, hex: names it in the cache without storing it.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[derive(Deserialize)]
struct Ids {
    jti: String,
    #[serde(default)]
    sid: Option<String>,
}

fn unverified_ids(token: &str) -> Option<Ids> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}
