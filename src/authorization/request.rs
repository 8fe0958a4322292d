//! An authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OpenID Connect Core §3.1.2.1)
//! read from its parameters and checked against the client's registration.
//!
//! Errors come in two kinds (RFC 6749 §4.1.2.1): until the client and redirect URI are known
//! good, nothing may be sent to the redirect URI (it could be an attacker's), so the user sees
//! a page; after that, the client is told, at its redirect URI.

use serde::{Deserialize, Serialize};

use super::pkce;
use crate::{
    clients::{grant_scope, redirect_uri},
    error::Error,
    exchange::Targets,
    grant_type::GrantType,
    oidc::{IdTokenHint, OFFLINE_ACCESS, RequestedClaims, STANDARD_SCOPES},
    scope::normalize_scope,
    store::{ClientRecord, PkcePolicy},
};

/// The longest `state`, `nonce`, `login_hint`, `scope` or `claims` accepted.
pub const MAX_PARAMETER_LEN: usize = 2048;

/// A request's parameters, as sent, in order.
pub type Params = Vec<(String, String)>;

/// A checked authorization request: everything needed to show consent and issue a code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// Whether the request named its redirect URI (then the token request must repeat it,
    /// RFC 6749 §4.1.3); without one, the client's only registered URI is used.
    pub redirect_uri_sent: bool,
    /// The scope to grant: what was asked for, or the client's whole scope if nothing was.
    pub scope: String,
    pub state: Option<String>,
    /// PKCE's S256 challenge; `None` for a confidential client whose policy lets an OpenID
    /// Connect `nonce` stand in (then `nonce` is set).
    pub code_challenge: Option<String>,
    /// Where the code goes: the redirect URI's query, or a form the browser posts to it
    /// (OAuth 2.0 Form Post Response Mode).
    #[serde(default)]
    pub response_mode: ResponseMode,
    /// OpenID Connect's `nonce`, echoed in the ID token.
    pub nonce: Option<String>,
    pub prompt: Prompt,
    /// Seconds since the user last authenticated, at most (OpenID Connect Core §3.1.2.1).
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The DPoP key the code is bound to (RFC 9449 §10).
    pub dpop_jkt: Option<String>,
    /// The individual claims asked for with `claims` (OpenID Connect Core §5.5).
    #[serde(default)]
    pub claims: RequestedClaims,
    /// The user an `id_token_hint` names: only they may be signed in to answer the request.
    #[serde(default)]
    pub hinted_subject: Option<String>,
    /// The resources (RFC 8707) the tokens are for; empty for `AUTHD_AUDIENCE`.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Unix milliseconds: a login after this answers `prompt=login` (seconds would take a
    /// login in the same second as the request for a new one).
    pub created_at_ms: i64,
}

impl AuthorizationRequest {
    /// What the user consents to: the scope, and the scopes of the claims asked for one by one
    /// (a client cannot get a user's email through `claims` without their say).
    pub fn consent_scope(&self) -> String {
        let mut scopes: Vec<&str> = self.scope.split(' ').filter(|s| !s.is_empty()).collect();
        for scope in self.claims.scopes() {
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        scopes.join(" ")
    }
}

/// How the answer travels to the redirect URI (OAuth 2.0 Multiple Response Type Encoding
/// Practices §2.1, OAuth 2.0 Form Post Response Mode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    #[default]
    Query,
    FormPost,
}

impl ResponseMode {
    pub const SUPPORTED: [&'static str; 2] = ["query", "form_post"];
}

/// `prompt` (OpenID Connect Core §3.1.2.1), as flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// Why a request was refused, and where the refusal goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The client or redirect URI is unknown: tell the user, never redirect. `code` is the
    /// OAuth error for a caller that is not a browser (a pushed request).
    ToUser { code: &'static str, message: String },
    /// Tell the client at its redirect URI.
    ToClient(ClientError),
}

/// An error for the client (RFC 6749 §4.1.2.1), sent to `redirect_uri` with `state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub error: &'static str,
    pub description: String,
    pub response_mode: ResponseMode,
}

impl ClientError {
    pub fn for_request(
        request: &AuthorizationRequest,
        error: &'static str,
        description: &str,
    ) -> Self {
        Self {
            redirect_uri: request.redirect_uri.clone(),
            state: request.state.clone(),
            error,
            description: description.to_owned(),
            response_mode: request.response_mode,
        }
    }
}

/// A parameter sent more than once (RFC 6749 §3.1 forbids it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeated;

/// The one value of `name` (an empty value counts as absent).
pub fn single<'a>(params: &'a Params, name: &str) -> Result<Option<&'a str>, Repeated> {
    let mut values = params
        .iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.as_str());
    match (values.next(), values.next()) {
        (value, None) => Ok(value.filter(|value| !value.is_empty())),
        _ => Err(Repeated),
    }
}

/// The client and redirect URI a request names, if both are good: only then may an error be
/// sent to the redirect URI. `client` is the registered client `client_id` names, if any.
pub fn redirect_target(
    params: &Params,
    client: Option<&ClientRecord>,
) -> Result<(String, bool), Refusal> {
    let to_user = |message: &str| Refusal::ToUser {
        code: "invalid_request",
        message: message.to_owned(),
    };
    let bad_redirect = |message: &str| Refusal::ToUser {
        code: "invalid_redirect_uri",
        message: message.to_owned(),
    };
    let client_id = single(params, "client_id")
        .map_err(|Repeated| to_user("The request names more than one client."))?
        .ok_or_else(|| to_user("The request does not say which application is asking."))?;
    let client = client
        .filter(|client| client.client_id == client_id)
        .ok_or_else(|| {
            to_user("The application that sent you here is not registered with authd.")
        })?;
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(to_user(
            "The application that sent you here is not allowed to sign users in.",
        ));
    }
    match single(params, "redirect_uri")
        .map_err(|Repeated| bad_redirect("The request names more than one redirect URI."))?
    {
        Some(uri) if redirect_uri::is_registered(&client.redirect_uris, uri) => {
            Ok((uri.to_owned(), true))
        }
        Some(_) => Err(bad_redirect(
            "The application asked to return you to an address it has not registered. \
             authd will not send you there.",
        )),
        None => match client.redirect_uris.as_slice() {
            [only] => Ok((only.clone(), false)),
            _ => Err(bad_redirect(
                "The request does not say where to return you, and the application has \
                 registered several addresses.",
            )),
        },
    }
}

/// What a request is checked against besides its client: the server's settings.
pub struct Rules<'a> {
    pub targets: &'a Targets,
    /// For a confidential client that names no PKCE policy of its own.
    pub pkce_default: PkcePolicy,
    /// The time, in Unix milliseconds.
    pub now_ms: i64,
    /// Reads an `id_token_hint` (`None` if it is not an ID token authd issued).
    pub read_hint: &'a dyn Fn(&str) -> Option<IdTokenHint>,
}

/// Checks a request whose client and redirect URI are good (see [`redirect_target`]).
pub fn check(
    params: &Params,
    client: &ClientRecord,
    rules: &Rules<'_>,
) -> Result<AuthorizationRequest, Refusal> {
    let (redirect_uri, redirect_uri_sent) = redirect_target(params, Some(client))?;
    // `state` is echoed even on the errors below, if it came once, and in the response mode
    // asked for, if it is one authd knows.
    let state = single(params, "state").ok().flatten().map(str::to_owned);
    let response_mode = match single(params, "response_mode") {
        Ok(Some("form_post")) => ResponseMode::FormPost,
        _ => ResponseMode::Query,
    };
    let refuse = |error: &'static str, description: &str| {
        Refusal::ToClient(ClientError {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            error,
            description: description.to_owned(),
            response_mode,
        })
    };
    let get = |name: &str| {
        single(params, name).map_err(|Repeated| {
            refuse(
                "invalid_request",
                &format!("`{name}` is sent more than once"),
            )
        })
    };
    get("state")?;
    if get("request")?.is_some() {
        return Err(refuse(
            "request_not_supported",
            "request objects are not supported: push the request to /oauth/par instead",
        ));
    }
    match get("response_type")? {
        Some("code") => {}
        Some(_) => {
            return Err(refuse(
                "unsupported_response_type",
                "only response_type=code is supported",
            ));
        }
        None => return Err(refuse("invalid_request", "response_type is required")),
    }
    if let Some(mode) = get("response_mode")?
        && !ResponseMode::SUPPORTED.contains(&mode)
    {
        return Err(refuse(
            "invalid_request",
            "response_mode must be query or form_post",
        ));
    }
    let requested =
        normalize_scope(get("scope")?).map_err(|err| refuse("invalid_scope", &err.to_string()))?;
    let scope =
        consented_scope(client, &requested).map_err(|message| refuse("invalid_scope", &message))?;
    let nonce = get("nonce")?;
    let code_challenge = match get("code_challenge")? {
        Some(challenge) => {
            if get("code_challenge_method")? != Some("S256") {
                return Err(refuse(
                    "invalid_request",
                    "code_challenge_method must be S256 (plain is not accepted)",
                ));
            }
            if !pkce::well_formed(challenge) {
                return Err(refuse(
                    "invalid_request",
                    "code_challenge must be 43 to 128 base64url characters",
                ));
            }
            Some(challenge.to_owned())
        }
        None => {
            let is_oidc = scope.split(' ').any(|s| s == "openid");
            pkce::without_challenge(client, rules.pkce_default, is_oidc && nonce.is_some())
                .map_err(|message| refuse("invalid_request", message))?;
            None
        }
    };
    let prompt =
        parse_prompt(get("prompt")?).map_err(|message| refuse("invalid_request", &message))?;
    let max_age = get("max_age")?
        .map(|value| {
            value
                .parse::<i64>()
                .ok()
                .filter(|seconds| *seconds >= 0)
                .ok_or_else(|| {
                    refuse(
                        "invalid_request",
                        "max_age must be a whole number of seconds",
                    )
                })
        })
        .transpose()?;
    let dpop_jkt = get("dpop_jkt")?.map(str::to_owned);
    // An RFC 7638 SHA-256 thumbprint: 43 base64url characters.
    if dpop_jkt
        .as_deref()
        .is_some_and(|jkt| !well_formed_thumbprint(jkt))
    {
        return Err(refuse(
            "invalid_request",
            "dpop_jkt must be a base64url SHA-256 JWK thumbprint",
        ));
    }
    // What is echoed or kept is bounded, since a request may be stored while the user logs in.
    for name in ["state", "nonce", "login_hint", "scope", "claims"] {
        if get(name)?.is_some_and(|value| value.len() > MAX_PARAMETER_LEN) {
            return Err(refuse(
                "invalid_request",
                &format!("{name} is longer than {MAX_PARAMETER_LEN} bytes"),
            ));
        }
    }
    let claims = get("claims")?
        .map(RequestedClaims::parse)
        .transpose()
        .map_err(|message| refuse("invalid_request", &message))?
        .unwrap_or_default();
    let hinted_subject = get("id_token_hint")?
        .map(|hint| {
            (rules.read_hint)(hint)
                .filter(|hint| hint.aud == client.client_id)
                .map(|hint| hint.sub)
                .ok_or_else(|| {
                    refuse(
                        "invalid_request",
                        "id_token_hint is not an ID token authd issued to this client",
                    )
                })
        })
        .transpose()?;
    // RFC 8707 §2: `resource` may repeat, one target each.
    let resources: Vec<String> = params
        .iter()
        .filter(|(key, value)| key == "resource" && !value.is_empty())
        .map(|(_, value)| value.clone())
        .collect();
    let resources = rules
        .targets
        .resolve(&client.client_id, &resources, &[])
        .map_err(|err| refuse("invalid_target", &err.to_string()))?
        .map(|audience| audience.as_slice().to_vec())
        .unwrap_or_default();
    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        redirect_uri_sent,
        scope,
        state: state.clone(),
        code_challenge,
        response_mode,
        nonce: nonce.map(str::to_owned),
        prompt,
        max_age,
        login_hint: get("login_hint")?.map(str::to_owned),
        dpop_jkt,
        claims,
        hinted_subject,
        resources,
        created_at_ms: rules.now_ms,
    })
}

/// RFC 7638 with SHA-256: 32 bytes, so 43 base64url characters (as `dpop_jkt` carries it).
fn well_formed_thumbprint(jkt: &str) -> bool {
    jkt.len() == 43
        && jkt
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

fn parse_prompt(value: Option<&str>) -> Result<Prompt, String> {
    let mut prompt = Prompt::default();
    for word in value
        .unwrap_or_default()
        .split(' ')
        .filter(|w| !w.is_empty())
    {
        match word {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            // Accounts are not chosen: the browser's session is the account.
            "select_account" => {}
            other => return Err(format!("prompt `{other}` is not supported")),
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        return Err("prompt=none cannot be combined with other values".to_owned());
    }
    Ok(prompt)
}

/// The scope a person is asked to grant `client` for `requested` (the code flow's and the
/// device grant's), or why it cannot be: OpenID Connect's scopes are about the user, who
/// consents to them, so they are open to every client; `offline_access` asks for a refresh
/// token (OpenID Connect Core §11), which a client not registered for the refresh_token grant
/// never gets, so it is dropped, not refused.
pub(super) fn consented_scope(client: &ClientRecord, requested: &str) -> Result<String, String> {
    let scope = grant_scope(client, requested, &STANDARD_SCOPES).map_err(|err| match err {
        Error::InvalidField { message, .. } => message,
        other => other.to_string(),
    })?;
    if client.allows_grant(GrantType::RefreshToken) {
        return Ok(scope);
    }
    Ok(scope
        .split(' ')
        .filter(|s| *s != OFFLINE_ACCESS)
        .collect::<Vec<_>>()
        .join(" "))
}
