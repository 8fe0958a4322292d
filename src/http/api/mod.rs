//! The JSON API: one file per resource, each an OpenAPI service of poem-openapi, gathered into
//! the one spec served at `/openapi.json` (and explored in Swagger UI at `/docs`).

pub(crate) mod admin;
pub mod auth;
mod authorize_docs;
mod client_registration;
mod device;
mod health;
mod jwks;
mod logout;
mod me;
mod metadata;
mod oauth;
mod par;
mod ping;
mod pop;
mod profile;
mod register;
mod ssf;
mod token;
mod userinfo;

use poem_openapi::{OpenApiService, Tags};

use crate::state::AppState;

#[derive(Tags)]
pub(crate) enum ApiTags {
    /// Users: registration and password login.
    Accounts,
    /// Signing keys, as published for verifiers.
    Keys,
    /// OAuth 2.0: tokens by grant, and their revocation.
    #[oai(rename = "OAuth 2.0")]
    OAuth,
    /// Using and ending access tokens.
    Tokens,
    /// Liveness and readiness, for load balancers and orchestrators.
    Operations,
    /// Managing authd from other programs: users, clients, keys, groups, the audit trail and
    /// webhooks. Needs a token with scope `authd:admin` (or `authd:admin:read` to read).
    Admin,
    /// The Shared Signals transmitter (OpenID SSF 1.0, CAEP, RISC): receivers' event streams
    /// and poll delivery (RFC 8936). Needs a client's token with scope `ssf:receiver`.
    #[oai(rename = "Shared Signals")]
    SharedSignals,
}

/// The OpenAPI service: every route authd serves, as the spec describes them.
pub fn api_service(state: &AppState) -> OpenApiService<impl poem_openapi::OpenApi, ()> {
    OpenApiService::new(
        (
            ping::PingApi,
            health::HealthApi(state.clone()),
            jwks::JwksApi::new(state.clone()),
            register::RegisterApi(state.clone()),
            auth::AuthApi(state.clone()),
            me::MeApi(state.clone()),
            logout::LogoutApi(state.clone()),
            pop::PopApi(state.clone()),
            profile::ProfileApi(state.clone()),
            token::TokenApi(state.clone()),
            oauth::OAuthApi(state.clone()),
            par::ParApi(state.clone()),
            client_registration::ClientRegistrationApi(state.clone()),
            authorize_docs::AuthorizeDocs,
            metadata::MetadataApi::new(state.clone()),
            (
                userinfo::UserInfoApi(state.clone()),
                device::DeviceApi(state.clone()),
                admin::UsersApi(state.clone()),
                admin::ClientsApi(state.clone()),
                admin::GroupsApi(state.clone()),
                admin::AuditApi(state.clone()),
                admin::WebhooksApi(state.clone()),
                admin::UpstreamsApi(state.clone()),
                (
                    ssf::SsfConfigurationApi(state.clone()),
                    ssf::SsfStreamsApi(state.clone()),
                    ssf::SsfPollApi(state.clone()),
                ),
            ),
        ),
        "authd",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "A token authority: registers users, issues JWTs (RS256, ES256 or EdDSA), publishes the \
         keys that verify them, and binds tokens to the client's key (DPoP, RFC 9449, or the \
         signed-nonce PoP scheme) so a stolen token is useless. Errors are JSON: a stable \
         `error` code and a human `message`.",
    )
}
