//! The authorization endpoint (RFC 6749 §3.1, §4.1) as the browser sees it. The domain
//! (`authorization`) decides each step; these handlers read the browser's session in and turn
//! each [`Step`] into a page or a redirect: to the login page (the request kept in Redis
//! meanwhile), to the consent page, or back to the client with a code or an error.
//!
//! Pages and redirects share the UI's cookies, CSRF guard and headers. The one header that
//! differs is the CSP's `form-action`: a form whose answer redirects to the client must be
//! allowed to, as browsers apply `form-action` to the redirects that follow a submission.

use std::sync::Arc;

use askama::Template;
use poem::{
    Body, Request, Response, handler,
    http::StatusCode,
    web::{Data, Query},
};
use serde::Deserialize;

mod answer;

pub use answer::{allow_form_to_end_at, login_url, resume_url};

use super::{
    Ui,
    error::UiError,
    forms::WithCsrf,
    page::{Layout, html, see_other},
    params, session,
};
use crate::{
    authorization::{EXPIRED, LoginFlow, Step},
    http::callers::admitted,
    oidc,
    rate_limit::RateLimitedRoute,
};

/// The code flow waits for a confirmed address (`AUTHD_REQUIRE_VERIFIED_EMAIL`).
#[derive(Template)]
#[template(path = "verify_first.html")]
struct VerifyFirstPage {
    layout: Layout,
    email: String,
    continue_url: String,
    request: String,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    layout: Layout,
    client_name: String,
    /// Whether an operator vouches for the name; if not, the page says so.
    verified: bool,
    /// Where the browser goes next: the redirect URI's host, or `None` for an app on this
    /// device (a private-use URI has no host to show).
    destination: Option<String>,
    username: String,
    /// Each scope, in plain words when it is a standard one.
    scopes: Vec<(String, Option<&'static str>)>,
    request: String,
}

/// The host (and port, if not the scheme's) a web redirect URI sends the browser to.
fn destination_of(redirect_uri: &str) -> Option<String> {
    let url = url::Url::parse(redirect_uri).ok()?;
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

#[derive(Deserialize)]
pub struct ContinueQuery {
    #[serde(default)]
    request: String,
}

#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    request: String,
    #[serde(default)]
    decision: String,
}

#[handler]
pub async fn authorize_get(req: &Request, Data(ui): Data<&Arc<Ui>>) -> Result<Response, UiError> {
    start(ui, req, params::from_query(req)).await
}

/// RFC 6749 §3.1 lets the request come as a form post as well (OpenID Connect requires it).
#[handler]
pub async fn authorize_post(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    body: Body,
) -> Result<Response, UiError> {
    let params = params::from_form(req, body, "An authorization request").await?;
    start(ui, req, params).await
}

/// Where the login page returns to, with the held request's id.
#[handler]
pub async fn resume(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    Query(query): Query<ContinueQuery>,
) -> Result<Response, UiError> {
    let live = session::live(&ui.state, req.cookie(), &ui.cookies).await?;
    let signed_in = live.as_ref().map(|(user, session)| (user, session));
    let step = ui
        .state
        .authorizations
        .resume(&query.request, signed_in)
        .await?;
    show(ui, req, step).await
}

#[handler]
pub async fn consent(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    form: WithCsrf<ConsentForm>,
) -> Result<Response, UiError> {
    let form = form.0;
    // Signed out meanwhile: sign in again, then the request goes on.
    let Some(signed_in) = session::current(&ui.state, req.cookie(), &ui.cookies).await? else {
        return Ok(see_other(&login_url(&form.request)));
    };
    let step = ui
        .state
        .authorizations
        .answer_consent(
            &form.request,
            (&signed_in.user, &signed_in.session),
            form.decision == "allow",
        )
        .await?;
    show(ui, req, step).await
}

async fn start(
    ui: &Ui,
    req: &Request,
    params: crate::authorization::Params,
) -> Result<Response, UiError> {
    let state = &ui.state;
    // Per address, like the login: each request without a session is stored for a while.
    admitted(state, req, RateLimitedRoute::Authorize).await?;
    let live = session::live(state, req.cookie(), &ui.cookies).await?;
    let signed_in = live.as_ref().map(|(user, session)| (user, session));
    let step = state.authorizations.start(&params, signed_in).await?;
    show(ui, req, step).await
}

/// The page or redirect a step is.
async fn show(ui: &Ui, req: &Request, step: Step) -> Result<Response, UiError> {
    match step {
        Step::Login {
            request_id,
            redirect_uri,
        } => Ok(allow_form_to_end_at(
            see_other(&login_url(&request_id)),
            &redirect_uri,
        )),
        Step::Consent {
            request_id,
            client,
            scopes,
            redirect_uri,
        } => {
            // The full session: the page's layout names the user and holds the CSRF token.
            let signed_in = session::current(&ui.state, req.cookie(), &ui.cookies)
                .await?
                .ok_or_else(|| UiError::new(StatusCode::BAD_REQUEST, EXPIRED))?;
            let page = ConsentPage {
                layout: Layout::new(req.cookie(), &ui.cookies, Some(&signed_in)),
                client_name: client.name,
                verified: client.verified,
                destination: if client.native {
                    None
                } else {
                    destination_of(&redirect_uri)
                },
                username: signed_in.user.username.clone(),
                scopes: scopes
                    .into_iter()
                    .map(|scope| {
                        let description = oidc::scope_description(&scope);
                        (scope, description)
                    })
                    .collect(),
                request: request_id,
            };
            Ok(allow_form_to_end_at(
                html(&page, StatusCode::OK),
                &redirect_uri,
            ))
        }
        Step::Code {
            redirect_uri,
            code,
            state,
            response_mode,
        } => {
            let mut answer: Vec<(&str, &str)> = vec![("code", &code)];
            if let Some(state) = &state {
                answer.push(("state", state));
            }
            Ok(ui.answer_client(&redirect_uri, response_mode, &answer))
        }
        Step::VerifyEmail {
            request_id,
            redirect_uri,
        } => {
            let signed_in = session::current(&ui.state, req.cookie(), &ui.cookies)
                .await?
                .ok_or_else(|| UiError::new(StatusCode::BAD_REQUEST, EXPIRED))?;
            let page = VerifyFirstPage {
                layout: Layout::new(req.cookie(), &ui.cookies, Some(&signed_in)),
                email: signed_in.user.email.clone(),
                continue_url: resume_url(&request_id),
                request: request_id,
            };
            Ok(allow_form_to_end_at(
                html(&page, StatusCode::FORBIDDEN),
                &redirect_uri,
            ))
        }
        Step::ClientError(error) => Ok(ui.to_client(&error)),
        Step::RedirectError(message) => Err(UiError::new(StatusCode::BAD_REQUEST, message)),
    }
}

/// The held request a login continues; an error page if it has expired.
/// A login for the device page (`device:CODE`) shows the device's client the same way.
pub async fn held_for_login(ui: &Ui, id: &str) -> Result<LoginFlow, UiError> {
    let flow = match id.strip_prefix(DEVICE_LOGIN_PREFIX) {
        Some(user_code) => device_login_flow(ui, user_code).await?,
        None => ui.state.authorizations.login_flow(id).await?,
    };
    flow.ok_or_else(|| UiError::new(StatusCode::BAD_REQUEST, EXPIRED))
}

/// What a login continues into, in the `authorization` parameter the login pages carry: the
/// device page (`/ui/device`) with this code.
pub const DEVICE_LOGIN_PREFIX: &str = "device:";

/// What the login page shows when a person signs in to approve a device: its client.
async fn device_login_flow(
    ui: &Ui,
    user_code: &str,
) -> Result<Option<LoginFlow>, crate::error::Error> {
    let Some(pending) = ui.state.authorizations.pending_device(user_code).await? else {
        return Ok(None);
    };
    Ok(Some(LoginFlow {
        client_name: pending.client_name,
        login_hint: None,
        redirect_uri: device_page_url(user_code),
    }))
}

/// The device page with `user_code` entered: where a login for it goes on to.
pub fn device_page_url(user_code: &str) -> String {
    format!(
        "/ui/device?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("user_code", user_code)
            .finish()
    )
}
