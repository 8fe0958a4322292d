//! The one place where domain errors become HTTP statuses and JSON bodies.

use poem_openapi::{ApiResponse, Object, payload::Json};

use crate::error::{Error, FederationFailure};

/// Every error body: a stable machine-readable `error` code and a human `message`.
#[derive(Debug, Object)]
pub struct ErrorBody {
    /// Stable code, e.g. `invalid_request`, `invalid_credentials`, `username_taken`.
    pub error: String,
    pub message: String,
    /// The request field at fault, when there is one.
    #[oai(skip_serializing_if_is_none)]
    pub field: Option<String>,
}

impl ErrorBody {
    fn new(error: &str, message: impl Into<String>) -> Json<Self> {
        Json(Self {
            error: error.to_owned(),
            message: message.into(),
            field: None,
        })
    }
}

#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "from_unparseable_request")]
pub enum ApiError {
    /// Malformed request: bad JSON, a missing field, a bad query parameter.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Credentials or token refused. For tokens, `WWW-Authenticate` says why (RFC 6750 §3).
    #[oai(status = 401)]
    Unauthorized(
        Json<ErrorBody>,
        #[oai(header = "WWW-Authenticate")] Option<String>,
        /// A fresh DPoP server nonce, when the proof needs one (RFC 9449 §9).
        #[oai(header = "DPoP-Nonce")]
        Option<String>,
    ),
    /// Right credentials, but not enough for this route: an account with a second factor signs
    /// in interactively; a token without the scope the route needs (`WWW-Authenticate` says
    /// which, RFC 6750 §3.1).
    #[oai(status = 403)]
    Forbidden(
        Json<ErrorBody>,
        #[oai(header = "WWW-Authenticate")] Option<String>,
    ),
    /// What was asked for does not exist here (a mail feature on a server that sends no mail).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The username or email is taken.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// `If-Match` named a revision that is no longer current: nothing was written.
    #[oai(status = 412)]
    PreconditionFailed(Json<ErrorBody>),
    /// The body is over 64 KiB (answered before any handler runs).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not of the content type the operation takes.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// Well-formed, but a field's value is not acceptable.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// Over the rate limit; retry after the given number of seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// A backing service is down; retrying later may succeed.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

/// poem-openapi calls this when a request cannot be parsed (bad JSON, missing field, wrong type);
/// its message names the field at fault.
fn from_unparseable_request(err: poem::Error) -> ApiError {
    ApiError::BadRequest(ErrorBody::new("invalid_request", err.to_string()))
}

/// An OAuth 2.0 error body (RFC 6749 §5.2).
#[derive(Debug, Object)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_grant`, `unsupported_grant_type`, `invalid_scope`, …
    pub error: String,
    pub error_description: String,
}

/// Errors of the OAuth endpoints, in the shape RFC 6749 §5.2 prescribes.
#[derive(Debug, ApiResponse)]
pub enum OAuthError {
    #[oai(status = 400)]
    BadRequest(
        Json<OAuthErrorBody>,
        /// A fresh DPoP server nonce, with `use_dpop_nonce` (RFC 9449 §8).
        #[oai(header = "DPoP-Nonce")]
        Option<String>,
    ),
    /// Client authentication failed (RFC 6749 §5.2 `invalid_client`).
    #[oai(status = 401)]
    InvalidClient(
        Json<OAuthErrorBody>,
        #[oai(header = "WWW-Authenticate")] String,
    ),
    /// The body is over 64 KiB (answered before any handler runs, in authd's error shape).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not a form (`application/x-www-form-urlencoded`).
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    #[oai(status = 429)]
    TooManyRequests(Json<OAuthErrorBody>, #[oai(header = "Retry-After")] u64),
    #[oai(status = 500)]
    Internal(Json<OAuthErrorBody>),
    #[oai(status = 503)]
    Unavailable(Json<OAuthErrorBody>),
}

fn oauth_body(error: &str, description: impl Into<String>) -> Json<OAuthErrorBody> {
    Json(OAuthErrorBody {
        error: error.to_owned(),
        error_description: description.into(),
    })
}

impl From<Error> for OAuthError {
    fn from(err: Error) -> Self {
        let description = err.to_string();
        let bad_request = |code: &str| OAuthError::BadRequest(oauth_body(code, &description), None);
        match err {
            // RFC 6749 §5.2: bad resource-owner credentials are an invalid grant.
            Error::InvalidCredentials | Error::InvalidGrant(_) => bad_request("invalid_grant"),
            // RFC 6749 §5.2: the grant (a password alone) is not enough for this account.
            Error::SecondFactorRequired => bad_request("invalid_grant"),
            Error::InvalidPasskey | Error::PasskeyTaken | Error::PasskeysUnavailable => {
                bad_request("invalid_request")
            }
            Error::InvalidSecondFactor => bad_request("invalid_grant"),
            Error::UnsupportedGrantType(_) => bad_request("unsupported_grant_type"),
            Error::OAuth { code, .. } => bad_request(code),
            // RFC 9449 §4.3 and §8.
            Error::InvalidDpopProof(_) => bad_request("invalid_dpop_proof"),
            Error::UseDpopNonce { nonce } => {
                OAuthError::BadRequest(oauth_body("use_dpop_nonce", description), Some(nonce))
            }
            Error::InvalidClient(_) => OAuthError::InvalidClient(
                oauth_body("invalid_client", description),
                r#"Basic realm="authd""#.to_owned(),
            ),
            Error::InvalidField { field: "scope", .. } => bad_request("invalid_scope"),
            Error::InvalidField { .. }
            | Error::MissingCredentials
            | Error::MissingToken
            | Error::InvalidToken(_)
            | Error::InvalidDpopToken(_)
            | Error::ExpiredTokensDisabled => bad_request("invalid_request"),
            // Never reached from the OAuth endpoints; mapped for completeness.
            Error::InvalidLink
            | Error::MailUnavailable(_)
            | Error::UsernameTaken
            | Error::EmailTaken
            | Error::InvalidPopProof(_)
            | Error::InvalidPublicKey(_)
            | Error::PopKeyRequired
            | Error::Taken(_)
            | Error::Forbidden(_)
            | Error::NotFound(_)
            | Error::PreconditionFailed(_)
            | Error::InsufficientScope(_)
            | Error::Federation { .. } => bad_request("invalid_request"),
            Error::RateLimited { retry_after } => OAuthError::TooManyRequests(
                oauth_body("slow_down", "too many requests; retry later"),
                whole_seconds_rounded_up(retry_after),
            ),
            other => match ApiError::from(other) {
                ApiError::Unavailable(Json(body)) => {
                    OAuthError::Unavailable(oauth_body("temporarily_unavailable", body.message))
                }
                _ => OAuthError::Internal(oauth_body("server_error", "internal error")),
            },
        }
    }
}

/// The Bearer challenge of RFC 6750 §3, which `invalid_token` answers extend.
const BEARER_CHALLENGE: &str = r#"Bearer realm="authd""#;

/// The DPoP proof algorithms authd accepts, as its `DPoP` challenges list them (RFC 9449 §7.1).
const DPOP_ALGS: &str = "ES256 PS256 RS256 EdDSA";

/// A request that brought no token is told both schemes it may use (RFC 9449 §7.1).
pub const MISSING_TOKEN_CHALLENGE: &str =
    r#"Bearer realm="authd", DPoP algs="ES256 PS256 RS256 EdDSA""#;

/// Retry-After is whole seconds (RFC 9110 §10.2.3): round up, and never say 0.
fn whole_seconds_rounded_up(duration: std::time::Duration) -> u64 {
    (duration.as_secs() + u64::from(duration.subsec_nanos() > 0)).max(1)
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match err {
            Error::InvalidField { field, message } => ApiError::Unprocessable(Json(ErrorBody {
                error: "invalid_field".to_owned(),
                message: format!("{field} {message}"),
                field: Some(field.to_owned()),
            })),
            Error::MissingCredentials => {
                ApiError::BadRequest(ErrorBody::new("invalid_request", err.to_string()))
            }
            Error::ExpiredTokensDisabled => {
                ApiError::BadRequest(ErrorBody::new("expired_tokens_disabled", err.to_string()))
            }
            Error::InvalidGrant(_) => {
                ApiError::BadRequest(ErrorBody::new("invalid_grant", err.to_string()))
            }
            Error::UnsupportedGrantType(_) => {
                ApiError::BadRequest(ErrorBody::new("unsupported_grant_type", err.to_string()))
            }
            Error::OAuth {
                code,
                ref description,
            } => ApiError::BadRequest(ErrorBody::new(code, description.clone())),
            Error::InvalidClient(_) => ApiError::Unauthorized(
                ErrorBody::new("invalid_client", err.to_string()),
                None,
                None,
            ),
            Error::InvalidPublicKey(_) => ApiError::BadRequest(Json(ErrorBody {
                error: "invalid_public_key".to_owned(),
                message: err.to_string(),
                field: Some("public_key".to_owned()),
            })),
            Error::PopKeyRequired => {
                ApiError::BadRequest(ErrorBody::new("pop_key_required", err.to_string()))
            }
            Error::UsernameTaken => {
                ApiError::Conflict(ErrorBody::new("username_taken", err.to_string()))
            }
            Error::EmailTaken => ApiError::Conflict(ErrorBody::new("email_taken", err.to_string())),
            Error::InvalidLink => {
                ApiError::BadRequest(ErrorBody::new("invalid_link", err.to_string()))
            }
            // Not a failure of the server: this deployment has no mail server, by choice.
            Error::MailUnavailable(_) => {
                ApiError::NotFound(ErrorBody::new("mail_unavailable", err.to_string()))
            }
            Error::SecondFactorRequired => ApiError::Forbidden(
                ErrorBody::new("second_factor_required", err.to_string()),
                None,
            ),
            Error::InsufficientScope(scope) => ApiError::Forbidden(
                ErrorBody::new("insufficient_scope", err.to_string()),
                Some(format!(
                    r#"{BEARER_CHALLENGE}, error="insufficient_scope", scope="{scope}""#
                )),
            ),
            Error::Forbidden(_) => {
                ApiError::Forbidden(ErrorBody::new("forbidden", err.to_string()), None)
            }
            Error::Federation { failure, .. } => {
                let body = ErrorBody::new("federated_login_failed", err.to_string());
                match failure {
                    FederationFailure::Refused => ApiError::Forbidden(body, None),
                    FederationFailure::Invalid => ApiError::BadRequest(body),
                    FederationFailure::Unreachable => ApiError::Unavailable(body),
                }
            }
            Error::Taken(_) => ApiError::Conflict(ErrorBody::new("conflict", err.to_string())),
            Error::NotFound(_) => ApiError::NotFound(ErrorBody::new("not_found", err.to_string())),
            Error::PreconditionFailed(_) => {
                ApiError::PreconditionFailed(ErrorBody::new("precondition_failed", err.to_string()))
            }
            Error::InvalidSecondFactor => ApiError::Unauthorized(
                ErrorBody::new("invalid_second_factor", err.to_string()),
                None,
                None,
            ),
            Error::InvalidPasskey => ApiError::Unauthorized(
                ErrorBody::new("invalid_passkey", err.to_string()),
                None,
                None,
            ),
            Error::PasskeyTaken => {
                ApiError::Conflict(ErrorBody::new("passkey_taken", err.to_string()))
            }
            Error::PasskeysUnavailable => ApiError::Forbidden(
                ErrorBody::new("passkeys_unavailable", err.to_string()),
                None,
            ),
            // No challenge header here: browsers would answer it with a Basic-auth prompt.
            Error::InvalidCredentials => ApiError::Unauthorized(
                ErrorBody::new("invalid_credentials", err.to_string()),
                None,
                None,
            ),
            Error::MissingToken => ApiError::Unauthorized(
                ErrorBody::new("unauthorized", err.to_string()),
                Some(MISSING_TOKEN_CHALLENGE.to_owned()),
                None,
            ),
            Error::InvalidToken(reason) => ApiError::Unauthorized(
                ErrorBody::new("invalid_token", reason.to_string()),
                Some(format!(
                    r#"{BEARER_CHALLENGE}, error="invalid_token", error_description="{reason}""#
                )),
                None,
            ),
            // RFC 9449 §7.1: DPoP errors are challenged with the DPoP scheme.
            Error::InvalidDpopToken(reason) => ApiError::Unauthorized(
                ErrorBody::new("invalid_token", reason.to_string()),
                Some(format!(
                    r#"DPoP algs="{DPOP_ALGS}", error="invalid_token", error_description="{reason}""#
                )),
                None,
            ),
            Error::InvalidDpopProof(ref reason) => ApiError::Unauthorized(
                ErrorBody::new("invalid_dpop_proof", err.to_string()),
                Some(format!(
                    r#"DPoP algs="{DPOP_ALGS}", error="invalid_dpop_proof", error_description="{reason}""#
                )),
                None,
            ),
            Error::UseDpopNonce { ref nonce } => ApiError::Unauthorized(
                ErrorBody::new("use_dpop_nonce", err.to_string()),
                Some(format!(
                    r#"DPoP algs="{DPOP_ALGS}", error="use_dpop_nonce", error_description="a server nonce is required""#
                )),
                Some(nonce.clone()),
            ),
            Error::InvalidPopProof(reason) => ApiError::Unauthorized(
                ErrorBody::new("invalid_proof", err.to_string()),
                Some(format!(
                    r#"PoP realm="authd", error="invalid_token", error_description="{reason}""#
                )),
                None,
            ),
            Error::RateLimited { retry_after } => ApiError::TooManyRequests(
                ErrorBody::new("rate_limited", "too many requests; retry later"),
                whole_seconds_rounded_up(retry_after),
            ),
            Error::Unavailable { service, source } => {
                tracing::error!(%service, error = %source, "backing service unavailable");
                ApiError::Unavailable(ErrorBody::new(
                    "service_unavailable",
                    format!("{service} is unavailable; try again shortly"),
                ))
            }
            Error::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                ApiError::Internal(ErrorBody::new("internal_error", "internal error"))
            }
        }
    }
}
