//! Registering, signing in and signing out.

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
    forms::{NoFields, WithCsrf},
    page::{Layout, Notice, html, see_other},
    session, signed_out,
};
use crate::{
    accounts::{Email, Password, Username},
    error::Error,
    http::callers::admitted,
    rate_limit::RateLimitedRoute,
};

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    layout: Layout,
    username: String,
    email: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "registered.html")]
struct RegisteredPage {
    layout: Layout,
    username: String,
    /// Shown this once; never stored in clear, never shown again.
    generated_password: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    username: String,
    notice: Option<&'static str>,
    error: Option<String>,
    /// The held authorization request this login continues, and the client asking.
    authorization: Option<String>,
    client_name: Option<String>,
    /// Whether to offer a passkey login (the server has a relying-party id).
    passkeys_available: bool,
    /// Whether to offer a password reset by mail (the server sends mail).
    reset_available: bool,
    /// "Log in with …" for each enabled upstream identity provider.
    upstreams: Vec<UpstreamLink>,
}

/// A "Log in with …" link.
struct UpstreamLink {
    name: String,
    href: String,
}

/// The enabled upstreams' links, continuing `authorization`. A store that cannot be read shows
/// none: the other ways to log in still work.
async fn upstream_links(ui: &Ui, authorization: Option<&str>) -> Vec<UpstreamLink> {
    let upstreams = match ui.state.federation.upstreams().enabled().await {
        Ok(upstreams) => upstreams,
        Err(err) => {
            tracing::warn!(error = %err, "could not list the upstream identity providers");
            return Vec::new();
        }
    };
    upstreams
        .into_iter()
        .map(|upstream| {
            let mut href = format!("/ui/login/upstream/{}", upstream.id);
            if let Some(authorization) = authorization {
                href.push('?');
                href.push_str(
                    &url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("authorization", authorization)
                        .finish(),
                );
            }
            UpstreamLink {
                name: upstream.name,
                href,
            }
        })
        .collect()
}

/// No `Debug`: it holds a password.
#[derive(Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// No `Debug`: it holds a password.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    authorization: String,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    notice: Option<String>,
    username: Option<String>,
    /// A held authorization request to continue after the login.
    authorization: Option<String>,
}

/// The form of a button that only acts (log out, revoke a session).
#[handler]
pub async fn register_form(req: &Request, Data(ui): Data<&Arc<Ui>>) -> Response {
    let jar = req.cookie();
    let signed_in = session::current_or_none(&ui.state, jar, &ui.cookies).await;
    let page = RegisterPage {
        layout: Layout::new(jar, &ui.cookies, signed_in.as_ref()),
        username: String::new(),
        email: String::new(),
        error: None,
    };
    html(&page, StatusCode::OK)
}

#[handler]
pub async fn register(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    WithCsrf(form): WithCsrf<RegisterForm>,
) -> Result<Response, UiError> {
    let jar = req.cookie();
    match create_account(ui, req, &form).await {
        Ok(generated_password) => {
            let page = RegisteredPage {
                layout: Layout::new(jar, &ui.cookies, None),
                username: form.username.trim().to_owned(),
                generated_password,
            };
            // The default `Cache-Control: no-store` keeps the password out of every cache.
            Ok(html(&page, StatusCode::CREATED))
        }
        Err(err) => {
            let err = UiError::from(err);
            // The form again, as filled in, but never the password.
            let page = RegisterPage {
                layout: Layout::new(jar, &ui.cookies, None),
                username: form.username,
                email: form.email,
                error: Some(err.message.clone()),
            };
            Ok(err.retry_after_on(html(&page, err.status)))
        }
    }
}

/// Registers the form's user, as `POST /register` would; the generated password, if any.
async fn create_account(
    ui: &Ui,
    req: &Request,
    form: &RegisterForm,
) -> Result<Option<String>, Error> {
    let state = &ui.state;
    admitted(state, req, RateLimitedRoute::Register).await?;
    let username = Username::parse(form.username.trim())?;
    let email = Email::parse(form.email.trim())?;
    let password = Some(form.password.as_str())
        .filter(|password| !password.is_empty())
        .map(|password| Password::choose(password.to_owned(), &[username.as_str(), email.as_str()]))
        .transpose()?;
    let registered = state
        .accounts
        .register(username, email, password, None)
        .await?;
    state.recovery.after_registration(registered.user_id).await;
    Ok(registered
        .generated_password
        .map(|password| password.expose().to_owned()))
}

#[handler]
pub async fn login_form(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    Query(query): Query<LoginQuery>,
) -> Result<Response, UiError> {
    let jar = req.cookie();
    let flow = match &query.authorization {
        Some(id) => Some(authorize::held_for_login(ui, id).await?),
        None => None,
    };
    // In a flow the form shows even to a signed-in user: `prompt=login` and `max_age` ask
    // for a new login.
    let signed_in = session::current_or_none(&ui.state, jar, &ui.cookies).await;
    if signed_in.is_some() && flow.is_none() {
        return Ok(see_other("/ui/profile"));
    }
    let hint = flow.as_ref().and_then(|flow| flow.login_hint.clone());
    let page = LoginPage {
        layout: Layout::new(jar, &ui.cookies, signed_in.as_ref()),
        username: query.username.or(hint).unwrap_or_default(),
        notice: Notice::parse(query.notice.as_deref()).map(Notice::message),
        error: None,
        upstreams: upstream_links(ui, query.authorization.as_deref()).await,
        authorization: query.authorization,
        client_name: flow.as_ref().map(|flow| flow.client_name.clone()),
        passkeys_available: ui.state.accounts.passkeys().available(),
        reset_available: ui.state.recovery.available(),
    };
    let response = html(&page, StatusCode::OK);
    Ok(match &flow {
        Some(flow) => authorize::allow_form_to_end_at(response, &flow.redirect_uri),
        None => response,
    })
}

#[handler]
pub async fn login(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    WithCsrf(form): WithCsrf<LoginForm>,
) -> Result<Response, UiError> {
    let LoginForm {
        username,
        password,
        authorization,
        ..
    } = form;
    let authorization = Some(authorization).filter(|id| !id.is_empty());
    let step = session::log_in(
        &ui.state,
        req,
        &ui.cookies,
        username.clone(),
        password,
        authorization.clone(),
    )
    .await;
    match step {
        Ok(session::LoginStep::SignedIn) => Ok(see_other(&after_login(authorization.as_deref()))),
        Ok(session::LoginStep::SecondFactor) => Ok(see_other("/ui/login/code")),
        Err(err) => failed_login(ui, req, username, authorization, err.into()).await,
    }
}

/// The login page again, saying why the login failed (a password or a passkey login), with
/// the authorization request it continues.
pub async fn failed_login(
    ui: &Ui,
    req: &Request,
    username: String,
    authorization: Option<String>,
    err: UiError,
) -> Result<Response, UiError> {
    let flow = match &authorization {
        Some(id) => Some(authorize::held_for_login(ui, id).await?),
        None => None,
    };
    let page = LoginPage {
        layout: Layout::new(req.cookie(), &ui.cookies, None),
        username,
        notice: None,
        error: Some(err.message.clone()),
        client_name: flow.as_ref().map(|flow| flow.client_name.clone()),
        upstreams: upstream_links(ui, authorization.as_deref()).await,
        authorization,
        passkeys_available: ui.state.accounts.passkeys().available(),
        reset_available: ui.state.recovery.available(),
    };
    let response = err.retry_after_on(html(&page, err.status));
    Ok(match &flow {
        Some(flow) => authorize::allow_form_to_end_at(response, &flow.redirect_uri),
        None => response,
    })
}

#[handler]
pub async fn logout(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    _: WithCsrf<NoFields>,
) -> Result<Response, UiError> {
    let pages = signed_out::front_channel_pages(ui, req, None).await?;
    session::log_out(&ui.state, req.cookie(), &ui.cookies).await?;
    Ok(signed_out::leave(
        pages,
        format!("/ui/login?notice={}", Notice::SignedOut.query()),
    ))
}

/// Where a finished login goes: on with the authorization request it continues, back to the
/// device page, or to the profile.
pub fn after_login(authorization: Option<&str>) -> String {
    match authorization {
        Some(id) => match id.strip_prefix(authorize::DEVICE_LOGIN_PREFIX) {
            Some(user_code) => authorize::device_page_url(user_code),
            None => authorize::resume_url(id),
        },
        None => "/ui/profile".to_owned(),
    }
}
