//! CSRF protection for the UI's forms, in three layers, any one of which stops a cross-site
//! form post:
//! - the session cookies are `SameSite=Lax`, so another site's form post arrives without them;
//! - a browser that says where a request comes from (`Sec-Fetch-Site`, sent by every current
//!   browser) must say it comes from this origin, or was typed by the user;
//! - every form carries a token that must equal the `authd_csrf` cookie's (double submit): a
//!   page on another origin can neither read that cookie nor, `HttpOnly` and `SameSite=Strict`
//!   as it is, make the browser send it. Over TLS its `__Host-` name stops a sibling subdomain
//!   from planting one.
//!
//! The token is random per browser and replaced at login and logout. It is not bound to a
//! server secret: the cookie's flags do what a signature would, without a key to manage.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use poem::{Request, web::cookie::CookieJar};
use subtle::ConstantTimeEq;

use super::cookies::{self, CookiePolicy};

/// 32 random bytes, base64url.
const TOKEN_LEN: usize = 43;

/// This browser's CSRF token for the forms of the page being rendered: the cookie's, or a new
/// one (set in the answer) when it has none or a malformed one.
pub fn token(jar: &CookieJar, policy: &CookiePolicy) -> String {
    match policy.get(jar, cookies::CSRF) {
        Some(token) if well_formed(&token) => token,
        _ => renew(jar, policy),
    }
}

/// A new token, replacing the browser's (at login and logout).
pub fn renew(jar: &CookieJar, policy: &CookiePolicy) -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    policy.set(jar, cookies::CSRF, &token, None);
    token
}

/// Whether a form post is this origin's own: sent by a page of ours (or typed) and carrying
/// the token of this browser's cookie.
pub fn is_genuine(req: &Request, policy: &CookiePolicy, submitted: &str) -> bool {
    let from_elsewhere = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|site| !matches!(site, "same-origin" | "none"));
    let Some(expected) = policy.get(req.cookie(), cookies::CSRF) else {
        return false;
    };
    !from_elsewhere
        && well_formed(&expected)
        && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
}

fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_base64url_characters() {
        let mut bytes = [7u8; 32];
        bytes[0] = 0xfb; // encodes to `-` or `_` somewhere
        let token = URL_SAFE_NO_PAD.encode(bytes);
        assert!(well_formed(&token));
        assert!(!well_formed(&token[1..]));
        assert!(!well_formed(&format!("{}=", &token[1..])));
        assert!(!well_formed(""));
    }
}
