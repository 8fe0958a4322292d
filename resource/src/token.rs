//! An authd access token verified locally: its key from the JWKS, pinned to the key's
//! algorithm, its `typ`, `iss`, `aud`, `exp` and `nbf` (RFC 8725, RFC 9068).

use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde::{Deserialize, Serialize};

use crate::{Rejection, keys::KeySet};

/// The longest token looked at: authd's are far shorter, and a huge header costs before any
/// check refuses it.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// What an authd access token says, as the request's handler reads it (an extension of the
/// request, under the layer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The user's id (or, for a client's own token, the client's).
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The session the token was issued in: a `session-revoked` for it ends the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// The key the token is bound to (DPoP, RFC 9449 §6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

impl AccessClaims {
    /// Whether the token's scope holds `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope
            .as_deref()
            .is_some_and(|scopes| scopes.split(' ').any(|s| s == scope))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
}

/// Verifies access tokens against authd's keys.
pub(crate) struct TokenCheck {
    /// The rules for each accepted algorithm, built once (a token's key picks one).
    validations: Vec<(Algorithm, Validation)>,
}

impl TokenCheck {
    pub fn new(issuer: &str, audience: &str, leeway: Duration, algorithms: &[Algorithm]) -> Self {
        let validations = algorithms
            .iter()
            .map(|&algorithm| {
                let mut validation = Validation::new(algorithm);
                validation.set_issuer(&[issuer]);
                validation.set_audience(&[audience]);
                validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                validation.validate_nbf = true;
                validation.leeway = leeway.as_secs();
                (algorithm, validation)
            })
            .collect();
        Self { validations }
    }

    pub async fn verify(&self, keys: &KeySet, token: &str) -> Result<AccessClaims, Rejection> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Rejection::invalid("the token is too long"));
        }
        let header = decode_header(token).map_err(|_| Rejection::invalid("not a JWT"))?;
        // RFC 9068 §4: an access token says what it is, so an ID token or a SET cannot pass.
        if !header
            .typ
            .as_deref()
            .is_some_and(|typ| typ.eq_ignore_ascii_case("at+jwt"))
        {
            return Err(Rejection::invalid("not an access token (typ)"));
        }
        // `jku`, `x5u` and `jwk` are never followed: keys come from authd's JWKS alone.
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| Rejection::invalid("the token names no key"))?;
        let key = keys.key(kid).await?;
        if header.alg != key.algorithm {
            return Err(Rejection::invalid("the token's algorithm is not its key's"));
        }
        let validation = self
            .validations
            .iter()
            .find(|(algorithm, _)| *algorithm == key.algorithm)
            .map(|(_, validation)| validation)
            .ok_or_else(|| Rejection::invalid("the token's algorithm is not accepted"))?;
        let data = decode::<AccessClaims>(token, &key.decoding, validation)
            .map_err(|err| Rejection::invalid(err.to_string()))?;
        Ok(data.claims)
    }
}
