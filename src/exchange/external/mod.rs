//! Tokens of the trusted outside issuers (RFC 8693 §3, `urn:ietf:params:oauth:token-type:jwt`)
//! presented to the token exchange: each issuer's keys, fetched from its `jwks_uri` and cached,
//! and the one path that verifies its tokens.

mod key_set;

use std::{
    fmt,
    sync::{Arc, OnceLock},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{
    Algorithm, DecodingKey, Header, Validation, decode, decode_header, errors::ErrorKind,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use time::Duration;

use self::key_set::{IssuerKeys, http_client};
use super::trust::{TrustedIssuer, UserMatch};
use crate::{clock::Clock, tokens::Actor};

/// Longer than any sensible JWT: anything bigger is refused before it is parsed.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Verifies tokens of the trusted issuers in the trust file.
pub struct ExternalIssuers {
    issuers: Vec<IssuerKeys>,
    /// Built when there is an issuer to fetch keys from.
    http: OnceLock<Result<reqwest::Client, String>>,
    clock: Arc<dyn Clock>,
    leeway: Duration,
}

/// An outside token that verified.
#[derive(Debug, Clone)]
pub struct ExternalToken {
    pub issuer: String,
    /// The value of the issuer's `subject_claim` (a string claim), to match against an authd
    /// user per `user_match`.
    pub subject: String,
    pub user_match: UserMatch,
    /// The token's own `sub`.
    pub sub: String,
    pub exp: i64,
    /// `scope` (space-separated string) if present.
    pub scope: Option<String>,
    /// RFC 8693 §4.1 `act`, §4.4 `may_act`, if present.
    pub act: Option<Actor>,
    pub may_act: Option<Actor>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExternalTokenError {
    /// The token is not acceptable; the words are safe to show the client.
    #[error("{0}")]
    Invalid(String),
    /// The issuer's JWKS could not be fetched and no usable cached key exists.
    #[error("the keys of {issuer} could not be fetched: {reason}")]
    KeysUnavailable { issuer: String, reason: String },
}

fn invalid(why: impl Into<String>) -> ExternalTokenError {
    ExternalTokenError::Invalid(why.into())
}

/// The payload claims authd reads, besides the issuer's subject claim.
#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    nbf: Option<i64>,
    iat: Option<i64>,
    scope: Option<String>,
    act: Option<Actor>,
    may_act: Option<Actor>,
}

impl ExternalIssuers {
    /// `leeway`: allowed clock skew for exp/nbf/iat.
    pub fn new(issuers: &[TrustedIssuer], clock: Arc<dyn Clock>, leeway: Duration) -> Self {
        let issuers: Vec<IssuerKeys> = issuers.iter().map(IssuerKeys::new).collect();
        let http = OnceLock::new();
        if !issuers.is_empty() {
            // Now rather than on the first fetch: loading the system's roots reads files, which
            // is better done at start than on the runtime.
            let _ = http.set(http_client());
        }
        Self {
            issuers,
            http,
            clock,
            leeway,
        }
    }

    /// The trusted issuer named by the token's (unverified) `iss`, if any: lets the caller tell
    /// an outside token from an authd one before verifying.
    pub fn issuer_of(&self, token: &str) -> Option<&TrustedIssuer> {
        self.entry_of(token).map(|entry| &entry.trusted)
    }

    /// Fully verifies `token` as a token of one of the trusted issuers.
    pub async fn verify(&self, token: &str) -> Result<ExternalToken, ExternalTokenError> {
        self.verify_with_claims(token).await.map(|(token, _)| token)
    }

    /// [`Self::verify`], with every claim of the payload, for a caller that checks more of
    /// them (an upstream's ID token: `nonce`, `azp`).
    pub async fn verify_with_claims(
        &self,
        token: &str,
    ) -> Result<(ExternalToken, Map<String, Value>), ExternalTokenError> {
        let header = read_header(token)?;
        let entry = self
            .entry_of(token)
            .ok_or_else(|| invalid("the token's issuer is not trusted here"))?;
        let trusted = &entry.trusted;
        // RFC 8725 §3.1: the algorithm is the issuer's, never the token's choice.
        if !trusted.algorithms.contains(&header.alg) {
            return Err(invalid(format!(
                "the token's alg {:?} is not one {} signs with",
                header.alg, trusted.issuer
            )));
        }
        let key = self.verification_key(entry, &header).await?;
        let payload = decode_payload(token, &key.decoding, header.alg, trusted)?;
        let subject = subject_claim(&payload, &trusted.subject_claim)?;
        let claims: Claims =
            serde_json::from_value(Value::Object(payload.clone())).map_err(|_| {
                invalid("the token's sub, exp, nbf, iat, scope, act or may_act is malformed")
            })?;
        self.check_times(&claims)?;
        tracing::debug!(issuer = %trusted.issuer, kid = ?header.kid, "outside token verified");
        let token = ExternalToken {
            issuer: trusted.issuer.clone(),
            subject,
            user_match: trusted.user_match,
            sub: claims.sub,
            exp: claims.exp,
            scope: claims.scope,
            act: claims.act,
            may_act: claims.may_act,
        };
        Ok((token, payload))
    }

    fn entry_of(&self, token: &str) -> Option<&IssuerKeys> {
        let iss = unverified_issuer(token)?;
        self.issuers
            .iter()
            .find(|entry| entry.trusted.issuer == iss)
    }

    fn check_times(&self, claims: &Claims) -> Result<(), ExternalTokenError> {
        let now = self.clock.now().unix_timestamp();
        let leeway = self.leeway.whole_seconds();
        // RFC 7519 §4.1.4, §4.1.5, §4.1.6, with the allowed clock skew.
        if now >= claims.exp.saturating_add(leeway) {
            return Err(invalid("the token has expired"));
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(leeway))
        {
            return Err(invalid("the token is not valid yet"));
        }
        if claims
            .iat
            .is_some_and(|iat| iat > now.saturating_add(leeway))
        {
            return Err(invalid("the token was issued in the future"));
        }
        Ok(())
    }
}

impl fmt::Debug for ExternalIssuers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let issuers: Vec<&str> = self
            .issuers
            .iter()
            .map(|entry| entry.trusted.issuer.as_str())
            .collect();
        f.debug_struct("ExternalIssuers")
            .field("issuers", &issuers)
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}

/// The header, if the token may be one of an outside issuer's.
fn read_header(token: &str) -> Result<Header, ExternalTokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid("the token is too long"));
    }
    let header = decode_header(token).map_err(|_| invalid("the token is not a signed JWT"))?;
    // RFC 7515 §4.1.11: an extension authd does not understand must not be ignored.
    if header.crit.is_some() {
        return Err(invalid(
            "the token uses an unsupported critical header extension",
        ));
    }
    // RFC 8725 §3.11: explicit typing keeps another kind of JWT (a DPoP proof, RFC 9449 §4.2)
    // from passing for a subject token. `jku`, `x5u`, `jwk` and `x5c` are never read: the keys
    // come only from the trust file's `jwks_uri` (RFC 8725 §3.10).
    if !header.typ.as_deref().is_none_or(is_jwt_type) {
        return Err(invalid("the token's typ must be JWT or at+jwt"));
    }
    Ok(header)
}

/// RFC 7519 §5.1 `JWT`, RFC 9068 §2.1 `at+jwt`, each also with the `application/` prefix that
/// RFC 7515 §4.1.9 lets a `typ` omit.
fn is_jwt_type(typ: &str) -> bool {
    let typ = typ.to_ascii_lowercase();
    let typ = typ.strip_prefix("application/").unwrap_or(&typ);
    matches!(typ, "jwt" | "at+jwt")
}

/// The `iss` of a token before it is verified: only to choose whose keys verify it.
fn unverified_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Issuer {
        iss: String,
    }
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Issuer>(&bytes)
        .ok()
        .map(|issuer| issuer.iss)
}

/// Checks the signature with `alg`, the issuer and the audience, and that the registered claims
/// authd needs are there; the times are checked by the caller against the injected clock.
fn decode_payload(
    token: &str,
    key: &DecodingKey,
    alg: Algorithm,
    trusted: &TrustedIssuer,
) -> Result<Map<String, Value>, ExternalTokenError> {
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[&trusted.issuer]);
    validation.set_audience(&[&trusted.audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    decode::<Map<String, Value>>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(|err| {
            invalid(match err.kind() {
                ErrorKind::InvalidSignature => "the token's signature does not verify".to_owned(),
                ErrorKind::InvalidIssuer => "the token's issuer is not trusted here".to_owned(),
                ErrorKind::InvalidAudience => format!(
                    "the token is meant for another audience (it must name `{}`)",
                    trusted.audience
                ),
                ErrorKind::MissingRequiredClaim(claim) => {
                    format!("the token has no `{claim}` claim")
                }
                ErrorKind::InvalidAlgorithm => "the token's alg does not fit its key".to_owned(),
                _ => "the token is malformed".to_owned(),
            })
        })
}

/// The issuer's subject claim: a non-empty string.
fn subject_claim(payload: &Map<String, Value>, claim: &str) -> Result<String, ExternalTokenError> {
    payload
        .get(claim)
        .and_then(Value::as_str)
        .filter(|subject| !subject.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| invalid(format!("the token has no `{claim}` claim")))
}

#[cfg(test)]
mod tests;
