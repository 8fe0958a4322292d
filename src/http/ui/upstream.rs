//! Logging in through an upstream identity provider: the login page's "Log in with …" links
//! start here, and the upstream sends the browser back to this upstream's callback
//! (`federation` does the protocol; this is the browser's side of it).

use std::{sync::Arc, time::Duration};

use poem::{
    Request, Response, handler,
    web::{Data, Path, Query},
};
use serde::Deserialize;

use poem::http::{HeaderValue, header};
use uuid::Uuid;

use super::{
    CONTENT_SECURITY_POLICY, Ui,
    account::after_login,
    cookies,
    error::UiError,
    forms::SignedInForm,
    page::{Notice, When, see_other},
    session,
};
use crate::{
    error::Error,
    federation::{Callback, Finished, Purpose},
    http::{callers::admitted, client_ip},
    rate_limit::RateLimitedRoute,
};

/// As long as the upstream's pending login lives in Redis.
const STATE_COOKIE_LIFETIME: Duration = Duration::from_secs(600);

#[derive(Deserialize)]
pub struct BeginQuery {
    /// A held authorization request (or device code) the login continues.
    authorization: Option<String>,
}

/// `GET /ui/login/upstream/{id}`: off to the upstream, its `state` kept in this browser.
#[handler]
pub async fn begin(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    Path(id): Path<String>,
    Query(query): Query<BeginQuery>,
) -> Result<Response, UiError> {
    admitted(&ui.state, req, RateLimitedRoute::Auth).await?;
    let authorization = query.authorization.filter(|id| !id.is_empty());
    let begun = ui
        .state
        .federation
        .begin(&id, Purpose::Login { authorization })
        .await?;
    Ok(go_to_upstream(ui, req, begun))
}

/// Sends the browser to the upstream with the state in its cookie.
pub fn go_to_upstream(ui: &Ui, req: &Request, begun: crate::federation::Begun) -> Response {
    ui.cookies.set(
        req.cookie(),
        cookies::UPSTREAM,
        &begun.state,
        Some(STATE_COOKIE_LIFETIME),
    );
    see_other(&begun.url)
}

/// `GET /ui/login/upstream/{id}/callback`: the upstream's answer; signs in, asks for the
/// second factor, or links the identity, and goes on where the login was started.
#[handler]
pub async fn callback(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    Path(id): Path<String>,
    Query(answer): Query<Callback>,
) -> Result<Response, UiError> {
    let jar = req.cookie();
    let browser_state = ui.cookies.get(jar, cookies::UPSTREAM);
    // Used once, whatever the outcome.
    ui.cookies.clear(jar, cookies::UPSTREAM);
    let finished = ui
        .state
        .federation
        .finish(
            &id,
            answer,
            browser_state.as_deref(),
            client_ip(req, &ui.state.config.trusted_proxies),
            crate::http::user_agent(req),
        )
        .await?;
    match finished {
        Finished::SignedIn {
            user,
            login,
            authorization,
        } => {
            session::start(&ui.state, req, &ui.cookies, &user, login).await?;
            Ok(see_other(&after_login(authorization.as_deref())))
        }
        Finished::SecondFactor { pending_id, .. } => {
            ui.cookies.set(
                jar,
                cookies::PENDING,
                &pending_id,
                Some(crate::accounts::PENDING_LOGIN_TTL),
            );
            Ok(see_other("/ui/login/code"))
        }
        Finished::Linked { .. } => Ok(see_other(&format!(
            "/ui/profile?notice={}",
            Notice::IdentityLinked.query()
        ))),
    }
}

/// An upstream on the profile page, and the user's identity there if linked.
pub struct IdentityRow {
    pub upstream_id: String,
    pub upstream_name: String,
    pub linked: Option<LinkedIdentity>,
}

pub struct LinkedIdentity {
    /// What the upstream last said the user is called there (username, else address).
    pub known_as: String,
    pub linked: When,
    pub last_login: Option<When>,
}

/// The profile's rows (every upstream with a link or a button), and the origins its "Link"
/// forms end at.
pub async fn identity_rows(
    ui: &Ui,
    user_id: Uuid,
) -> Result<(Vec<IdentityRow>, Vec<String>), Error> {
    let federation = &ui.state.federation;
    let upstreams = federation.upstreams().list().await?;
    if upstreams.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let identities = federation.identities_of(user_id).await?;
    let mut targets = Vec::new();
    let rows = upstreams
        .into_iter()
        .filter_map(|upstream| {
            let linked = identities
                .iter()
                .find(|identity| identity.upstream_id == upstream.id)
                .map(|identity| LinkedIdentity {
                    known_as: identity
                        .username
                        .clone()
                        .or_else(|| identity.email.clone())
                        .unwrap_or_else(|| identity.subject.clone()),
                    linked: When::new(identity.linked_at),
                    last_login: identity.last_login_at.map(When::new),
                });
            if linked.is_none() && !upstream.enabled {
                return None;
            }
            if linked.is_none()
                && let Ok(url) = url::Url::parse(&upstream.authorization_endpoint)
            {
                targets.push(url.origin().ascii_serialization());
            }
            Some(IdentityRow {
                upstream_id: upstream.id,
                upstream_name: upstream.name,
                linked,
            })
        })
        .collect();
    Ok((rows, targets))
}

/// `response`, its CSP letting forms end at `origins` too: a "Link" form's answer sends the
/// browser on to the upstream, and browsers hold a form's redirects to its page's
/// `form-action`.
pub fn allow_forms_to(mut response: Response, origins: &[String]) -> Response {
    if origins.is_empty() {
        return response;
    }
    let policy = CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'",
        &format!("form-action 'self' {}", origins.join(" ")),
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// No `Debug`: it holds a password.
#[derive(Deserialize)]
pub struct ReauthenticationForm {
    #[serde(default)]
    password: String,
}

/// `POST /ui/profile/identities/{id}/link`: after re-authentication, off to the upstream to
/// link the identity the person logs in as there.
#[handler]
pub async fn link(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    Path(id): Path<String>,
    SignedInForm { signed_in, form }: SignedInForm<ReauthenticationForm>,
) -> Result<Response, UiError> {
    session::reauthenticate(&ui.state, req, &signed_in, form.password).await?;
    let begun = ui
        .state
        .federation
        .begin(
            &id,
            Purpose::Link {
                user_id: signed_in.user.id,
            },
        )
        .await?;
    Ok(go_to_upstream(ui, req, begun))
}

/// `POST /ui/profile/identities/{id}/unlink`: after re-authentication.
#[handler]
pub async fn unlink(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    Path(id): Path<String>,
    SignedInForm { signed_in, form }: SignedInForm<ReauthenticationForm>,
) -> Result<Response, UiError> {
    session::reauthenticate(&ui.state, req, &signed_in, form.password).await?;
    if !ui.state.federation.unlink(signed_in.user.id, &id).await? {
        return Err(UiError::new(
            poem::http::StatusCode::NOT_FOUND,
            "You have no identity linked there.",
        ));
    }
    Ok(see_other(&format!(
        "/ui/profile?notice={}",
        Notice::IdentityUnlinked.query()
    )))
}
