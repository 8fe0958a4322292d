//! `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693 §2): a confidential
//! client trades a token it received (`subject_token`) for a narrower one for the next hop.
//!
//! With an `actor_token` it is delegation: the new token's `act` names the actor, with the
//! subject token's own chain nested inside, and the subject token's `may_act` or the client's
//! policy must allow that actor. Without one it is impersonation, which only the client's
//! policy allows. The subject token must have been issued to this client or for a resource it
//! serves, so a token cannot be traded by anyone who merely holds it. No refresh token is ever
//! issued: the new token lives no longer than the subject token, and in its session.
//!
//! Errors (RFC 8693 §2.2.2): a subject or actor token that is invalid, or unacceptable by
//! policy (not addressed to the client, an actor its `may_act` does not name), is
//! `invalid_request`, as the RFC requires; a target the client may not ask for is
//! `invalid_target`; a client whose registration or policy does not allow what it asks
//! (the grant, impersonation) is `unauthorized_client`.

use poem::Request;
use uuid::Uuid;

use super::{Granted, OAuthTokenRequest, OAuthTokenResponse, authenticated_client, token_type};
use crate::{
    accounts::UserRecord,
    clients::ClientRecord,
    error::Error,
    exchange::{self, ActorIdentity, ExternalToken, ExternalTokenError, TokenType, UserMatch},
    grant_type::GrantType,
    scope::normalize_scope,
    state::AppState,
    tokens::{AccessClaims, Actor, Audience, Exchanged, InvalidToken},
};

pub(super) async fn grant(
    state: &AppState,
    req: &Request,
    mut form: OAuthTokenRequest,
    dpop_jkt: Option<&str>,
) -> Result<Granted, Error> {
    let client = authenticated_client(state, req, &mut form, GrantType::TokenExchange).await?;
    let subject_token = invalid_request_if_missing(form.subject_token.take(), "subject_token")?;
    TokenType::parse(
        &invalid_request_if_missing(form.subject_token_type.take(), "subject_token_type")?,
        "subject_token_type",
    )?;
    let actor_token = match (form.actor_token.take(), form.actor_token_type.take()) {
        (Some(token), Some(kind)) => {
            TokenType::parse(&kind, "actor_token_type")?;
            Some(token)
        }
        (None, None) => None,
        // RFC 8693 §2.1: actor_token_type is required with an actor token, and only then.
        _ => {
            return Err(Error::oauth(
                "invalid_request",
                "actor_token and actor_token_type come together",
            ));
        }
    };
    let issued_type = match form.requested_token_type.take() {
        Some(kind) => TokenType::parse(&kind, "requested_token_type")?,
        None => TokenType::AccessToken,
    };
    let audience = state
        .targets
        .resolve(&client.client_id, &form.resource, &form.audience)?
        .unwrap_or_else(|| Audience::one(state.config.audience.clone()));
    let requested_scope = normalize_scope(form.scope.as_deref())
        .map_err(|err| Error::oauth("invalid_scope", err.to_string()))?;

    let subject = subject(state, &client, &subject_token).await?;
    let policy = state.trust.policy(&client.client_id);
    let act = match actor_token {
        Some(token) => {
            let actor = actor(state, &client, &token).await?;
            // The actor is the client itself, proved by its own token, and the client's
            // policy lets it act for others; or the subject token names the actor itself.
            let client_acting = actor.iss.is_none() && actor.sub == client.client_id;
            let allowed = exchange::may_act_permits(subject.may_act.as_ref(), &actor)
                || (client_acting && policy.is_some_and(|policy| policy.delegate));
            if !allowed {
                return Err(Error::oauth(
                    "invalid_request",
                    "actor_token: the subject token's may_act does not name this actor, and \
                     the client's policy does not let it act for the subject",
                ));
            }
            Some(exchange::chain(actor, subject.act))
        }
        None => {
            if !policy.is_some_and(|policy| policy.impersonate) {
                return Err(Error::oauth(
                    "unauthorized_client",
                    "this client may not impersonate: send its own token as actor_token",
                ));
            }
            // The earlier actors stay visible: impersonation hides no one who came before.
            subject.act
        }
    };
    let scope = exchange::narrow_scope(subject.scope.as_deref(), &requested_scope)?;
    let issued = state.tokens.issue_exchanged(
        &subject.user,
        Exchanged {
            client_id: client.client_id.clone(),
            audience,
            scope: scope.clone(),
            sid: subject.sid,
            act,
            dpop_jkt: dpop_jkt.map(str::to_owned),
            not_after: subject.exp,
        },
        state.clock.now(),
    )?;
    tracing::info!(
        client_id = %client.client_id,
        user_id = %subject.user.id,
        delegated = issued.claims.act.is_some(),
        "token exchanged"
    );
    Ok(Granted {
        grant: GrantType::TokenExchange,
        algorithm: issued.algorithm,
        response: OAuthTokenResponse {
            access_token: issued.token,
            issued_token_type: Some(issued_type.as_str().to_owned()),
            token_type: token_type(dpop_jkt).to_owned(),
            expires_in: issued.expires_in,
            refresh_token: None,
            scope: scope.unwrap_or_default(),
            id_token: None,
        },
    })
}

/// The subject token, verified, with the authd user it names.
struct Subject {
    user: UserRecord,
    scope: Option<String>,
    sid: Option<String>,
    act: Option<Actor>,
    may_act: Option<Actor>,
    exp: i64,
}

async fn subject(state: &AppState, client: &ClientRecord, token: &str) -> Result<Subject, Error> {
    if state.external_issuers.issuer_of(token).is_some() {
        let external = verify_external(state, client, token, "subject_token").await?;
        let user = external_user(state, &external).await?;
        return Ok(Subject {
            user,
            scope: external.scope,
            // An outside token has no authd session; the exchanged token lives no longer than
            // it, and can be revoked by its jti.
            sid: None,
            act: external.act,
            may_act: external.may_act,
            exp: external.exp,
        });
    }
    let claims = verify_authd(state, token, "subject_token").await?;
    // The subject token must be this client's to trade: issued to it, or for a resource it
    // serves. Anyone else holding it has it by mistake or by theft.
    let addressed = claims.client_id.as_deref() == Some(client.client_id.as_str())
        || state.targets.served_by(&claims.aud, &client.client_id);
    if !addressed {
        return Err(Error::oauth(
            "invalid_request",
            "subject_token: it was neither issued to this client nor for a resource it serves",
        ));
    }
    let user = match claims.username {
        Some(_) => find_user(state, UserMatch::Id, &claims.sub).await?,
        None => None,
    }
    .ok_or_else(|| Error::oauth("invalid_request", "subject_token: it does not name a user"))?;
    Ok(Subject {
        user,
        scope: claims.scope,
        sid: claims.sid,
        act: claims.act,
        may_act: None,
        exp: claims.exp,
    })
}

/// The party an actor token proves its presenter to be.
async fn actor(
    state: &AppState,
    client: &ClientRecord,
    token: &str,
) -> Result<ActorIdentity, Error> {
    if state.external_issuers.issuer_of(token).is_some() {
        let external = verify_external(state, client, token, "actor_token").await?;
        return Ok(ActorIdentity {
            sub: external.sub,
            iss: Some(external.issuer),
        });
    }
    let claims = verify_authd(state, token, "actor_token").await?;
    Ok(ActorIdentity {
        sub: claims.sub,
        iss: None,
    })
}

/// An authd token, fully verified (revocation included) whatever its audience.
async fn verify_authd(
    state: &AppState,
    token: &str,
    field: &'static str,
) -> Result<AccessClaims, Error> {
    match state.verifier.verify_issued(token).await {
        Ok(verified) => Ok(verified.claims),
        Err(Error::InvalidToken(reason)) => Err(invalid_token(field, reason)),
        Err(other) => Err(other),
    }
}

/// A token of a trusted outside issuer, which this client must be allowed to present.
async fn verify_external(
    state: &AppState,
    client: &ClientRecord,
    token: &str,
    field: &'static str,
) -> Result<ExternalToken, Error> {
    if let Some(issuer) = state.external_issuers.issuer_of(token)
        && !issuer.clients.contains(&client.client_id)
    {
        return Err(Error::oauth(
            "invalid_request",
            format!(
                "{field}: this client may not present tokens of {}",
                issuer.issuer
            ),
        ));
    }
    state
        .external_issuers
        .verify(token)
        .await
        .map_err(|err| match err {
            ExternalTokenError::Invalid(why) => {
                Error::oauth("invalid_request", format!("{field}: {why}"))
            }
            unavailable @ ExternalTokenError::KeysUnavailable { .. } => {
                tracing::warn!(error = %unavailable, "trusted issuer's keys unavailable");
                Error::oauth("invalid_request", format!("{field}: {unavailable}"))
            }
        })
}

/// The authd user an outside token names, by the attribute its issuer's entry says.
async fn external_user(state: &AppState, external: &ExternalToken) -> Result<UserRecord, Error> {
    find_user(state, external.user_match, &external.subject)
        .await?
        .ok_or_else(|| {
            Error::oauth(
                "invalid_request",
                format!(
                    "subject_token: no authd user matches the token of {}",
                    external.issuer
                ),
            )
        })
}

async fn find_user(
    state: &AppState,
    by: UserMatch,
    value: &str,
) -> Result<Option<UserRecord>, Error> {
    Ok(match by {
        UserMatch::Id => match Uuid::parse_str(value) {
            Ok(id) => state.users.find_by_id(id).await?,
            Err(_) => None,
        },
        UserMatch::Username => state.users.find_by_username(value).await?,
        UserMatch::Email => state.users.find_by_email(value).await?,
    })
}

fn invalid_token(field: &'static str, reason: InvalidToken) -> Error {
    Error::oauth("invalid_request", format!("{field}: {reason}"))
}

/// RFC 8693 §2.2.2: a missing parameter is `invalid_request`.
fn invalid_request_if_missing(value: Option<String>, field: &'static str) -> Result<String, Error> {
    value
        .filter(|value| !value.is_empty())
        .ok_or_else(|| Error::oauth("invalid_request", format!("{field} is required")))
}
