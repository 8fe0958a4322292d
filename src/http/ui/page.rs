//! What every page shares: the layout's data, rendering to an HTML answer, the one-line notices
//! a redirect can ask for, and dates as people read them.

use askama::Template;
use poem::{
    IntoResponse, Response,
    http::{HeaderValue, StatusCode, header},
    web::{Redirect, cookie::CookieJar},
};
use time::{OffsetDateTime, format_description::well_known::Rfc3339, macros::format_description};

use super::{cookies::CookiePolicy, csrf, session::SignedIn};

/// The header of every page: who is signed in, and the CSRF token its logout button needs.
#[derive(Debug)]
pub struct Layout {
    pub username: Option<String>,
    pub csrf: String,
    /// Appended to the stylesheet and script URLs, so a new release is fetched afresh.
    pub version: &'static str,
    /// Links for developers (keys, API docs, spec, metadata, JWKS): on the home and keys
    /// pages only. People signing in to an application have no use for them.
    pub developer_links: bool,
}

impl Layout {
    pub fn new(jar: &CookieJar, policy: &CookiePolicy, signed_in: Option<&SignedIn>) -> Self {
        Self {
            username: signed_in.map(|signed_in| signed_in.user.username.clone()),
            csrf: csrf::token(jar, policy),
            version: env!("CARGO_PKG_VERSION"),
            developer_links: false,
        }
    }

    /// For the pages developers visit: with the links to the keys and the API.
    pub fn with_developer_links(mut self) -> Self {
        self.developer_links = true;
        self
    }

    /// For error pages, which look at no session and hold no form.
    pub fn anonymous() -> Self {
        Self {
            username: None,
            csrf: String::new(),
            version: env!("CARGO_PKG_VERSION"),
            developer_links: false,
        }
    }
}

/// `template` rendered with `status`. A template that fails to render (it cannot, short of a
/// bug: askama checks them when authd is compiled) is a plain 500.
pub fn html(template: &impl Template, status: StatusCode) -> Response {
    match template.render() {
        Ok(body) => {
            let mut response = body.with_status(status).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        Err(err) => {
            tracing::error!(error = %err, "a UI template failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// After a form post: to the page to see next, as a GET (303, so a reload does not re-post).
pub fn see_other(location: &str) -> Response {
    Redirect::see_other(location).into_response()
}

/// One-line messages a redirect asks the next page to show (`?notice=`). A fixed set, so the
/// URL cannot make a page say anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    SignedOut,
    SessionEnded,
    SignInFirst,
    Saved,
    SessionRevoked,
    ApplicationRevoked,
    LoginExpired,
    SecondFactorRemoved,
    PasskeyAdded,
    PasskeyRemoved,
    Reauthenticated,
    PasskeyOnly,
    PasswordSet,
    PasswordReset,
    VerificationSent,
    EmailChangeSent,
    IdentityLinked,
    IdentityUnlinked,
}

impl Notice {
    pub fn parse(value: Option<&str>) -> Option<Self> {
        match value? {
            "signed-out" => Some(Self::SignedOut),
            "session-ended" => Some(Self::SessionEnded),
            "sign-in" => Some(Self::SignInFirst),
            "saved" => Some(Self::Saved),
            "session-revoked" => Some(Self::SessionRevoked),
            "application-revoked" => Some(Self::ApplicationRevoked),
            "login-expired" => Some(Self::LoginExpired),
            "second-factor-removed" => Some(Self::SecondFactorRemoved),
            "passkey-added" => Some(Self::PasskeyAdded),
            "passkey-removed" => Some(Self::PasskeyRemoved),
            "reauthenticated" => Some(Self::Reauthenticated),
            "passkey-only" => Some(Self::PasskeyOnly),
            "password-set" => Some(Self::PasswordSet),
            "password-reset" => Some(Self::PasswordReset),
            "verification-sent" => Some(Self::VerificationSent),
            "email-change-sent" => Some(Self::EmailChangeSent),
            "identity-linked" => Some(Self::IdentityLinked),
            "identity-unlinked" => Some(Self::IdentityUnlinked),
            _ => None,
        }
    }

    pub fn query(self) -> &'static str {
        match self {
            Self::SignedOut => "signed-out",
            Self::SessionEnded => "session-ended",
            Self::SignInFirst => "sign-in",
            Self::Saved => "saved",
            Self::SessionRevoked => "session-revoked",
            Self::ApplicationRevoked => "application-revoked",
            Self::LoginExpired => "login-expired",
            Self::SecondFactorRemoved => "second-factor-removed",
            Self::PasskeyAdded => "passkey-added",
            Self::PasskeyRemoved => "passkey-removed",
            Self::Reauthenticated => "reauthenticated",
            Self::PasskeyOnly => "passkey-only",
            Self::PasswordSet => "password-set",
            Self::PasswordReset => "password-reset",
            Self::VerificationSent => "verification-sent",
            Self::EmailChangeSent => "email-change-sent",
            Self::IdentityLinked => "identity-linked",
            Self::IdentityUnlinked => "identity-unlinked",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::SignedOut => "You are signed out. Your session and its tokens are revoked.",
            Self::SessionEnded => "This browser's session was revoked. Sign in again to continue.",
            Self::SignInFirst => "Sign in to see that page.",
            Self::Saved => "Profile saved.",
            Self::SessionRevoked => "Session revoked, with every token issued in it.",
            Self::ApplicationRevoked => {
                "Application revoked: its access to your account ended, with every token it held."
            }
            Self::LoginExpired => "That login waited too long for its code. Log in again.",
            Self::SecondFactorRemoved => "The authenticator app is removed from your account.",
            Self::PasskeyAdded => {
                "Passkey added: log in with it alone, or as the second step after your password."
            }
            Self::PasskeyRemoved => "Passkey removed.",
            Self::Reauthenticated => "Confirmed. For a few minutes, changes need no password.",
            Self::PasskeyOnly => "Your password is deleted: only your passkeys open this account.",
            Self::PasswordSet => {
                "Password set: it signs you in again, with a passkey as its second step."
            }
            Self::PasswordReset => {
                "Your password was reset and every session signed out. Log in with the new one."
            }
            Self::VerificationSent => {
                "A link is on its way to your address: follow it to confirm the address."
            }
            Self::EmailChangeSent => {
                "A link is on its way to the new address. Nothing changes until you follow it."
            }
            Self::IdentityLinked => "Linked: you can log in with it from now on.",
            Self::IdentityUnlinked => "Unlinked: it no longer logs you in.",
        }
    }
}

/// An instant as a page shows it: readable text, and the machine form for `<time datetime>`.
#[derive(Debug, Clone)]
pub struct When {
    pub text: String,
    pub iso: String,
    pub unix: i64,
}

impl When {
    pub fn new(at: OffsetDateTime) -> Self {
        let at = at.to_offset(time::UtcOffset::UTC);
        let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
        Self {
            text: at.format(&format).unwrap_or_default(),
            iso: at.format(&Rfc3339).unwrap_or_default(),
            unix: at.unix_timestamp(),
        }
    }

    pub fn from_unix(seconds: i64) -> Self {
        Self::new(
            OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH),
        )
    }
}
