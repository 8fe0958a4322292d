//! OAuth 2.0: the token endpoint (RFC 6749 §3.2) and token revocation (RFC 7009).
//! Requests are form-encoded; errors follow RFC 6749 §5.2.

use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Form, payload::Json};
use serde::Deserialize;

use super::{ApiTags, client_ip, error::OAuthError, user_agent};
use crate::{
    accounts::{AuthAttempt, Password},
    error::Error,
    sessions::{Continuation, RefreshToken},
    startup::AppState,
};

pub struct OAuthApi(pub AppState);

/// No `Debug`: the form may hold a password or a refresh token.
#[derive(Object, Deserialize)]
struct OAuthTokenRequest {
    /// `password` or `refresh_token`.
    grant_type: Option<String>,
    /// For `password`.
    username: Option<String>,
    /// For `password`.
    #[oai(write_only)]
    password: Option<String>,
    /// For `refresh_token`.
    #[oai(write_only)]
    refresh_token: Option<String>,
    /// Space-separated scopes to grant (`password` only; a refresh keeps the session's scope).
    scope: Option<String>,
}

/// RFC 6749 §5.1.
#[derive(Object)]
struct OAuthTokenResponse {
    access_token: String,
    /// `Bearer`.
    token_type: String,
    expires_in: i64,
    /// Opaque; use it once with `grant_type=refresh_token` for the next pair. Shown only here.
    refresh_token: String,
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
    #[oai(path = "/oauth/token", method = "post")]
    async fn token(
        &self,
        req: &Request,
        form: Form<OAuthTokenRequest>,
    ) -> Result<OAuthTokenResult, OAuthError> {
        let state = &self.0;
        let client_ip = client_ip(req, &state.config.trusted_proxies);
        state.rate_limiter.check("token", client_ip).await?;
        let form = form.0;
        let continuation = match form.grant_type.as_deref() {
            Some("password") => {
                let username = required(form.username, "username")?;
                let password = required(form.password, "password")?;
                let scope = normalize_scope(form.scope.as_deref())?;
                let user = state
                    .accounts
                    .authenticate(AuthAttempt {
                        username,
                        password: Password::presented(password),
                        client_ip,
                        user_agent: user_agent(req),
                    })
                    .await?;
                state.sessions.start(user.id, scope).await?
            }
            Some("refresh_token") => {
                let presented =
                    RefreshToken::presented(required(form.refresh_token, "refresh_token")?);
                state.sessions.refresh(&presented).await?
            }
            Some(other) => return Err(Error::UnsupportedGrantType(other.to_owned()).into()),
            None => return Err(missing("grant_type").into()),
        };
        self.respond(continuation).await
    }

    /// Revoke a token (RFC 7009)
    ///
    /// An access token is revoked by its `jti`; a refresh token ends its whole session, including
    /// the access tokens issued in it. 200 whether or not the token was known.
    #[oai(path = "/oauth/revoke", method = "post")]
    async fn revoke(&self, form: Form<RevokeRequest>) -> Result<RevokeResult, OAuthError> {
        let token = required(form.0.token, "token")?;
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
}

impl OAuthApi {
    async fn respond(&self, continuation: Continuation) -> Result<OAuthTokenResult, OAuthError> {
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
        let issued = state
            .tokens
            .issue_in_session(&user, Some(&session), state.clock.now())?;
        Ok(OAuthTokenResult::Ok(
            Json(OAuthTokenResponse {
                access_token: issued.token,
                token_type: "Bearer".to_owned(),
                expires_in: issued.expires_in,
                refresh_token: refresh_token.expose().to_owned(),
                scope: session.scope,
            }),
            "no-store".to_owned(),
        ))
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

/// RFC 6749 §3.3: space-separated scope tokens of printable ASCII except `"` and `\`.
/// Duplicates are dropped and the order kept.
fn normalize_scope(scope: Option<&str>) -> Result<String, Error> {
    let mut tokens: Vec<&str> = Vec::new();
    for token in scope
        .unwrap_or_default()
        .split(' ')
        .filter(|t| !t.is_empty())
    {
        let valid = token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !valid {
            return Err(Error::InvalidField {
                field: "scope",
                message: format!("`{token}` is not a valid scope token"),
            });
        }
        if !tokens.contains(&token) {
            tokens.push(token);
        }
    }
    Ok(tokens.join(" "))
}

/// Refresh tokens are base64url without dots; every JWT has exactly two.
fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_normalized_and_validated() {
        assert_eq!(normalize_scope(None).unwrap(), "");
        assert_eq!(
            normalize_scope(Some(" read  write read ")).unwrap(),
            "read write"
        );
        assert!(normalize_scope(Some("bad\"quote")).is_err());
        assert!(normalize_scope(Some("back\\slash")).is_err());
    }

    #[test]
    fn jwts_and_refresh_tokens_are_told_apart() {
        assert!(looks_like_jwt("a.b.c"));
        assert!(!looks_like_jwt(RefreshToken::generate().expose()));
    }
}
