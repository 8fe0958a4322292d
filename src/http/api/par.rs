//! Pushed authorization requests (RFC 9126): the client sends the authorization request
//! straight to authd, authenticated, and the browser carries only a one-time `request_uri`.
//! Nothing of the request can then be read or changed on its way through the browser.

use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use serde::Deserialize;

use super::ApiTags;
use crate::http::{
    bodies::oauth_form::OAuthForm,
    callers::access::proof_key,
    callers::client_auth::{ClientFields, presented_client},
    error::OAuthError,
};
use crate::{
    authorization::{CODE_TTL, Params},
    clients::missing_credentials,
    error::Error,
    state::AppState,
};

pub struct ParApi(pub AppState);

/// The parameters of an authorization request (see `GET /oauth/authorize`), with the client's
/// authentication. No `Debug`: it may hold a client secret.
#[derive(Object, Deserialize)]
struct PushedRequest {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    /// `S256` only.
    code_challenge_method: Option<String>,
    nonce: Option<String>,
    prompt: Option<String>,
    max_age: Option<String>,
    login_hint: Option<String>,
    /// Accepted; authd's pages are in English only.
    ui_locales: Option<String>,
    /// A previous ID token of the user who is to sign in (OpenID Connect Core §3.1.2.1).
    #[oai(write_only)]
    id_token_hint: Option<String>,
    /// Individual claims to release (OpenID Connect Core §5.5), as JSON.
    claims: Option<String>,
    /// The DPoP key the code is to be bound to (RFC 9449 §10); a DPoP proof header sets it too.
    dpop_jkt: Option<String>,
    /// RFC 8707: a resource (absolute URI) the tokens are for; repeat it for several.
    #[oai(default)]
    #[serde(default)]
    resource: Vec<String>,
    /// Not allowed here (RFC 9126 §2.1).
    request_uri: Option<String>,
    /// Not supported (request objects).
    request: Option<String>,
    #[oai(write_only)]
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    #[oai(write_only)]
    client_assertion: Option<String>,
}

/// RFC 9126 §2.2.
#[derive(Object)]
struct PushedResponse {
    /// Pass to `/oauth/authorize` with `client_id`, within `expires_in` seconds, once.
    request_uri: String,
    expires_in: u64,
}

#[derive(ApiResponse)]
enum PushedResult {
    #[oai(status = 201)]
    Created(
        Json<PushedResponse>,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[OpenApi(tag = "ApiTags::OAuth")]
impl ParApi {
    /// Push an authorization request (RFC 9126)
    ///
    /// Takes the parameters of `/oauth/authorize` and the client's authentication (as at the
    /// token endpoint); answers a `request_uri` for `/oauth/authorize?client_id=…&request_uri=…`.
    /// A DPoP proof header binds the code to its key (RFC 9449 §10.1).
    #[oai(path = "/oauth/par", method = "post")]
    async fn push(
        &self,
        req: &Request,
        form: OAuthForm<PushedRequest>,
    ) -> Result<PushedResult, OAuthError> {
        let state = &self.0;
        let form = form.0;
        let credentials = presented_client(
            req,
            ClientFields {
                client_id: form.client_id.clone(),
                client_secret: form.client_secret,
                client_assertion_type: form.client_assertion_type,
                client_assertion: form.client_assertion,
            },
        )?
        .ok_or_else(missing_credentials)?;
        let client = state.clients.authenticate(&credentials).await?;
        if form.request_uri.is_some() {
            return Err(Error::oauth("invalid_request", "request_uri cannot be pushed").into());
        }
        let proof_jkt = proof_key(state, req).await?;
        if let (Some(proof_jkt), Some(dpop_jkt)) = (&proof_jkt, &form.dpop_jkt)
            && proof_jkt != dpop_jkt
        {
            return Err(Error::InvalidDpopProof(
                "dpop_jkt is not the thumbprint of the proof's key".to_owned(),
            )
            .into());
        }
        let mut params: Params = [
            ("response_type", form.response_type),
            ("client_id", Some(client.client_id.clone())),
            ("redirect_uri", form.redirect_uri),
            ("scope", form.scope),
            ("state", form.state),
            ("code_challenge", form.code_challenge),
            ("code_challenge_method", form.code_challenge_method),
            ("nonce", form.nonce),
            ("prompt", form.prompt),
            ("max_age", form.max_age),
            ("login_hint", form.login_hint),
            ("id_token_hint", form.id_token_hint),
            ("claims", form.claims),
            ("dpop_jkt", form.dpop_jkt.or(proof_jkt)),
            ("request", form.request),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value?)))
        .chain(
            form.resource
                .into_iter()
                .map(|resource| ("resource".to_owned(), resource)),
        )
        .collect();
        params.retain(|(_, value)| !value.is_empty());
        let request_uri = state.authorizations.push(&params, &client).await?;
        Ok(PushedResult::Created(
            Json(PushedResponse {
                request_uri,
                expires_in: CODE_TTL.as_secs(),
            }),
            "no-store".to_owned(),
        ))
    }
}
