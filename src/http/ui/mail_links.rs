//! The pages behind mailed links, and the forms that send them: a forgotten password, an
//! address to confirm, a new address to move to, and `authd dev`'s mailbox. A link opens a
//! page with a button; only the button's post uses it, so a mail scanner that fetches links
//! uses up nothing.

use std::sync::Arc;

use askama::Template;
use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Query},
};
use serde::Deserialize;

use super::{
    Ui, authorize,
    error::UiError,
    forms::{SignedInForm, WithCsrf},
    page::{Layout, Notice, When, html, see_other},
    profile::{self, Section},
    session,
};
use crate::{accounts::Email, error::Error, http::plumbing::client_ip};

#[derive(Template)]
#[template(path = "forgot_password.html")]
struct ForgotPage {
    layout: Layout,
    account: String,
    sent: bool,
    valid_for: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "reset_password.html")]
struct ResetPage {
    layout: Layout,
    token: String,
    /// The account the link is for; `None` when the link is not valid.
    username: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "mail_link.html")]
struct LinkPage {
    layout: Layout,
    title: &'static str,
    message: Option<String>,
    error: Option<String>,
    done: bool,
    action: &'static str,
    token: String,
    button: Option<&'static str>,
}

struct MailRow {
    to: String,
    subject: String,
    at: When,
    text: String,
    links: Vec<String>,
}

#[derive(Template)]
#[template(path = "dev_mail.html")]
struct DevMailPage {
    layout: Layout,
    capacity: usize,
    mails: Vec<MailRow>,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    account: String,
}

/// No `Debug`: it holds a password.
#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
}

#[derive(Deserialize)]
pub struct ResendForm {
    /// A held authorization request to go back to, from the page that waits for the address.
    #[serde(default)]
    request: String,
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    token: String,
}

/// No `Debug`: it holds a password.
#[derive(Deserialize)]
pub struct ChangeEmailForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

fn require_mail(ui: &Ui, feature: &'static str) -> Result<(), UiError> {
    if ui.state.recovery.available() {
        Ok(())
    } else {
        Err(Error::MailUnavailable(feature).into())
    }
}

/// How long a reset link works, said as its mail says it.
fn reset_valid_for(ui: &Ui) -> String {
    crate::mail::spoken(ui.state.mailer.settings().reset_link_ttl)
}

#[handler]
pub async fn forgot_form(req: &Request, Data(ui): Data<&Arc<Ui>>) -> Result<Response, UiError> {
    require_mail(ui, "resetting a password")?;
    let page = ForgotPage {
        layout: Layout::new(req.cookie(), &ui.cookies, None),
        account: String::new(),
        sent: false,
        valid_for: reset_valid_for(ui),
        error: None,
    };
    Ok(html(&page, StatusCode::OK))
}

/// The same page whether or not an account matched (see `Recovery::request_reset`).
#[handler]
pub async fn forgot(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    WithCsrf(form): WithCsrf<ForgotForm>,
) -> Result<Response, UiError> {
    require_mail(ui, "resetting a password")?;
    let ip = client_ip(req, &ui.state.config.trusted_proxies);
    let asked = ui.state.recovery.request_reset(&form.account, ip).await;
    let mut page = ForgotPage {
        layout: Layout::new(req.cookie(), &ui.cookies, None),
        account: String::new(),
        sent: asked.is_ok(),
        valid_for: reset_valid_for(ui),
        error: None,
    };
    let Err(err) = asked else {
        return Ok(html(&page, StatusCode::OK));
    };
    // The form again, as typed, saying why (the throttle, an empty field).
    let err = UiError::from(err);
    page.account = form.account;
    page.error = Some(err.message.clone());
    Ok(err.retry_after_on(html(&page, err.status)))
}

#[handler]
pub async fn reset_form(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    Query(query): Query<TokenQuery>,
) -> Result<Response, UiError> {
    require_mail(ui, "resetting a password")?;
    let (username, error, status) = match ui.state.recovery.reset_link(&query.token).await {
        Ok(user) => (Some(user.username), None, StatusCode::OK),
        Err(err) => {
            let err = UiError::from(err);
            (None, Some(err.message), err.status)
        }
    };
    let page = ResetPage {
        layout: Layout::new(req.cookie(), &ui.cookies, None),
        token: query.token,
        username,
        error,
    };
    Ok(html(&page, status))
}

#[handler]
pub async fn reset(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    WithCsrf(form): WithCsrf<ResetForm>,
) -> Result<Response, UiError> {
    require_mail(ui, "resetting a password")?;
    let recovery = &ui.state.recovery;
    match recovery
        .reset_password(&form.token, form.new_password)
        .await
    {
        Ok(_) => {
            // This browser's session, if it had one, ended with the others.
            session::clear(req.cookie(), &ui.cookies);
            Ok(see_other(&format!(
                "/ui/login?notice={}",
                Notice::PasswordReset.query()
            )))
        }
        Err(err) => {
            // A weak password: the form again, on the same link. A dead link: no form.
            let username = match &err {
                Error::InvalidField { .. } => recovery
                    .reset_link(&form.token)
                    .await
                    .ok()
                    .map(|user| user.username),
                _ => None,
            };
            let err = UiError::from(err);
            let page = ResetPage {
                layout: Layout::new(req.cookie(), &ui.cookies, None),
                token: form.token,
                username,
                error: Some(err.message.clone()),
            };
            Ok(err.retry_after_on(html(&page, err.status)))
        }
    }
}

#[handler]
pub async fn verify_form(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    Query(query): Query<TokenQuery>,
) -> Result<Response, UiError> {
    require_mail(ui, "confirming an address")?;
    Ok(html(
        &LinkPage {
            layout: Layout::new(req.cookie(), &ui.cookies, None),
            title: "Confirm your email address",
            message: Some("Confirm that this address is yours.".to_owned()),
            error: None,
            done: false,
            action: "/ui/verify-email",
            token: query.token,
            button: Some("Confirm the address"),
        },
        StatusCode::OK,
    ))
}

#[handler]
pub async fn verify(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    WithCsrf(form): WithCsrf<TokenForm>,
) -> Result<Response, UiError> {
    require_mail(ui, "confirming an address")?;
    let result = ui.state.recovery.verify_email(&form.token).await;
    Ok(link_result(
        ui,
        req,
        "Confirm your email address",
        result.map(|user| format!("Thank you: {} is confirmed as your address.", user.email)),
    ))
}

#[handler]
pub async fn confirm_form(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    Query(query): Query<TokenQuery>,
) -> Result<Response, UiError> {
    require_mail(ui, "changing the address")?;
    let title = "Confirm your new email address";
    let page = match ui.state.recovery.email_change_link(&query.token).await {
        Ok((user, new_address)) => LinkPage {
            layout: Layout::new(req.cookie(), &ui.cookies, None),
            title,
            message: Some(format!(
                "Move the account {} to {new_address}? Mail for the account then goes there.",
                user.username
            )),
            error: None,
            done: false,
            action: "/ui/confirm-email",
            token: query.token,
            button: Some("Use the new address"),
        },
        Err(err) => return Ok(link_result(ui, req, title, Err(err))),
    };
    Ok(html(&page, StatusCode::OK))
}

#[handler]
pub async fn confirm(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    WithCsrf(form): WithCsrf<TokenForm>,
) -> Result<Response, UiError> {
    require_mail(ui, "changing the address")?;
    let result = ui.state.recovery.confirm_email_change(&form.token).await;
    Ok(link_result(
        ui,
        req,
        "Confirm your new email address",
        result.map(|user| format!("Done: the account's address is now {}.", user.email)),
    ))
}

/// Sends the signed-in user a new link confirming their address.
#[handler]
pub async fn resend_verification(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    SignedInForm { signed_in, form }: SignedInForm<ResendForm>,
) -> Result<Response, UiError> {
    let ip = client_ip(req, &ui.state.config.trusted_proxies);
    match ui
        .state
        .recovery
        .resend_verification(&signed_in.user, ip)
        .await
    {
        Ok(()) if !form.request.is_empty() => Ok(see_other(&authorize::resume_url(&form.request))),
        Ok(()) => Ok(see_other(&format!(
            "/ui/profile?notice={}",
            Notice::VerificationSent.query()
        ))),
        Err(err) => profile::with_error_in(Section::Email, ui, req, &signed_in, err.into()).await,
    }
}

/// Mails a link to a new address, once the password (or a recent passkey) confirmed it is
/// the user.
#[handler]
pub async fn change_email(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    SignedInForm { signed_in, form }: SignedInForm<ChangeEmailForm>,
) -> Result<Response, UiError> {
    let ip = client_ip(req, &ui.state.config.trusted_proxies);
    let requested = async {
        session::reauthenticate(&ui.state, req, &signed_in, form.password).await?;
        let email = Email::parse(&form.email)?;
        ui.state
            .recovery
            .request_email_change(&signed_in.user, email, ip)
            .await
    };
    match requested.await {
        Ok(()) => Ok(see_other(&format!(
            "/ui/profile?notice={}",
            Notice::EmailChangeSent.query()
        ))),
        Err(err) => profile::with_error_in(Section::Email, ui, req, &signed_in, err.into()).await,
    }
}

/// `authd dev`'s mailbox; not found on a server that sends real mail (or none).
#[handler]
pub async fn dev_mailbox(req: &Request, Data(ui): Data<&Arc<Ui>>) -> Result<Response, UiError> {
    let Some(mailbox) = ui.state.mailer.dev_mailbox() else {
        return Err(UiError::new(
            StatusCode::NOT_FOUND,
            "This page exists only under `authd dev`, which keeps its mail in memory.",
        ));
    };
    let mails = mailbox
        .mails()
        .into_iter()
        .map(|mail| MailRow {
            links: mail
                .text
                .lines()
                .map(str::trim)
                .filter(|line| line.starts_with("http://") || line.starts_with("https://"))
                .map(str::to_owned)
                .collect(),
            to: mail.to,
            subject: mail.subject,
            at: When::new(mail.at),
            text: mail.text,
        })
        .collect();
    let signed_in = session::current_or_none(&ui.state, req.cookie(), &ui.cookies).await;
    let page = DevMailPage {
        layout: Layout::new(req.cookie(), &ui.cookies, signed_in.as_ref()),
        capacity: crate::mail::DevMailbox::CAPACITY,
        mails,
    };
    Ok(html(&page, StatusCode::OK))
}

/// The page after a link was used (or could not be).
fn link_result(
    ui: &Ui,
    req: &Request,
    title: &'static str,
    result: Result<String, Error>,
) -> Response {
    let (message, error, status) = match result {
        Ok(message) => (Some(message), None, StatusCode::OK),
        Err(err) => {
            let err = UiError::from(err);
            (None, Some(err.message), err.status)
        }
    };
    let page = LinkPage {
        layout: Layout::new(req.cookie(), &ui.cookies, None),
        title,
        done: message.is_some(),
        message,
        error,
        action: "",
        token: String::new(),
        button: None,
    };
    html(&page, status)
}
