//! What this authority supports, in one document served twice: as OAuth 2.0 authorization
//! server metadata (RFC 8414, `/.well-known/oauth-authorization-server`) and as OpenID
//! Provider metadata (OpenID Connect Discovery 1.0 §3, `/.well-known/openid-configuration`).
//! RFC 8414 §2 builds on the OpenID fields, so one document is consistent with both by
//! construction.
//!
//! Like the JWKS, it is built once and served until the key ring changes (the signing
//! algorithms it lists are the ring's).

use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::http::bodies::prebuilt_json::{PrebuiltJson, RingDocument};
use crate::{
    authorization::ResponseMode,
    grant_type::GrantType,
    keys::JWKS_MAX_AGE,
    oidc::{STANDARD_SCOPES, claims_supported},
    possession::DPOP_ALGORITHMS,
    state::AppState,
};

pub struct MetadataApi {
    state: AppState,
    /// Rebuilt when the ring's published keys change, as the JWKS is.
    document: RingDocument<Metadata>,
}

/// RFC 8414 §2 authorization server metadata, with OpenID Connect Discovery §3's provider
/// metadata.
#[derive(Object)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    /// OpenID Connect Core §5.3.
    userinfo_endpoint: String,
    /// OpenID Connect RP-Initiated Logout 1.0 §2.1.
    end_session_endpoint: String,
    /// RFC 9126 §5.
    pushed_authorization_request_endpoint: String,
    /// RFC 8628 §4.
    device_authorization_endpoint: String,
    require_pushed_authorization_requests: bool,
    /// RFC 7591, when dynamic registration is on.
    #[oai(skip_serializing_if_is_none)]
    registration_endpoint: Option<String>,
    jwks_uri: String,
    revocation_endpoint: String,
    introspection_endpoint: String,
    /// OpenID Connect's standard scopes (any client of the code flow may ask for them) and
    /// the ones registered clients use are not listed: those are each client's own.
    scopes_supported: Vec<String>,
    /// The code flow only (no implicit or hybrid flows, RFC 9700 §2.1.2).
    response_types_supported: Vec<String>,
    response_modes_supported: Vec<String>,
    grant_types_supported: Vec<String>,
    /// `sub` is the user's id, the same for every client.
    subject_types_supported: Vec<String>,
    /// What ID tokens are signed with: the algorithms of the keys the ring publishes.
    id_token_signing_alg_values_supported: Vec<String>,
    claims_supported: Vec<String>,
    claim_types_supported: Vec<String>,
    /// The `claims` request parameter (OpenID Connect Core §5.5) is honoured.
    claims_parameter_supported: bool,
    /// Request objects are not supported: push the request (PAR) instead.
    request_parameter_supported: bool,
    /// `request_uri` is taken only from PAR, never fetched from a client's URL.
    request_uri_parameter_supported: bool,
    prompt_values_supported: Vec<String>,
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
    /// OpenID Connect Back-Channel Logout 1.0 §2.1: logout tokens, with `sid`.
    backchannel_logout_supported: bool,
    backchannel_logout_session_supported: bool,
    /// OpenID Connect Front-Channel Logout 1.0 §3: `iss` and `sid` where asked for.
    frontchannel_logout_supported: bool,
    frontchannel_logout_session_supported: bool,
    service_documentation: String,
}

#[derive(ApiResponse)]
enum MetadataResponse {
    #[oai(status = 200)]
    Ok(
        PrebuiltJson<Metadata>,
        #[oai(header = "Cache-Control")] String,
    ),
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

impl MetadataApi {
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            document: RingDocument::default(),
        }
    }

    fn answer(&self) -> MetadataResponse {
        MetadataResponse::Ok(
            self.document(),
            // As long as the JWKS: the algorithms listed change only with the keys.
            format!("public, max-age={}", JWKS_MAX_AGE.whole_seconds()),
        )
    }

    fn document(&self) -> PrebuiltJson<Metadata> {
        self.document
            .get(&self.state.key_ring, self.state.clock.now(), |keys| {
                let mut algorithms: Vec<String> = keys
                    .keys
                    .iter()
                    .filter_map(|key| key.common.key_algorithm.map(|alg| alg.to_string()))
                    .collect();
                algorithms.sort();
                algorithms.dedup();
                self.build(algorithms)
            })
    }

    /// The document, with the JWS `algorithms` of the published keys.
    fn build(&self, algorithms: Vec<String>) -> Metadata {
        let config = &self.state.config;
        let issuer = &config.issuer;
        // Where clients reach authd (behind a load balancer, not necessarily the issuer's host).
        let base = &config.public_url;
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
        Metadata {
            issuer: issuer.clone(),
            authorization_endpoint: format!("{base}/oauth/authorize"),
            token_endpoint: format!("{base}/oauth/token"),
            userinfo_endpoint: format!("{base}/userinfo"),
            end_session_endpoint: format!("{base}/oauth/end_session"),
            pushed_authorization_request_endpoint: format!("{base}/oauth/par"),
            device_authorization_endpoint: format!("{base}/oauth/device_authorization"),
            require_pushed_authorization_requests: config.require_par,
            registration_endpoint: config
                .dynamic_registration
                .then(|| format!("{base}/oauth/register")),
            jwks_uri: format!("{base}/.well-known/jwks.json"),
            revocation_endpoint: format!("{base}/oauth/revoke"),
            introspection_endpoint: format!("{base}/oauth/introspect"),
            scopes_supported: strings(&STANDARD_SCOPES),
            response_types_supported: strings(&["code"]),
            response_modes_supported: strings(&ResponseMode::SUPPORTED),
            grant_types_supported: strings(&GrantType::ALL.map(GrantType::as_str)),
            subject_types_supported: strings(&["public"]),
            id_token_signing_alg_values_supported: algorithms.clone(),
            claims_supported: claims_supported(),
            claim_types_supported: strings(&["normal"]),
            claims_parameter_supported: true,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
            prompt_values_supported: strings(&["none", "login", "consent", "select_account"]),
            code_challenge_methods_supported: strings(&["S256"]),
            authorization_response_iss_parameter_supported: true,
            token_endpoint_auth_methods_supported: strings(&all_client_auth),
            token_endpoint_auth_signing_alg_values_supported: dpop_algorithms(),
            revocation_endpoint_auth_methods_supported: strings(&all_client_auth),
            introspection_endpoint_auth_methods_supported: strings(&client_auth),
            access_token_signing_alg_values_supported: algorithms,
            dpop_signing_alg_values_supported: dpop_algorithms(),
            backchannel_logout_supported: true,
            backchannel_logout_session_supported: true,
            frontchannel_logout_supported: true,
            frontchannel_logout_session_supported: true,
            service_documentation: format!("{issuer}/docs"),
        }
    }
}

#[OpenApi(tag = "ApiTags::OAuth")]
impl MetadataApi {
    /// Authorization server metadata (RFC 8414)
    ///
    /// The same document as `/.well-known/openid-configuration`.
    #[oai(path = "/.well-known/oauth-authorization-server", method = "get")]
    async fn metadata(&self) -> MetadataResponse {
        self.answer()
    }

    /// OpenID Provider metadata (OpenID Connect Discovery 1.0)
    ///
    /// Everything a relying party needs from authd's issuer URL: endpoints, keys, scopes,
    /// claims and algorithms. The same document as `/.well-known/oauth-authorization-server`.
    #[oai(path = "/.well-known/openid-configuration", method = "get")]
    async fn openid_configuration(&self) -> MetadataResponse {
        self.answer()
    }
}
