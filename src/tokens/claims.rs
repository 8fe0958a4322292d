//! The claims of an authd access token.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// RFC 9068 §2.2 claims, plus `username` for the seed clients that read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The user's id.
    pub sub: String,
    /// Who may accept the token: `AUTHD_AUDIENCE`, or the resources it was issued for (RFC 8707).
    pub aud: Audience,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    /// Unique per token; what revocation names.
    pub jti: String,
    /// The user's name, for the seed clients that read it; absent on a client's own token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The client the token was issued to (RFC 9068 §2.2), when one authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The session (refresh-token family) the token was issued in, if any: revoking the session
    /// revokes every access token that carries its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Space-separated scopes granted (RFC 9068 §2.2.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The key the token is bound to (RFC 7800 §3.1, RFC 9449 §6.1): only a request that proves
    /// possession of it may use the token, never a plain bearer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// The proof-of-possession nonce issued with the token (PoP scheme): the first call signs
    /// `nonce || token` with the user's registered key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Who holds the token for the subject (RFC 8693 §4.1), when it came from a delegating
    /// exchange; the actors before, nested, so the whole chain is visible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    /// The names of the user's groups, when the `groups` scope was granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

/// An actor (RFC 8693 §4.1, `act`) or a party allowed to become one (§4.4, `may_act`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub sub: String,
    /// The issuer that names `sub`, when it is not authd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The actor before this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

/// `aud`: one value (written as a string, as every token before resources had it) or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "OneOrMany", into = "OneOrMany")]
pub struct Audience(Vec<String>);

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl From<OneOrMany> for Audience {
    fn from(value: OneOrMany) -> Self {
        match value {
            OneOrMany::One(one) => Self(vec![one]),
            OneOrMany::Many(many) => Self(many),
        }
    }
}

impl From<Audience> for OneOrMany {
    fn from(value: Audience) -> Self {
        match <[String; 1]>::try_from(value.0) {
            Ok([one]) => Self::One(one),
            Err(many) => Self::Many(many),
        }
    }
}

impl Audience {
    pub fn one(audience: impl Into<String>) -> Self {
        Self(vec![audience.into()])
    }

    /// Several audiences; `None` if there are none.
    pub fn many(audiences: Vec<String>) -> Option<Self> {
        (!audiences.is_empty()).then_some(Self(audiences))
    }

    pub fn contains(&self, audience: &str) -> bool {
        self.0.iter().any(|aud| aud == audience)
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// `cnf`: the RFC 7638 SHA-256 thumbprint of the key the token is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

impl AccessClaims {
    pub fn new_jti() -> String {
        Uuid::new_v4().to_string()
    }

    /// The thumbprint of the key this token is bound to, if it is sender-constrained.
    pub fn bound_key(&self) -> Option<&str> {
        self.cnf.as_ref().map(|cnf| cnf.jkt.as_str())
    }
}
