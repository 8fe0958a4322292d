//! `grant_type=client_credentials` (RFC 6749 §4.4): a confidential client's token for itself.

use poem::Request;

use super::{Granted, OAuthTokenRequest, OAuthTokenResponse, authenticated_client, token_type};
use crate::{
    clients::grant_scope, error::Error, grant_type::GrantType, scope::normalize_scope,
    state::AppState,
};

pub(super) async fn grant(
    state: &AppState,
    req: &Request,
    mut form: OAuthTokenRequest,
    dpop_jkt: Option<&str>,
) -> Result<Granted, Error> {
    let client = authenticated_client(state, req, &mut form, GrantType::ClientCredentials).await?;
    // No user: OpenID Connect's scopes are not open here.
    let scope = grant_scope(&client, &normalize_scope(form.scope.as_deref())?, &[])?;
    // RFC 8707: the resources it asked for, if it may ask for them.
    let audience = state
        .targets
        .resolve(&client.client_id, &form.resource, &[])?;
    let issued = state.tokens.issue_for_client(
        &client,
        scope.clone(),
        audience,
        dpop_jkt,
        state.clock.now(),
    )?;
    Ok(Granted {
        grant: GrantType::ClientCredentials,
        algorithm: issued.algorithm,
        response: OAuthTokenResponse {
            access_token: issued.token,
            issued_token_type: None,
            token_type: token_type(dpop_jkt).to_owned(),
            expires_in: issued.expires_in,
            refresh_token: None,
            scope,
            id_token: None,
        },
    })
}
