//! OAuth 2.0 Token Exchange (RFC 8693) and resource indicators (RFC 8707): a service trades the
//! token it received for a narrower one for the next hop, and the chain of who acts for whom
//! travels in `act`. The trust file says which targets exist, which outside issuers count, and
//! which clients may delegate or impersonate; the token endpoint's grant module runs the flow.

mod external;
mod targets;
mod trust;

pub use external::{ExternalIssuers, ExternalToken, ExternalTokenError};
pub use targets::Targets;
pub use trust::{ExchangePolicy, Resource, TrustError, TrustFile, TrustedIssuer, UserMatch};

use crate::{error::Error, tokens::Actor};

/// Token type identifiers (RFC 8693 §3).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// The kinds of token an exchange takes and gives: JWT access tokens, which are both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    AccessToken,
    Jwt,
}

impl TokenType {
    /// `field` names the parameter in the error (`subject_token_type`, ...).
    pub fn parse(value: &str, field: &'static str) -> Result<Self, Error> {
        match value {
            ACCESS_TOKEN_TYPE => Ok(Self::AccessToken),
            JWT_TOKEN_TYPE => Ok(Self::Jwt),
            other => Err(Error::oauth(
                "invalid_request",
                format!(
                    "{field} `{other}` is not supported: use {ACCESS_TOKEN_TYPE} or {JWT_TOKEN_TYPE}"
                ),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => ACCESS_TOKEN_TYPE,
            Self::Jwt => JWT_TOKEN_TYPE,
        }
    }
}

/// Who an actor token proves its presenter to be: `iss` is `None` for authd's own subjects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorIdentity {
    pub sub: String,
    pub iss: Option<String>,
}

/// Whether a subject token's `may_act` (RFC 8693 §4.4) names `actor`. A `may_act` without
/// `iss` means authd's own subjects, as the token's other claims do.
pub fn may_act_permits(may_act: Option<&Actor>, actor: &ActorIdentity) -> bool {
    may_act.is_some_and(|allowed| allowed.sub == actor.sub && allowed.iss == actor.iss)
}

/// The `act` of the exchanged token: the new actor, with the subject token's chain nested
/// inside it (RFC 8693 §4.1: the outermost `act` is the current actor).
pub fn chain(actor: ActorIdentity, before: Option<Actor>) -> Actor {
    Actor {
        sub: actor.sub,
        iss: actor.iss,
        act: before.map(Box::new),
    }
}

/// The scope of the exchanged token: what was asked for, which must be within the subject
/// token's, or the subject token's whole scope if nothing was (RFC 8693 §2.1 `scope`).
pub fn narrow_scope(granted: Option<&str>, requested: &str) -> Result<Option<String>, Error> {
    if requested.is_empty() {
        return Ok(granted.map(str::to_owned));
    }
    let granted: Vec<&str> = granted.unwrap_or_default().split(' ').collect();
    match requested.split(' ').find(|scope| !granted.contains(scope)) {
        Some(wider) => Err(Error::oauth(
            "invalid_scope",
            format!("`{wider}` is not in the subject token's scope: an exchange only narrows"),
        )),
        None => Ok(Some(requested.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authd(sub: &str) -> ActorIdentity {
        ActorIdentity {
            sub: sub.to_owned(),
            iss: None,
        }
    }

    #[test]
    fn may_act_names_one_actor_of_one_issuer() {
        let allowed = Actor {
            sub: "svc".to_owned(),
            iss: None,
            act: None,
        };
        assert!(may_act_permits(Some(&allowed), &authd("svc")));
        assert!(!may_act_permits(Some(&allowed), &authd("other")));
        let elsewhere = ActorIdentity {
            sub: "svc".to_owned(),
            iss: Some("https://idp.example".to_owned()),
        };
        assert!(!may_act_permits(Some(&allowed), &elsewhere));
        assert!(!may_act_permits(None, &authd("svc")));
    }

    #[test]
    fn the_chain_nests_earlier_actors() {
        let first = chain(authd("a"), None);
        let second = chain(authd("b"), Some(first.clone()));
        assert_eq!(second.sub, "b");
        assert_eq!(second.act.as_deref(), Some(&first));
    }

    #[test]
    fn scope_only_narrows() {
        assert_eq!(
            narrow_scope(Some("read write"), "read").unwrap().as_deref(),
            Some("read")
        );
        assert_eq!(
            narrow_scope(Some("read write"), "").unwrap().as_deref(),
            Some("read write")
        );
        assert!(narrow_scope(Some("read"), "read admin").is_err());
        assert!(narrow_scope(None, "read").is_err());
    }
}
