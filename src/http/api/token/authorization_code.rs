//! `grant_type=authorization_code` (RFC 6749 §4.1.3): the client authenticated, its code
//! redeemed by the domain (`authorization::Authorizations::redeem`, which checks the code
//! against its request and starts the session), and the session's tokens issued.

use poem::Request;

use super::{Granted, OAuthTokenRequest, authenticated_client, required, session_tokens};
use crate::{authorization::CodeRedemption, error::Error, grant_type::GrantType, state::AppState};

pub(super) async fn grant(
    state: &AppState,
    req: &Request,
    mut form: OAuthTokenRequest,
    dpop_jkt: Option<&str>,
) -> Result<Granted, Error> {
    let code = required(form.code.take(), "code")?;
    let code_verifier = form.code_verifier.take().filter(|v| !v.is_empty());
    let client = authenticated_client(state, req, &mut form, GrantType::AuthorizationCode).await?;
    let redeemed = state
        .authorizations
        .redeem(CodeRedemption {
            code: &code,
            code_verifier: code_verifier.as_deref(),
            client_id: &client.client_id,
            client_refreshes: client.allows_grant(GrantType::RefreshToken),
            redirect_uri: form.redirect_uri.as_deref(),
            dpop_jkt,
            resources: &form.resource,
        })
        .await?;
    session_tokens(
        state,
        GrantType::AuthorizationCode,
        redeemed.continuation,
        dpop_jkt,
        redeemed.nonce.as_deref(),
        form.resource,
        redeemed.refresh,
    )
    .await
}
