//! `/ui/device`: where a person enters the code a device shows (RFC 8628 §3.3), signs in if
//! they have not, sees which application asks for what, and allows or denies. The domain
//! (`Authorizations`, `device`) keeps the grant; this page is the person's side of it.
//!
//! Remote phishing (§5.4) is the risk: someone sends a person a code of theirs and asks them
//! to approve it. So the approval names the application, says whether anyone vouches for its
//! name, and asks the person to approve only a code their own device shows. Guessing (§5.1) is
//! throttled per address and over all addresses, and every wrong code is audited.

use std::sync::Arc;

use askama::Template;
use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Query},
};
use serde::Deserialize;

use super::{
    Ui,
    error::UiError,
    forms::{SignedInForm, WithCsrf},
    page::{Layout, html, see_other},
    session::{self, SignedIn},
};
use crate::{
    authorization::{DeviceDecision, PendingDevice},
    events::{Actor, EventType, NewEvent},
    http::{
        client_ip,
        ui::authorize::{DEVICE_LOGIN_PREFIX, login_url},
    },
    oidc,
};

#[derive(Template)]
#[template(path = "device.html")]
struct CodePage {
    layout: Layout,
    user_code: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "device_confirm.html")]
struct ConfirmPage {
    layout: Layout,
    client_name: String,
    verified: bool,
    username: String,
    user_code: String,
    scopes: Vec<(String, Option<&'static str>)>,
}

#[derive(Template)]
#[template(path = "device_done.html")]
struct DonePage {
    layout: Layout,
    allowed: bool,
    client_name: String,
}

#[derive(Deserialize)]
pub struct CodeQuery {
    user_code: Option<String>,
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    user_code: String,
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    user_code: String,
    #[serde(default)]
    decision: String,
}

/// The code form; with `?user_code=` (the `verification_uri_complete`), straight to the
/// question for a signed-in person.
#[handler]
pub async fn show(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    Query(query): Query<CodeQuery>,
) -> Result<Response, UiError> {
    match query.user_code.filter(|code| !code.trim().is_empty()) {
        Some(code) => enter(ui, req, &code).await,
        None => code_page(ui, req, String::new(), None, StatusCode::OK).await,
    }
}

/// The code as typed.
#[handler]
pub async fn submit(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    WithCsrf(form): WithCsrf<CodeForm>,
) -> Result<Response, UiError> {
    enter(ui, req, &form.user_code).await
}

/// The person's answer.
#[handler]
pub async fn decide(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    SignedInForm { signed_in, form }: SignedInForm<DecisionForm>,
) -> Result<Response, UiError> {
    let decision = match form.decision.as_str() {
        "allow" => DeviceDecision::Allow,
        "deny" => DeviceDecision::Deny,
        _ => {
            return Err(UiError::new(
                StatusCode::BAD_REQUEST,
                "Choose Allow or Deny.",
            ));
        }
    };
    let state = &ui.state;
    let answered = state
        .authorizations
        .decide_device(
            &form.user_code,
            &signed_in.user,
            &signed_in.session,
            decision,
        )
        .await?;
    let Some(pending) = answered else {
        return code_page(
            ui,
            req,
            form.user_code,
            Some(GONE.to_owned()),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let kind = match decision {
        DeviceDecision::Allow => EventType::DeviceApproved,
        DeviceDecision::Deny => EventType::DeviceDenied,
    };
    audit(
        ui,
        NewEvent::new(kind, Actor::User(signed_in.user.id))
            .user(signed_in.user.id)
            .client(pending.client_id.clone())
            .ip(Some(client_ip(req, &state.config.trusted_proxies)))
            .detail(serde_json::json!({ "scope": pending.scope })),
    )
    .await;
    let page = DonePage {
        layout: Layout::new(req.cookie(), &ui.cookies, Some(&signed_in)),
        allowed: decision == DeviceDecision::Allow,
        client_name: pending.client_name,
    };
    Ok(html(&page, StatusCode::OK))
}

const GONE: &str = "That code is not valid: it may have expired or been used already. Check \
                    the code your device shows, or start again on the device.";

/// A code entered (typed, or in the link): checked against the throttle, looked up, and the
/// question asked of a signed-in person; a person not signed in signs in first.
async fn enter(ui: &Ui, req: &Request, typed: &str) -> Result<Response, UiError> {
    let state = &ui.state;
    let ip = client_ip(req, &state.config.trusted_proxies);
    state.device_codes.check(ip).await?;
    let Some(pending) = state.authorizations.pending_device(typed).await? else {
        state.device_codes.failed(ip).await;
        audit(
            ui,
            NewEvent::new(EventType::DeviceCodeRejected, Actor::Anonymous).ip(Some(ip)),
        )
        .await;
        return code_page(
            ui,
            req,
            typed.to_owned(),
            Some(GONE.to_owned()),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let Some(signed_in) = session::current(state, req.cookie(), &ui.cookies).await? else {
        return Ok(see_other(&login_url(&format!(
            "{DEVICE_LOGIN_PREFIX}{}",
            pending.user_code
        ))));
    };
    confirm_page(ui, req, &signed_in, &pending).await
}

async fn confirm_page(
    ui: &Ui,
    req: &Request,
    signed_in: &SignedIn,
    pending: &PendingDevice,
) -> Result<Response, UiError> {
    let page = ConfirmPage {
        layout: Layout::new(req.cookie(), &ui.cookies, Some(signed_in)),
        client_name: pending.client_name.clone(),
        verified: pending.verified,
        username: signed_in.user.username.clone(),
        user_code: pending.user_code.clone(),
        scopes: pending
            .scope
            .split(' ')
            .filter(|scope| !scope.is_empty())
            .map(|scope| (scope.to_owned(), oidc::scope_description(scope)))
            .collect(),
    };
    Ok(html(&page, StatusCode::OK))
}

async fn code_page(
    ui: &Ui,
    req: &Request,
    user_code: String,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, UiError> {
    let signed_in = session::current_or_none(&ui.state, req.cookie(), &ui.cookies).await;
    let page = CodePage {
        layout: Layout::new(req.cookie(), &ui.cookies, signed_in.as_ref()),
        user_code,
        error,
    };
    Ok(html(&page, status))
}

/// Records `event`; the answer stands whatever happens to the record.
async fn audit(ui: &Ui, event: NewEvent) {
    if let Err(err) = ui.state.trail.record(event).await {
        tracing::error!(error = %err, "could not record a device event");
    }
}
