//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6, OAuth 2.1 §4.1.3).
//!
//! Every check runs against the code without using it up: a malformed or mistaken request
//! leaves the code to its rightful holder (OAuth 2.1 §7.5.2). Only a request that passes them
//! all redeems it, and of two such requests exactly one wins. A code that comes back after its
//! redemption revokes the tokens the redemption gave.

use poem::Request;
use uuid::Uuid;

use super::{Granted, OAuthTokenRequest, authenticated_client, required, session_tokens};
use crate::{
    authorization::{Redemption, pkce},
    error::Error,
    metrics::Grant,
    oidc::Login,
    sessions::NewSession,
    state::AppState,
};

pub(super) async fn grant(
    state: &AppState,
    req: &Request,
    mut form: OAuthTokenRequest,
    dpop_jkt: Option<&str>,
) -> Result<Granted, Error> {
    let code = required(form.code.take(), "code")?;
    let verifier = required(form.code_verifier.take(), "code_verifier")?;
    let client = authenticated_client(state, req, &mut form, "authorization_code").await?;
    let authorizations = &state.authorizations;
    let Some(grant) = authorizations.peek_code(&code).await? else {
        authorizations.revoke_replayed(&code).await?;
        return Err(Error::InvalidGrant(
            "the code is invalid, expired or already used",
        ));
    };
    let request = &grant.request;
    if request.client_id != client.client_id {
        return Err(Error::InvalidGrant("the code was issued to another client"));
    }
    match (&form.redirect_uri, request.redirect_uri_sent) {
        (Some(sent), true) if *sent == request.redirect_uri => {}
        (None, false) => {}
        _ => {
            return Err(Error::InvalidGrant(
                "redirect_uri must be the one of the authorization request",
            ));
        }
    }
    if !pkce::verifies(&request.code_challenge, &verifier) {
        return Err(Error::InvalidGrant(
            "code_verifier does not match the code_challenge",
        ));
    }
    if let Some(bound) = &request.dpop_jkt
        && dpop_jkt != Some(bound.as_str())
    {
        return Err(Error::InvalidGrant(
            "the code is bound to a DPoP key (dpop_jkt): send a proof signed with it",
        ));
    }
    // RFC 8707 §2.2: the token request may ask for some of the authorization request's
    // resources; checked before the code is used up.
    state.targets.narrow(&request.resources, &form.resource)?;
    let session_id = Uuid::now_v7();
    let redemption = Redemption {
        user_id: grant.user_id,
        session_id,
    };
    if !authorizations.redeem_code(&code, redemption).await? {
        // Redeemed by a concurrent request between the look and the take.
        authorizations.revoke_replayed(&code).await?;
        return Err(Error::InvalidGrant(
            "the code is invalid, expired or already used",
        ));
    }
    let started = state
        .sessions
        .start_with(NewSession {
            id: session_id,
            user_id: grant.user_id,
            scope: request.scope.clone(),
            dpop_jkt,
            client_id: Some(&client.client_id),
            login: Some(Login {
                auth_time: grant.auth_time,
                amr: grant.amr.clone(),
                claims: request.claims.clone(),
            }),
            resources: request.resources.clone(),
        })
        .await?;
    let nonce = request.nonce.as_deref();
    session_tokens(
        state,
        Grant::AuthorizationCode,
        started,
        dpop_jkt,
        nonce,
        form.resource,
    )
    .await
}
