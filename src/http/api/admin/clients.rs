//! `/admin/clients`: every field `authd clients` has, secret rotation (shown once), deletion;
//! `/admin/keys`: the signing keys, and their rotation.

use std::num::NonZeroU32;

use poem::Request;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use time::OffsetDateTime;

use super::{
    Access, Done, Tagged, admin_caller, cursor_key, etag, if_match, next_cursor, page_limit,
};
use crate::{
    admin::ClientWrite,
    clients::{
        ApplicationType, ClientAuthMethod, ClientRecord, LogoutChannels, PkcePolicy, Registration,
    },
    error::Error,
    http::{api::ApiTags, bodies::fields, callers::access::AccessAuth, error::ApiError},
    state::AppState,
};

pub struct ClientsApi(pub AppState);

/// A client's registration, as written: every field replaces the stored one (RFC 7591 §2
/// names, with authd's extensions).
#[derive(Object)]
struct ClientFields {
    #[oai(deserialize_with = "fields::client_name")]
    client_name: String,
    /// `client_secret_basic` (default for a client with a secret), `client_secret_post`,
    /// `private_key_jwt` (with `jwks`) or `none` (a public client).
    #[oai(deserialize_with = "fields::optional_token_endpoint_auth_method")]
    token_endpoint_auth_method: Option<String>,
    #[oai(deserialize_with = "fields::redirect_uris")]
    redirect_uris: Option<Vec<String>>,
    /// Default: `authorization_code` and `refresh_token` with redirect URIs, else
    /// `client_credentials`.
    #[oai(deserialize_with = "fields::grant_types")]
    grant_types: Option<Vec<String>>,
    /// Space-separated scopes the client may be granted (`authd:admin` opens this API).
    #[oai(deserialize_with = "fields::optional_scope")]
    scope: Option<String>,
    #[oai(deserialize_with = "fields::require_pushed_authorization_requests")]
    require_pushed_authorization_requests: Option<bool>,
    /// Public keys for `private_key_jwt`.
    jwks: Option<serde_json::Value>,
    #[oai(deserialize_with = "fields::post_logout_redirect_uris")]
    post_logout_redirect_uris: Option<Vec<String>>,
    /// `required` or `nonce-allowed`; absent: the server's `AUTHD_PKCE_POLICY`.
    #[oai(deserialize_with = "fields::optional_pkce_policy")]
    pkce_policy: Option<String>,
    /// Browser origins that may call the token endpoint; empty: the redirect URIs' origins.
    #[oai(deserialize_with = "fields::allowed_cors_origins")]
    allowed_cors_origins: Option<Vec<String>>,
    /// Whether an operator vouches for the name (the consent page says so).
    #[oai(deserialize_with = "fields::verified")]
    verified: Option<bool>,
    /// `web` or `native`; absent: from the redirect URIs.
    #[oai(deserialize_with = "fields::optional_application_type")]
    application_type: Option<String>,
    /// Requests per second; absent: the server's `AUTHD_CLIENT_RATE_LIMIT`.
    #[oai(
        deserialize_with = "fields::rate_limit",
        validator(minimum(value = "1"), maximum(value = "1000000"))
    )]
    rate_limit: Option<u32>,
    /// Where authd POSTs a logout token when a session of this client ends (OpenID Connect
    /// Back-Channel Logout 1.0).
    #[oai(deserialize_with = "fields::optional_backchannel_logout_uri")]
    backchannel_logout_uri: Option<String>,
    /// Whether logout tokens must carry `sid` (authd always sends it).
    #[oai(deserialize_with = "fields::backchannel_logout_session_required")]
    backchannel_logout_session_required: Option<bool>,
    /// The page authd's sign-out page loads in an iframe (Front-Channel Logout 1.0).
    #[oai(deserialize_with = "fields::optional_frontchannel_logout_uri")]
    frontchannel_logout_uri: Option<String>,
    /// Whether that page is given `iss` and `sid`.
    #[oai(deserialize_with = "fields::frontchannel_logout_session_required")]
    frontchannel_logout_session_required: Option<bool>,
}

/// A new client: its fields, and the id it should have.
#[derive(Object)]
struct NewClient {
    /// 1 to 64 letters, digits, `.`, `_`, `-`; absent: a random one.
    #[oai(deserialize_with = "fields::optional_client_id")]
    client_id: Option<String>,
    #[oai(flatten)]
    fields: ClientFields,
}

/// A client as registered.
#[derive(Object)]
struct AdminClient {
    client_id: String,
    /// Shown once, when the client is created or its secret rotated; never stored in clear.
    #[oai(skip_serializing_if_is_none)]
    client_secret: Option<String>,
    client_name: String,
    /// `confidential` or `public`.
    client_type: String,
    token_endpoint_auth_method: String,
    redirect_uris: Vec<String>,
    grant_types: Vec<String>,
    scope: String,
    require_pushed_authorization_requests: bool,
    #[oai(skip_serializing_if_is_none)]
    jwks: Option<serde_json::Value>,
    post_logout_redirect_uris: Vec<String>,
    /// `required`, `nonce-allowed`, or `default` (the server's setting).
    pkce_policy: String,
    allowed_cors_origins: Vec<String>,
    verified: bool,
    application_type: String,
    #[oai(skip_serializing_if_is_none)]
    rate_limit: Option<u32>,
    #[oai(skip_serializing_if_is_none)]
    backchannel_logout_uri: Option<String>,
    backchannel_logout_session_required: bool,
    #[oai(skip_serializing_if_is_none)]
    frontchannel_logout_uri: Option<String>,
    frontchannel_logout_session_required: bool,
    created_at: OffsetDateTime,
    /// Until when the secret replaced by the last rotation is still accepted.
    #[oai(skip_serializing_if_is_none)]
    previous_secret_expires_at: Option<OffsetDateTime>,
}

fn describe(client: &ClientRecord, client_secret: Option<String>) -> AdminClient {
    AdminClient {
        client_id: client.client_id.clone(),
        client_secret,
        client_name: client.name.clone(),
        client_type: if client.is_public() {
            "public"
        } else {
            "confidential"
        }
        .to_owned(),
        token_endpoint_auth_method: client.auth_method.as_str().to_owned(),
        redirect_uris: client.redirect_uris.clone(),
        grant_types: client
            .grant_types
            .iter()
            .map(|grant| grant.as_str().to_owned())
            .collect(),
        scope: client.scope.clone(),
        require_pushed_authorization_requests: client.require_par,
        jwks: client
            .jwks
            .as_deref()
            .and_then(|jwks| serde_json::from_str(jwks).ok()),
        post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
        pkce_policy: client.pkce.map_or("default", PkcePolicy::as_str).to_owned(),
        allowed_cors_origins: client.allowed_origins.clone(),
        verified: client.verified,
        application_type: client.application_type.as_str().to_owned(),
        rate_limit: client.rate_limit.map(NonZeroU32::get),
        backchannel_logout_uri: client.logout.backchannel_uri.clone(),
        backchannel_logout_session_required: client.logout.backchannel_session_required,
        frontchannel_logout_uri: client.logout.frontchannel_uri.clone(),
        frontchannel_logout_session_required: client.logout.frontchannel_session_required,
        created_at: client.created_at,
        previous_secret_expires_at: client.previous_secret.map(|previous| previous.expires_at),
    }
}

fn registration(client_id: Option<String>, fields: ClientFields) -> Result<Registration, Error> {
    let invalid = |field: &'static str, message: String| Error::InvalidField { field, message };
    let auth_method = fields
        .token_endpoint_auth_method
        .as_deref()
        .map(|method| {
            ClientAuthMethod::parse(method).ok_or_else(|| {
                invalid(
                    "token_endpoint_auth_method",
                    format!("`{method}` is not one of client_secret_basic, client_secret_post, private_key_jwt, none"),
                )
            })
        })
        .transpose()?;
    let pkce = fields
        .pkce_policy
        .as_deref()
        .map(|policy| {
            PkcePolicy::parse(policy).ok_or_else(|| {
                invalid(
                    "pkce_policy",
                    format!("`{policy}` is not one of required, nonce-allowed"),
                )
            })
        })
        .transpose()?;
    let application_type = fields
        .application_type
        .as_deref()
        .map(|kind| {
            ApplicationType::parse(kind).ok_or_else(|| {
                invalid(
                    "application_type",
                    format!("`{kind}` is not one of web, native"),
                )
            })
        })
        .transpose()?;
    let rate_limit = fields
        .rate_limit
        .map(|limit| {
            NonZeroU32::new(limit)
                .ok_or_else(|| invalid("rate_limit", "must be at least 1".to_owned()))
        })
        .transpose()?;
    Ok(Registration {
        client_id,
        name: fields.client_name,
        auth_method,
        redirect_uris: fields.redirect_uris.unwrap_or_default(),
        grant_types: fields.grant_types.unwrap_or_default(),
        scope: fields.scope.unwrap_or_default(),
        require_par: fields
            .require_pushed_authorization_requests
            .unwrap_or(false),
        jwks: fields.jwks.map(|jwks| jwks.to_string()),
        post_logout_redirect_uris: fields.post_logout_redirect_uris.unwrap_or_default(),
        pkce,
        allowed_origins: fields.allowed_cors_origins.unwrap_or_default(),
        verified: fields.verified.unwrap_or(false),
        application_type,
        rate_limit,
        logout: LogoutChannels {
            backchannel_uri: fields.backchannel_logout_uri,
            backchannel_session_required: fields
                .backchannel_logout_session_required
                .unwrap_or(false),
            frontchannel_uri: fields.frontchannel_logout_uri,
            frontchannel_session_required: fields
                .frontchannel_logout_session_required
                .unwrap_or(false),
        },
    })
}

#[derive(Object)]
struct ClientPage {
    items: Vec<AdminClient>,
    #[oai(skip_serializing_if_is_none)]
    next_cursor: Option<String>,
}

/// How long the replaced secret stays accepted.
#[derive(Object)]
struct RotateSecret {
    /// Seconds (default 0: refused at once, as after a leak; at most 30 days).
    #[oai(
        deserialize_with = "fields::previous_valid_for",
        validator(minimum(value = "0"), maximum(value = "2592000"))
    )]
    previous_valid_for: Option<u32>,
}

/// A body that holds a secret: no cache may keep it.
#[derive(ApiResponse)]
enum WithSecret {
    #[oai(status = 200)]
    Ok(
        Json<AdminClient>,
        #[oai(header = "ETag")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    #[oai(status = 201)]
    Created(
        Json<AdminClient>,
        #[oai(header = "ETag")] String,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(Object)]
struct AdminKey {
    kid: String,
    alg: String,
    /// `published` (not signing yet), `signing`, or `verifying` (signs no more).
    state: String,
    not_before: OffsetDateTime,
    expires_at: OffsetDateTime,
    retire_at: OffsetDateTime,
}

#[derive(Object)]
struct KeyList {
    /// The keys the JWKS lists, newest first.
    items: Vec<AdminKey>,
}

#[derive(Object)]
struct RotateKeys {
    /// After a leak: sign with the new key at once and retire every other key at once, so
    /// every token they signed (this call's too) is refused. Default: the new key is
    /// published now and signs after one JWKS cache lifetime.
    #[oai(deserialize_with = "fields::now")]
    now: Option<bool>,
}

#[derive(Object)]
struct Rotated {
    /// The new key's id; absent if no rotation was needed.
    #[oai(skip_serializing_if_is_none)]
    kid: Option<String>,
}

#[OpenApi(tag = "ApiTags::Admin")]
impl ClientsApi {
    /// List clients
    ///
    /// In client-id order. Scope `authd:admin:read` or `authd:admin`.
    #[oai(path = "/admin/clients", method = "get")]
    async fn list(
        &self,
        req: &Request,
        auth: AccessAuth,
        /// 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<ClientPage>, ApiError> {
        admin_caller(&self.0, req, &auth, Access::Read).await?;
        let limit = page_limit(limit.0)?;
        let after = cursor_key(cursor.0.as_deref())?;
        let clients = self.0.clients.page(after.as_deref(), limit).await?;
        Ok(Json(ClientPage {
            next_cursor: next_cursor(
                clients.last().map(|client| client.client_id.clone()),
                clients.len(),
                limit,
            ),
            items: clients
                .iter()
                .map(|client| describe(client, None))
                .collect(),
        }))
    }

    /// Create a client
    ///
    /// A confidential client's secret is in the answer, this once. Scope `authd:admin`.
    #[oai(path = "/admin/clients", method = "post")]
    async fn create(
        &self,
        req: &Request,
        auth: AccessAuth,
        body: Json<NewClient>,
    ) -> Result<WithSecret, ApiError> {
        let actor = admin_caller(&self.0, req, &auth, Access::Write).await?;
        let body = body.0;
        let registration = registration(body.client_id, body.fields)?;
        let (client, secret) = self.0.admin.create_client(actor, registration).await?;
        Ok(WithSecret::Created(
            Json(describe(&client, secret.map(|s| s.expose().to_owned()))),
            etag(client.revision),
            "no-store".to_owned(),
        ))
    }

    /// Get a client
    #[oai(path = "/admin/clients/:client_id", method = "get")]
    async fn get(
        &self,
        req: &Request,
        auth: AccessAuth,
        client_id: Path<String>,
    ) -> Result<Tagged<AdminClient>, ApiError> {
        admin_caller(&self.0, req, &auth, Access::Read).await?;
        let client = self.0.admin.client(&client_id.0).await?;
        Ok(Tagged::Ok(
            Json(describe(&client, None)),
            etag(client.revision),
        ))
    }

    /// Replace a client's registration
    ///
    /// Every field is written (as `authd clients update` with all of them). Send the `ETag`
    /// you read as `If-Match`: 412 if the client changed since. Scope `authd:admin`.
    #[oai(path = "/admin/clients/:client_id", method = "put")]
    async fn replace(
        &self,
        req: &Request,
        auth: AccessAuth,
        client_id: Path<String>,
        body: Json<ClientFields>,
    ) -> Result<Tagged<AdminClient>, ApiError> {
        let actor = admin_caller(&self.0, req, &auth, Access::Write).await?;
        let write = ClientWrite {
            registration: registration(None, body.0)?,
            expected: if_match(req, "client")?,
        };
        let client = self
            .0
            .admin
            .update_client(actor, &client_id.0, write)
            .await?;
        Ok(Tagged::Ok(
            Json(describe(&client, None)),
            etag(client.revision),
        ))
    }

    /// Delete a client
    ///
    /// With its consents and sessions. Scope `authd:admin`.
    #[oai(path = "/admin/clients/:client_id", method = "delete")]
    async fn delete(
        &self,
        req: &Request,
        auth: AccessAuth,
        client_id: Path<String>,
    ) -> Result<Done, ApiError> {
        let actor = admin_caller(&self.0, req, &auth, Access::Write).await?;
        self.0.admin.delete_client(actor, &client_id.0).await?;
        Ok(Done::NoContent)
    }

    /// Rotate a client's secret
    ///
    /// The new secret is in the answer, this once. Scope `authd:admin`.
    #[oai(path = "/admin/clients/:client_id/secret", method = "post")]
    async fn rotate_secret(
        &self,
        req: &Request,
        auth: AccessAuth,
        client_id: Path<String>,
        body: Json<RotateSecret>,
    ) -> Result<WithSecret, ApiError> {
        let actor = admin_caller(&self.0, req, &auth, Access::Write).await?;
        let grace = time::Duration::seconds(i64::from(body.0.previous_valid_for.unwrap_or(0)));
        let (client, secret) = self
            .0
            .admin
            .rotate_client_secret(actor, &client_id.0, grace)
            .await?;
        Ok(WithSecret::Ok(
            Json(describe(&client, Some(secret.expose().to_owned()))),
            etag(client.revision),
            "no-store".to_owned(),
        ))
    }

    /// List the signing keys
    ///
    /// Scope `authd:admin:read` or `authd:admin`.
    #[oai(path = "/admin/keys", method = "get")]
    async fn keys(&self, req: &Request, auth: AccessAuth) -> Result<Json<KeyList>, ApiError> {
        admin_caller(&self.0, req, &auth, Access::Read).await?;
        let items = self
            .0
            .admin
            .keys()
            .into_iter()
            .map(|key| AdminKey {
                kid: key.kid,
                alg: format!("{:?}", key.algorithm),
                state: key.state.as_str().to_owned(),
                not_before: key.not_before,
                expires_at: key.expires_at,
                retire_at: key.retire_at,
            })
            .collect();
        Ok(Json(KeyList { items }))
    }

    /// Rotate the signing key
    ///
    /// Scope `authd:admin`.
    #[oai(path = "/admin/keys/rotate", method = "post")]
    async fn rotate_keys(
        &self,
        req: &Request,
        auth: AccessAuth,
        body: Json<RotateKeys>,
    ) -> Result<Json<Rotated>, ApiError> {
        let actor = admin_caller(&self.0, req, &auth, Access::Write).await?;
        let kid = self
            .0
            .admin
            .rotate_keys(actor, body.0.now.unwrap_or(false))
            .await?;
        Ok(Json(Rotated { kid }))
    }
}
