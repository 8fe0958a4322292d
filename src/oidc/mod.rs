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

/// The scope that asks for a refresh token that works while the user is away (OpenID Connect
/// Core §11). In an OpenID Connect request, the code flow issues a refresh token only with it.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// The scopes OpenID Connect Core §5.4 and §11 define that authd grants. Every client allowed
/// the code flow may ask for them: they are about the user, who consents to each. (`address`
/// is not offered: authd keeps no postal address.)
pub const STANDARD_SCOPES: [&str; 6] =
    [OPENID, "profile", "email", "phone", OFFLINE_ACCESS, GROUPS];

/// The scope, and the claim, of the names of the user's groups (authd's groups, managed in the
/// admin API): in the ID token, the access token and UserInfo.
pub const GROUPS: &str = "groups";

/// What a standard scope lets the client do, in plain words for the consent page.
pub fn scope_description(scope: &str) -> Option<&'static str> {
    match scope {
        OPENID => Some("Know that it is you when you sign in"),
        "profile" => Some("See your username and display name"),
        "email" => Some("See your email address"),
        "phone" => Some("See your phone number"),
        OFFLINE_ACCESS => Some("Stay connected while you are away, until you withdraw access"),
        GROUPS => Some("See the groups you belong to"),
        _ => None,
    }
}

/// Whether a code-flow grant of `scope` comes with a refresh token, for a client registered
/// for the refresh_token grant: always in plain OAuth, and in OpenID Connect only when the
/// user allowed `offline_access` (§11), as most providers do.
pub fn grants_refresh(scope: &str) -> bool {
    let mut scopes = scope.split(' ');
    !is_openid(scope) || scopes.any(|s| s == OFFLINE_ACCESS)
}

/// Whether `scope` (space-separated) asks for OpenID Connect.
pub fn is_openid(scope: &str) -> bool {
    scope.split(' ').any(|s| s == OPENID)
}
