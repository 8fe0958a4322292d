//! The web UI under `/ui`: server-rendered pages where a person can register, sign in, edit
//! their profile, see their token and sessions, and watch key rotation, without curl.
//!
//! Pages are askama templates (checked when authd compiles, HTML-escaped). They work without
//! JavaScript; one small script only adds a copy button and the token's countdown. The browser
//! holds a session as `HttpOnly` cookies ([`session`]); forms are guarded against CSRF
//! ([`csrf`]); every answer carries a strict Content-Security-Policy (no inline script or
//! style), so injected markup could not run even if escaping failed.

mod account;
mod assets;
mod authorize;
mod cookies;
mod csrf;
mod device;
mod end_session;
mod error;
mod forms;
mod home;
mod keys;
mod mail_links;
mod page;
mod params;
mod passkeys;
mod profile;
mod second_factor;
mod session;
mod signed_out;
mod upstream;
mod user_agent;

use std::sync::Arc;

use poem::{
    Endpoint, EndpointExt, Response, Route, get,
    http::{HeaderValue, header},
    middleware::CookieJarManager,
    post,
};

use self::cookies::CookiePolicy;
use crate::state::AppState;

/// What every UI handler is given.
pub struct Ui {
    state: AppState,
    cookies: CookiePolicy,
}

/// Scripts and styles only from authd's own files, no plugins, no framing, forms only to
/// authd, no `<base>` tricks; and nothing may be fetched by script.
pub(super) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The UI's fixed paths and their methods, for the `Allow` header of a 405.
pub const ALLOWED_METHODS: [(&str, &str); 34] = [
    ("/ui", "GET"),
    ("/ui/", "GET"),
    ("/ui/register", "GET, POST"),
    ("/ui/login", "GET, POST"),
    ("/ui/login/code", "GET, POST"),
    ("/ui/login/passkey", "POST"),
    ("/ui/login/passkey/finish", "POST"),
    ("/ui/login/code/passkey", "POST"),
    ("/ui/login/code/passkey/finish", "POST"),
    ("/ui/logout", "POST"),
    ("/ui/profile", "GET, POST"),
    ("/ui/profile/totp", "POST"),
    ("/ui/profile/totp/confirm", "POST"),
    ("/ui/profile/totp/remove", "POST"),
    ("/ui/profile/passkeys", "POST"),
    ("/ui/profile/passkeys/finish", "POST"),
    ("/ui/profile/reauthenticate", "POST"),
    ("/ui/profile/reauthenticate/finish", "POST"),
    ("/ui/profile/passkey-only", "POST"),
    ("/ui/profile/password", "POST"),
    ("/ui/profile/email", "POST"),
    ("/ui/profile/verify-email", "POST"),
    ("/ui/forgot-password", "GET, POST"),
    ("/ui/reset-password", "GET, POST"),
    ("/ui/verify-email", "GET, POST"),
    ("/ui/confirm-email", "GET, POST"),
    ("/ui/dev/mail", "GET"),
    ("/ui/keys", "GET"),
    ("/ui/device", "GET, POST"),
    ("/ui/device/decide", "POST"),
    ("/oauth/authorize/continue", "GET"),
    ("/oauth/authorize/consent", "POST"),
    ("/oauth/end_session", "GET, POST"),
    ("/oauth/end_session/confirm", "POST"),
];

/// The authorization endpoint's routes, to be nested at `/oauth/authorize`: pages like the
/// UI's, with its cookies and headers.
pub fn authorize_routes(state: &AppState) -> impl Endpoint + 'static {
    let route = Route::new()
        .at(
            "/",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .at("/continue", get(authorize::resume))
        .at("/consent", post(authorize::consent));
    as_pages(route, state)
}

/// RP-initiated logout's routes, to be nested at `/oauth/end_session`: pages like the UI's.
pub fn end_session_routes(state: &AppState) -> impl Endpoint + 'static {
    let route = Route::new()
        .at(
            "/",
            get(end_session::end_session_get).post(end_session::end_session_post),
        )
        .at("/confirm", post(end_session::confirm));
    as_pages(route, state)
}

/// The UI's routes, to be nested at `/ui`.
pub fn routes(state: &AppState) -> impl Endpoint + 'static {
    let route = Route::new()
        .at("/", get(home::show))
        .at(
            "/register",
            get(account::register_form).post(account::register),
        )
        .at("/login", get(account::login_form).post(account::login))
        .at(
            "/login/code",
            get(second_factor::code_form).post(second_factor::submit_code),
        )
        .at("/login/passkey", post(passkeys::login_begin))
        .at("/login/upstream/:id", get(upstream::begin))
        .at("/login/upstream/:id/callback", get(upstream::callback))
        .at("/login/passkey/finish", post(passkeys::login_finish))
        .at("/login/code/passkey", post(passkeys::second_step_begin))
        .at(
            "/login/code/passkey/finish",
            post(passkeys::second_step_finish),
        )
        .at("/logout", post(account::logout))
        .at("/profile", get(profile::show).post(profile::save))
        .at("/sessions/:id/revoke", post(profile::revoke_session))
        .at("/profile/totp", post(second_factor::begin))
        .at("/profile/totp/confirm", post(second_factor::confirm))
        .at("/profile/totp/remove", post(second_factor::remove))
        .at("/profile/passkeys", post(passkeys::add_begin))
        .at("/profile/passkeys/finish", post(passkeys::add_finish))
        .at("/profile/passkeys/:id/remove", post(passkeys::remove))
        .at(
            "/profile/reauthenticate",
            post(passkeys::reauthenticate_begin),
        )
        .at(
            "/profile/reauthenticate/finish",
            post(passkeys::reauthenticate_finish),
        )
        .at("/profile/passkey-only", post(passkeys::passkey_only))
        .at("/profile/identities/:id/link", post(upstream::link))
        .at("/profile/identities/:id/unlink", post(upstream::unlink))
        .at("/profile/password", post(passkeys::set_password))
        .at("/profile/email", post(mail_links::change_email))
        .at(
            "/profile/verify-email",
            post(mail_links::resend_verification),
        )
        .at(
            "/forgot-password",
            get(mail_links::forgot_form).post(mail_links::forgot),
        )
        .at(
            "/reset-password",
            get(mail_links::reset_form).post(mail_links::reset),
        )
        .at(
            "/verify-email",
            get(mail_links::verify_form).post(mail_links::verify),
        )
        .at(
            "/confirm-email",
            get(mail_links::confirm_form).post(mail_links::confirm),
        )
        .at("/dev/mail", get(mail_links::dev_mailbox))
        .at(
            "/applications/:client_id/revoke",
            post(profile::revoke_application),
        )
        .at("/keys", get(keys::show))
        .at("/device", get(device::show).post(device::submit))
        .at("/device/decide", post(device::decide))
        .at("/static/:file", get(assets::serve));
    as_pages(route, state)
}

/// `route` served as pages: handlers given the [`Ui`], every error a page, cookies managed,
/// and the page headers on every answer.
fn as_pages(route: Route, state: &AppState) -> impl Endpoint + 'static {
    let ui = Arc::new(Ui {
        cookies: CookiePolicy::new(&state.config),
        state: state.clone(),
    });
    route
        .data(ui)
        // Every failure becomes a page here, inside the cookie manager, so that an answer
        // with an error still carries the cookies its handler set.
        .catch_all_error(|err: poem::Error| async move {
            if err.is_from_response() {
                err.into_response()
            } else {
                error::framework_error(err.status())
            }
        })
        .with(CookieJarManager::new())
        .map_to_response()
        .after(|response| async move { Ok(with_page_headers(response?)) })
}

fn with_page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    // A page that must let a form end at a client sets its own (see `authorize`).
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}
