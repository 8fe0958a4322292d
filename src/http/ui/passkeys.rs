//! Passkeys in the web UI: logging in with one (no username), the second step after a
//! password, adding and removing them from the profile, confirming a change with one, and
//! making the account passkey-only.
//!
//! Every ceremony takes two requests: the first renders `passkey.html` with the options, the
//! page's script hands them to the browser, and the authenticator's answer comes back as an
//! ordinary form post (the CSP lets no script fetch). The ceremony's state waits in Redis in
//! between (`accounts::Passkeys`).

use std::sync::Arc;

use askama::Template;
use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Path},
};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    Ui, account, authorize,
    error::UiError,
    forms::{NoFields, SignedInForm, WithCsrf},
    page::{Layout, Notice, html, see_other},
    profile,
    second_factor::{self, code_page, login_again},
    session::{self, SignedIn},
};
use crate::{
    accounts::{Ceremony, Password, Purpose},
    error::Error,
    events::Actor,
    http::callers::admitted,
    mail,
    rate_limit::RateLimitedRoute,
    ssf::{Change, Credential, credential_event},
};

/// The page that runs one ceremony in the browser.
#[derive(Template)]
#[template(path = "passkey.html")]
struct CeremonyPage {
    layout: Layout,
    title: &'static str,
    explanation: &'static str,
    button: &'static str,
    /// Where the authenticator's answer is posted, and where "Cancel" goes.
    action: &'static str,
    cancel: &'static str,
    /// `create` (registration) or `get` (authentication).
    ceremony_kind: &'static str,
    ceremony_id: String,
    options: String,
    authorization: Option<String>,
    client_name: Option<String>,
}

/// The page's words for each ceremony.
struct Wording {
    title: &'static str,
    explanation: &'static str,
    button: &'static str,
    action: &'static str,
    cancel: &'static str,
    ceremony_kind: &'static str,
}

const LOGIN: Wording = Wording {
    title: "Log in with a passkey",
    explanation: "Your browser asks which passkey to use, then for your device's screen lock \
                  or your security key's PIN or touch.",
    button: "Use a passkey",
    action: "/ui/login/passkey/finish",
    cancel: "/ui/login",
    ceremony_kind: "get",
};

const SECOND_STEP: Wording = Wording {
    title: "Two-step verification",
    explanation: "Your password was right. Now confirm with one of your passkeys.",
    button: "Use a passkey",
    action: "/ui/login/code/passkey/finish",
    cancel: "/ui/login/code",
    ceremony_kind: "get",
};

const REGISTER: Wording = Wording {
    title: "Add a passkey",
    explanation: "Your browser asks where to keep the new passkey: this device, your phone, or \
                  a security key.",
    button: "Create the passkey",
    action: "/ui/profile/passkeys/finish",
    cancel: "/ui/profile",
    ceremony_kind: "create",
};

const REAUTHENTICATE: Wording = Wording {
    title: "Confirm it is you",
    explanation: "Use one of your passkeys: for a few minutes after, changes to your account \
                  need no password.",
    button: "Use a passkey",
    action: "/ui/profile/reauthenticate/finish",
    cancel: "/ui/profile",
    ceremony_kind: "get",
};

/// No `Debug`: `response` holds an authenticator's signature.
#[derive(Deserialize)]
pub struct CeremonyForm {
    #[serde(default)]
    ceremony: String,
    #[serde(default)]
    response: String,
    #[serde(default)]
    authorization: String,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    authorization: String,
}

/// No `Debug`: it holds a password.
#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// No `Debug`: it holds a password.
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
}

/// No `Debug`: it holds a password.
#[derive(Deserialize)]
pub struct NewPasswordForm {
    #[serde(default)]
    new_password: String,
}

fn present(authorization: String) -> Option<String> {
    Some(authorization).filter(|id| !id.is_empty())
}

/// Renders the ceremony's page. In an authorization flow, the page's forms may end at the
/// client (the login's redirects lead there), as the login page's may.
async fn ceremony_page(
    ui: &Ui,
    req: &Request,
    signed_in: Option<&SignedIn>,
    wording: &Wording,
    ceremony: Ceremony,
    authorization: Option<String>,
    flow_of: Option<&str>,
) -> Result<Response, UiError> {
    let flow = match flow_of {
        Some(id) => Some(authorize::held_for_login(ui, id).await?),
        None => None,
    };
    let page = CeremonyPage {
        layout: Layout::new(req.cookie(), &ui.cookies, signed_in),
        title: wording.title,
        explanation: wording.explanation,
        button: wording.button,
        action: wording.action,
        cancel: wording.cancel,
        ceremony_kind: wording.ceremony_kind,
        ceremony_id: ceremony.id,
        options: ceremony.options,
        authorization,
        client_name: flow.as_ref().map(|flow| flow.client_name.clone()),
    };
    let response = html(&page, StatusCode::OK);
    Ok(match &flow {
        Some(flow) => authorize::allow_form_to_end_at(response, &flow.redirect_uri),
        None => response,
    })
}

/// A ceremony the profile page began: its page, or the profile saying why it could not begin.
async fn profile_ceremony(
    ui: &Ui,
    req: &Request,
    signed_in: &SignedIn,
    wording: &Wording,
    begun: Result<Ceremony, Error>,
) -> Result<Response, UiError> {
    match begun {
        Ok(ceremony) => {
            ceremony_page(ui, req, Some(signed_in), wording, ceremony, None, None).await
        }
        Err(err) => {
            profile::with_error_in(profile::Section::Passkeys, ui, req, signed_in, err.into()).await
        }
    }
}

/// Back to the profile: with `notice` after a change, or saying why it failed.
async fn profile_after(
    ui: &Ui,
    req: &Request,
    signed_in: &SignedIn,
    changed: Result<(), Error>,
    notice: Notice,
) -> Result<Response, UiError> {
    match changed {
        Ok(()) => {
            // The account's owner hears of every change to how it is opened (ASVS 2.2.3).
            let told = match notice {
                Notice::PasskeyAdded => Some(mail::Notice::PasskeyAdded),
                Notice::PasskeyRemoved => Some(mail::Notice::PasskeyRemoved),
                Notice::PasskeyOnly => Some(mail::Notice::PasskeyOnly),
                Notice::PasswordSet => Some(mail::Notice::PasswordChanged),
                _ => None,
            };
            if let Some(told) = told {
                ui.state.mailer.send_notice(told, &signed_in.user).await;
            }
            let changed = match notice {
                Notice::PasskeyAdded => Some((Credential::Passkey, Change::Create)),
                Notice::PasskeyRemoved => Some((Credential::Passkey, Change::Delete)),
                Notice::PasskeyOnly => Some((Credential::Password, Change::Delete)),
                Notice::PasswordSet => Some((Credential::Password, Change::Create)),
                _ => None,
            };
            if let Some((credential, change)) = changed {
                record_credential_change(&ui.state, signed_in.user.id, credential, change).await;
            }
            Ok(see_other(&format!("/ui/profile?notice={}", notice.query())))
        }
        Err(err) => {
            profile::with_error_in(profile::Section::Passkeys, ui, req, signed_in, err.into()).await
        }
    }
}

/// Starts a login with a passkey, from the login page's button.
#[handler]
pub async fn login_begin(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    WithCsrf(form): WithCsrf<LoginForm>,
) -> Result<Response, UiError> {
    let authorization = present(form.authorization);
    let state = &ui.state;
    let begun = async {
        let _ip = admitted(state, req, RateLimitedRoute::Auth).await?;
        state.accounts.passkeys().begin_login().await
    };
    match begun.await {
        Ok(ceremony) => {
            let flow = authorization.clone();
            ceremony_page(
                ui,
                req,
                None,
                &LOGIN,
                ceremony,
                authorization,
                flow.as_deref(),
            )
            .await
        }
        Err(err) => account::failed_login(ui, req, String::new(), authorization, err.into()).await,
    }
}

#[handler]
pub async fn login_finish(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    WithCsrf(form): WithCsrf<CeremonyForm>,
) -> Result<Response, UiError> {
    let authorization = present(form.authorization);
    match session::passkey_login(&ui.state, req, &ui.cookies, &form.ceremony, &form.response).await
    {
        Ok(()) => Ok(see_other(&account::after_login(authorization.as_deref()))),
        Err(err) => account::failed_login(ui, req, String::new(), authorization, err.into()).await,
    }
}

/// Starts the second step of a password login with one of the user's passkeys.
#[handler]
pub async fn second_step_begin(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    _: WithCsrf<NoFields>,
) -> Result<Response, UiError> {
    let Some(pending) = session::pending(&ui.state, req, &ui.cookies).await? else {
        return Ok(login_again());
    };
    let Some(user) = ui.state.users.find_by_id(pending.user_id).await? else {
        return Ok(login_again());
    };
    let passkeys = ui.state.accounts.passkeys();
    match passkeys
        .begin_verification(&user, Purpose::SecondFactor)
        .await
    {
        Ok(ceremony) => {
            let flow = pending.authorization.as_deref();
            ceremony_page(ui, req, None, &SECOND_STEP, ceremony, None, flow).await
        }
        Err(err) => code_page(ui, req, &pending, Some(err.into())).await,
    }
}

#[handler]
pub async fn second_step_finish(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    WithCsrf(form): WithCsrf<CeremonyForm>,
) -> Result<Response, UiError> {
    let Some(pending) = session::pending(&ui.state, req, &ui.cookies).await? else {
        return Ok(login_again());
    };
    let proof = crate::accounts::SecondProof::Passkey {
        ceremony: &form.ceremony,
        response: &form.response,
    };
    second_factor::finish(ui, req, &pending, proof).await
}

/// Starts registering a passkey, after re-authentication (ASVS 3.7.1).
#[handler]
pub async fn add_begin(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    SignedInForm { signed_in, form }: SignedInForm<AddForm>,
) -> Result<Response, UiError> {
    let begun = async {
        session::reauthenticate(&ui.state, req, &signed_in, form.password).await?;
        ui.state
            .accounts
            .passkeys()
            .begin_registration(&signed_in.user, &form.name)
            .await
    };
    profile_ceremony(ui, req, &signed_in, &REGISTER, begun.await).await
}

#[handler]
pub async fn add_finish(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    SignedInForm { signed_in, form }: SignedInForm<CeremonyForm>,
) -> Result<Response, UiError> {
    let added = ui
        .state
        .accounts
        .passkeys()
        .finish_registration(&signed_in.user, &form.ceremony, &form.response)
        .await
        .map(drop);
    profile_after(ui, req, &signed_in, added, Notice::PasskeyAdded).await
}

/// Removes a passkey, after re-authentication.
#[handler]
pub async fn remove(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    Path(id): Path<String>,
    SignedInForm { signed_in, form }: SignedInForm<PasswordForm>,
) -> Result<Response, UiError> {
    let removed = async {
        session::reauthenticate(&ui.state, req, &signed_in, form.password).await?;
        let id = Uuid::parse_str(&id).map_err(|_| Error::InvalidField {
            field: "passkey",
            message: "no such passkey on this account".to_owned(),
        })?;
        ui.state
            .accounts
            .passkeys()
            .remove(&signed_in.user, id)
            .await
    };
    profile_after(ui, req, &signed_in, removed.await, Notice::PasskeyRemoved).await
}

/// Starts confirming a sensitive change with a passkey (the way a passkey-only account
/// re-authenticates).
#[handler]
pub async fn reauthenticate_begin(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    SignedInForm { signed_in, .. }: SignedInForm<NoFields>,
) -> Result<Response, UiError> {
    let begun = ui
        .state
        .accounts
        .passkeys()
        .begin_verification(&signed_in.user, Purpose::Reauthentication)
        .await;
    profile_ceremony(ui, req, &signed_in, &REAUTHENTICATE, begun).await
}

#[handler]
pub async fn reauthenticate_finish(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    SignedInForm { signed_in, form }: SignedInForm<CeremonyForm>,
) -> Result<Response, UiError> {
    let state = &ui.state;
    let confirmed = async {
        let _ip = admitted(state, req, RateLimitedRoute::Auth).await?;
        state
            .accounts
            .passkeys()
            .finish_verification(
                &signed_in.user,
                Purpose::Reauthentication,
                &form.ceremony,
                &form.response,
            )
            .await?;
        state.reauthentications.record(signed_in.session.id).await
    };
    profile_after(
        ui,
        req,
        &signed_in,
        confirmed.await,
        Notice::Reauthenticated,
    )
    .await
}

/// Makes the account passkey-only: its password is deleted.
#[handler]
pub async fn passkey_only(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    SignedInForm { signed_in, form }: SignedInForm<PasswordForm>,
) -> Result<Response, UiError> {
    let dropped = async {
        session::reauthenticate(&ui.state, req, &signed_in, form.password).await?;
        ui.state.accounts.drop_password(&signed_in.user).await
    };
    profile_after(ui, req, &signed_in, dropped.await, Notice::PasskeyOnly).await
}

/// Gives a passkey-only account a password again, after a passkey confirmation.
#[handler]
pub async fn set_password(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    SignedInForm { signed_in, form }: SignedInForm<NewPasswordForm>,
) -> Result<Response, UiError> {
    let user = &signed_in.user;
    let set = async {
        if user.password_hash.is_some() {
            return Err(Error::InvalidField {
                field: "password",
                message: "is set already".to_owned(),
            });
        }
        // No password to type: only a passkey confirmation of this session will do.
        session::reauthenticate(&ui.state, req, &signed_in, String::new()).await?;
        let password = Password::choose(form.new_password, &[&user.username, &user.email])?;
        ui.state.accounts.set_password(user, &password).await
    };
    profile_after(ui, req, &signed_in, set.await, Notice::PasswordSet).await
}

/// Records that the user changed a credential (for the audit trail, webhooks and Shared
/// Signals receivers). The change is made: a failure to record it is logged, not returned.
pub(super) async fn record_credential_change(
    state: &crate::state::AppState,
    user_id: uuid::Uuid,
    credential: Credential,
    change: Change,
) {
    let event = credential_event(Actor::User(user_id), user_id, credential, change);
    if let Err(err) = state.trail.record(event).await {
        tracing::error!(error = %err, %user_id, "could not record a credential change");
    }
}
