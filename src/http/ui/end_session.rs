//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) in the browser: the domain
//! (`logout`) checks the request and says whether the user must confirm; these handlers show
//! the confirmation page, end the browser's session and the one the client's hint names, and
//! return the browser where the client asked.

use std::sync::Arc;

use askama::Template;
use poem::{Body, Request, Response, handler, http::StatusCode, web::Data};

use super::{
    Ui, csrf,
    error::UiError,
    page::{Layout, Notice, html, see_other},
    params, session, signed_out,
};
use crate::{
    authorization::{Params, request::single},
    http::ui::authorize::allow_form_to_end_at,
    logout::{Logout, Refusal},
};

#[derive(Template)]
#[template(path = "end_session.html")]
struct ConfirmPage {
    layout: Layout,
    client_name: Option<String>,
    username: Option<String>,
    ends_application_session: bool,
    /// The request's parameters, carried through the confirmation.
    request: Vec<(String, String)>,
}

#[handler]
pub async fn end_session_get(req: &Request, Data(ui): Data<&Arc<Ui>>) -> Result<Response, UiError> {
    start(ui, req, &params::from_query(req)).await
}

/// The same request as a form post (RP-Initiated Logout §2).
#[handler]
pub async fn end_session_post(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    body: Body,
) -> Result<Response, UiError> {
    let params = params::from_form(req, body, "A sign-out request").await?;
    start(ui, req, &params).await
}

/// The user's answer to the confirmation page.
#[handler]
pub async fn confirm(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    body: Body,
) -> Result<Response, UiError> {
    let params = params::from_form(req, body, "A sign-out request").await?;
    let csrf_token = single(&params, "csrf").ok().flatten().unwrap_or_default();
    if !csrf::is_genuine(req, &ui.cookies, csrf_token) {
        return Err(UiError::forged_form());
    }
    let logout = check(ui, &params).await?;
    if single(&params, "decision").ok().flatten() != Some("sign_out") {
        // Staying signed in: back to authd, not to the client, which asked for a sign-out.
        return Ok(see_other("/ui"));
    }
    sign_out(ui, req, logout).await
}

async fn start(ui: &Ui, req: &Request, params: &Params) -> Result<Response, UiError> {
    let logout = check(ui, params).await?;
    // The full session, as the confirmation page's header names who is signed in.
    let signed_in = session::current(&ui.state, req.cookie(), &ui.cookies).await?;
    if logout.is_proven(signed_in.as_ref().map(|signed_in| signed_in.user.id)) {
        // Proven by a current hint, or nothing here to end: no question to ask.
        return sign_out(ui, req, logout).await;
    }
    let page = ConfirmPage {
        layout: Layout::new(req.cookie(), &ui.cookies, signed_in.as_ref()),
        client_name: logout.client_name.clone(),
        username: signed_in.map(|signed_in| signed_in.user.username),
        ends_application_session: logout.ends_application_session(),
        request: logout.params.clone(),
    };
    let response = html(&page, StatusCode::OK);
    Ok(match &logout.return_to {
        Some(uri) => allow_form_to_end_at(response, uri),
        None => response,
    })
}

/// The request checked by the domain; an error page, sending the browser nowhere, if refused.
async fn check(ui: &Ui, params: &Params) -> Result<Logout, UiError> {
    ui.state
        .logouts
        .check(params)
        .await
        .map_err(|refusal| match refusal {
            Refusal::Refused(message) => UiError::new(StatusCode::BAD_REQUEST, message),
            Refusal::Failed(err) => err.into(),
        })
}

/// Ends the browser's session and the one the hint names, then returns the browser.
/// The sessions that end are told: by back channel (the domain's), and through the front
/// channel of the page this answers with.
async fn sign_out(ui: &Ui, req: &Request, logout: Logout) -> Result<Response, UiError> {
    let hinted = ui.state.logouts.hinted_session(&logout);
    let pages = signed_out::front_channel_pages(ui, req, hinted).await?;
    session::log_out(&ui.state, req.cookie(), &ui.cookies).await?;
    ui.state.logouts.end_hinted_session(&logout).await?;
    tracing::info!(
        user_id = logout.hinted_user(),
        "signed out at a client's request"
    );
    let next = logout
        .return_to
        .unwrap_or_else(|| format!("/ui/login?notice={}", Notice::SignedOut.query()));
    Ok(signed_out::leave(pages, next))
}
