//! The one verification path for access tokens, used by every protected route.
//!
//! Order (RFC 8725 §3): parse the header; refuse `crit`; require `typ: at+jwt`; find the key by
//! `kid` in the in-memory ring and pin the algorithm to that key's (so `none` and HS/RS confusion
//! cannot pass, and `jku`/`x5u`/`jwk`/`x5c` are never consulted); check revocation (memory, or a
//! round trip while memory is not current); verify the signature and the claims.
//!
//! A token this replica verified before is found by its SHA-256 in a bounded in-memory cache,
//! which skips the parsing and the signature but not the checks that can change: its key must
//! still verify, it must not be revoked, and it must not have expired. The cache is the
//! replica's own: no one outside the process can put an entry in it.

use std::{collections::HashSet, sync::Arc};

use super::{AccessClaims, Revocations};
use crate::{
    clock::Clock,
    error::Error,
    keys::{KeyRing, SigningKey},
    metrics::{Metrics, Verification},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Validation, decode, decode_header, errors::ErrorKind};
use quick_cache::sync::Cache;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Longer than any token authd issues; anything bigger is not ours and is refused unparsed.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

pub use crate::error::InvalidToken;

/// A token that passed verification.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub claims: AccessClaims,
}

/// A verified token as the cache holds it: its claims, and the key that signed it (looked up
/// again on every hit, so a retired key's tokens stop verifying at once, cached or not).
#[derive(Clone)]
struct CachedToken {
    claims: Arc<AccessClaims>,
    kid: Arc<str>,
}

/// How many verified tokens a replica remembers (a few hundred bytes each: about 20 MB at the
/// bound). Past it, the least useful are evicted and cost a signature check when seen again.
const VERIFIED_CACHE_ENTRIES: usize = 50_000;

pub struct TokenVerifier {
    key_ring: Arc<KeyRing>,
    revocations: Arc<Revocations>,
    clock: Arc<dyn Clock>,
    issuer: String,
    audience: String,
    /// The trust file's resources: the other audiences authd issues tokens for.
    resources: HashSet<String>,
    leeway: time::Duration,
    metrics: Arc<Metrics>,
    verified: Cache<[u8; 32], CachedToken>,
}

/// Which audiences a verification accepts.
#[derive(Clone, Copy)]
enum AudienceRule {
    /// Tokens for authd's own API: `aud` names `AUTHD_AUDIENCE`.
    Authd,
    /// Any token authd issues: every `aud` value is one of its targets.
    AnyTarget,
}

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
            resources: HashSet::new(),
            leeway,
            metrics,
            verified: Cache::new(VERIFIED_CACHE_ENTRIES),
        }
    }

    /// Verifies a token presented to authd itself: its `aud` must name `AUTHD_AUDIENCE`, so a
    /// token issued for another resource (RFC 8707) is refused here as it would be there.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, Error> {
        self.verify_for(token, AudienceRule::Authd).await
    }

    /// Verifies a token authd issued for any of its targets (`AUTHD_AUDIENCE` or a resource
    /// of the trust file): for introspection, revocation and token exchange, which answer
    /// about tokens meant for other resource servers. An `aud` authd never issues for is
    /// refused: such a token is not one of authd's.
    pub async fn verify_issued(&self, token: &str) -> Result<VerifiedToken, Error> {
        self.verify_for(token, AudienceRule::AnyTarget).await
    }

    /// Also counts `resources` as audiences authd issues tokens for (`verify_issued`).
    pub fn with_resources(mut self, resources: impl IntoIterator<Item = String>) -> Self {
        self.resources.extend(resources);
        self
    }

    async fn verify_for(&self, token: &str, rule: AudienceRule) -> Result<VerifiedToken, Error> {
        let result = self.check(token).await.and_then(|checked| {
            let aud = &checked.0.claims.aud;
            let ours = match rule {
                AudienceRule::Authd => aud.contains(&self.audience),
                AudienceRule::AnyTarget => aud
                    .as_slice()
                    .iter()
                    .all(|target| *target == self.audience || self.resources.contains(target)),
            };
            if ours {
                Ok(checked)
            } else {
                Err(InvalidToken::WrongAudience.into())
            }
        });
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
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(cached) = self.verified.get(&digest) {
            if self.key_ring.verification_key(&cached.kid, now).is_none() {
                return Err(InvalidToken::UnknownKey.into());
            }
            let claims = &cached.claims;
            if self
                .revocations
                .is_revoked(&claims.jti, claims.sid.as_deref(), now)
                .await?
            {
                tracing::warn!(user_id = %claims.sub, jti = %claims.jti, "revoked token presented");
                return Err(InvalidToken::Revoked.into());
            }
            self.check_times(claims, now)?;
            let claims = AccessClaims::clone(claims);
            return Ok((VerifiedToken { claims }, Cached::Yes));
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
        if self
            .revocations
            .is_revoked(&ids.jti, ids.sid.as_deref(), now)
            .await?
        {
            // A security event worth a user id, so only once the signature shows the token is
            // one authd issued (anyone can put a revoked jti in a forged token).
            let claims = self.decode(token, &key)?;
            tracing::warn!(user_id = %claims.sub, jti = %claims.jti, "revoked token presented");
            return Err(InvalidToken::Revoked.into());
        }

        let claims = self.decode(token, &key)?;
        if claims.jti != ids.jti || claims.sid != ids.sid {
            return Err(InvalidToken::Malformed.into()); // cannot happen for one token; be sure
        }
        self.check_times(&claims, now)?;
        self.verified.insert(
            digest,
            CachedToken {
                claims: Arc::new(claims.clone()),
                kid: Arc::from(key.kid.as_str()),
            },
        );
        Ok((VerifiedToken { claims }, Cached::No))
    }

    /// Checks the signature with `key`'s pinned algorithm, and the issuer; the audience is
    /// checked by `verify_for`, and the times by the caller against the injected clock, not
    /// jsonwebtoken's.
    fn decode(&self, token: &str, key: &SigningKey) -> Result<AccessClaims, InvalidToken> {
        let _span =
            tracing::info_span!("jwt verify", alg = ?key.algorithm, kid = %key.kid).entered();
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.validate_aud = false;
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
