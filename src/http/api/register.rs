//! `POST /register`: create a user, with a generated password unless one is chosen.

use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use uuid::Uuid;

use super::ApiTags;
use crate::http::{bodies::fields, error::ApiError};
use crate::{
    accounts::{Email, Password, Username},
    http::callers::admitted,
    possession::PopPublicKey,
    rate_limit::RateLimitedRoute,
    state::AppState,
};

pub struct RegisterApi(pub AppState);

/// No `Debug`: the body may hold a password.
#[derive(Object)]
struct RegisterRequest {
    /// 3–64 letters, digits, `.`, `_` or `-`; unique regardless of case.
    #[oai(deserialize_with = "fields::username")]
    username: String,
    /// Unique regardless of case.
    #[oai(deserialize_with = "fields::email")]
    email: String,
    /// Optional, at least 12 characters. Omit it and authd generates one and returns it once.
    #[oai(write_only, deserialize_with = "fields::optional_password")]
    password: Option<String>,
    /// Optional PEM RSA public key (2048–8192 bits) for the proof-of-possession scheme
    /// (`/pop/login`); it can also be set later with `PUT /me/public-key`.
    #[oai(deserialize_with = "fields::optional_public_key")]
    public_key: Option<String>,
}

#[derive(Object)]
struct RegisterResponse {
    id: Uuid,
    username: String,
    /// Only when authd generated the password: shown this once, never stored in clear.
    #[oai(skip_serializing_if_is_none)]
    password: Option<String>,
}

#[derive(ApiResponse)]
enum RegisterResult {
    /// The user exists now.
    #[oai(status = 201)]
    Created(
        Json<RegisterResponse>,
        /// The body may hold a password: no cache may keep it.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

#[OpenApi(tag = "ApiTags::Accounts")]
impl RegisterApi {
    /// Register a user
    ///
    /// Returns the generated password when none was chosen. A taken username or email is 409;
    /// of concurrent registrations of the same name, exactly one succeeds.
    #[oai(path = "/register", method = "post")]
    async fn register(
        &self,
        req: &Request,
        body: Json<RegisterRequest>,
    ) -> Result<RegisterResult, ApiError> {
        let state = &self.0;
        admitted(state, req, RateLimitedRoute::Register).await?;
        let RegisterRequest {
            username,
            email,
            password,
            public_key,
        } = body.0;
        let username = Username::parse(&username)?;
        let email = Email::parse(&email)?;
        let password = password
            .map(|password| Password::choose(password, &[username.as_str(), email.as_str()]))
            .transpose()?;
        let pop_key = public_key.as_deref().map(PopPublicKey::parse).transpose()?;
        let registered = state
            .accounts
            .register(username.clone(), email, password, pop_key)
            .await?;
        state.recovery.after_registration(registered.user_id).await;
        Ok(RegisterResult::Created(
            Json(RegisterResponse {
                id: registered.user_id,
                username: username.as_str().to_owned(),
                password: registered
                    .generated_password
                    .map(|password| password.expose().to_owned()),
            }),
            "no-store".to_owned(),
        ))
    }
}
