//! The authorization code flow's state (RFC 6749 §4.1): requests waiting for a login or a
//! consent, pushed requests (RFC 9126), one-time codes, and users' consents.
//!
//! Everything short-lived is in Redis, so a browser can start a flow on one replica and finish
//! it on another: a pending request for [`PENDING_TTL`], a pushed one and a code for
//! [`CODE_TTL`]. A code is taken with GETDEL, so of two redemptions exactly one wins, and its
//! hash is remembered for [`REDEEMED_TTL`] afterwards, so a replay can be recognised and the
//! tokens of the first redemption revoked (OAuth 2.1 §4.1.3).

pub mod pkce;
pub mod request;

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

pub use request::{AuthorizationRequest, ClientError, Params, Prompt, Refusal};

use crate::{
    clock::Clock,
    error::Error,
    sessions::Sessions,
    store::{Consent, ConsentStore, ConsentSummary, ProofStateStore},
};

/// How long a user has to log in and consent.
pub const PENDING_TTL: Duration = Duration::from_secs(600);
/// How long a code, or a pushed request's `request_uri`, can be used.
pub const CODE_TTL: Duration = Duration::from_secs(60);
/// How long a redeemed code is remembered, to recognise a replay.
pub const REDEEMED_TTL: Duration = Duration::from_secs(600);

/// The `request_uri` prefix of a pushed request (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

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
}

/// Who redeemed a code, for revoking what it gave when it comes back.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Redemption {
    pub user_id: Uuid,
    pub session_id: Uuid,
}

pub struct Authorizations {
    state: Arc<dyn ProofStateStore>,
    consents: Arc<dyn ConsentStore>,
    sessions: Arc<Sessions>,
    clock: Arc<dyn Clock>,
}

impl Authorizations {
    pub fn new(
        state: Arc<dyn ProofStateStore>,
        consents: Arc<dyn ConsentStore>,
        sessions: Arc<Sessions>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            state,
            consents,
            sessions,
            clock,
        }
    }

    /// Keeps `request` while the user logs in or consents; returns its id.
    pub async fn hold(&self, request: &AuthorizationRequest) -> Result<String, Error> {
        let id = random_id();
        self.state
            .put(
                &format!("authz-request:{id}"),
                &to_json(request)?,
                PENDING_TTL,
            )
            .await?;
        Ok(id)
    }

    /// The request held under `id`; with `take`, it is gone afterwards.
    pub async fn held(&self, id: &str, take: bool) -> Result<Option<AuthorizationRequest>, Error> {
        self.read(&format!("authz-request:{}", safe(id)), take)
            .await
    }

    /// Stores a pushed request (RFC 9126 §2.2); returns its `request_uri`.
    pub async fn push(&self, request: &AuthorizationRequest) -> Result<String, Error> {
        let id = random_id();
        self.state
            .put(&format!("par:{id}"), &to_json(request)?, CODE_TTL)
            .await?;
        Ok(format!("{REQUEST_URI_PREFIX}{id}"))
    }

    /// The pushed request `request_uri` names, once.
    pub async fn take_pushed(
        &self,
        request_uri: &str,
    ) -> Result<Option<AuthorizationRequest>, Error> {
        let Some(id) = request_uri.strip_prefix(REQUEST_URI_PREFIX) else {
            return Ok(None);
        };
        self.read(&format!("par:{}", safe(id)), true).await
    }

    /// A one-time code for `grant`.
    pub async fn issue_code(&self, grant: &CodeGrant) -> Result<String, Error> {
        let code = random_id();
        self.state
            .put(&code_key(&code), &to_json(grant)?, CODE_TTL)
            .await?;
        Ok(code)
    }

    /// What `code` stands for, if it is live, without using it up: a token request that fails
    /// its checks leaves the code to its rightful holder (OAuth 2.1 §7.5.2).
    pub async fn peek_code(&self, code: &str) -> Result<Option<CodeGrant>, Error> {
        self.read(&code_key(code), false).await
    }

    /// Uses `code` up, recording who redeemed it. False if it was used (or expired) meanwhile:
    /// of concurrent redemptions, GETDEL lets exactly one through.
    pub async fn redeem_code(&self, code: &str, redemption: Redemption) -> Result<bool, Error> {
        if self.state.get(&code_key(code), true).await?.is_none() {
            return Ok(false);
        }
        self.state
            .put(&redeemed_key(code), &to_json(&redemption)?, REDEEMED_TTL)
            .await?;
        Ok(true)
    }

    /// Handles a code that is no longer live: if it was redeemed, the tokens it gave are
    /// revoked (it has leaked, or the client is misbehaving). Whether it was.
    pub async fn revoke_replayed(&self, code: &str) -> Result<bool, Error> {
        let Some(redemption) = self.read::<Redemption>(&redeemed_key(code), false).await? else {
            return Ok(false);
        };
        tracing::warn!(
            user_id = %redemption.user_id,
            session = %redemption.session_id,
            "authorization code replayed: the tokens it gave are revoked"
        );
        self.sessions
            .revoke_granted(redemption.user_id, redemption.session_id)
            .await?;
        Ok(true)
    }

    /// Whether the user has already allowed `client_id` every scope in `scope`.
    pub async fn has_consent(
        &self,
        user_id: Uuid,
        client_id: &str,
        scope: &str,
    ) -> Result<bool, Error> {
        let Some(consent) = self.consents.find_consent(user_id, client_id).await? else {
            return Ok(false);
        };
        let granted: Vec<&str> = consent.scope.split(' ').collect();
        Ok(scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .all(|s| granted.contains(&s)))
    }

    /// Remembers that the user allowed `client_id` `scope`, on top of what they allowed before.
    pub async fn consent(&self, user_id: Uuid, client_id: &str, scope: &str) -> Result<(), Error> {
        let previous = self.consents.find_consent(user_id, client_id).await?;
        let mut scopes: Vec<&str> = previous
            .as_ref()
            .map(|consent| consent.scope.split(' ').collect())
            .unwrap_or_default();
        for s in scope.split(' ') {
            if !s.is_empty() && !scopes.contains(&s) {
                scopes.push(s);
            }
        }
        let consent = Consent {
            user_id,
            client_id: client_id.to_owned(),
            scope: scopes.join(" ").trim().to_owned(),
            granted_at: self.clock.now(),
        };
        Ok(self.consents.save_consent(&consent).await?)
    }

    pub async fn consents(&self, user_id: Uuid) -> Result<Vec<ConsentSummary>, Error> {
        Ok(self.consents.list_consents(user_id).await?)
    }

    /// Forgets the user's consent to `client_id` and ends the sessions it gave the client, with
    /// their tokens. Whether there was a consent.
    pub async fn withdraw(&self, user_id: Uuid, client_id: &str) -> Result<bool, Error> {
        let had = self.consents.delete_consent(user_id, client_id).await?;
        let ended = self.sessions.revoke_for_client(user_id, client_id).await?;
        tracing::info!(%user_id, client_id, sessions = ended, "consent withdrawn");
        Ok(had || ended > 0)
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
        take: bool,
    ) -> Result<Option<T>, Error> {
        let Some(json) = self.state.get(key, take).await? else {
            return Ok(None);
        };
        serde_json::from_str(&json)
            .map(Some)
            .map_err(|err| Error::Internal(format!("stored {key}: {err}")))
    }
}

/// `at` in Unix milliseconds, as requests record when they were made.
pub fn unix_millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// 256 random bits, base64url: an id nobody can guess.
fn random_id() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Ids arrive from browsers: anything but base64url is cut down to what cannot name another key.
fn safe(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(64)
        .collect()
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

fn to_json(value: &impl Serialize) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|err| Error::Internal(format!("serialising: {err}")))
}
