//! `grant_type=urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4): the client
//! authenticated, its device code polled by the domain (`Authorizations::poll_device`, which
//! answers where the grant stands and, once approved, starts the session), and the session's
//! tokens issued as the code flow issues them.

use poem::Request;

use super::{Granted, OAuthTokenRequest, authenticated_client, required, session_tokens};
use crate::{error::Error, grant_type::GrantType, state::AppState};

pub(super) async fn grant(
    state: &AppState,
    req: &Request,
    mut form: OAuthTokenRequest,
    dpop_jkt: Option<&str>,
) -> Result<Granted, Error> {
    let device_code = required(form.device_code.take(), "device_code")?;
    let client = authenticated_client(state, req, &mut form, GrantType::DeviceCode).await?;
    let redeemed = state
        .authorizations
        .poll_device(&device_code, &client, dpop_jkt)
        .await?;
    session_tokens(
        state,
        GrantType::DeviceCode,
        redeemed.continuation,
        dpop_jkt,
        None,
        Vec::new(),
        redeemed.refresh,
    )
    .await
}
