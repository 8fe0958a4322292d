//! The device authorization endpoint (RFC 8628 §3.1): a device without a browser asks for a
//! pair of codes, shows the person the `user_code` and where to enter it, and polls the token
//! endpoint with the `device_code`.

use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use serde::Deserialize;

use super::ApiTags;
use crate::http::{
    bodies::oauth_form::OAuthForm,
    callers::client_auth::{ClientFields, presented_client},
    error::OAuthError,
};
use crate::{
    clients::missing_credentials, error::Error, grant_type::GrantType, http::callers::admitted,
    rate_limit::RateLimitedRoute, state::AppState,
};

pub struct DeviceApi(pub AppState);

/// No `Debug`: it may hold a client secret.
#[derive(Object, Deserialize)]
struct DeviceRequest {
    /// The client: alone for a public client (a device usually is one), with its
    /// authentication otherwise, as at the token endpoint.
    client_id: Option<String>,
    #[oai(write_only)]
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    #[oai(write_only)]
    client_assertion: Option<String>,
    /// Space-separated scopes; absent: the client's whole scope. OpenID Connect's scopes are
    /// open to every client, as in the code flow.
    scope: Option<String>,
    /// RFC 8707: a resource (absolute URI) the tokens are for; repeat it for several.
    #[oai(default)]
    #[serde(default)]
    resource: Vec<String>,
}

/// RFC 8628 §3.2.
#[derive(Object)]
struct DeviceResponse {
    /// For the device's token requests; never shown to the person.
    device_code: String,
    /// For the person to enter at `verification_uri`: `XXXX-XXXX`, any case, dashes optional.
    user_code: String,
    verification_uri: String,
    /// `verification_uri` with the code in it, for a QR code or a link.
    verification_uri_complete: String,
    expires_in: u64,
    /// Seconds the device waits between token requests.
    interval: u64,
}

#[derive(ApiResponse)]
enum DeviceResult {
    #[oai(status = 200)]
    Ok(
        Json<DeviceResponse>,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[OpenApi(tag = "ApiTags::OAuth")]
impl DeviceApi {
    /// Device authorization (RFC 8628)
    ///
    /// For a client registered for `urn:ietf:params:oauth:grant-type:device_code`. Answers a
    /// `device_code` to poll the token endpoint with and a `user_code` for the person, who
    /// enters it at `verification_uri` (`/ui/device`), signs in, and allows or denies.
    #[oai(path = "/oauth/device_authorization", method = "post")]
    async fn device_authorization(
        &self,
        req: &Request,
        form: OAuthForm<DeviceRequest>,
    ) -> Result<DeviceResult, OAuthError> {
        let state = &self.0;
        admitted(state, req, RateLimitedRoute::Token).await?;
        let form = form.0;
        let credentials = presented_client(
            req,
            ClientFields {
                client_id: form.client_id,
                client_secret: form.client_secret,
                client_assertion_type: form.client_assertion_type,
                client_assertion: form.client_assertion,
            },
        )?
        .ok_or_else(missing_credentials)?;
        let client = state.clients.authenticate(&credentials).await?;
        if !client.allows_grant(GrantType::DeviceCode) {
            return Err(Error::oauth(
                "unauthorized_client",
                "this client is not registered for the device_code grant",
            )
            .into());
        }
        let resources: Vec<String> = form
            .resource
            .into_iter()
            .filter(|resource| !resource.is_empty())
            .collect();
        let started = state
            .authorizations
            .start_device(&client, form.scope.as_deref(), resources)
            .await?;
        let verification_uri = format!("{}/ui/device", state.config.public_url);
        let complete = format!(
            "{verification_uri}?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("user_code", &started.user_code)
                .finish()
        );
        Ok(DeviceResult::Ok(
            Json(DeviceResponse {
                device_code: started.device_code,
                user_code: started.user_code,
                verification_uri,
                verification_uri_complete: complete,
                expires_in: started.expires_in,
                interval: started.interval,
            }),
            "no-store".to_owned(),
        ))
    }
}
