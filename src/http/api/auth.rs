//! `POST /auth`: password login (JSON body or HTTP Basic) answered with a signed access token.

use poem::{
    Request,
    web::headers::{Authorization, HeaderMapExt, authorization::Basic},
};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Query, payload::Json};

use super::ApiTags;
use crate::http::{
    bodies::fields, bodies::optional_json::OptionalJson, callers::password::login_attempt,
    error::ApiError,
};
use crate::{
    error::Error, http::callers::admitted, metrics::Grant, rate_limit::RateLimitedRoute,
    state::AppState,
};

pub struct AuthApi(pub AppState);

/// No `Debug`: the body holds a password.
#[derive(Object)]
pub(super) struct Credentials {
    #[oai(deserialize_with = "fields::username")]
    pub username: String,
    #[oai(write_only, deserialize_with = "fields::password")]
    pub password: String,
}

#[derive(Object)]
struct TokenResponse {
    /// The access token: an RS256 JWT (`typ: at+jwt`) verifiable with the JWKS.
    token: String,
    /// Always `Bearer`.
    token_type: String,
    /// Seconds until the token expires (negative for the test mode's expired tokens).
    expires_in: i64,
}

#[derive(ApiResponse)]
enum AuthResult {
    #[oai(status = 200)]
    Ok(
        Json<TokenResponse>,
        /// RFC 6749 §5.1: responses carrying tokens must not be cached.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

#[OpenApi(tag = "ApiTags::Accounts")]
impl AuthApi {
    /// Log in
    ///
    /// Credentials as a JSON body `{"username", "password"}` or as HTTP Basic (the body wins when
    /// both are sent). Wrong password and unknown user get the same 401 in the same time.
    /// `?expired=true` returns an already-expired token, only where the server runs with
    /// `AUTHD_EXPIRED_TOKENS` on (as `authd dev` does); elsewhere it is a 400.
    #[oai(path = "/auth", method = "post")]
    async fn auth(
        &self,
        req: &Request,
        /// Ask for an expired token (test mode only).
        expired: Query<Option<bool>>,
        body: OptionalJson<Credentials>,
    ) -> Result<AuthResult, ApiError> {
        let state = &self.0;
        let client_ip = admitted(state, req, RateLimitedRoute::Auth).await?;

        let want_expired = expired.0.unwrap_or(false);
        if want_expired && !state.config.expired_tokens {
            return Err(Error::ExpiredTokensDisabled.into());
        }
        let (username, password) = match body.0 {
            Some(Credentials { username, password }) => (username, password),
            None => {
                let basic = req
                    .headers()
                    .typed_get::<Authorization<Basic>>()
                    .ok_or(Error::MissingCredentials)?;
                (basic.username().to_owned(), basic.password().to_owned())
            }
        };
        let attempt = login_attempt(req, client_ip, username, password);
        let user = state.accounts.authenticate_password_only(attempt).await?;

        let now = state.clock.now();
        let issued = if want_expired {
            state.tokens.issue_expired(&user, now)?
        } else {
            state.tokens.issue(&user, now)?
        };
        // The seed's `/auth` is not an OAuth grant; it is counted under its route.
        state.metrics.token_issued(Grant::Auth, issued.algorithm);
        Ok(AuthResult::Ok(
            Json(TokenResponse {
                token: issued.token,
                token_type: "Bearer".to_owned(),
                expires_in: issued.expires_in,
            }),
            "no-store".to_owned(),
        ))
    }
}
