//! `grant_type=refresh_token` (RFC 6749 §6): the next access token and refresh token of a
//! session, with reuse detection (RFC 9700 §4.14).

use poem::Request;

use super::{Granted, OAuthTokenRequest, required, session_tokens};
use crate::{error::Error, grant_type::GrantType, sessions::RefreshToken, state::AppState};

pub(super) async fn grant(
    state: &AppState,
    req: &Request,
    mut form: OAuthTokenRequest,
    dpop_jkt: Option<&str>,
) -> Result<Granted, Error> {
    let presented = RefreshToken::presented(required(form.refresh_token.take(), "refresh_token")?);
    // The client, if one authenticated: a session the code flow granted a client refreshes only
    // for it, which the rotation checks under its lock, so a request from anyone else leaves
    // the token to its holder. Credentials that fail count as none: the seed clients' sessions
    // need none, and a client's session then answers `invalid_client`.
    let client_id = match form.client(req)? {
        Some(credentials) => match state.clients.authenticate(&credentials).await {
            Ok(client) => Some(client.client_id),
            Err(Error::InvalidClient(_)) => None,
            Err(other) => return Err(other),
        },
        None => None,
    };
    // RFC 8707 §2.2: a refresh may ask for some of the session's resources. Checked before the
    // refresh token turns over, so a refused request leaves the client its token.
    if !form.resource.is_empty() {
        let Some((session, _)) = state.sessions.find_live(&presented).await? else {
            return Err(Error::InvalidGrant(
                "the refresh token is invalid or expired",
            ));
        };
        state.targets.narrow(&session.resources, &form.resource)?;
    }
    let continued = state
        .sessions
        .refresh(&presented, dpop_jkt, client_id.as_deref())
        .await?;
    // A refreshed ID token carries no nonce (OpenID Connect Core §12.2).
    session_tokens(
        state,
        GrantType::RefreshToken,
        continued,
        dpop_jkt,
        None,
        form.resource,
        true,
    )
    .await
}
