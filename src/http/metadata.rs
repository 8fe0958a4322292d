//! `GET /.well-known/oauth-authorization-server`: what this authority supports (RFC 8414).

use poem_openapi::{Object, OpenApi, payload::Json};

use super::ApiTags;
use crate::{possession::DPOP_ALGORITHMS, state::AppState};

pub struct MetadataApi(pub AppState);

/// RFC 8414 §2 authorization server metadata.
#[derive(Object)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    /// RFC 9126 §5.
    pushed_authorization_request_endpoint: String,
    require_pushed_authorization_requests: bool,
    /// RFC 7591, when dynamic registration is on.
    #[oai(skip_serializing_if_is_none)]
    registration_endpoint: Option<String>,
    jwks_uri: String,
    revocation_endpoint: String,
    introspection_endpoint: String,
    /// The code flow only (no implicit or hybrid flows, RFC 9700 §2.1.2).
    response_types_supported: Vec<String>,
    response_modes_supported: Vec<String>,
    grant_types_supported: Vec<String>,
    /// PKCE is required, with `S256` only (RFC 9700 §2.1.1).
    code_challenge_methods_supported: Vec<String>,
    /// Every authorization response carries `iss` (RFC 9207).
    authorization_response_iss_parameter_supported: bool,
    token_endpoint_auth_methods_supported: Vec<String>,
    /// What `private_key_jwt` assertions may be signed with.
    token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    revocation_endpoint_auth_methods_supported: Vec<String>,
    introspection_endpoint_auth_methods_supported: Vec<String>,
    /// The JWS algorithms authd signs access tokens with (not a registered RFC 8414 field).
    access_token_signing_alg_values_supported: Vec<String>,
    /// The JWS algorithms authd accepts in DPoP proofs (RFC 9449 §5.1).
    dpop_signing_alg_values_supported: Vec<String>,
    service_documentation: String,
}

/// The asymmetric algorithms authd verifies client signatures with, DPoP proofs and
/// `private_key_jwt` assertions alike.
fn dpop_algorithms() -> Vec<String> {
    DPOP_ALGORITHMS
        .iter()
        .map(|alg| format!("{alg:?}"))
        .collect()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|value| (*value).to_owned()).collect()
}

#[OpenApi(tag = "ApiTags::OAuth")]
impl MetadataApi {
    /// Authorization server metadata (RFC 8414)
    #[oai(path = "/.well-known/oauth-authorization-server", method = "get")]
    async fn metadata(&self) -> Json<Metadata> {
        let issuer = &self.0.config.issuer;
        // Where clients reach authd (behind a load balancer, not necessarily the issuer's host).
        let base = &self.0.config.public_url;
        let client_auth = [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ];
        let all_client_auth = [
            "none",
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ];
        let config = &self.0.config;
        let mut algorithms: Vec<String> = self
            .0
            .key_ring
            .jwks(self.0.clock.now())
            .keys
            .iter()
            .filter_map(|key| key.common.key_algorithm.map(|alg| alg.to_string()))
            .collect();
        algorithms.dedup();
        Json(Metadata {
            issuer: issuer.clone(),
            authorization_endpoint: format!("{base}/oauth/authorize"),
            token_endpoint: format!("{base}/oauth/token"),
            pushed_authorization_request_endpoint: format!("{base}/oauth/par"),
            require_pushed_authorization_requests: config.require_par,
            registration_endpoint: config
                .dynamic_registration
                .then(|| format!("{base}/oauth/register")),
            jwks_uri: format!("{base}/.well-known/jwks.json"),
            revocation_endpoint: format!("{base}/oauth/revoke"),
            introspection_endpoint: format!("{base}/oauth/introspect"),
            response_types_supported: strings(&["code"]),
            response_modes_supported: strings(&["query"]),
            grant_types_supported: strings(&[
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "password",
            ]),
            code_challenge_methods_supported: strings(&["S256"]),
            authorization_response_iss_parameter_supported: true,
            token_endpoint_auth_methods_supported: strings(&all_client_auth),
            token_endpoint_auth_signing_alg_values_supported: dpop_algorithms(),
            revocation_endpoint_auth_methods_supported: strings(&all_client_auth),
            introspection_endpoint_auth_methods_supported: strings(&client_auth),
            access_token_signing_alg_values_supported: algorithms,
            dpop_signing_alg_values_supported: dpop_algorithms(),
            service_documentation: format!("{issuer}/docs"),
        })
    }
}
