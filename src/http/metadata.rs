//! `GET /.well-known/oauth-authorization-server`: what this authority supports (RFC 8414).

use poem_openapi::{Object, OpenApi, payload::Json};

use super::ApiTags;
use crate::{possession::DPOP_ALGORITHMS, state::AppState};

pub struct MetadataApi(pub AppState);

/// RFC 8414 §2 authorization server metadata.
#[derive(Object)]
struct Metadata {
    issuer: String,
    token_endpoint: String,
    jwks_uri: String,
    revocation_endpoint: String,
    introspection_endpoint: String,
    /// authd has no authorization endpoint, so no response types.
    response_types_supported: Vec<String>,
    grant_types_supported: Vec<String>,
    token_endpoint_auth_methods_supported: Vec<String>,
    revocation_endpoint_auth_methods_supported: Vec<String>,
    introspection_endpoint_auth_methods_supported: Vec<String>,
    /// The JWS algorithms authd signs access tokens with (not a registered RFC 8414 field).
    access_token_signing_alg_values_supported: Vec<String>,
    /// The JWS algorithms authd accepts in DPoP proofs (RFC 9449 §5.1).
    dpop_signing_alg_values_supported: Vec<String>,
    service_documentation: String,
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
        let client_auth = ["client_secret_basic", "client_secret_post"];
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
            token_endpoint: format!("{base}/oauth/token"),
            jwks_uri: format!("{base}/.well-known/jwks.json"),
            revocation_endpoint: format!("{base}/oauth/revoke"),
            introspection_endpoint: format!("{base}/oauth/introspect"),
            response_types_supported: Vec::new(),
            grant_types_supported: strings(&["password", "refresh_token", "client_credentials"]),
            token_endpoint_auth_methods_supported: strings(&[
                "none",
                "client_secret_basic",
                "client_secret_post",
            ]),
            revocation_endpoint_auth_methods_supported: strings(&[
                "none",
                "client_secret_basic",
                "client_secret_post",
            ]),
            introspection_endpoint_auth_methods_supported: strings(&client_auth),
            access_token_signing_alg_values_supported: algorithms,
            dpop_signing_alg_values_supported: DPOP_ALGORITHMS
                .iter()
                .map(|alg| format!("{alg:?}"))
                .collect(),
            service_documentation: format!("{issuer}/docs"),
        })
    }
}
