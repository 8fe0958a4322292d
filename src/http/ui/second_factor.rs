//! The second factor in the web UI: the login's code step, and setting up or removing the
//! TOTP authenticator from the profile.

use std::sync::Arc;

use askama::Template;
use poem::{Request, Response, handler, http::StatusCode, web::Data};
use serde::Deserialize;

use super::{
    Ui, account, authorize,
    error::UiError,
    forms::{NoFields, SignedInForm, WithCsrf},
    page::{Layout, Notice, html, see_other},
    session,
};
use crate::{
    accounts::PendingLogin,
    error::Error,
    mail,
    ssf::{Change, Credential},
};

#[derive(Template)]
#[template(path = "login_code.html")]
struct CodePage {
    layout: Layout,
    error: Option<String>,
    client_name: Option<String>,
    /// Which second factors the user has, to offer each.
    has_totp: bool,
    has_passkey: bool,
}

#[derive(Template)]
#[template(path = "totp_enrol.html")]
struct EnrolPage {
    layout: Layout,
    qr_svg: String,
    secret: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "totp_recovery.html")]
struct RecoveryPage {
    layout: Layout,
    codes: Vec<String>,
}

/// No `Debug`: it holds a one-time code.
#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// No `Debug`: it holds a password.
#[derive(Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    password: String,
}

pub(super) fn login_again() -> Response {
    see_other(&format!(
        "/ui/login?notice={}",
        Notice::LoginExpired.query()
    ))
}

async fn client_name(ui: &Ui, authorization: Option<&str>) -> Result<Option<String>, UiError> {
    Ok(match authorization {
        Some(id) => Some(authorize::held_for_login(ui, id).await?.client_name),
        None => None,
    })
}

/// The second step's page for `pending`, with `error` if the last try failed.
pub(super) async fn code_page(
    ui: &Ui,
    req: &Request,
    pending: &PendingLogin,
    error: Option<UiError>,
) -> Result<Response, UiError> {
    let accounts = &ui.state.accounts;
    let status = error.as_ref().map_or(StatusCode::OK, |err| err.status);
    let page = CodePage {
        layout: Layout::new(req.cookie(), &ui.cookies, None),
        error: error.as_ref().map(|err| err.message.clone()),
        client_name: client_name(ui, pending.authorization.as_deref()).await?,
        has_totp: accounts.second_factors().enabled(pending.user_id).await?,
        has_passkey: accounts.passkeys().available()
            && accounts.passkeys().any(pending.user_id).await?,
    };
    let response = html(&page, status);
    Ok(match error {
        Some(err) => err.retry_after_on(response),
        None => response,
    })
}

#[handler]
pub async fn code_form(req: &Request, Data(ui): Data<&Arc<Ui>>) -> Result<Response, UiError> {
    let Some(pending) = session::pending(&ui.state, req, &ui.cookies).await? else {
        return Ok(login_again());
    };
    code_page(ui, req, &pending, None).await
}

#[handler]
pub async fn submit_code(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    WithCsrf(form): WithCsrf<CodeForm>,
) -> Result<Response, UiError> {
    let Some(pending) = session::pending(&ui.state, req, &ui.cookies).await? else {
        return Ok(login_again());
    };
    finish(
        ui,
        req,
        &pending,
        crate::accounts::SecondProof::Code(&form.code),
    )
    .await
}

/// Finishes `pending` with `proof`: on to where the login leads, back to the login if it
/// expired, or the code page again saying what was wrong.
pub(super) async fn finish(
    ui: &Ui,
    req: &Request,
    pending: &PendingLogin,
    proof: crate::accounts::SecondProof<'_>,
) -> Result<Response, UiError> {
    match session::second_step(&ui.state, req, &ui.cookies, proof).await {
        Ok(Some(finished)) => Ok(see_other(&account::after_login(
            finished.authorization.as_deref(),
        ))),
        Ok(None) => Ok(login_again()),
        Err(err) => code_page(ui, req, pending, Some(err.into())).await,
    }
}

/// Starts setting up an authenticator app: a new secret, shown as a QR code and as text.
#[handler]
pub async fn begin(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    SignedInForm { signed_in, .. }: SignedInForm<NoFields>,
) -> Result<Response, UiError> {
    let enrolment = ui
        .state
        .accounts
        .second_factors()
        .begin(&signed_in.user)
        .await?;
    let page = EnrolPage {
        layout: Layout::new(req.cookie(), &ui.cookies, Some(&signed_in)),
        qr_svg: enrolment.qr_svg,
        secret: enrolment.secret.to_string(),
        error: None,
    };
    Ok(html(&page, StatusCode::OK))
}

/// Confirms the authenticator with a first code; shows the recovery codes, this once.
#[handler]
pub async fn confirm(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    SignedInForm { signed_in, form }: SignedInForm<CodeForm>,
) -> Result<Response, UiError> {
    let factors = ui.state.accounts.second_factors();
    match factors.confirm(&signed_in.user, &form.code).await {
        Ok(codes) => {
            ui.state
                .mailer
                .send_notice(mail::Notice::TotpAdded, &signed_in.user)
                .await;
            super::passkeys::record_credential_change(
                &ui.state,
                signed_in.user.id,
                Credential::App,
                Change::Create,
            )
            .await;
            let page = RecoveryPage {
                layout: Layout::new(req.cookie(), &ui.cookies, Some(&signed_in)),
                codes: codes.0.iter().map(|code| code.to_string()).collect(),
            };
            Ok(html(&page, StatusCode::OK))
        }
        Err(Error::InvalidSecondFactor) => {
            // The same secret again: the app the user just set up stays right.
            let Some(enrolment) = factors.enrolment(&signed_in.user).await? else {
                return Ok(see_other("/ui/profile"));
            };
            let page = EnrolPage {
                layout: Layout::new(req.cookie(), &ui.cookies, Some(&signed_in)),
                qr_svg: enrolment.qr_svg,
                secret: enrolment.secret.to_string(),
                error: Some(
                    "That code is not right: check that the app shows authd, and type its \
                     current code."
                        .to_owned(),
                ),
            };
            Ok(html(&page, StatusCode::UNPROCESSABLE_ENTITY))
        }
        Err(err) => Err(err.into()),
    }
}

/// Removes the authenticator, after the password once more (ASVS 3.7.1).
#[handler]
pub async fn remove(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    SignedInForm { signed_in, form }: SignedInForm<RemoveForm>,
) -> Result<Response, UiError> {
    let state = &ui.state;
    session::reauthenticate(state, req, &signed_in, form.password).await?;
    state
        .accounts
        .second_factors()
        .remove(signed_in.user.id)
        .await?;
    state
        .mailer
        .send_notice(mail::Notice::TotpRemoved, &signed_in.user)
        .await;
    super::passkeys::record_credential_change(
        state,
        signed_in.user.id,
        Credential::App,
        Change::Delete,
    )
    .await;
    Ok(see_other(&format!(
        "/ui/profile?notice={}",
        Notice::SecondFactorRemoved.query()
    )))
}
