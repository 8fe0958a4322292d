//! Dynamic client registration (RFC 7591): `POST /oauth/register`, off unless
//! `AUTHD_DYNAMIC_REGISTRATION` is on, and gated by `AUTHD_REGISTRATION_TOKEN` when that is set.
//! The same rules as `authd clients create` apply (one `Registration::check`), and one more:
//! a client registered here cannot use `client_credentials`, since anyone could then mint
//! tokens for scopes of its own choosing; such clients are an operator's to make.

use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::ApiTags;
use crate::http::error::{ErrorBody, OAuthError, OAuthErrorBody};
use crate::{
    clients::Registration,
    clients::{ApplicationType, ClientAuthMethod, ClientRecord, LogoutChannels, PkcePolicy},
    error::Error,
    grant_type::GrantType,
    http::callers::admitted,
    rate_limit::RateLimitedRoute,
    state::AppState,
};

pub struct ClientRegistrationApi(pub AppState);

/// RFC 7591 §2 client metadata.
#[derive(Object)]
struct ClientMetadata {
    /// https, or http on a loopback address (RFC 8252 §7.3); for a native app also a
    /// private-use scheme (`com.example.app:/callback`, RFC 8252 §7.1). No fragment.
    redirect_uris: Option<Vec<String>>,
    /// `client_secret_basic` (default), `client_secret_post`, `private_key_jwt` or `none`.
    token_endpoint_auth_method: Option<String>,
    /// `authorization_code` and `refresh_token`, or
    /// `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628; no redirect URI needed).
    grant_types: Option<Vec<String>>,
    /// `code` only.
    response_types: Option<Vec<String>>,
    client_name: Option<String>,
    /// Space-separated scopes the client may ask for.
    scope: Option<String>,
    /// The client's public keys, for `private_key_jwt`.
    jwks: Option<serde_json::Value>,
    /// Not supported: register the keys themselves in `jwks`.
    jwks_uri: Option<String>,
    post_logout_redirect_uris: Option<Vec<String>>,
    /// RFC 9126 §6.
    require_pushed_authorization_requests: Option<bool>,
    /// `web` (the default, OpenID Connect Dynamic Registration §2) or `native`: an app on the
    /// user's device (RFC 8252), which may return through a private-use URI scheme such as
    /// `com.example.app:/callback`, and always uses PKCE.
    application_type: Option<String>,
    /// authd's extension: `required`, or `nonce-allowed` (a confidential OpenID Connect client
    /// may send a `nonce` instead of PKCE, RFC 9700 §2.1.1). Default: the server's setting.
    pkce_policy: Option<String>,
    /// Browser origins (`https://host[:port]`) whose scripts may call the token, revocation
    /// and userinfo endpoints. Default: the origins of the redirect URIs.
    allowed_cors_origins: Option<Vec<String>>,
    /// Where authd POSTs a logout token when a session of this client ends (OpenID Connect
    /// Back-Channel Logout 1.0): https, or http on a loopback address.
    backchannel_logout_uri: Option<String>,
    /// Whether the logout token must carry `sid` (authd always sends it).
    backchannel_logout_session_required: Option<bool>,
    /// The page authd's sign-out page loads in an iframe (Front-Channel Logout 1.0).
    frontchannel_logout_uri: Option<String>,
    /// Whether that page is given `iss` and `sid` in its query.
    frontchannel_logout_session_required: Option<bool>,
}

/// RFC 7591 §3.2.1: the client as registered, with its credentials.
#[derive(Object)]
struct RegisteredClient {
    client_id: String,
    /// For a confidential client: shown this once, never stored in clear.
    #[oai(skip_serializing_if_is_none)]
    client_secret: Option<String>,
    client_id_issued_at: i64,
    /// 0: the secret does not expire.
    #[oai(skip_serializing_if_is_none)]
    client_secret_expires_at: Option<i64>,
    client_name: String,
    redirect_uris: Vec<String>,
    token_endpoint_auth_method: String,
    grant_types: Vec<String>,
    response_types: Vec<String>,
    scope: String,
    post_logout_redirect_uris: Vec<String>,
    require_pushed_authorization_requests: bool,
    #[oai(skip_serializing_if_is_none)]
    jwks: Option<serde_json::Value>,
    application_type: String,
    /// `required`, `nonce-allowed`, or `default` (the server's setting).
    pkce_policy: String,
    /// The origins that may call from browsers: the registered ones, or the redirect URIs'.
    allowed_cors_origins: Vec<String>,
    /// Requests per second this client may make (set by an operator); absent: the server's
    /// default, if any.
    #[oai(skip_serializing_if_is_none)]
    rate_limit: Option<u32>,
    #[oai(skip_serializing_if_is_none)]
    backchannel_logout_uri: Option<String>,
    backchannel_logout_session_required: bool,
    #[oai(skip_serializing_if_is_none)]
    frontchannel_logout_uri: Option<String>,
    frontchannel_logout_session_required: bool,
}

/// Every answer of the endpoint: one type, so that a body poem-openapi cannot parse is answered
/// in the RFC 7591 error shape too (its handler is the successful type's).
#[derive(ApiResponse)]
#[oai(bad_request_handler = "unreadable_metadata")]
enum RegistrationAnswer {
    #[oai(status = 201)]
    Created(
        // Boxed: far larger than the error variants.
        Json<Box<RegisteredClient>>,
        /// The body may hold a secret: no cache may keep it.
        #[oai(header = "Cache-Control")]
        String,
    ),
    /// `invalid_redirect_uri` or `invalid_client_metadata` (RFC 7591 §3.2.2).
    #[oai(status = 400)]
    BadRequest(Json<OAuthErrorBody>),
    /// Missing or wrong initial access token (RFC 6750 §3).
    #[oai(status = 401)]
    Unauthorized(
        Json<OAuthErrorBody>,
        #[oai(header = "WWW-Authenticate")] String,
    ),
    /// Dynamic registration is off.
    #[oai(status = 404)]
    Disabled(Json<OAuthErrorBody>),
    /// The body is over 64 KiB (answered before any handler runs, in authd's error shape).
    #[allow(dead_code)] // built by the framework, described here
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not JSON (answered before any handler runs, in authd's error shape).
    #[allow(dead_code)] // built by the framework, described here
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    #[oai(status = 429)]
    TooManyRequests(Json<OAuthErrorBody>, #[oai(header = "Retry-After")] u64),
    #[oai(status = 500)]
    Internal(Json<OAuthErrorBody>),
    #[oai(status = 503)]
    Unavailable(Json<OAuthErrorBody>),
}

/// Metadata that is not the JSON object RFC 7591 §2 describes.
fn unreadable_metadata(err: poem::Error) -> RegistrationAnswer {
    RegistrationAnswer::BadRequest(body("invalid_client_metadata", err.to_string()))
}

fn body(error: &str, description: impl Into<String>) -> Json<OAuthErrorBody> {
    Json(OAuthErrorBody {
        error: error.to_owned(),
        error_description: description.into(),
    })
}

impl From<Error> for RegistrationAnswer {
    fn from(err: Error) -> Self {
        match err {
            // RFC 7591 §3.2.2: a bad redirect URI has its own code; any other field is
            // invalid client metadata.
            Error::InvalidField {
                field: "redirect_uris",
                message,
            } => Self::BadRequest(body("invalid_redirect_uri", message)),
            Error::InvalidField { field, message } => Self::BadRequest(body(
                "invalid_client_metadata",
                format!("{field} {message}"),
            )),
            other => match OAuthError::from(other) {
                OAuthError::TooManyRequests(body, retry_after) => {
                    Self::TooManyRequests(body, retry_after)
                }
                OAuthError::Unavailable(body) => Self::Unavailable(body),
                OAuthError::BadRequest(body, _) => Self::BadRequest(body),
                _ => Self::Internal(body("server_error", "internal error")),
            },
        }
    }
}

#[OpenApi(tag = "ApiTags::OAuth")]
impl ClientRegistrationApi {
    /// Register a client (RFC 7591)
    ///
    /// Off unless the server runs with `AUTHD_DYNAMIC_REGISTRATION=true` (then 404). With
    /// `AUTHD_REGISTRATION_TOKEN` set, send it as `Authorization: Bearer …`.
    #[oai(path = "/oauth/register", method = "post")]
    async fn register(&self, req: &Request, metadata: Json<ClientMetadata>) -> RegistrationAnswer {
        self.try_register(req, metadata.0)
            .await
            .unwrap_or_else(|refused| refused)
    }
}

impl ClientRegistrationApi {
    async fn try_register(
        &self,
        req: &Request,
        metadata: ClientMetadata,
    ) -> Result<RegistrationAnswer, RegistrationAnswer> {
        let state = &self.0;
        self.admit(req)?;
        admitted(state, req, RateLimitedRoute::Register).await?;
        let registration = registration(metadata)?;
        let (client, secret) = state.clients.create(registration).await?;
        tracing::info!(client_id = %client.client_id, "client registered dynamically");
        Ok(RegistrationAnswer::Created(
            Json(Box::new(describe(
                &client,
                secret.map(|s| s.expose().to_owned()),
            ))),
            "no-store".to_owned(),
        ))
    }

    /// Whether this request may register at all: the endpoint is on, and the initial access
    /// token, if one is configured, is presented (compared in constant time).
    fn admit(&self, req: &Request) -> Result<(), RegistrationAnswer> {
        let config = &self.0.config;
        if !config.dynamic_registration {
            return Err(RegistrationAnswer::Disabled(body(
                "not_found",
                "dynamic client registration is off on this server",
            )));
        }
        let Some(expected) = &config.registration_token else {
            return Ok(());
        };
        let presented = req
            .headers()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        if bool::from(
            presented
                .as_bytes()
                .ct_eq(expected.expose_secret().as_bytes()),
        ) {
            return Ok(());
        }
        Err(RegistrationAnswer::Unauthorized(
            body(
                "invalid_token",
                "registration requires the initial access token",
            ),
            r#"Bearer realm="authd", error="invalid_token""#.to_owned(),
        ))
    }
}

fn registration(metadata: ClientMetadata) -> Result<Registration, RegistrationAnswer> {
    let invalid =
        |message: &str| RegistrationAnswer::BadRequest(body("invalid_client_metadata", message));
    if metadata.jwks_uri.is_some() {
        return Err(invalid(
            "jwks_uri is not supported: register the keys in jwks",
        ));
    }
    if let Some(types) = &metadata.response_types
        && types.iter().any(|t| t != "code")
    {
        return Err(invalid("response_types may only be [\"code\"]"));
    }
    let auth_method = match metadata.token_endpoint_auth_method.as_deref() {
        None => None,
        Some(method) => Some(ClientAuthMethod::parse(method).ok_or_else(|| {
            invalid(&format!(
                "token_endpoint_auth_method `{method}` is not supported"
            ))
        })?),
    };
    let grant_types = metadata.grant_types.unwrap_or_default();
    if grant_types
        .iter()
        .any(|grant| GrantType::parse(grant) == Some(GrantType::ClientCredentials))
    {
        return Err(invalid(
            "client_credentials clients are made by an operator (authd clients create)",
        ));
    }
    // The admin API's scopes are an operator's to grant: a user holding one still needs the
    // admin group, but no stranger's client should ask for them.
    if let Some(scope) = &metadata.scope
        && scope
            .split(' ')
            .any(|scope| scope.starts_with("authd:") || scope == crate::ssf::RECEIVER_SCOPE)
    {
        return Err(invalid(
            "scopes authd:… (the admin API's) and ssf:receiver are granted by an operator: \
             authd clients create",
        ));
    }
    let application_type = match metadata.application_type.as_deref() {
        None => ApplicationType::Web,
        Some(kind) => ApplicationType::parse(kind).ok_or_else(|| {
            invalid(&format!(
                "application_type `{kind}` is not one of web, native"
            ))
        })?,
    };
    let pkce = match metadata.pkce_policy.as_deref() {
        None => None,
        Some(policy) => Some(PkcePolicy::parse(policy).ok_or_else(|| {
            invalid(&format!(
                "pkce_policy `{policy}` is not one of required, nonce-allowed"
            ))
        })?),
    };
    let redirect_uris = metadata.redirect_uris.unwrap_or_default();
    // A device (RFC 8628) is never redirected to: it may register without a redirect URI.
    let device_only = !grant_types.is_empty()
        && grant_types.iter().all(|grant| {
            matches!(
                GrantType::parse(grant),
                Some(GrantType::DeviceCode | GrantType::RefreshToken)
            )
        });
    if redirect_uris.is_empty() && !device_only {
        return Err(RegistrationAnswer::BadRequest(body(
            "invalid_redirect_uri",
            "at least one redirect URI is required",
        )));
    }
    Ok(Registration {
        client_id: None,
        name: metadata
            .client_name
            .unwrap_or_else(|| "Unnamed application".to_owned()),
        auth_method,
        redirect_uris,
        grant_types,
        scope: metadata.scope.unwrap_or_default(),
        require_par: metadata
            .require_pushed_authorization_requests
            .unwrap_or(false),
        jwks: metadata.jwks.map(|jwks| jwks.to_string()),
        post_logout_redirect_uris: metadata.post_logout_redirect_uris.unwrap_or_default(),
        pkce,
        allowed_origins: metadata.allowed_cors_origins.unwrap_or_default(),
        // Anyone may register any name: nobody has vouched for it (the consent page says so).
        verified: false,
        application_type: Some(application_type),
        // An operator's to set: a client that chose its own limit would choose none.
        rate_limit: None,
        logout: LogoutChannels {
            backchannel_uri: metadata.backchannel_logout_uri,
            backchannel_session_required: metadata
                .backchannel_logout_session_required
                .unwrap_or(false),
            frontchannel_uri: metadata.frontchannel_logout_uri,
            frontchannel_session_required: metadata
                .frontchannel_logout_session_required
                .unwrap_or(false),
        },
    })
}

fn describe(client: &ClientRecord, client_secret: Option<String>) -> RegisteredClient {
    RegisteredClient {
        client_id: client.client_id.clone(),
        client_secret_expires_at: client_secret.as_ref().map(|_| 0),
        client_secret,
        client_id_issued_at: client.created_at.unix_timestamp(),
        client_name: client.name.clone(),
        redirect_uris: client.redirect_uris.clone(),
        token_endpoint_auth_method: client.auth_method.as_str().to_owned(),
        grant_types: client
            .grant_types
            .iter()
            .map(|grant| grant.as_str().to_owned())
            .collect(),
        response_types: vec!["code".to_owned()],
        scope: client.scope.clone(),
        post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
        require_pushed_authorization_requests: client.require_par,
        jwks: client
            .jwks
            .as_deref()
            .and_then(|jwks| serde_json::from_str(jwks).ok()),
        application_type: client.application_type.as_str().to_owned(),
        pkce_policy: client.pkce.map_or("default", PkcePolicy::as_str).to_owned(),
        allowed_cors_origins: client.origins(),
        rate_limit: client.rate_limit.map(std::num::NonZeroU32::get),
        backchannel_logout_uri: client.logout.backchannel_uri.clone(),
        backchannel_logout_session_required: client.logout.backchannel_session_required,
        frontchannel_logout_uri: client.logout.frontchannel_uri.clone(),
        frontchannel_logout_session_required: client.logout.frontchannel_session_required,
    }
}
