//! The authorization endpoint (RFC 6749 §3.1, §4.1) as the browser sees it: `/oauth/authorize`
//! checks the request, sends a user without a session to the login page (the request kept in
//! Redis meanwhile), asks for consent once per client and scope set, and returns the user to
//! the client with a one-time code.
//!
//! Pages and redirects share the UI's cookies, CSRF guard and headers. The one header that
//! differs is the CSP's `form-action`: a form whose answer redirects to the client must be
//! allowed to, as browsers apply `form-action` to the redirects that follow a submission.

use std::sync::Arc;

use askama::Template;
use poem::{
    Body, Request, Response, handler,
    http::StatusCode,
    web::{Data, Form, Query},
};
use serde::Deserialize;

mod answer;
mod pending;

pub use answer::{allow_form_to_end_at, login_url, resume_url};

use self::{
    answer::{expired, login_of, refusal_page, unknown_client},
    pending::Pending,
};
use super::{
    Ui, csrf,
    error::UiError,
    page::{Layout, html, see_other},
    params, session,
};
use crate::{
    authorization::{
        ClientError, Params,
        request::{check, redirect_target, single},
        unix_millis,
    },
    http::client_ip,
    oidc,
    rate_limit::RateLimitedRoute,
};

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    layout: Layout,
    client_name: String,
    username: String,
    /// Each scope, with what it reveals when it is one of OpenID Connect's.
    scopes: Vec<(String, Option<&'static str>)>,
    request: String,
}

#[derive(Deserialize)]
pub struct ContinueQuery {
    #[serde(default)]
    request: String,
}

#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    csrf: String,
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
    let request = ui
        .state
        .authorizations
        .held(&query.request, false)
        .await?
        .ok_or_else(expired)?;
    proceed(ui, req, Pending::Held(query.request, request)).await
}

#[handler]
pub async fn consent(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    Form(form): Form<ConsentForm>,
) -> Result<Response, UiError> {
    if !csrf::is_genuine(req, &ui.cookies, &form.csrf) {
        return Err(UiError::forged_form());
    }
    let Some(signed_in) = session::current(&ui.state, req.cookie(), &ui.cookies).await? else {
        return Ok(see_other(&login_url(&form.request)));
    };
    // Taken, so the same consent cannot be answered twice.
    let authorizations = &ui.state.authorizations;
    let request = authorizations
        .held(&form.request, true)
        .await?
        .ok_or_else(expired)?;
    if form.decision != "allow" {
        let denied =
            ClientError::for_request(&request, "access_denied", "the user denied the request");
        return Ok(ui.to_client(&denied));
    }
    authorizations
        .consent(
            signed_in.user.id,
            &request.client_id,
            &request.consent_scope(),
        )
        .await?;
    ui.code_redirect(&signed_in.user, &signed_in.session, request)
        .await
}

async fn start(ui: &Ui, req: &Request, params: Params) -> Result<Response, UiError> {
    let state = &ui.state;
    // Per address, like the login: each request without a session is stored for a while.
    state
        .rate_limiter
        .check(
            RateLimitedRoute::Authorize,
            client_ip(req, &state.config.trusted_proxies),
        )
        .await?;
    let client_id = single(&params, "client_id").ok().flatten();
    let request = match single(&params, "request_uri") {
        Ok(Some(request_uri)) => {
            // RFC 9126 §4: the pushed request is the whole request; other parameters but
            // client_id are ignored. The client authenticated when it pushed, so it is not
            // looked up again. The request names its redirect URI, so an unknown or used
            // request_uri can only be shown to the user.
            match state.authorizations.take_pushed(request_uri).await? {
                Some(request) if Some(request.client_id.as_str()) == client_id => request,
                _ => {
                    return Err(UiError::new(
                        StatusCode::BAD_REQUEST,
                        "This sign-in request has expired or was already used. Go back to the \
                         application and start again.",
                    ));
                }
            }
        }
        Ok(None) => {
            let client = match client_id {
                Some(client_id) => state.clients.find(client_id).await?,
                None => None,
            };
            let Some(client) = client.as_ref() else {
                // Without a registered client there is nowhere safe to redirect to.
                let refusal = redirect_target(&params, None)
                    .err()
                    .unwrap_or_else(unknown_client);
                return Err(refusal_page(&refusal));
            };
            let now = unix_millis(state.clock.now());
            let read_hint = |hint: &str| state.read_id_token_hint(hint);
            let request = match check(&params, client, &state.targets, now, &read_hint) {
                Ok(request) => request,
                Err(refusal) => return ui.refuse(&refusal),
            };
            let must_push = state.config.require_par || client.require_par;
            if must_push {
                let error = ClientError::for_request(
                    &request,
                    "invalid_request",
                    "authorization requests must be pushed to /oauth/par first (RFC 9126)",
                );
                return Ok(ui.to_client(&error));
            }
            request
        }
        Err(_) => {
            return Err(UiError::new(
                StatusCode::BAD_REQUEST,
                "The request names more than one request_uri.",
            ));
        }
    };
    proceed(ui, req, Pending::New(request)).await
}

/// The next step of a request: log in, consent, or the code. Only a request that needs a page
/// is stored, so a signed-in user who has consented costs no write but the code's.
async fn proceed(ui: &Ui, req: &Request, pending: Pending) -> Result<Response, UiError> {
    let state = &ui.state;
    let live = session::live(state, req.cookie(), &ui.cookies).await?;
    let request = pending.request();
    let now = state.clock.now().unix_timestamp();
    let needs_login = match &live {
        None => true,
        Some((user, session)) => {
            let auth_time = login_of(session).auth_time;
            // A login since the request was made answers `prompt=login` and any `max_age`.
            let fresh = unix_millis(session.created_at) >= request.created_at_ms;
            let too_old = request
                .max_age
                .is_some_and(|max_age| now - auth_time > max_age);
            // OpenID Connect Core §3.1.2.1: only the user an `id_token_hint` names may answer.
            let someone_else = request
                .hinted_subject
                .as_deref()
                .is_some_and(|sub| sub != user.id.to_string());
            if someone_else && fresh {
                let error = ClientError::for_request(
                    request,
                    "login_required",
                    "the user who signed in is not the one id_token_hint names",
                );
                return Ok(ui.to_client(&error));
            }
            someone_else || (!fresh && (request.prompt.login || too_old))
        }
    };
    let Some((user, session)) = live.filter(|_| !needs_login) else {
        if request.prompt.none {
            let error =
                ClientError::for_request(request, "login_required", "the user is not signed in");
            return Ok(ui.to_client(&error));
        }
        let id = pending.id(ui).await?;
        return Ok(ui.with_form_action(see_other(&login_url(&id)), pending.request()));
    };
    let consented = state
        .authorizations
        .has_consent(user.id, &request.client_id, &request.consent_scope())
        .await?;
    if consented && !request.prompt.consent {
        let request = pending.take(ui).await?;
        return ui.code_redirect(&user, &session, request).await;
    }
    if request.prompt.none {
        let error = ClientError::for_request(
            request,
            "consent_required",
            "the user has not allowed this client yet",
        );
        return Ok(ui.to_client(&error));
    }
    // The consent page: the full session (its layout names the user and holds the CSRF token).
    let signed_in = session::current(state, req.cookie(), &ui.cookies)
        .await?
        .ok_or_else(expired)?;
    let client = state
        .clients
        .find(&request.client_id)
        .await?
        .ok_or_else(expired)?;
    let id = pending.id(ui).await?;
    let request = pending.request();
    let page = ConsentPage {
        layout: Layout::new(req.cookie(), &ui.cookies, Some(&signed_in)),
        client_name: client.name,
        username: signed_in.user.username.clone(),
        scopes: request
            .consent_scope()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(|scope| (scope.to_owned(), oidc::scope_description(scope)))
            .collect(),
        request: id,
    };
    Ok(ui.with_form_action(html(&page, StatusCode::OK), request))
}

/// What the login page shows of the request it continues.
pub struct LoginFlow {
    pub client_name: String,
    pub login_hint: Option<String>,
    pub redirect_uri: String,
}

/// The held request a login continues; an error page if it has expired.
pub async fn held_for_login(ui: &Ui, id: &str) -> Result<LoginFlow, UiError> {
    let state = &ui.state;
    let request = state
        .authorizations
        .held(id, false)
        .await?
        .ok_or_else(expired)?;
    let client = state
        .clients
        .find(&request.client_id)
        .await?
        .ok_or_else(expired)?;
    Ok(LoginFlow {
        client_name: client.name,
        login_hint: request.login_hint,
        redirect_uri: request.redirect_uri,
    })
}
