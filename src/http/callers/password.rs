//! A person's password as a request presents it: with the request's address and user agent,
//! which the audit log records and the login throttle counts by, checked by `accounts`.

use std::net::IpAddr;

use poem::Request;
use uuid::Uuid;

use crate::{
    accounts::{AuthAttempt, Password, UserRecord},
    error::Error,
    http::user_agent,
    state::AppState,
};

/// A password login as `req` presents it. Every route that takes a password (`/auth`,
/// `/pop/login`, the password grant, the web UI) has `Accounts` check one of these, so all
/// answer alike, in the same time, and leave the same audit trail.
pub fn login_attempt(
    req: &Request,
    client_ip: IpAddr,
    username: String,
    password: String,
) -> AuthAttempt {
    AuthAttempt {
        username,
        password: Password::presented(password),
        client_ip,
        user_agent: user_agent(req),
    }
}

/// Re-authentication of a signed-in `user` before a sensitive change
/// (`Accounts::reauthenticate`): `password`, or none after a passkey confirmation of
/// `session`.
pub async fn reauthenticate(
    state: &AppState,
    req: &Request,
    client_ip: IpAddr,
    user: &UserRecord,
    session: Option<Uuid>,
    password: String,
) -> Result<(), Error> {
    let attempt = login_attempt(req, client_ip, user.username.clone(), password);
    state.accounts.reauthenticate(user, session, attempt).await
}
