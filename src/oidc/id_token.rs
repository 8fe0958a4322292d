//! The ID token (OpenID Connect Core §2): its claims, the `at_hash` that ties it to its access
//! token (§3.1.3.6), and reading one back as an `id_token_hint` (§3.1.2.1, RP-Initiated
//! Logout §2).

use std::collections::HashSet;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};
use time::OffsetDateTime;

use crate::{keys::KeyRing, tokens::ACCESS_TOKEN_TYP};

/// The `typ` of an ID token: plain `JWT`, as relying parties expect. An access token's is
/// `at+jwt`, so neither can pass for the other (RFC 8725 §3.11).
pub const ID_TOKEN_TYP: &str = "JWT";

/// An ID token's claims (§2), with the user's standard claims the `claims` parameter asked to
/// find in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    /// The user's id.
    pub sub: String,
    /// The client the token is for.
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    /// When the user authenticated (Unix seconds): the login's, not the token's.
    pub auth_time: i64,
    /// Echoed from the authorization request; never in a refreshed ID token (§12.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// The authorized party: the client, which is also the one audience.
    pub azp: String,
    /// The session (refresh-token family) the token belongs to; RP-initiated logout ends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The upstream identity provider the user logged in through (its id at authd), for a
    /// federated login; `amr` then holds `fed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    #[serde(flatten)]
    pub user: Map<String, Value>,
}

/// `at_hash` (§3.1.3.6): the left half of the hash of the access token, with the hash of the
/// ID token's JWS algorithm; for EdDSA over Ed25519 that is SHA-512 (the OpenID Foundation's
/// errata, as certified libraries compute it).
pub fn at_hash(algorithm: Algorithm, access_token: &str) -> String {
    let digest: Vec<u8> = match algorithm {
        Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 | Algorithm::HS384 => {
            Sha384::digest(access_token.as_bytes()).to_vec()
        }
        Algorithm::RS512 | Algorithm::PS512 | Algorithm::HS512 | Algorithm::EdDSA => {
            Sha512::digest(access_token.as_bytes()).to_vec()
        }
        _ => Sha256::digest(access_token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// What an `id_token_hint` tells, once its signature and issuer are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenHint {
    pub sub: String,
    /// The client it was issued to.
    pub aud: String,
    pub sid: Option<String>,
    /// Whether its lifetime is over: a hint may be expired (RP-Initiated Logout §2), but an
    /// expired one no longer shows the user is at the client now.
    pub expired: bool,
}

#[derive(Deserialize)]
struct HintClaims {
    sub: String,
    aud: String,
    exp: i64,
    #[serde(default)]
    sid: Option<String>,
}

/// Reads `token` as an ID token authd issued: signed by a key of the ring (the current one or
/// one in its grace period) with that key's algorithm, `typ` not an access token's, issued by
/// `issuer`. Its expiry is reported, not refused. `None` for anything else: a hint that does
/// not verify tells nothing.
pub fn read_hint(
    key_ring: &KeyRing,
    issuer: &str,
    token: &str,
    now: OffsetDateTime,
) -> Option<IdTokenHint> {
    if token.len() > crate::tokens::MAX_TOKEN_LEN {
        return None;
    }
    let header = decode_header(token).ok()?;
    let is_access_token = header
        .typ
        .as_deref()
        .is_some_and(|typ| typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYP) || typ.ends_with("at+jwt"));
    if header.crit.is_some() || is_access_token {
        return None;
    }
    let key = key_ring.verification_key(header.kid.as_deref()?, now)?;
    if header.alg != key.algorithm {
        return None;
    }
    let mut validation = Validation::new(key.algorithm);
    validation.set_issuer(&[issuer]);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims = ["iss", "sub", "aud", "exp"]
        .into_iter()
        .map(str::to_owned)
        .collect::<HashSet<_>>();
    let claims = decode::<HintClaims>(token, &key.decoding, &validation)
        .ok()?
        .claims;
    Some(IdTokenHint {
        sub: claims.sub,
        aud: claims.aud,
        sid: claims.sid,
        expired: claims.exp <= now.unix_timestamp(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_the_algorithms_hash() {
        // OpenID Connect Core's own example (§A.3): RS256 over this access token.
        assert_eq!(
            at_hash(
                Algorithm::RS256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(at_hash(Algorithm::ES256, "x").len(), 22);
        assert_eq!(at_hash(Algorithm::EdDSA, "x").len(), 43);
    }
}
