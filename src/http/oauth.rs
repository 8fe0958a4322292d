//! OAuth 2.0: the token endpoint (RFC 6749 §3.2), revocation (RFC 7009) and introspection
//! (RFC 7662).
//! Requests are form-encoded; errors follow RFC 6749 §5.2.

use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Form, payload::Json};
use serde::Deserialize;

use super::{
    ApiTags,
    access::{dpop_proof, subject_exists},
    auth::check_password,
    client_auth::{PresentedClient, presented_client},
    client_ip,
    error::OAuthError,
};
use crate::{
    error::Error,
    metrics::Grant,
    possession::ProofContext,
    rate_limit::RateLimitedRoute,
    scope::normalize_scope,
    sessions::{Continuation, RefreshToken},
    state::AppState,
};

pub struct OAuthApi(pub AppState);

/// No `Debug`: the form may hold a password or a refresh token.
#[derive(Object, Deserialize)]
struct OAuthTokenRequest {
    /// `password`, `refresh_token` or `client_credentials`.
    grant_type: Option<String>,
    /// For `password`.
    username: Option<String>,
    /// For `password`.
    #[oai(write_only)]
    password: Option<String>,
    /// For `refresh_token`.
    #[oai(write_only)]
    refresh_token: Option<String>,
    /// Space-separated scopes to grant (a refresh keeps the session's scope).
    scope: Option<String>,
    /// `client_secret_post` client authentication (or use HTTP Basic).
    client_id: Option<String>,
    #[oai(write_only)]
    client_secret: Option<String>,
}

/// RFC 6749 §5.1.
#[derive(Object)]
struct OAuthTokenResponse {
    access_token: String,
    /// `Bearer`, or `DPoP` when the request carried a DPoP proof (RFC 9449 §5).
    token_type: String,
    expires_in: i64,
    /// Opaque; use it once with `grant_type=refresh_token` for the next pair. Shown only here.
    /// Not issued to a client acting for itself (RFC 6749 §4.4.3).
    #[oai(skip_serializing_if_is_none)]
    refresh_token: Option<String>,
    scope: String,
}

#[derive(ApiResponse)]
enum OAuthTokenResult {
    #[oai(status = 200)]
    Ok(
        Json<OAuthTokenResponse>,
        /// RFC 6749 §5.1: no cache may keep tokens.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

#[derive(Object, Deserialize)]
struct RevokeRequest {
    /// An access token or a refresh token.
    #[oai(write_only)]
    token: Option<String>,
    /// `access_token` or `refresh_token`; a hint only (RFC 7009 §2.1): authd tells them apart.
    token_type_hint: Option<String>,
    client_id: Option<String>,
    #[oai(write_only)]
    client_secret: Option<String>,
}

/// RFC 7662 §2.2. For an inactive token, only `active: false`.
#[derive(Object, Default)]
struct Introspection {
    active: bool,
    #[oai(skip_serializing_if_is_none)]
    scope: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    client_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    username: Option<String>,
    /// `Bearer` or `DPoP` for access tokens, `refresh_token` for refresh tokens.
    #[oai(skip_serializing_if_is_none)]
    token_type: Option<String>,
    /// The key a DPoP or PoP token is bound to (RFC 9449 §6.2).
    #[oai(skip_serializing_if_is_none)]
    cnf: Option<super::me::Confirmation>,
    #[oai(skip_serializing_if_is_none)]
    exp: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    iat: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    nbf: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    sub: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    aud: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    iss: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    jti: Option<String>,
}

#[derive(ApiResponse)]
enum IntrospectionResult {
    #[oai(status = 200)]
    Ok(Json<Introspection>, #[oai(header = "Cache-Control")] String),
}

#[derive(ApiResponse)]
enum RevokeResult {
    /// Revoked, or there was nothing to revoke (RFC 7009 §2.2: the answer is the same).
    #[oai(status = 200)]
    Ok,
}

#[OpenApi(tag = "ApiTags::OAuth")]
impl OAuthApi {
    /// Token endpoint
    ///
    /// `grant_type=password` (username, password, optional scope) starts a session;
    /// `grant_type=refresh_token` trades a refresh token for a new access token AND a new
    /// refresh token. A refresh token presented twice revokes its whole session.
    ///
    /// With a `DPoP` proof header (RFC 9449), the access token is bound to the proof's key
    /// (`token_type: DPoP`, `cnf.jkt`), and so is the session's refresh token: refreshing it
    /// then takes a proof by the same key.
    #[oai(path = "/oauth/token", method = "post")]
    async fn token(
        &self,
        req: &Request,
        form: Form<OAuthTokenRequest>,
    ) -> Result<OAuthTokenResult, OAuthError> {
        let state = &self.0;
        let client_ip = client_ip(req, &state.config.trusted_proxies);
        state
            .rate_limiter
            .check(RateLimitedRoute::Token, client_ip)
            .await?;
        // The proof is checked before any credential, so a client asked for a server nonce
        // does not pay for a password check twice.
        let dpop_jkt = match dpop_proof(req)? {
            Some(proof) => {
                let context = ProofContext {
                    method: req.method().as_str(),
                    path: req.original_uri().path(),
                    access_token: None,
                };
                Some(state.dpop.verify(proof, context).await?)
            }
            None => None,
        };
        let dpop_jkt = dpop_jkt.as_deref();
        let form = form.0;
        let (grant, continuation) = match form.grant_type.as_deref() {
            Some("password") => {
                let username = required(form.username, "username")?;
                let password = required(form.password, "password")?;
                let scope = normalize_scope(form.scope.as_deref())?;
                let user = check_password(state, req, client_ip, username, password).await?;
                (
                    Grant::Password,
                    state.sessions.start(user.id, scope, dpop_jkt).await?,
                )
            }
            Some("refresh_token") => {
                let presented =
                    RefreshToken::presented(required(form.refresh_token, "refresh_token")?);
                (
                    Grant::RefreshToken,
                    state.sessions.refresh(&presented, dpop_jkt).await?,
                )
            }
            Some("client_credentials") => {
                let client = presented_client(req, form.client_id, form.client_secret)?
                    .ok_or(Error::InvalidClient)?;
                let client = self.authenticate(client).await?;
                let scope =
                    crate::clients::grant_scope(&client, &normalize_scope(form.scope.as_deref())?)?;
                let issued = state.tokens.issue_for_client(
                    &client,
                    scope.clone(),
                    dpop_jkt,
                    state.clock.now(),
                )?;
                state
                    .metrics
                    .token_issued(Grant::ClientCredentials, issued.algorithm);
                return Ok(OAuthTokenResult::Ok(
                    Json(OAuthTokenResponse {
                        access_token: issued.token,
                        token_type: token_type(dpop_jkt).to_owned(),
                        expires_in: issued.expires_in,
                        refresh_token: None,
                        scope,
                    }),
                    "no-store".to_owned(),
                ));
            }
            Some(other) => return Err(Error::UnsupportedGrantType(other.to_owned()).into()),
            None => return Err(missing("grant_type").into()),
        };
        self.respond(grant, continuation, dpop_jkt).await
    }

    /// Revoke a token (RFC 7009)
    ///
    /// An access token is revoked by its `jti`; a refresh token ends its whole session, including
    /// the access tokens issued in it. 200 whether or not the token was known.
    #[oai(path = "/oauth/revoke", method = "post")]
    async fn revoke(
        &self,
        req: &Request,
        form: Form<RevokeRequest>,
    ) -> Result<RevokeResult, OAuthError> {
        let form = form.0;
        // Public clients may revoke what they hold; a client that authenticates must do it right.
        if let Some(client) = presented_client(req, form.client_id, form.client_secret)? {
            self.authenticate(client).await?;
        }
        let token = required(form.token, "token")?;
        if looks_like_jwt(&token) {
            match self.0.verifier.verify(&token).await {
                Ok(verified) => {
                    super::logout::revoke_access_token(&self.0, &verified).await?;
                }
                // Invalid, expired or already revoked: nothing left to revoke.
                Err(Error::InvalidToken(_)) => {}
                Err(other) => return Err(other.into()),
            }
        } else {
            self.0
                .sessions
                .revoke(&RefreshToken::presented(token))
                .await?;
        }
        Ok(RevokeResult::Ok)
    }

    /// Introspect a token (RFC 7662)
    ///
    /// Requires client authentication. A live access or refresh token is described; anything
    /// else is `{"active": false}`.
    #[oai(path = "/oauth/introspect", method = "post")]
    async fn introspect(
        &self,
        req: &Request,
        form: Form<RevokeRequest>,
    ) -> Result<IntrospectionResult, OAuthError> {
        let form = form.0;
        let client = presented_client(req, form.client_id, form.client_secret)?
            .ok_or(Error::InvalidClient)?;
        self.authenticate(client).await?;
        let token = required(form.token, "token")?;
        let introspection = self.introspect_token(&token).await?;
        Ok(IntrospectionResult::Ok(
            Json(introspection),
            "no-store".to_owned(),
        ))
    }
}

impl OAuthApi {
    async fn authenticate(
        &self,
        client: PresentedClient,
    ) -> Result<crate::store::ClientRecord, Error> {
        self.0
            .clients
            .authenticate(&client.client_id, &client.secret)
            .await
    }

    async fn introspect_token(&self, token: &str) -> Result<Introspection, Error> {
        let state = &self.0;
        if looks_like_jwt(token) {
            let verified = match state.verifier.verify(token).await {
                Ok(verified) => verified,
                Err(Error::InvalidToken(_)) => return Ok(Introspection::default()),
                Err(other) => return Err(other),
            };
            // A deleted user's token is no longer active.
            if !subject_exists(state, &verified.claims).await? {
                return Ok(Introspection::default());
            }
            let claims = verified.claims;
            // A PoP token is bound too, but used with its own scheme.
            let token_type = if claims.nonce.is_some() {
                "PoP".to_owned()
            } else {
                token_type(claims.bound_key()).to_owned()
            };
            return Ok(Introspection {
                active: true,
                scope: claims.scope,
                client_id: claims.client_id,
                username: claims.username,
                token_type: Some(token_type),
                cnf: claims
                    .cnf
                    .map(|cnf| super::me::Confirmation { jkt: cnf.jkt }),
                exp: Some(claims.exp),
                iat: Some(claims.iat),
                nbf: Some(claims.nbf),
                sub: Some(claims.sub),
                aud: Some(claims.aud),
                iss: Some(claims.iss),
                jti: Some(claims.jti),
            });
        }
        let presented = RefreshToken::presented(token.to_owned());
        Ok(match state.sessions.find_live(&presented).await? {
            Some((session, expires_at)) => Introspection {
                active: true,
                scope: Some(session.scope).filter(|scope| !scope.is_empty()),
                token_type: Some("refresh_token".to_owned()),
                exp: Some(expires_at.unix_timestamp()),
                sub: Some(session.user_id.to_string()),
                iss: Some(state.config.issuer.clone()),
                ..Introspection::default()
            },
            None => Introspection::default(),
        })
    }

    async fn respond(
        &self,
        grant: Grant,
        continuation: Continuation,
        dpop_jkt: Option<&str>,
    ) -> Result<OAuthTokenResult, OAuthError> {
        let state = &self.0;
        let Continuation {
            session,
            refresh_token,
        } = continuation;
        let user = state
            .users
            .find_by_id(session.user_id)
            .await
            .map_err(Error::from)?
            .ok_or(Error::InvalidGrant("the session's user no longer exists"))?;
        // A bound session's tokens stay bound to its key (`refresh` checked the proof's key).
        let jkt = session.dpop_jkt.as_deref().or(dpop_jkt);
        let issued =
            state
                .tokens
                .issue_in_session(&user, Some(&session), jkt, state.clock.now())?;
        state.metrics.token_issued(grant, issued.algorithm);
        Ok(OAuthTokenResult::Ok(
            Json(OAuthTokenResponse {
                access_token: issued.token,
                token_type: token_type(jkt).to_owned(),
                expires_in: issued.expires_in,
                refresh_token: Some(refresh_token.expose().to_owned()),
                scope: session.scope,
            }),
            "no-store".to_owned(),
        ))
    }
}

/// RFC 9449 §5: a token bound to a DPoP key is of type `DPoP`.
fn token_type(bound_key: Option<&str>) -> &'static str {
    if bound_key.is_some() {
        "DPoP"
    } else {
        "Bearer"
    }
}

fn missing(field: &'static str) -> Error {
    Error::InvalidField {
        field,
        message: "is required".to_owned(),
    }
}

fn required(value: Option<String>, field: &'static str) -> Result<String, Error> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing(field))
}

/// Refresh tokens are base64url without dots; every JWT has exactly two.
fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwts_and_refresh_tokens_are_told_apart() {
        assert!(looks_like_jwt("a.b.c"));
        assert!(!looks_like_jwt(RefreshToken::generate().expose()));
    }
}
