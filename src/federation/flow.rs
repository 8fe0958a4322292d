//! The code flow against an upstream, as a careful relying party: PKCE S256, a `state` that is
//! also in the browser's cookie (so a response cannot be planted in another browser: login
//! CSRF), a `nonce` the ID token must echo, RFC 9207's `iss` where the upstream sends it, and
//! one redirect URI per upstream (mix-up, RFC 9700 §4.4). The step between the redirect and the
//! callback is held in Redis for a few minutes, so any replica takes the callback.

use std::{net::IpAddr, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{Federation, http, identities::Asserted, invalid, printable};
use crate::{
    accounts::PendingLogin,
    error::Error,
    store::{Login, UpstreamKind, UpstreamRecord, UserRecord},
};

/// How long a person has at the upstream before the login must start again.
const PENDING_TTL: Duration = Duration::from_secs(600);

/// What the login through an upstream is for.
#[derive(Debug, Clone)]
pub enum Purpose {
    /// Signing in, continuing the held authorization request (or device code) if any.
    Login { authorization: Option<String> },
    /// Linking the upstream identity to this signed-in (and re-authenticated) user.
    Link { user_id: Uuid },
}

/// A started login: the browser keeps `state` in a cookie and goes to `url`.
#[derive(Debug)]
pub struct Begun {
    pub state: String,
    pub url: String,
}

/// The upstream's answer at the callback (RFC 6749 §4.1.2, §4.1.2.1; RFC 9207).
#[derive(Debug, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
}

/// How a login through an upstream ended.
#[derive(Debug)]
pub enum Finished {
    /// Signed in: the session is to start with `login`.
    SignedIn {
        user: Box<UserRecord>,
        login: Login,
        authorization: Option<String>,
    },
    /// The upstream requires the local account's second factor, and it has one: the login
    /// waits under `pending_id`, as after a password.
    SecondFactor {
        pending_id: String,
        authorization: Option<String>,
    },
    /// The identity is now linked to the signed-in user.
    Linked { upstream_name: String },
}

/// The step between the redirect and the callback.
#[derive(Serialize, Deserialize)]
struct Pending {
    upstream_id: String,
    nonce: String,
    verifier: String,
    authorization: Option<String>,
    link_user: Option<Uuid>,
}

/// The token endpoint's answer (RFC 6749 §5.1; Core §3.1.3.3).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    id_token: Option<String>,
}

impl Federation {
    /// Starts a login through upstream `upstream_id`.
    pub async fn begin(&self, upstream_id: &str, purpose: Purpose) -> Result<Begun, Error> {
        let upstream = self.upstreams.enabled_one(upstream_id).await?;
        let state = random();
        let verifier = random();
        let pending = Pending {
            upstream_id: upstream.id.clone(),
            nonce: random(),
            verifier,
            authorization: match &purpose {
                Purpose::Login { authorization } => authorization.clone(),
                Purpose::Link { .. } => None,
            },
            link_user: match purpose {
                Purpose::Login { .. } => None,
                Purpose::Link { user_id } => Some(user_id),
            },
        };
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(pending.verifier.as_bytes()));
        let mut url = url::Url::parse(&upstream.authorization_endpoint)
            .map_err(|_| Error::Internal("a stored authorization endpoint is no URL".to_owned()))?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &upstream.client_id)
                .append_pair("redirect_uri", &self.upstreams.redirect_uri(&upstream.id))
                .append_pair("scope", &upstream.scopes)
                .append_pair("state", &state)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
            if upstream.kind == UpstreamKind::Oidc {
                query.append_pair("nonce", &pending.nonce);
            }
        }
        let value =
            serde_json::to_string(&pending).map_err(|err| Error::Internal(err.to_string()))?;
        self.state
            .put(&pending_key(&state), &value, PENDING_TTL)
            .await?;
        tracing::info!(upstream = %upstream.id, "login through an upstream started");
        Ok(Begun {
            state,
            url: url.into(),
        })
    }

    /// Finishes the login at the callback of upstream `upstream_id`. `browser_state` is the
    /// state the browser's cookie holds.
    pub async fn finish(
        &self,
        upstream_id: &str,
        callback: Callback,
        browser_state: Option<&str>,
        client_ip: IpAddr,
        user_agent: Option<String>,
    ) -> Result<Finished, Error> {
        let start_again = "This login has expired or was not started in this browser. Start again.";
        let state = callback.state.as_deref().unwrap_or_default();
        let same_browser = browser_state.is_some_and(|cookie| {
            !state.is_empty() && bool::from(cookie.as_bytes().ct_eq(state.as_bytes()))
        });
        if !same_browser || state.len() > 64 {
            return Err(invalid(start_again));
        }
        // Taken once: a callback replayed, or raced on two replicas, finds nothing.
        let pending: Pending = match self.state.get(&pending_key(state), true).await? {
            Some(value) => serde_json::from_str(&value)
                .map_err(|err| Error::Internal(format!("a pending upstream login: {err}")))?,
            None => return Err(invalid(start_again)),
        };
        // The response came back to another upstream's redirect URI than the one it was sent
        // from: a mix-up (RFC 9700 §4.4).
        if pending.upstream_id != upstream_id {
            return Err(invalid(start_again));
        }
        let upstream = self.upstreams.enabled_one(upstream_id).await?;
        check_response_issuer(&upstream, callback.iss.as_deref())?;
        if let Some(error) = callback.error {
            tracing::info!(upstream = %upstream.id, %error, "the upstream answered with an error");
            return Err(invalid(if error == "access_denied" {
                format!("The login at {} was cancelled.", upstream.name)
            } else {
                format!(
                    "{} could not log you in ({}).",
                    upstream.name,
                    printable(&error)
                )
            }));
        }
        let code = callback
            .code
            .filter(|code| !code.is_empty())
            .ok_or_else(|| invalid(format!("{} sent no authorization code.", upstream.name)))?;
        let tokens = self.redeem(&upstream, &code, &pending.verifier).await?;
        let claims = self.claims(&upstream, &tokens, &pending.nonce).await?;
        let asserted = Asserted::read(&upstream, &claims)?;
        let user = self
            .resolve(&upstream, &asserted, pending.link_user)
            .await?;
        if pending.link_user.is_some() {
            return Ok(Finished::Linked {
                upstream_name: upstream.name,
            });
        }
        let now = self.clock.now().unix_timestamp();
        if upstream.require_second_factor && self.accounts.has_second_factor(user.id).await? {
            let pending_id = self
                .pending
                .hold(&PendingLogin {
                    user_id: user.id,
                    password_at: now,
                    authorization: pending.authorization.clone(),
                    idp: Some(upstream.id.clone()),
                })
                .await?;
            return Ok(Finished::SecondFactor {
                pending_id,
                authorization: pending.authorization,
            });
        }
        self.accounts
            .record_login_without_password(&user, client_ip, user_agent)
            .await;
        tracing::info!(user_id = %user.id, upstream = %upstream.id, "logged in through an upstream");
        Ok(Finished::SignedIn {
            user: Box::new(user),
            login: Login {
                auth_time: now,
                amr: vec!["fed".to_owned()],
                idp: Some(upstream.id),
                ..Login::default()
            },
            authorization: pending.authorization,
        })
    }

    /// Redeems the code at the upstream's token endpoint, authenticating with the client
    /// secret (HTTP Basic, RFC 6749 §2.3.1) and the PKCE verifier.
    async fn redeem(
        &self,
        upstream: &UpstreamRecord,
        code: &str,
        verifier: &str,
    ) -> Result<TokenResponse, Error> {
        let secret = self.upstreams.client_secret(upstream)?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.upstreams.redirect_uri(&upstream.id)),
            ("code_verifier", verifier),
        ];
        // RFC 6749 §2.3.1: both halves form-urlencoded before they are joined.
        let encode =
            |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
        let request = http::client()?
            .post(&upstream.token_endpoint)
            .basic_auth(encode(&upstream.client_id), Some(encode(&secret)))
            .form(&form);
        http::json(request, "token endpoint").await
    }

    /// What the upstream says of the user: the verified ID token's claims (OpenID Connect),
    /// with the userinfo endpoint's where the token lacks an address; or the userinfo
    /// endpoint's alone (plain OAuth 2.0).
    async fn claims(
        &self,
        upstream: &UpstreamRecord,
        tokens: &TokenResponse,
        nonce: &str,
    ) -> Result<Map<String, Value>, Error> {
        match upstream.kind {
            UpstreamKind::Oidc => {
                let id_token = tokens
                    .id_token
                    .as_deref()
                    .ok_or_else(|| invalid(format!("{} sent no ID token.", upstream.name)))?;
                let mut claims = self.verify_id_token(upstream, id_token, nonce).await?;
                if !claims.contains_key(&upstream.claims.email)
                    && let Some(endpoint) = &upstream.userinfo_endpoint
                {
                    let info = userinfo(endpoint, &tokens.access_token).await?;
                    // Core §5.3.4: the answer must be about the ID token's subject.
                    if info.get("sub") != claims.get("sub") {
                        return Err(invalid(format!(
                            "{}'s userinfo is about another user than its ID token.",
                            upstream.name
                        )));
                    }
                    for (name, value) in info {
                        claims.entry(name).or_insert(value);
                    }
                }
                Ok(claims)
            }
            UpstreamKind::Oauth2 => {
                let endpoint = upstream.userinfo_endpoint.as_deref().ok_or_else(|| {
                    Error::Internal(format!("upstream {} has no userinfo endpoint", upstream.id))
                })?;
                userinfo(endpoint, &tokens.access_token).await
            }
        }
    }
}

async fn userinfo(endpoint: &str, access_token: &str) -> Result<Map<String, Value>, Error> {
    let request = http::client()?.get(endpoint).bearer_auth(access_token);
    http::json(request, "userinfo endpoint").await
}

/// RFC 9207 §2.4: an `iss` that is there must be the upstream's; an upstream that promised to
/// send it must have.
fn check_response_issuer(upstream: &UpstreamRecord, iss: Option<&str>) -> Result<(), Error> {
    let mixed_up = || {
        invalid(format!(
            "The answer did not come from {}: the login was stopped.",
            upstream.name
        ))
    };
    match (iss, &upstream.issuer) {
        (Some(iss), Some(issuer)) if iss != issuer => Err(mixed_up()),
        (Some(_), None) => Ok(()),
        (None, Some(_)) if upstream.iss_parameter => Err(mixed_up()),
        _ => Ok(()),
    }
}

fn random() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn pending_key(state: &str) -> String {
    format!("upstream-login:{state}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ClaimPaths, Provisioning, SealedBox};

    fn upstream(issuer: Option<&str>, iss_parameter: bool) -> UpstreamRecord {
        UpstreamRecord {
            id: "corp".to_owned(),
            name: "Corp".to_owned(),
            kind: UpstreamKind::Oidc,
            issuer: issuer.map(str::to_owned),
            authorization_endpoint: String::new(),
            token_endpoint: String::new(),
            userinfo_endpoint: None,
            jwks_uri: None,
            algorithms: Vec::new(),
            iss_parameter,
            client_id: String::new(),
            client_secret: SealedBox {
                nonce: Vec::new(),
                ciphertext: Vec::new(),
            },
            master_key_id: String::new(),
            scopes: String::new(),
            claims: ClaimPaths::default(),
            provisioning: Provisioning::Jit,
            trust_email: false,
            require_second_factor: false,
            enabled: true,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            revision: 1,
        }
    }

    #[test]
    fn the_response_issuer_must_be_the_upstreams_and_is_required_where_promised() {
        let issuer = "https://sso.example";
        let promised = upstream(Some(issuer), true);
        assert!(check_response_issuer(&promised, Some(issuer)).is_ok());
        assert!(check_response_issuer(&promised, Some("https://evil.example")).is_err());
        assert!(check_response_issuer(&promised, None).is_err());
        let silent = upstream(Some(issuer), false);
        assert!(check_response_issuer(&silent, None).is_ok());
        assert!(check_response_issuer(&silent, Some("https://evil.example")).is_err());
    }
}
