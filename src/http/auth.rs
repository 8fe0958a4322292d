//! `POST /auth`: password login (JSON body or HTTP Basic) answered with a signed access token.

use std::net::IpAddr;

use uuid::Uuid;

use poem::{
    Request,
    web::headers::{Authorization, HeaderMapExt, authorization::Basic},
};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Query, payload::Json};

use super::{ApiTags, client_ip, error::ApiError, fields, optional_json::OptionalJson, user_agent};
use crate::{
    accounts::{AuthAttempt, Password},
    error::Error,
    metrics::Grant,
    rate_limit::RateLimitedRoute,
    state::AppState,
    store::UserRecord,
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

/// Checks a password login made by `req`. Every route that takes a password (`/auth`,
/// `/pop/login`, the password grant) goes through here, so all answer alike, in the same time,
/// and leave the same audit trail.
pub(super) async fn check_password(
    state: &AppState,
    req: &Request,
    client_ip: IpAddr,
    username: String,
    password: String,
) -> Result<UserRecord, Error> {
    state
        .accounts
        .authenticate(AuthAttempt {
            username,
            password: Password::presented(password),
            client_ip,
            user_agent: user_agent(req),
        })
        .await
}

/// A password login on a route that can take nothing else (`/auth`, `/pop/login`, the
/// password grant): an account with a second factor is refused, naming the flows that can
/// carry one. Refused only after the password checked, so the answer says nothing to whoever
/// does not know it.
pub(super) async fn check_password_alone(
    state: &AppState,
    req: &Request,
    client_ip: IpAddr,
    username: String,
    password: String,
) -> Result<UserRecord, Error> {
    let user = check_password(state, req, client_ip, username, password).await?;
    if state.accounts.has_second_factor(user.id).await? {
        return Err(Error::SecondFactorRequired);
    }
    Ok(user)
}

/// Re-authentication of a signed-in `user` before a sensitive change (ASVS 3.7.1): their
/// password, checked as a login is (timing, throttle, audit); or, with no password, a passkey
/// ceremony their `session` passed in the last few minutes (`Reauthentications`), which is
/// how a passkey-only account confirms a change.
pub async fn reauthenticate(
    state: &AppState,
    req: &Request,
    client_ip: IpAddr,
    user: &UserRecord,
    session: Option<Uuid>,
    password: String,
) -> Result<(), Error> {
    if password.is_empty() {
        if let Some(session) = session
            && state.reauthentications.is_recent(session).await?
        {
            return Ok(());
        }
        return Err(Error::InvalidField {
            field: "password",
            message: "is required: re-enter your password (or confirm with a passkey) to make \
                      this change"
                .to_owned(),
        });
    }
    let checked = check_password(state, req, client_ip, user.username.clone(), password).await?;
    if checked.id != user.id {
        return Err(Error::InvalidCredentials);
    }
    Ok(())
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
        let client_ip = client_ip(req, &state.config.trusted_proxies);
        state
            .rate_limiter
            .check(RateLimitedRoute::Auth, client_ip)
            .await?;

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
        let user = check_password_alone(state, req, client_ip, username, password).await?;

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
