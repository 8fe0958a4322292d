//! `/ui/profile`: the signed-in user's account, their profile document (the resource behind
//! `/api/profile`), the access token their session holds, and their sessions, each revocable.

use std::{collections::HashMap, sync::Arc};

use askama::Template;
use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Path, Query},
};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    Ui,
    error::UiError,
    forms::{NoFields, SignedInForm, SignedInPage},
    page::{Layout, Notice, When, html, see_other},
    session::{self, SignedIn},
    upstream, user_agent,
};
use crate::{accounts::Profile, accounts::parse_profile, error::Error};

struct Account {
    id: String,
    username: String,
    email: String,
    registered: When,
    last_login: Option<When>,
    has_pop_key: bool,
    totp_enabled: bool,
    recovery_codes_left: u64,
    /// False for a passkey-only account.
    has_password: bool,
    /// The password is the LDAP directory's: it is changed there.
    directory_password: bool,
    email_verified: bool,
    /// Whether this server sends mail (verification links, address changes).
    mail_available: bool,
}

struct PasskeyRow {
    id: String,
    name: String,
    added: When,
    last_used: Option<When>,
}

/// The passkeys section: what the user has, and how they confirm a change to it.
struct PasskeySection {
    /// False where the public URL has no domain name (no relying party).
    available: bool,
    rows: Vec<PasskeyRow>,
    /// A passkey re-authentication in the last few minutes stands in for the password.
    reauthenticated: bool,
}

impl PasskeySection {
    /// Whether a sensitive form must ask for the password.
    fn asks_password(&self, account: &Account) -> bool {
        account.has_password && !self.reauthenticated
    }
}

struct Token {
    header_json: String,
    claims_json: String,
    issued: When,
    expires: When,
}

struct SessionRow {
    id: String,
    /// What the session is: a browser as its `User-Agent` names it, or the application it was
    /// granted to.
    device: String,
    ip: Option<String>,
    /// The applications signed in through this browser session, which end with it.
    applications: Vec<String>,
    started: When,
    refreshed: When,
    expires: When,
    dpop_bound: bool,
    this_browser: bool,
}

struct ApplicationRow {
    client_id: String,
    name: String,
    scope: String,
    granted: When,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    layout: Layout,
    notice: Option<&'static str>,
    error: Option<String>,
    account: Account,
    display_name: String,
    phone: String,
    token: Token,
    passkeys: PasskeySection,
    /// Why the last passkey or factor change failed, shown in the passkeys section.
    passkey_error: Option<String>,
    /// Why the last address change or verification mail failed, shown in the email section.
    email_error: Option<String>,
    sessions: Vec<SessionRow>,
    applications: Vec<ApplicationRow>,
    identities: Vec<upstream::IdentityRow>,
    /// Where this page's forms may end: authd, and the upstreams a "Link" form goes to.
    form_targets: Vec<String>,
}

impl ProfilePage {
    fn respond(&self, status: StatusCode) -> Response {
        upstream::allow_forms_to(html(self, status), &self.form_targets)
    }
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

#[derive(Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    phone: String,
}

#[handler]
pub async fn show(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    SignedInPage(signed_in): SignedInPage,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, UiError> {
    let profile = stored_profile(ui, &signed_in).await?;
    let notice = Notice::parse(query.notice.as_deref()).map(Notice::message);
    let page = render(ui, req, &signed_in, profile, notice, None).await?;
    Ok(page.respond(StatusCode::OK))
}

/// The user's profile document as stored (empty if never saved).
async fn stored_profile(ui: &Ui, signed_in: &SignedIn) -> Result<Profile, Error> {
    Ok(ui
        .state
        .users
        .profile(signed_in.user.id)
        .await?
        .unwrap_or_default())
}

/// The sections of the profile that say, in place, why a change there failed.
#[derive(Debug, Clone, Copy)]
pub enum Section {
    /// The address: a change or a verification mail.
    Email,
    /// Passkeys and factors.
    Passkeys,
}

/// The profile again, saying in `section` why a change there failed.
pub async fn with_error_in(
    section: Section,
    ui: &Ui,
    req: &Request,
    signed_in: &SignedIn,
    err: UiError,
) -> Result<Response, UiError> {
    let profile = stored_profile(ui, signed_in).await?;
    let mut page = render(ui, req, signed_in, profile, None, None).await?;
    let message = Some(err.message.clone());
    match section {
        Section::Email => page.email_error = message,
        Section::Passkeys => page.passkey_error = message,
    }
    Ok(err.retry_after_on(page.respond(err.status)))
}

#[handler]
pub async fn save(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    SignedInForm { signed_in, form }: SignedInForm<ProfileForm>,
) -> Result<Response, UiError> {
    match parse_profile(Some(form.display_name.clone()), Some(form.phone.clone())) {
        Ok(profile) => {
            ui.state
                .users
                .save_profile(signed_in.user.id, &profile)
                .await?;
            Ok(see_other(&format!(
                "/ui/profile?notice={}",
                Notice::Saved.query()
            )))
        }
        Err(err) => {
            let err = UiError::from(err);
            // The form as filled in, with what was wrong with it.
            let entered = Profile {
                display_name: Some(form.display_name),
                phone: Some(form.phone),
                updated_at: None,
            };
            let page = render(ui, req, &signed_in, entered, None, Some(err.message)).await?;
            Ok(page.respond(err.status))
        }
    }
}

#[handler]
pub async fn revoke_session(
    req: &Request,
    Data(ui): Data<&Arc<Ui>>,
    Path(id): Path<String>,
    SignedInForm { signed_in, .. }: SignedInForm<NoFields>,
) -> Result<Response, UiError> {
    let not_found = || {
        UiError::new(
            StatusCode::NOT_FOUND,
            "You have no such session: it may have ended already.",
        )
    };
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    if !ui
        .state
        .sessions
        .revoke_by_id(signed_in.user.id, id)
        .await?
    {
        return Err(not_found());
    }
    if id == signed_in.session.id {
        session::clear(req.cookie(), &ui.cookies);
        return Ok(see_other(&format!(
            "/ui/login?notice={}",
            Notice::SessionEnded.query()
        )));
    }
    Ok(see_other(&format!(
        "/ui/profile?notice={}",
        Notice::SessionRevoked.query()
    )))
}

/// Withdraws the user's consent to a client, ending the client's sessions for them.
#[handler]
pub async fn revoke_application(
    Data(ui): Data<&Arc<Ui>>,
    Path(client_id): Path<String>,
    SignedInForm { signed_in, .. }: SignedInForm<NoFields>,
) -> Result<Response, UiError> {
    if !ui
        .state
        .authorizations
        .withdraw(signed_in.user.id, &client_id)
        .await?
    {
        return Err(UiError::new(
            StatusCode::NOT_FOUND,
            "That application has no access to your account.",
        ));
    }
    Ok(see_other(&format!(
        "/ui/profile?notice={}",
        Notice::ApplicationRevoked.query()
    )))
}

async fn render(
    ui: &Ui,
    req: &Request,
    signed_in: &SignedIn,
    profile: Profile,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<ProfilePage, Error> {
    let user = &signed_in.user;
    let live = ui.state.sessions.live(user.id).await?;
    let mut names: HashMap<String, String> = HashMap::new();
    for session in &live {
        if let Some(client_id) = &session.session.client_id
            && !names.contains_key(client_id)
        {
            let name = ui
                .state
                .clients
                .find(client_id)
                .await?
                .map_or_else(|| client_id.clone(), |client| client.name);
            names.insert(client_id.clone(), name);
        }
    }
    let name_of = |client_id: &str| names.get(client_id).cloned().unwrap_or_default();
    let sessions = live
        .iter()
        .map(|summary| {
            let session = &summary.session;
            let applications = live
                .iter()
                .filter(|child| child.session.parent_id == Some(session.id))
                .filter_map(|child| child.session.client_id.as_deref().map(name_of))
                .collect();
            SessionRow {
                id: session.id.to_string(),
                device: match &session.client_id {
                    Some(client_id) => name_of(client_id),
                    None => user_agent::describe(session.user_agent.as_deref()),
                },
                ip: session.ip.map(|ip| ip.to_string()),
                applications,
                started: When::new(session.created_at),
                refreshed: When::new(summary.refreshed_at),
                expires: When::new(summary.expires_at),
                dpop_bound: session.dpop_jkt.is_some(),
                this_browser: session.id == signed_in.session.id,
            }
        })
        .collect();
    let applications = ui
        .state
        .authorizations
        .consents(user.id)
        .await?
        .into_iter()
        .map(|summary| ApplicationRow {
            client_id: summary.consent.client_id,
            name: summary.client_name,
            scope: summary.consent.scope,
            granted: When::new(summary.consent.granted_at),
        })
        .collect();
    let factors = ui.state.accounts.second_factors();
    let totp_enabled = factors.enabled(user.id).await?;
    let recovery_codes_left = if totp_enabled {
        factors.recovery_codes_left(user.id).await?
    } else {
        0
    };
    let passkeys = PasskeySection {
        available: ui.state.accounts.passkeys().available(),
        rows: ui
            .state
            .accounts
            .passkeys()
            .list(user.id)
            .await?
            .into_iter()
            .map(|passkey| PasskeyRow {
                id: passkey.id.to_string(),
                name: passkey.name,
                added: When::new(passkey.created_at),
                last_used: passkey.last_used_at.map(When::new),
            })
            .collect(),
        reauthenticated: ui
            .state
            .reauthentications
            .is_recent(signed_in.session.id)
            .await?,
    };
    let (identities, form_targets) = upstream::identity_rows(ui, user.id).await?;
    let pretty = |value: serde_json::Result<String>| {
        value.unwrap_or_else(|err| format!("(could not show: {err})"))
    };
    let directory_password = ui.state.accounts.directory_backed(user.id).await?;
    let header = jsonwebtoken::decode_header(&signed_in.access_token)
        .map_err(|err| Error::Internal(format!("decoding our own token's header: {err}")))?;
    Ok(ProfilePage {
        layout: Layout::new(req.cookie(), &ui.cookies, Some(signed_in)),
        notice,
        error,
        passkey_error: None,
        email_error: None,
        account: Account {
            id: user.id.to_string(),
            username: user.username.clone(),
            email: user.email.clone(),
            registered: When::new(user.created_at),
            last_login: user.last_login_at.map(When::new),
            has_pop_key: user.pop_public_key.is_some(),
            totp_enabled,
            has_password: user.password_hash.is_some() || directory_password,
            directory_password,
            email_verified: user.email_verified(),
            mail_available: ui.state.recovery.available(),
            recovery_codes_left,
        },
        display_name: profile.display_name.unwrap_or_default(),
        phone: profile.phone.unwrap_or_default(),
        passkeys,
        token: Token {
            header_json: pretty(serde_json::to_string_pretty(&header)),
            claims_json: pretty(serde_json::to_string_pretty(&signed_in.claims)),
            issued: When::from_unix(signed_in.claims.iat),
            expires: When::from_unix(signed_in.claims.exp),
        },
        sessions,
        applications,
        identities,
        form_targets,
    })
}
