//! OpenID Connect Core 1.0 on top of the code flow: who logged in, told to the client in a
//! signed ID token (§2) and at the UserInfo endpoint (§5.3), with the claims each scope
//! releases (§5.4) or the `claims` parameter asks for (§5.5).
//!
//! authd is a code-flow-only provider: no implicit or hybrid flows (RFC 9700 §2.1.2), so an
//! ID token comes only from the token endpoint, and scope claims are released at UserInfo, as
//! §5.4 says for a flow that issues an access token.

pub mod claims;
pub mod id_token;
mod issuer;

pub use crate::store::Login;
pub use claims::{RequestedClaims, claims_supported, scope_of_claim, user_claims};
pub use id_token::{IdTokenClaims, IdTokenHint, at_hash, read_hint};
pub use issuer::IdTokens;

/// The scope that makes a request an OpenID Connect one.
pub const OPENID: &str = "openid";

/// The scopes OpenID Connect Core §5.4 defines that authd releases claims for. Every client
/// allowed the code flow may ask for them: they are about the user, who consents to each.
/// (`address` is not offered: authd keeps no postal address.)
pub const STANDARD_SCOPES: [&str; 4] = [OPENID, "profile", "email", "phone"];

/// What a standard scope lets the client learn, in words for the consent page.
pub fn scope_description(scope: &str) -> Option<&'static str> {
    match scope {
        OPENID => Some("who you are: your authd user id"),
        "profile" => Some("your username and display name"),
        "email" => Some("your email address"),
        "phone" => Some("your phone number"),
        _ => None,
    }
}

/// Whether `scope` (space-separated) asks for OpenID Connect.
pub fn is_openid(scope: &str) -> bool {
    scope.split(' ').any(|s| s == OPENID)
}
