//! The user's standard claims (OpenID Connect Core §5.1): which scope releases which (§5.4),
//! the `claims` request parameter (§5.5), and the claims' values.

use serde_json::{Map, Value};

pub use crate::store::RequestedClaims;
use crate::store::{Profile, UserRecord};

/// The claims each scope releases, and the one scope each claim belongs to.
const SCOPE_CLAIMS: [(&str, &[&str]); 4] = [
    ("profile", &["preferred_username", "name", "updated_at"]),
    ("email", &["email", "email_verified"]),
    ("phone", &["phone_number"]),
    // Not OpenID Connect's: the names of the user's groups, as Keycloak, Okta and Kubernetes'
    // OIDC authenticator read them.
    (super::GROUPS, &[super::GROUPS]),
];

/// What an ID token itself always says (§2), ahead of the user's claims.
const ID_TOKEN_CLAIMS: [&str; 11] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "azp",
    "sid",
    "amr",
];

/// Every claim authd can release, for `claims_supported` in the discovery document.
pub fn claims_supported() -> Vec<String> {
    ID_TOKEN_CLAIMS
        .iter()
        .chain(SCOPE_CLAIMS.iter().flat_map(|(_, claims)| claims.iter()))
        .map(|claim| (*claim).to_owned())
        .collect()
}

/// The scope that releases `claim`, if authd knows it.
pub fn scope_of_claim(claim: &str) -> Option<&'static str> {
    SCOPE_CLAIMS
        .iter()
        .find(|(_, claims)| claims.contains(&claim))
        .map(|(scope, _)| *scope)
}

/// The claims a token with `scope` releases, with `extra` ones the `claims` parameter asked
/// for, in a stable order without repeats.
pub fn released<'a>(scope: &str, extra: &'a [String]) -> Vec<&'a str> {
    let mut names: Vec<&str> = SCOPE_CLAIMS
        .iter()
        .filter(|(name, _)| scope.split(' ').any(|s| s == *name))
        .flat_map(|(_, claims)| claims.iter().copied())
        .collect();
    for claim in extra {
        if !names.contains(&claim.as_str()) {
            names.push(claim);
        }
    }
    names
}

// The record is the store's (a session keeps it); what it means is OpenID Connect's.
impl RequestedClaims {
    /// Reads the parameter's JSON; a message saying what is wrong if it is not the object
    /// §5.5 describes.
    pub fn parse(json: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(json)
            .map_err(|_| "claims must be a JSON object (OpenID Connect Core §5.5)".to_owned())?;
        let Value::Object(members) = value else {
            return Err("claims must be a JSON object (OpenID Connect Core §5.5)".to_owned());
        };
        let names = |member: &str| -> Result<Vec<String>, String> {
            match members.get(member) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Object(claims)) => Ok(claims
                    .keys()
                    .filter(|claim| scope_of_claim(claim).is_some())
                    .cloned()
                    .collect()),
                Some(_) => Err(format!("claims.{member} must be a JSON object")),
            }
        };
        Ok(Self {
            userinfo: names("userinfo")?,
            id_token: names("id_token")?,
        })
    }

    /// The scopes whose claims this asks for: what the user consents to beside the scope.
    pub fn scopes(&self) -> Vec<&'static str> {
        let mut scopes = Vec::new();
        for claim in self.userinfo.iter().chain(&self.id_token) {
            if let Some(scope) = scope_of_claim(claim)
                && !scopes.contains(&scope)
            {
                scopes.push(scope);
            }
        }
        scopes
    }
}

/// The values of `names` for `user`, leaving out any the user has not filled in (§5.3.2: a
/// claim without a value is omitted, not null). `groups`: the user's groups, read by the
/// caller when `names` holds `groups`.
pub fn user_claims(
    user: &UserRecord,
    profile: Option<&Profile>,
    groups: Option<&[String]>,
    names: &[&str],
) -> Map<String, Value> {
    let mut claims = Map::new();
    for name in names {
        let value = match *name {
            "preferred_username" => Some(Value::from(user.username.clone())),
            "name" => profile
                .and_then(|profile| profile.display_name.clone())
                .map(Value::from),
            "updated_at" => Some(Value::from(
                profile
                    .and_then(|profile| profile.updated_at)
                    .unwrap_or(user.created_at)
                    .unix_timestamp(),
            )),
            "email" => Some(Value::from(user.email.clone())),
            // True once the user followed the link mailed to this address (or an operator
            // vouched for it); a new address is unverified until confirmed.
            "email_verified" => Some(Value::from(user.email_verified())),
            "phone_number" => profile
                .and_then(|profile| profile.phone.clone())
                .map(Value::from),
            super::GROUPS => groups.map(|groups| Value::from(groups.to_vec())),
            _ => None,
        };
        if let Some(value) = value {
            claims.insert((*name).to_owned(), value);
        }
    }
    claims
}

/// Whether any of `names` needs the user's profile, not only the user row.
pub fn needs_profile(names: &[&str]) -> bool {
    names
        .iter()
        .any(|name| matches!(*name, "name" | "updated_at" | "phone_number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claims_parameter_keeps_known_claims_per_member() {
        let claims = RequestedClaims::parse(
            r#"{"userinfo":{"email":{"essential":true},"address":null},"id_token":{"name":null}}"#,
        )
        .unwrap();
        assert_eq!(claims.userinfo, ["email"]);
        assert_eq!(claims.id_token, ["name"]);
        assert_eq!(claims.scopes(), ["email", "profile"]);
        assert!(RequestedClaims::parse("[1]").is_err());
        assert!(RequestedClaims::parse(r#"{"userinfo":3}"#).is_err());
        assert!(RequestedClaims::parse("{").is_err());
    }

    #[test]
    fn scopes_release_their_claims_and_extras_are_added_once() {
        let extra = vec!["email".to_owned(), "name".to_owned()];
        assert_eq!(
            released("openid profile", &extra),
            ["preferred_username", "name", "updated_at", "email"]
        );
        assert!(released("openid", &[]).is_empty());
    }
}
