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
    let code_verifier = required(form.code_verifier.take(), "code_verifier")?;
    let client = authenticated_client(state, req, &mut form, GrantType::AuthorizationCode).await?;
    let redeemed = state
        .authorizations
        .redeem(CodeRedemption {
            code: &code,
            code_verifier: &code_verifier,
            client_id: &client.client_id,
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
    )
    .await
}
