//! The token endpoint (RFC 6749 §3.2): one module per grant type, the way the grants read in
//! the RFCs. Requests are form-encoded; errors follow RFC 6749 §5.2.

mod authorization_code;
mod client_credentials;
mod device_code;
mod password;
mod refresh_token;
mod token_exchange;

use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use serde::Deserialize;

use super::ApiTags;
use crate::http::{
    bodies::oauth_form::OAuthForm,
    callers::access::proof_key,
    callers::client_auth::{ClientFields, presented_client},
    error::OAuthError,
};
use crate::{
    clients::{ClientCredentials, ClientRecord, missing_credentials},
    error::Error,
    grant_type::GrantType,
    http::callers::admitted,
    rate_limit::RateLimitedRoute,
    sessions::Continuation,
    sessions::SessionRecord,
    state::AppState,
};

pub struct TokenApi(pub AppState);

/// No `Debug`: the form may hold a password, a code or a refresh token.
#[derive(Object, Deserialize)]
pub struct OAuthTokenRequest {
    /// `authorization_code`, `refresh_token`, `client_credentials`,
    /// `urn:ietf:params:oauth:grant-type:token-exchange`,
    /// `urn:ietf:params:oauth:grant-type:device_code`, or the legacy `password`.
    grant_type: Option<String>,
    /// For `authorization_code`: the code the authorization endpoint returned.
    #[oai(write_only)]
    code: Option<String>,
    /// For `authorization_code`: the redirect URI of the authorization request, if it sent one.
    redirect_uri: Option<String>,
    /// For `authorization_code`: the PKCE verifier (RFC 7636 §4.5).
    #[oai(write_only)]
    code_verifier: Option<String>,
    /// For `password` (legacy, RFC 9700 §2.4).
    username: Option<String>,
    /// For `password` (legacy, RFC 9700 §2.4).
    #[oai(write_only)]
    password: Option<String>,
    /// For `refresh_token`.
    #[oai(write_only)]
    refresh_token: Option<String>,
    /// For the device grant (RFC 8628 §3.4): the `device_code` the device authorization
    /// endpoint gave.
    #[oai(write_only)]
    device_code: Option<String>,
    /// Space-separated scopes to grant (a refresh keeps the session's scope).
    scope: Option<String>,
    /// The client: alone for a public client, with `client_secret` for `client_secret_post`.
    client_id: Option<String>,
    #[oai(write_only)]
    client_secret: Option<String>,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` for `private_key_jwt`.
    client_assertion_type: Option<String>,
    /// A JWT signed with a key the client registered (RFC 7523 §2.2).
    #[oai(write_only)]
    client_assertion: Option<String>,
    /// RFC 8707: a resource (absolute URI) the token is for; repeat it for several. Each must
    /// be one the trust file lets this client ask for; the token's `aud` names them. For a
    /// code or a refresh, some of the resources the authorization request named.
    #[oai(default)]
    #[serde(default)]
    resource: Vec<String>,
    /// For the token exchange (RFC 8693 §2.1): a logical name of a target the token is for;
    /// repeatable, checked like `resource`.
    #[oai(default)]
    #[serde(default)]
    audience: Vec<String>,
    /// For the token exchange: the token whose subject the new token is about (an authd
    /// access token, or a JWT of a trusted issuer).
    #[oai(write_only)]
    subject_token: Option<String>,
    /// For the token exchange: `urn:ietf:params:oauth:token-type:access_token` or `…:jwt`.
    subject_token_type: Option<String>,
    /// For the token exchange (delegation): the token of the party that will act for the
    /// subject, usually the client's own. Without it, the exchange is impersonation.
    #[oai(write_only)]
    actor_token: Option<String>,
    /// For the token exchange: the type of `actor_token`, required with it.
    actor_token_type: Option<String>,
    /// For the token exchange: `…:access_token` (the default) or `…:jwt`; both are the same
    /// signed JWT access token.
    requested_token_type: Option<String>,
}

impl OAuthTokenRequest {
    /// The client credentials the form (or its Basic header) presents, if any.
    fn client(&mut self, req: &Request) -> Result<Option<ClientCredentials>, Error> {
        presented_client(
            req,
            ClientFields {
                client_id: self.client_id.take(),
                client_secret: self.client_secret.take(),
                client_assertion_type: self.client_assertion_type.take(),
                client_assertion: self.client_assertion.take(),
            },
        )
    }
}

/// RFC 6749 §5.1.
#[derive(Object)]
pub struct OAuthTokenResponse {
    access_token: String,
    /// For a token exchange (RFC 8693 §2.2.1): the type of the token issued.
    #[oai(skip_serializing_if_is_none)]
    issued_token_type: Option<String>,
    /// `Bearer`, or `DPoP` when the request carried a DPoP proof (RFC 9449 §5).
    token_type: String,
    expires_in: i64,
    /// Opaque; use it once with `grant_type=refresh_token` for the next pair. Shown only here.
    /// Not issued to a client acting for itself (RFC 6749 §4.4.3).
    #[oai(skip_serializing_if_is_none)]
    refresh_token: Option<String>,
    scope: String,
    /// OpenID Connect: who signed in, for the client, when the code flow's scope has `openid`
    /// (also on a refresh of such a session, with the same `sub` and `auth_time`).
    #[oai(skip_serializing_if_is_none)]
    id_token: Option<String>,
}

#[derive(ApiResponse)]
pub enum TokenResult {
    #[oai(status = 200)]
    Ok(
        Json<OAuthTokenResponse>,
        /// RFC 6749 §5.1: no cache may keep tokens.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

/// What a grant hands back to the endpoint to answer with.
struct Granted {
    grant: GrantType,
    algorithm: jsonwebtoken::Algorithm,
    response: OAuthTokenResponse,
}

#[OpenApi(tag = "ApiTags::OAuth")]
impl TokenApi {
    /// Token endpoint
    ///
    /// - `authorization_code` (RFC 6749 §4.1.3 with PKCE): the code from `/oauth/authorize`,
    ///   its `code_verifier` and, if the request sent one, the same `redirect_uri`; the client
    ///   authenticates by its registered method (a public client sends only `client_id`).
    /// - `refresh_token`: trades a refresh token for a new access token AND a new refresh
    ///   token. A refresh token presented twice revokes its whole session. A session granted
    ///   to a client refreshes only for that client.
    /// - `client_credentials`: a confidential client's token for itself.
    /// - `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693): a confidential client
    ///   trades a `subject_token` issued to it (or for a resource it serves) for a token for
    ///   another `audience`/`resource`, with at most the subject token's scope. With an
    ///   `actor_token` the new token's `act` says who acts for the subject; without one
    ///   (impersonation) only a client whose policy allows it may exchange. No refresh token.
    /// - `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4): the device polls with
    ///   its `device_code` every `interval` seconds until the person answers:
    ///   `authorization_pending`, `slow_down` (polled too fast: the interval grows by 5 s),
    ///   `access_denied`, `expired_token`; then the tokens, once.
    /// - `password` (legacy: RFC 9700 §2.4 forbids it; kept for the seed clients).
    ///
    /// `resource` (RFC 8707) selects the resource servers the token is for (its `aud`); the
    /// default is `AUTHD_AUDIENCE`.
    ///
    /// With a `DPoP` proof header (RFC 9449), the access token is bound to the proof's key
    /// (`token_type: DPoP`, `cnf.jkt`), and so is the session's refresh token: refreshing it
    /// then takes a proof by the same key.
    #[oai(path = "/oauth/token", method = "post")]
    async fn token(
        &self,
        req: &Request,
        form: OAuthForm<OAuthTokenRequest>,
    ) -> Result<TokenResult, OAuthError> {
        let state = &self.0;
        let client_ip = admitted(state, req, RateLimitedRoute::Token).await?;
        // The proof is checked before any credential, so a client asked for a server nonce
        // does not pay for a password check twice.
        let dpop_jkt = proof_key(state, req).await?;
        let dpop_jkt = dpop_jkt.as_deref();
        let mut form = form.0;
        // An empty value counts as absent, as for every other field (a form UI sends a list
        // it was given no item for as one empty value).
        form.resource.retain(|value| !value.is_empty());
        form.audience.retain(|value| !value.is_empty());
        let grant = match form.grant_type.take() {
            Some(name) => {
                GrantType::parse(&name).ok_or_else(|| Error::UnsupportedGrantType(name.clone()))?
            }
            None => return Err(missing("grant_type").into()),
        };
        let granted = match grant {
            GrantType::AuthorizationCode => {
                authorization_code::grant(state, req, form, dpop_jkt).await?
            }
            GrantType::RefreshToken => refresh_token::grant(state, req, form, dpop_jkt).await?,
            GrantType::ClientCredentials => {
                client_credentials::grant(state, req, form, dpop_jkt).await?
            }
            GrantType::TokenExchange => token_exchange::grant(state, req, form, dpop_jkt).await?,
            GrantType::DeviceCode => device_code::grant(state, req, form, dpop_jkt).await?,
            GrantType::Password => password::grant(state, req, client_ip, form, dpop_jkt).await?,
        };
        state
            .metrics
            .token_issued(granted.grant.into(), granted.algorithm);
        Ok(TokenResult::Ok(
            Json(granted.response),
            "no-store".to_owned(),
        ))
    }
}

/// Authenticates the form's client, which must be registered for `grant_type`.
async fn authenticated_client(
    state: &AppState,
    req: &Request,
    form: &mut OAuthTokenRequest,
    grant_type: GrantType,
) -> Result<ClientRecord, Error> {
    let credentials = form.client(req)?.ok_or_else(missing_credentials)?;
    let client = state.clients.authenticate(&credentials).await?;
    if !client.allows_grant(grant_type) {
        return Err(Error::oauth(
            "unauthorized_client",
            format!("this client is not registered for the {grant_type} grant"),
        ));
    }
    Ok(client)
}

/// Access token and refresh token of a session just started or continued, and an ID token if
/// the session is an OpenID Connect one. `nonce` is the authorization request's. `resources`:
/// the access token's audience, when the request narrowed the session's (checked by the
/// caller with `Targets::narrow` before the code or refresh token was used). `with_refresh`:
/// whether the refresh token is handed out (not to an OpenID Connect code-flow client that was
/// not allowed `offline_access`).
async fn session_tokens(
    state: &AppState,
    grant: GrantType,
    continuation: Continuation,
    dpop_jkt: Option<&str>,
    nonce: Option<&str>,
    resources: Vec<String>,
    with_refresh: bool,
) -> Result<Granted, Error> {
    let Continuation {
        session,
        refresh_token,
    } = continuation;
    let user = state
        .users
        .find_by_id(session.user_id)
        .await?
        .ok_or(Error::InvalidGrant("the session's user no longer exists"))?;
    // A bound session's tokens stay bound to its key (`refresh` checked the proof's key).
    let jkt = session.dpop_jkt.as_deref().or(dpop_jkt);
    // Read at each issuance: a refresh carries the user's groups as they are now.
    let groups = if session
        .scope
        .split(' ')
        .any(|scope| scope == crate::oidc::GROUPS)
    {
        Some(state.groups.names_of(user.id).await?)
    } else {
        None
    };
    let narrowed;
    let issued_for = if resources.is_empty() {
        &session
    } else {
        narrowed = SessionRecord {
            resources,
            ..session.clone()
        };
        &narrowed
    };
    let issued =
        state
            .tokens
            .issue_with_groups(&user, Some(issued_for), jkt, groups, state.clock.now())?;
    let id_token = state
        .id_tokens
        .for_session(&user, &session, &issued, nonce)
        .await?;
    Ok(Granted {
        grant,
        algorithm: issued.algorithm,
        response: OAuthTokenResponse {
            access_token: issued.token,
            token_type: token_type(jkt).to_owned(),
            expires_in: issued.expires_in,
            issued_token_type: None,
            refresh_token: with_refresh.then(|| refresh_token.expose().to_owned()),
            scope: session.scope,
            id_token,
        },
    })
}

/// RFC 9449 §5: a token bound to a DPoP key is of type `DPoP`.
pub fn token_type(bound_key: Option<&str>) -> &'static str {
    if bound_key.is_some() {
        "DPoP"
    } else {
        "Bearer"
    }
}

pub fn missing(field: &'static str) -> Error {
    Error::InvalidField {
        field,
        message: "is required".to_owned(),
    }
}

pub fn required(value: Option<String>, field: &'static str) -> Result<String, Error> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing(field))
}
