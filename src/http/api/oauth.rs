//! OAuth 2.0 revocation (RFC 7009) and introspection (RFC 7662); the token endpoint is
//! `token`. Requests are form-encoded; errors follow RFC 6749 §5.2.

use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Form};
use serde::{Deserialize, Serialize};

use super::ApiTags;
use crate::http::{
    api::token::{required, token_type},
    bodies::direct_json::DirectJson,
    callers::access::subject_exists,
    callers::client_auth::{ClientFields, presented_client},
    error::OAuthError,
};
use crate::{
    clients::{ClientCredentials, ClientRecord, missing_credentials},
    error::Error,
    sessions::RefreshToken,
    state::AppState,
};

pub struct OAuthApi(pub AppState);

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
    /// For `private_key_jwt` (RFC 7523 §2.2).
    client_assertion_type: Option<String>,
    #[oai(write_only)]
    client_assertion: Option<String>,
}

impl RevokeRequest {
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

/// RFC 7662 §2.2. For an inactive token, only `active: false`.
#[derive(Object, Serialize, Default)]
struct Introspection {
    active: bool,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    /// `Bearer` or `DPoP` for access tokens, `refresh_token` for refresh tokens.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<String>,
    /// The key a DPoP or PoP token is bound to (RFC 9449 §6.2).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<crate::http::api::me::Confirmation>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    /// One audience as a string, several as an array (RFC 7662 §2.2, RFC 7519 §4.1.3).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<serde_json::Value>,
    /// The actor and the chain before it, for a token from a delegating exchange (RFC 8693
    /// §4.1).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<serde_json::Value>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
}

#[derive(ApiResponse)]
enum IntrospectionResult {
    #[oai(status = 200)]
    Ok(
        DirectJson<Introspection>,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(ApiResponse)]
enum RevokeResult {
    /// Revoked, or there was nothing to revoke (RFC 7009 §2.2: the answer is the same).
    #[oai(status = 200)]
    Ok,
}

#[OpenApi(tag = "ApiTags::OAuth")]
impl OAuthApi {
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
        let mut form = form.0;
        // A client that names itself must prove it by its registered method (a public client
        // by its id); the seed clients, which name none, may revoke what they hold.
        if let Some(credentials) = form.client(req)? {
            self.0.clients.authenticate(&credentials).await?;
        }
        let token = required(form.token, "token")?;
        if looks_like_jwt(&token) {
            // Whatever its audience: a token for another resource is still one to revoke.
            match self.0.verifier.verify_issued(&token).await {
                Ok(verified) => {
                    crate::http::api::logout::revoke_access_token(&self.0, &verified).await?;
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
        let mut form = form.0;
        let credentials = form.client(req)?.ok_or_else(missing_credentials)?;
        // RFC 7662 §2.1: only an authenticated client may introspect; a public client proves
        // nothing by its id.
        let client: ClientRecord = self.0.clients.authenticate(&credentials).await?;
        if client.is_public() {
            tracing::info!(
                client_id = %client.client_id,
                reason = "a public client cannot introspect",
                "client authentication refused"
            );
            return Err(Error::CLIENT_AUTH_FAILED.into());
        }
        let token = required(form.token, "token")?;
        let introspection = self.introspect_token(&token).await?;
        Ok(IntrospectionResult::Ok(
            DirectJson(introspection),
            "no-store".to_owned(),
        ))
    }
}

impl OAuthApi {
    async fn introspect_token(&self, token: &str) -> Result<Introspection, Error> {
        let state = &self.0;
        if looks_like_jwt(token) {
            // Resource servers introspect the tokens meant for them (RFC 7662 §1).
            let verified = match state.verifier.verify_issued(token).await {
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
                    .map(|cnf| crate::http::api::me::Confirmation { jkt: cnf.jkt }),
                exp: Some(claims.exp),
                iat: Some(claims.iat),
                nbf: Some(claims.nbf),
                sub: Some(claims.sub),
                aud: serde_json::to_value(&claims.aud).ok(),
                act: claims.act.and_then(|act| serde_json::to_value(act).ok()),
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
}

/// Refresh tokens are base64url without dots; every JWT has exactly two.
pub fn looks_like_jwt(token: &str) -> bool {
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
