//! One-time codes (RFC 6749 §4.1.2) and their redemption at the token endpoint (§4.1.3,
//! RFC 7636 §4.6, OAuth 2.1 §4.1.3).
//!
//! A code is stored by hash for [`CODE_TTL`] and taken with GETDEL, so of two redemptions
//! exactly one wins. Every check runs against the code without using it up: a malformed or
//! mistaken request leaves the code to its rightful holder (OAuth 2.1 §7.5.2). A code that
//! comes back after its redemption revokes the tokens the redemption gave.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    AuthorizationRequest, Authorizations, CODE_TTL, REDEEMED_TTL,
    held::{random_id, to_json},
    pkce,
};
use crate::{
    error::Error,
    oidc::grants_refresh,
    sessions::{Continuation, NewSession},
    store::{Login, SessionRecord, UserRecord},
};

/// What a code stands for: the request it answers, whose it is and when they logged in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeGrant {
    pub request: AuthorizationRequest,
    pub user_id: Uuid,
    /// Unix seconds of the login the code comes from.
    pub auth_time: i64,
    /// How the user authenticated (RFC 8176).
    #[serde(default)]
    pub amr: Vec<String>,
    /// The upstream identity provider of the login, if it was federated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    /// The browser session the user was signed in with: the session the code starts ends
    /// with it.
    #[serde(default)]
    pub browser_session: Option<Uuid>,
}

/// Who redeemed a code, for revoking what it gave when it comes back.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Redemption {
    user_id: Uuid,
    session_id: Uuid,
}

/// A token request with `grant_type=authorization_code`, its client authenticated.
#[derive(Debug)]
pub struct CodeRedemption<'a> {
    pub code: &'a str,
    /// PKCE's verifier; required exactly when the request sent a challenge.
    pub code_verifier: Option<&'a str>,
    pub client_id: &'a str,
    /// Whether the client is registered for the refresh_token grant.
    pub client_refreshes: bool,
    /// The `redirect_uri` the token request sent, if any.
    pub redirect_uri: Option<&'a str>,
    /// The key of the request's DPoP proof, if it carried one.
    pub dpop_jkt: Option<&'a str>,
    /// The resources (RFC 8707) the token request asked for: some of the code's.
    pub resources: &'a [String],
}

/// A redeemed code: the session it started, the authorization request's `nonce` for the ID
/// token, and whether the client is handed the session's refresh token.
pub struct Redeemed {
    pub continuation: Continuation,
    pub nonce: Option<String>,
    pub refresh: bool,
}

/// One answer for a code that is unknown, expired or used: which it was is nobody's business.
const INVALID_CODE: Error = Error::InvalidGrant("the code is invalid, expired or already used");

impl Authorizations {
    /// A one-time code answering `request` for `user`, signed in with `session`.
    pub(super) async fn issue_code(
        &self,
        user: &UserRecord,
        session: &SessionRecord,
        request: AuthorizationRequest,
    ) -> Result<(String, CodeGrant), Error> {
        let login = login_of(session);
        let grant = CodeGrant {
            user_id: user.id,
            auth_time: login.auth_time,
            amr: login.amr,
            idp: login.idp,
            browser_session: Some(session.id),
            request,
        };
        let code = random_id();
        self.state
            .put(&code_key(&code), &to_json(&grant)?, CODE_TTL)
            .await?;
        tracing::info!(
            user_id = %user.id,
            client_id = %grant.request.client_id,
            "authorization code issued"
        );
        Ok((code, grant))
    }

    /// Redeems a code for its client: checks it against the request it answers, uses it up,
    /// and starts the session it grants.
    pub async fn redeem(&self, redemption: CodeRedemption<'_>) -> Result<Redeemed, Error> {
        let code = redemption.code;
        let Some(grant) = self.read::<CodeGrant>(&code_key(code), false).await? else {
            self.revoke_replayed(code).await?;
            return Err(INVALID_CODE);
        };
        let request = &grant.request;
        if request.client_id != redemption.client_id {
            return Err(Error::InvalidGrant("the code was issued to another client"));
        }
        match (redemption.redirect_uri, request.redirect_uri_sent) {
            (Some(sent), true) if sent == request.redirect_uri => {}
            (None, false) => {}
            _ => {
                return Err(Error::InvalidGrant(
                    "redirect_uri must be the one of the authorization request",
                ));
            }
        }
        match (&request.code_challenge, redemption.code_verifier) {
            (Some(challenge), Some(verifier)) if pkce::verifies(challenge, verifier) => {}
            (Some(_), Some(_)) => {
                return Err(Error::InvalidGrant(
                    "code_verifier does not match the code_challenge",
                ));
            }
            (Some(_), None) => {
                return Err(Error::InvalidField {
                    field: "code_verifier",
                    message: "is required: the authorization request sent a code_challenge"
                        .to_owned(),
                });
            }
            // RFC 9700 §4.8.2: a verifier for a request without a challenge is a downgrade
            // attempt (an attacker stripped the challenge).
            (None, Some(_)) => {
                return Err(Error::InvalidGrant(
                    "code_verifier was sent, but the authorization request had no code_challenge",
                ));
            }
            (None, None) => {}
        }
        if let Some(bound) = &request.dpop_jkt
            && redemption.dpop_jkt != Some(bound.as_str())
        {
            return Err(Error::InvalidGrant(
                "the code is bound to a DPoP key (dpop_jkt): send a proof signed with it",
            ));
        }
        // RFC 8707 §2.2: the token request may ask for some of the authorization request's
        // resources; checked before the code is used up.
        self.targets
            .narrow(&request.resources, redemption.resources)?;
        let session_id = Uuid::now_v7();
        let used = Redemption {
            user_id: grant.user_id,
            session_id,
        };
        if !self.use_up(code, used).await? {
            // Redeemed by a concurrent request between the look and the take.
            self.revoke_replayed(code).await?;
            return Err(INVALID_CODE);
        }
        let continuation = self
            .sessions
            .start_with(NewSession {
                id: session_id,
                user_id: grant.user_id,
                scope: request.scope.clone(),
                dpop_jkt: redemption.dpop_jkt,
                client_id: Some(redemption.client_id),
                login: Some(Login {
                    auth_time: grant.auth_time,
                    amr: grant.amr.clone(),
                    claims: request.claims.clone(),
                    idp: grant.idp.clone(),
                }),
                resources: request.resources.clone(),
                parent: grant.browser_session,
                user_agent: None,
                ip: None,
            })
            .await?;
        Ok(Redeemed {
            continuation,
            refresh: redemption.client_refreshes && grants_refresh(&grant.request.scope),
            nonce: grant.request.nonce,
        })
    }

    /// Uses `code` up, recording who redeemed it. False if it was used (or expired) meanwhile:
    /// of concurrent redemptions, GETDEL lets exactly one through.
    async fn use_up(&self, code: &str, redemption: Redemption) -> Result<bool, Error> {
        if self.state.get(&code_key(code), true).await?.is_none() {
            return Ok(false);
        }
        self.state
            .put(&redeemed_key(code), &to_json(&redemption)?, REDEEMED_TTL)
            .await?;
        Ok(true)
    }

    /// Handles a code that is no longer live: if it was redeemed, the tokens it gave are
    /// revoked (it has leaked, or the client is misbehaving).
    async fn revoke_replayed(&self, code: &str) -> Result<(), Error> {
        let Some(redemption) = self.read::<Redemption>(&redeemed_key(code), false).await? else {
            return Ok(());
        };
        tracing::warn!(
            user_id = %redemption.user_id,
            session = %redemption.session_id,
            "authorization code replayed: the tokens it gave are revoked"
        );
        self.sessions
            .revoke_granted(redemption.user_id, redemption.session_id)
            .await?;
        Ok(())
    }
}

/// The login a web UI session holds (one from before OpenID Connect: a password login when the
/// session started).
pub fn login_of(session: &SessionRecord) -> Login {
    session
        .login
        .clone()
        .unwrap_or_else(|| Login::password(session.created_at.unix_timestamp()))
}

/// Codes are stored by hash, so a Redis dump holds none that could be redeemed.
fn code_key(code: &str) -> String {
    format!(
        "authz-code:{}",
        URL_SAFE_NO_PAD.encode(Sha256::digest(code.as_bytes()))
    )
}

fn redeemed_key(code: &str) -> String {
    format!(
        "authz-code-used:{}",
        URL_SAFE_NO_PAD.encode(Sha256::digest(code.as_bytes()))
    )
}
