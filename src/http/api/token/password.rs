//! `grant_type=password` (RFC 6749 §4.3): legacy. RFC 9700 §2.4 says it MUST NOT be used, as
//! the client sees the user's password; kept for the seed clients. New clients use the code
//! flow.

use std::net::IpAddr;

use poem::Request;

use super::{Granted, OAuthTokenRequest, required, session_tokens};
use crate::{
    error::Error, grant_type::GrantType, http::callers::password::login_attempt,
    scope::normalize_scope, state::AppState,
};

pub(super) async fn grant(
    state: &AppState,
    req: &Request,
    client_ip: IpAddr,
    form: OAuthTokenRequest,
    dpop_jkt: Option<&str>,
) -> Result<Granted, Error> {
    // No client authenticates here, so none can be allowed a resource (RFC 8707): the legacy
    // grant's tokens are for AUTHD_AUDIENCE only, and saying so beats ignoring the request.
    if !form.resource.is_empty() {
        return Err(Error::oauth(
            "invalid_target",
            "the password grant issues tokens for AUTHD_AUDIENCE only: use the code flow",
        ));
    }
    let username = required(form.username, "username")?;
    let password = required(form.password, "password")?;
    let scope = normalize_scope(form.scope.as_deref())?;
    let attempt = login_attempt(req, client_ip, username, password);
    let user = state.accounts.authenticate_password_only(attempt).await?;
    let started = state.sessions.start(user.id, scope, dpop_jkt).await?;
    session_tokens(
        state,
        GrantType::Password,
        started,
        dpop_jkt,
        None,
        Vec::new(),
        true,
    )
    .await
}
