//! The signed-nonce proof-of-possession scheme of seed 000 (signjwt): register an RSA public key,
//! log in for a token bound to it plus a nonce, and sign `nonce || token` on each call.
//!
//! `POST /protected` keeps the seed's own wire format (`{"jwt", "signed_message"}`); every other
//! protected route takes `Authorization: PoP <token>` with `PoP-Signature` (see `access`).

use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::ApiTags;
use crate::http::{
    api::auth::Credentials,
    bodies::fields,
    callers::access::{AccessAuth, authorize, prove_pop},
    callers::password::{login_attempt, reauthenticate},
    client_ip,
    error::ApiError,
};
use crate::{
    error::Error,
    http::callers::admitted,
    metrics::Grant,
    possession::{PopNonces, PopPublicKey},
    rate_limit::RateLimitedRoute,
    state::AppState,
    tokens::InvalidToken,
};

pub struct PopApi(pub AppState);

#[derive(Object)]
struct PopLoginResponse {
    /// The access token, bound (`cnf.jkt`) to the user's registered key; it carries `nonce`.
    token: String,
    /// The same token under the seed's name.
    jwt: String,
    /// Sign `nonce || token` with the private key for the first call.
    nonce: String,
    /// Always `PoP`.
    token_type: String,
    expires_in: i64,
}

#[derive(ApiResponse)]
enum PopLoginResult {
    #[oai(status = 200)]
    Ok(
        Json<PopLoginResponse>,
        #[oai(header = "Cache-Control")] String,
    ),
}

/// The seed's request to its protected endpoint.
#[derive(Object)]
struct SeedProtectedRequest {
    /// The token from `/pop/login`.
    #[oai(deserialize_with = "fields::jwt")]
    jwt: String,
    /// `base64(RSA-PSS-SHA256(nonce || jwt))`, signed with the registered private key.
    #[oai(deserialize_with = "fields::signed_message")]
    signed_message: String,
}

#[derive(Object)]
struct SeedProtectedResponse {
    message: String,
    username: Option<String>,
}

#[derive(ApiResponse)]
enum SeedProtectedResult {
    #[oai(status = 200)]
    Ok(
        Json<SeedProtectedResponse>,
        /// The nonce to sign the next call with (unless nonces are reusable).
        #[oai(header = "PoP-Nonce")]
        Option<String>,
    ),
}

#[derive(Object)]
struct PublicKeyRequest {
    /// PEM RSA public key (`-----BEGIN PUBLIC KEY-----`), 2048 to 8192 bits.
    #[oai(deserialize_with = "fields::public_key")]
    public_key: String,
    /// The caller's current password: changing the key that proves who they are takes a
    /// fresh authentication, not just a token that may have been stolen (ASVS 3.7.1).
    #[oai(write_only, deserialize_with = "fields::optional_password")]
    password: Option<String>,
}

#[derive(Object)]
struct PublicKeyResponse {
    /// The key as stored (SubjectPublicKeyInfo PEM).
    public_key: String,
    /// Its RFC 7638 thumbprint: what PoP tokens name in `cnf.jkt`.
    jkt: String,
}

#[OpenApi(tag = "ApiTags::Tokens")]
impl PopApi {
    /// Log in for a proof-of-possession token
    ///
    /// For users with a registered public key. Returns a token bound to that key and a nonce;
    /// each call then signs `nonce || token` (RSA-PSS, SHA-256) and sends
    /// `Authorization: PoP <token>` with the base64 signature in `PoP-Signature`. Nonces work
    /// once: each answer brings the next in `PoP-Nonce` (unless the server allows reuse).
    #[oai(path = "/pop/login", method = "post")]
    async fn login(
        &self,
        req: &Request,
        body: Json<Credentials>,
    ) -> Result<PopLoginResult, ApiError> {
        let state = &self.0;
        let client_ip = admitted(state, req, RateLimitedRoute::Auth).await?;
        let Credentials { username, password } = body.0;
        let attempt = login_attempt(req, client_ip, username, password);
        let user = state.accounts.authenticate_password_only(attempt).await?;
        let key = user
            .pop_public_key
            .as_deref()
            .map(PopPublicKey::parse)
            .transpose()?
            .ok_or(Error::PopKeyRequired)?;
        let nonce = PopNonces::generate();
        let now = state.clock.now();
        let issued = state
            .tokens
            .issue_pop(&user, key.thumbprint(), nonce.clone(), now)?;
        state
            .metrics
            .token_issued(Grant::PopLogin, issued.algorithm);
        let expires_at = OffsetDateTime::from_unix_timestamp(issued.claims.exp).unwrap_or(now);
        // Without its nonce in the shared store the token is useless: fail (503) rather than
        // hand it out.
        state
            .pop_nonces
            .remember(&nonce, &issued.claims.jti, expires_at)
            .await?;
        Ok(PopLoginResult::Ok(
            Json(PopLoginResponse {
                jwt: issued.token.clone(),
                token: issued.token,
                nonce,
                token_type: "PoP".to_owned(),
                expires_in: issued.expires_in,
            }),
            "no-store".to_owned(),
        ))
    }

    /// The seed's protected endpoint
    ///
    /// signjwt's wire format: a JSON body with the `jwt` from `/pop/login` and `signed_message`,
    /// the base64 RSA-PSS-SHA256 signature of `nonce || jwt`.
    #[oai(path = "/protected", method = "post")]
    async fn protected(
        &self,
        body: Json<SeedProtectedRequest>,
    ) -> Result<SeedProtectedResult, ApiError> {
        let caller = prove_pop(&self.0, &body.0.jwt, &body.0.signed_message, None).await?;
        Ok(SeedProtectedResult::Ok(
            Json(SeedProtectedResponse {
                message: "Access granted".to_owned(),
                username: caller.verified.claims.username,
            }),
            caller.next_pop_nonce,
        ))
    }

    /// Register or replace the caller's public key
    ///
    /// The RSA key the PoP scheme verifies signatures with. Replacing it unbinds every PoP token
    /// issued for the old key. The body must also carry the caller's current `password`
    /// (re-authentication, ASVS 3.7.1): a wrong one is answered like a failed login, and counts
    /// toward the login throttle.
    #[oai(path = "/me/public-key", method = "put")]
    async fn put_public_key(
        &self,
        req: &Request,
        auth: AccessAuth,
        body: Json<PublicKeyRequest>,
    ) -> Result<Json<PublicKeyResponse>, ApiError> {
        let state = &self.0;
        let caller = authorize(state, req, &auth).await?;
        let body = body.0;
        let key = PopPublicKey::parse(&body.public_key)?;
        // The same check as a login (timing, throttle, audit), for the token's own user.
        let user = caller.user(state).await?;
        reauthenticate(
            state,
            req,
            client_ip(req, &state.config.trusted_proxies),
            &user,
            caller
                .verified
                .claims
                .sid
                .as_deref()
                .and_then(|sid| Uuid::parse_str(sid).ok()),
            body.password.unwrap_or_default(),
        )
        .await?;
        let user_id = user.id;
        if !state.users.set_pop_key(user_id, &key).await? {
            return Err(Error::from(InvalidToken::UnknownSubject).into());
        }
        tracing::info!(%user_id, jkt = key.thumbprint(), "proof-of-possession key registered");
        Ok(Json(PublicKeyResponse {
            public_key: key.pem().to_owned(),
            jkt: key.thumbprint().to_owned(),
        }))
    }
}
