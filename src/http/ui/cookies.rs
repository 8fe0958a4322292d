//! The UI's cookies, named and flagged for how authd is served.
//!
//! Over TLS every cookie is `Secure` and `__Host-` prefixed, which also pins it to this host and
//! `Path=/` (RFC 6265bis §4.1.3.2), so a sibling subdomain cannot plant one. Over plain HTTP (a
//! laptop, `docker compose up`) neither is possible. Always `Path=/`, as the authorization
//! endpoint (`/oauth/authorize`) reads the session too, and `HttpOnly` (page scripts never see
//! a token).
//!
//! `SameSite=Lax`: a browser that an application sends to `/oauth/authorize` arrives from
//! another site, and with `Strict` it would arrive without its session, so a signed-in user
//! would be asked to log in on every visit. `Lax` sends the cookies on such top-level GET
//! navigations only; another site's form post or fetch still arrives without them, and every
//! form also checks the CSRF token (see `csrf`). The CSRF cookie itself stays `Strict`.

use std::time::Duration;

use poem::web::cookie::{Cookie, CookieJar, SameSite};

use crate::config::Config;

/// The refresh token of the browser's session.
pub const SESSION: &str = "authd_session";
/// The current access token of that session.
pub const ACCESS: &str = "authd_access";
/// The double-submit CSRF token (see `csrf`).
pub const CSRF: &str = "authd_csrf";
/// A login between its password and its second factor (`accounts::PendingLogins`).
pub const PENDING: &str = "authd_pending";
/// The `state` of a login through an upstream identity provider, so that only the browser
/// that started it can finish it (`federation`).
pub const UPSTREAM: &str = "authd_upstream";

#[derive(Debug, Clone)]
pub struct CookiePolicy {
    secure: bool,
    /// How long the session's cookies last: as long as its refresh token can.
    session_lifetime: Option<Duration>,
}

impl CookiePolicy {
    pub fn new(config: &Config) -> Self {
        Self {
            secure: config.public_url.starts_with("https://"),
            session_lifetime: config.refresh_token_ttl.try_into().ok(),
        }
    }

    fn name(&self, base: &str) -> String {
        if self.secure {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }

    pub fn get(&self, jar: &CookieJar, base: &str) -> Option<String> {
        jar.get(&self.name(base))
            .map(|cookie| cookie.value_str().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// Sets `base` to `value`; without `max_age`, the cookie ends with the browser session.
    pub fn set(&self, jar: &CookieJar, base: &str, value: &str, max_age: Option<Duration>) {
        let mut cookie = Cookie::new_with_str(self.name(base), value);
        cookie.set_http_only(true);
        cookie.set_same_site(if base == CSRF {
            SameSite::Strict
        } else {
            SameSite::Lax
        });
        cookie.set_secure(self.secure);
        cookie.set_path("/");
        if let Some(max_age) = max_age {
            cookie.set_max_age(max_age);
        }
        jar.add(cookie);
    }

    /// Sets one of the session's cookies, to last as long as the session can.
    pub fn set_for_session(&self, jar: &CookieJar, base: &str, value: &str) {
        self.set(jar, base, value, self.session_lifetime);
    }

    /// Tells the browser to drop `base` (same name, path and flags, empty and already expired).
    pub fn clear(&self, jar: &CookieJar, base: &str) {
        self.set(jar, base, "", Some(Duration::ZERO));
    }
}
