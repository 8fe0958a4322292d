//! A browser's session: a refresh-token family held in an `HttpOnly` cookie, with the family's
//! current access token beside it. authd is the browser's backend here (a BFF): it reads the
//! cookies, the page never sees a token.
//!
//! The UI does not rotate the refresh token. A browser sends requests in parallel (two tabs,
//! a reload during a submit), and rotation would see the second as a replayed token and revoke
//! the session (RFC 9700 §4.14). So the cookie's token lives out its lifetime, which also bounds
//! the session absolutely; the family stays revocable from any page, by logout, or with
//! `/oauth/revoke`. When the access token expires, a new one is issued in the same family.

use poem::{Request, web::cookie::CookieJar};
use uuid::Uuid;

use super::{
    cookies::{self, CookiePolicy},
    csrf,
};
use crate::{
    accounts::{PENDING_LOGIN_TTL, PasswordStep, PendingLogin, SecondProof, UserRecord},
    error::Error,
    http::callers::admitted,
    http::{
        callers::password::{self, login_attempt},
        client_ip,
    },
    metrics::Grant,
    oidc::Login,
    rate_limit::RateLimitedRoute,
    sessions::{NewSession, RefreshToken, SessionRecord},
    state::AppState,
    tokens::AccessClaims,
};

/// The signed-in user of a request, and the session and token it holds.
#[derive(Debug)]
pub struct SignedIn {
    pub user: UserRecord,
    pub session: SessionRecord,
    /// The access token in the cookie (renewed if it had expired), and its verified claims.
    pub access_token: String,
    pub claims: AccessClaims,
}

/// The browser's session, if it holds a live one. A revoked or expired session, or a deleted
/// user, clears the cookies and counts as signed out.
pub async fn current(
    state: &AppState,
    jar: &CookieJar,
    policy: &CookiePolicy,
) -> Result<Option<SignedIn>, Error> {
    let Some((user, session)) = live(state, jar, policy).await? else {
        return Ok(None);
    };
    // The access cookie counts only as this session's own token; anything else is replaced.
    if let Some(token) = policy.get(jar, cookies::ACCESS) {
        match state.verifier.verify(&token).await {
            Ok(verified) if belongs_to(&verified.claims, &session) => {
                return Ok(Some(SignedIn {
                    user,
                    session,
                    access_token: token,
                    claims: verified.claims,
                }));
            }
            Ok(_) | Err(Error::InvalidToken(_)) => {}
            Err(other) => return Err(other),
        }
    }
    let (access_token, claims) = issue_access_token(state, jar, policy, &user, &session)?;
    Ok(Some(SignedIn {
        user,
        session,
        access_token,
        claims,
    }))
}

/// The browser's live session and its user, without the access cookie: for the authorization
/// endpoint, which needs to know who is signed in and since when, and no token. A revoked or
/// expired session, or a deleted user, clears the cookies and counts as signed out.
pub async fn live(
    state: &AppState,
    jar: &CookieJar,
    policy: &CookiePolicy,
) -> Result<Option<(UserRecord, SessionRecord)>, Error> {
    let Some(refresh) = policy.get(jar, cookies::SESSION) else {
        return Ok(None);
    };
    let live = state
        .sessions
        .find_live(&RefreshToken::presented(refresh))
        .await?;
    let Some((session, _)) = live else {
        clear(jar, policy);
        return Ok(None);
    };
    let Some(user) = state.users.find_by_id(session.user_id).await? else {
        clear(jar, policy);
        return Ok(None);
    };
    Ok(Some((user, session)))
}

/// How a correct password login goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginStep {
    /// Signed in: the session is in the browser's cookies.
    SignedIn,
    /// The account has a second factor: the browser holds a pending login, and the code page
    /// finishes it (`second_step`).
    SecondFactor,
}

/// Checks a password login (`accounts::Logins::password`): an account without a second factor
/// is signed in at once; one with a second factor gets a pending login in its cookie, which
/// only its second step turns into a session.
pub async fn log_in(
    state: &AppState,
    req: &Request,
    policy: &CookiePolicy,
    username: String,
    password: String,
    authorization: Option<String>,
) -> Result<LoginStep, Error> {
    let ip = admitted(state, req, RateLimitedRoute::Auth).await?;
    let attempt = login_attempt(req, ip, username, password);
    match state.logins.password(attempt, authorization).await? {
        PasswordStep::SecondFactor { pending_id } => {
            policy.set(
                req.cookie(),
                cookies::PENDING,
                &pending_id,
                Some(PENDING_LOGIN_TTL),
            );
            Ok(LoginStep::SecondFactor)
        }
        PasswordStep::SignedIn(user, login) => {
            start(state, req, policy, &user, login).await?;
            Ok(LoginStep::SignedIn)
        }
    }
}

/// The pending login of this browser, if it has a live one.
pub async fn pending(
    state: &AppState,
    req: &Request,
    policy: &CookiePolicy,
) -> Result<Option<PendingLogin>, Error> {
    match policy.get(req.cookie(), cookies::PENDING) {
        Some(id) => state.logins.pending(&id).await,
        None => Ok(None),
    }
}

/// Finishes this browser's pending login with its second factor
/// (`accounts::Logins::second_step`) and starts its session. `Ok(None)`: there is no pending
/// login (it expired, or was finished already).
pub async fn second_step(
    state: &AppState,
    req: &Request,
    policy: &CookiePolicy,
    proof: SecondProof<'_>,
) -> Result<Option<PendingLogin>, Error> {
    let jar = req.cookie();
    let Some(id) = policy.get(jar, cookies::PENDING) else {
        return Ok(None);
    };
    let Some((pending, user)) = state.logins.pending_with_user(&id).await? else {
        policy.clear(jar, cookies::PENDING);
        return Ok(None);
    };
    let ip = admitted(state, req, RateLimitedRoute::Auth).await?;
    let Some(login) = state
        .logins
        .second_step(&id, &pending, &user, proof, ip)
        .await?
    else {
        return Ok(None);
    };
    policy.clear(jar, cookies::PENDING);
    start(state, req, policy, &user, login).await?;
    Ok(Some(pending))
}

/// Finishes a login with a passkey alone (`accounts::Logins::passkey`) and starts its session.
pub async fn passkey_login(
    state: &AppState,
    req: &Request,
    policy: &CookiePolicy,
    ceremony: &str,
    response: &str,
) -> Result<(), Error> {
    let ip = admitted(state, req, RateLimitedRoute::Auth).await?;
    let (user, login) = state
        .logins
        .passkey(ceremony, response, ip, crate::http::user_agent(req))
        .await?;
    start(state, req, policy, &user, login).await
}

/// Starts a session for `user` in the browser's cookies, after every step of the login passed.
pub async fn start(
    state: &AppState,
    req: &Request,
    policy: &CookiePolicy,
    user: &UserRecord,
    login: Login,
) -> Result<(), Error> {
    let jar = req.cookie();
    let started = state
        .sessions
        .start_with(NewSession {
            id: Uuid::now_v7(),
            user_id: user.id,
            scope: String::new(),
            dpop_jkt: None,
            client_id: None,
            // What the codes this session gives pass on to ID tokens (`auth_time`, `amr`).
            login: Some(login),
            resources: Vec::new(),
            parent: None,
            user_agent: crate::http::user_agent(req),
            ip: Some(client_ip(req, &state.config.trusted_proxies)),
        })
        .await?;
    // A login over a live session replaces it: no session is left running that no browser
    // holds. The same user signing in again (`prompt=login`, `max_age`) keeps the sessions
    // their applications hold; another user's end with the session they came from.
    if let Some(previous) = policy.get(jar, cookies::SESSION) {
        state
            .sessions
            .replace(&RefreshToken::presented(previous), &started.session)
            .await?;
    }
    policy.set_for_session(jar, cookies::SESSION, started.refresh_token.expose());
    issue_access_token(state, jar, policy, user, &started.session)?;
    // A new privilege level, a new CSRF token (a token seen before login is worth nothing now).
    csrf::renew(jar, policy);
    tracing::info!(user_id = %user.id, session = %started.session.id, "signed in to the web UI");
    Ok(())
}

/// Ends the browser's session (its refresh family and every access token issued in it) and
/// clears its cookies.
pub async fn log_out(
    state: &AppState,
    jar: &CookieJar,
    policy: &CookiePolicy,
) -> Result<(), Error> {
    if let Some(refresh) = policy.get(jar, cookies::SESSION) {
        state
            .sessions
            .revoke(&RefreshToken::presented(refresh))
            .await?;
    }
    clear(jar, policy);
    Ok(())
}

/// Re-authenticates the signed-in user before a sensitive change: the `password` in the form,
/// or a passkey confirmation of this session a few minutes ago (`Accounts::reauthenticate`).
pub async fn reauthenticate(
    state: &AppState,
    req: &Request,
    signed_in: &SignedIn,
    password: String,
) -> Result<(), Error> {
    let ip = client_ip(req, &state.config.trusted_proxies);
    password::reauthenticate(
        state,
        req,
        ip,
        &signed_in.user,
        Some(signed_in.session.id),
        password,
    )
    .await
}

/// Forgets the session in the browser (it may already have ended on the server).
pub fn clear(jar: &CookieJar, policy: &CookiePolicy) {
    policy.clear(jar, cookies::SESSION);
    policy.clear(jar, cookies::ACCESS);
    csrf::renew(jar, policy);
}

fn belongs_to(claims: &AccessClaims, session: &SessionRecord) -> bool {
    claims.sid.as_deref() == Some(session.id.to_string().as_str())
        && Uuid::parse_str(&claims.sub).ok() == Some(session.user_id)
}

fn issue_access_token(
    state: &AppState,
    jar: &CookieJar,
    policy: &CookiePolicy,
    user: &UserRecord,
    session: &SessionRecord,
) -> Result<(String, AccessClaims), Error> {
    let issued = state
        .tokens
        .issue_in_session(user, Some(session), None, state.clock.now())?;
    state.metrics.token_issued(Grant::Ui, issued.algorithm);
    // Lives as long as the session could: an expired token is replaced on the next page.
    policy.set_for_session(jar, cookies::ACCESS, &issued.token);
    Ok((issued.token, issued.claims))
}

/// For pages anyone may see (home, keys, login, register): the session only names who is
/// signed in, so a failure to look it up (a backing service down) shows the page signed out
/// rather than no page.
pub async fn current_or_none(
    state: &AppState,
    jar: &CookieJar,
    policy: &CookiePolicy,
) -> Option<SignedIn> {
    current(state, jar, policy)
        .await
        .inspect_err(|err| tracing::warn!(error = %err, "could not look up the UI session"))
        .ok()
        .flatten()
}
