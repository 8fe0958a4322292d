//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): a client sends the browser to
//! `end_session_endpoint` to sign the user out of authd, and may name where to return.
//!
//! The rules that keep it from being an open redirector or a logout CSRF:
//! - `post_logout_redirect_uri` must be one the client registered, exactly; the client is
//!   `client_id` or the audience of `id_token_hint`, and they must agree. Otherwise the user
//!   sees an error page and is sent nowhere.
//! - A current hint naming the signed-in user (or any user, if nobody is signed in here) is
//!   the client's proof that the user was just with it: authd signs out at once. Without a
//!   hint, or with a stale one (expired, or naming another user), the user is asked first.
//!
//! What ends: the browser's authd session, and the session (refresh-token family) the hint's
//! `sid` names, with every token issued in it.

use std::sync::Arc;

use askama::Template;
use poem::{Body, Request, Response, handler, http::StatusCode, web::Data};
use uuid::Uuid;

use super::{
    Ui, csrf,
    error::UiError,
    page::{Layout, Notice, html, see_other},
    params, session,
};
use crate::{
    authorization::{
        Params,
        request::{Repeated, single},
    },
    clients::redirect_uri,
    http::ui::authorize::allow_form_to_end_at,
    oidc::IdTokenHint,
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

/// A checked logout request.
struct Logout {
    hint: Option<IdTokenHint>,
    client_name: Option<String>,
    /// Where to send the browser afterwards, `state` included.
    return_to: Option<String>,
    /// The parameters as sent, to carry through a confirmation.
    params: Vec<(String, String)>,
}

/// The parameters a confirmation carries on.
const PARAMETERS: [&str; 4] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
];

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
    let user_id = signed_in
        .as_ref()
        .map(|signed_in| signed_in.user.id.to_string());
    let proven = logout.hint.as_ref().is_some_and(|hint| {
        !hint.expired && user_id.as_deref().is_none_or(|user| user == hint.sub)
    });
    let application_session = logout.hint.as_ref().is_some_and(|hint| hint.sid.is_some());
    if proven || (signed_in.is_none() && !application_session) {
        // Proven by a current hint, or nothing here to end: no question to ask.
        return sign_out(ui, req, logout).await;
    }
    let page = ConfirmPage {
        layout: Layout::new(req.cookie(), &ui.cookies, signed_in.as_ref()),
        client_name: logout.client_name.clone(),
        username: signed_in.map(|signed_in| signed_in.user.username),
        ends_application_session: application_session,
        request: logout.params.clone(),
    };
    let response = html(&page, StatusCode::OK);
    Ok(match &logout.return_to {
        Some(uri) => allow_form_to_end_at(response, uri),
        None => response,
    })
}

/// Checks the request; an error page for anything that could send the browser somewhere the
/// client did not register, or end a session on a forged hint.
async fn check(ui: &Ui, params: &Params) -> Result<Logout, UiError> {
    let bad = |message: &str| UiError::new(StatusCode::BAD_REQUEST, message);
    let get = |name: &str| {
        single(params, name).map_err(|Repeated| {
            bad(&format!(
                "The sign-out request names {name} more than once."
            ))
        })
    };
    let hint = match get("id_token_hint")? {
        Some(token) => Some(ui.state.read_id_token_hint(token).ok_or_else(|| {
            bad(
                "The sign-out request carries an id_token_hint that is not an ID token authd \
                 issued. You have not been signed out.",
            )
        })?),
        None => None,
    };
    let client_id = match (get("client_id")?, &hint) {
        (Some(client_id), Some(hint)) if client_id != hint.aud => {
            return Err(bad(
                "The sign-out request names one application in client_id and another in \
                 id_token_hint. You have not been signed out.",
            ));
        }
        (Some(client_id), _) => Some(client_id.to_owned()),
        (None, Some(hint)) => Some(hint.aud.clone()),
        (None, None) => None,
    };
    let client = match &client_id {
        Some(client_id) => Some(ui.state.clients.find(client_id).await?.ok_or_else(|| {
            bad("The application that sent you here is not registered with authd.")
        })?),
        None => None,
    };
    let return_to = match get("post_logout_redirect_uri")? {
        None => None,
        Some(uri) => {
            let registered = client.as_ref().is_some_and(|client| {
                redirect_uri::is_registered(&client.post_logout_redirect_uris, uri)
            });
            if !registered {
                return Err(bad(
                    "The application asked to return you after signing out to an address it has \
                     not registered. authd will not send you there, and you have not been \
                     signed out.",
                ));
            }
            Some(with_state(uri, get("state")?))
        }
    };
    let params = PARAMETERS
        .iter()
        .filter_map(|name| {
            let value = single(params, name).ok().flatten()?;
            Some(((*name).to_owned(), value.to_owned()))
        })
        .collect();
    Ok(Logout {
        hint,
        client_name: client.map(|client| client.name),
        return_to,
        params,
    })
}

/// Ends the browser's session and the one the hint names, then returns the browser.
async fn sign_out(ui: &Ui, req: &Request, logout: Logout) -> Result<Response, UiError> {
    let state = &ui.state;
    session::log_out(state, req.cookie(), &ui.cookies).await?;
    if let Some(hint) = &logout.hint
        && let (Ok(user_id), Some(Ok(session_id))) = (
            Uuid::parse_str(&hint.sub),
            hint.sid.as_deref().map(Uuid::parse_str),
        )
    {
        state.sessions.revoke_by_id(user_id, session_id).await?;
    }
    tracing::info!(
        user_id = logout.hint.as_ref().map(|hint| hint.sub.as_str()),
        "signed out at a client's request"
    );
    Ok(match logout.return_to {
        Some(uri) => see_other(&uri),
        None => see_other(&format!("/ui/login?notice={}", Notice::SignedOut.query())),
    })
}

/// `uri` with `state` added to its query (RP-Initiated Logout §3), keeping the query it has.
fn with_state(uri: &str, state: Option<&str>) -> String {
    let Some(state) = state else {
        return uri.to_owned();
    };
    match url::Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair("state", state);
            url.into()
        }
        Err(_) => uri.to_owned(),
    }
}
