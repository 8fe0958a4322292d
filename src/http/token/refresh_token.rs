//! `grant_type=refresh_token` (RFC 6749 §6): the next access token and refresh token of a
//! session, with reuse detection (RFC 9700 §4.14).

use poem::Request;

use super::{Granted, OAuthTokenRequest, required, session_tokens};
use crate::{error::Error, metrics::Grant, sessions::RefreshToken, state::AppState};

pub(super) async fn grant(
    state: &AppState,
    req: &Request,
    mut form: OAuthTokenRequest,
    dpop_jkt: Option<&str>,
) -> Result<Granted, Error> {
    let presented = RefreshToken::presented(required(form.refresh_token.take(), "refresh_token")?);
    // A session the code flow granted a client refreshes only for that client, authenticated
    // as it registered (RFC 6749 §6). Checked before the rotation, so a request from anyone
    // else leaves the token to its holder. A token that is not live goes on to the rotation,
    // which tells a replay from an unknown token.
    if let Some((session, _)) = state.sessions.find_live(&presented).await?
        && let Some(owner) = &session.client_id
    {
        let credentials = form.client(req)?.ok_or(Error::InvalidClient)?;
        let client = state.clients.authenticate(&credentials).await?;
        if client.client_id != *owner {
            return Err(Error::InvalidGrant(
                "the refresh token was issued to another client",
            ));
        }
    }
    let continued = state.sessions.refresh(&presented, dpop_jkt).await?;
    session_tokens(state, Grant::RefreshToken, continued, dpop_jkt).await
}
