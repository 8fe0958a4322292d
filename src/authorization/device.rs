//! The device authorization grant (RFC 8628): a device without a browser (a TV, a CLI) asks
//! for a pair of codes, shows the person the short `user_code`, and polls the token endpoint
//! with the long `device_code` while the person approves it on another device, signed in to
//! authd there.
//!
//! Both codes live in Redis with their expiry, so any replica can serve any step: the grant
//! under the SHA-256 of its device code (a dump holds no usable code), the user code pointing
//! to it. The polling interval is enforced across replicas by a marker that lives one interval:
//! a poll that finds it gets `slow_down`, and the interval grows by 5 s (§3.5). An approved
//! grant is taken with GETDEL, so it gives tokens once, and a tombstone answers a second try.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    Authorizations, Redeemed,
    held::{random_id, to_json},
    request::consented_scope,
};
use crate::{
    clients::ClientRecord,
    error::Error,
    grant_type::GrantType,
    oidc::grants_refresh,
    scope::normalize_scope,
    sessions::NewSession,
    store::{Login, SessionRecord, UserRecord},
};

/// How long a person has to enter the code and approve (§3.2 `expires_in`).
const DEVICE_CODE_TTL: Duration = Duration::from_secs(600);
/// How long the device waits between polls, at first (§3.2 `interval`).
const POLL_INTERVAL: u64 = 5;
/// What each `slow_down` adds to the interval (§3.5).
const SLOW_DOWN_STEP: u64 = 5;
/// How long a grant is remembered after it expired or was used, so a late poll is told which
/// (`expired_token`, or `invalid_grant` for a used code) instead of "unknown".
const REMEMBERED: Duration = Duration::from_secs(300);
/// §6.1: 20 consonants (no vowels, so no words; no easily confused letters), 8 of them:
/// 20^8 ≈ 2.6·10^10 codes, about 34 bits.
const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LENGTH: usize = 8;

/// What the device authorization endpoint answers (§3.2), before the URIs are added.
#[derive(Debug)]
pub struct DeviceAuthorization {
    pub device_code: String,
    /// As the person reads it: `XXXX-XXXX`.
    pub user_code: String,
    pub expires_in: u64,
    pub interval: u64,
}

/// Where a grant stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum DeviceState {
    Pending,
    Approved {
        user_id: Uuid,
        auth_time: i64,
        amr: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        idp: Option<String>,
        /// The browser session it was approved in: the device's session ends with it.
        browser_session: Uuid,
    },
    Denied,
    Used,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct DeviceGrant {
    client_id: String,
    scope: String,
    resources: Vec<String>,
    user_code: String,
    /// Unix seconds.
    expires_at: i64,
    state: DeviceState,
}

/// A grant waiting for a person's decision, as the approval page shows it.
#[derive(Debug, Clone)]
pub struct PendingDevice {
    pub client_id: String,
    /// The client's name (its id if it was deleted meanwhile), and whether an operator vouches
    /// for it.
    pub client_name: String,
    pub verified: bool,
    pub scope: String,
    /// As the person reads it: `XXXX-XXXX`.
    pub user_code: String,
}

/// A person's answer on the approval page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceDecision {
    Allow,
    Deny,
}

impl Authorizations {
    /// Starts a grant for `client` (authenticated, registered for the device grant) with the
    /// scope it asked for (`None`: its whole scope) and the resources (RFC 8707).
    pub async fn start_device(
        &self,
        client: &ClientRecord,
        requested_scope: Option<&str>,
        resources: Vec<String>,
    ) -> Result<DeviceAuthorization, Error> {
        let requested = normalize_scope(requested_scope)?;
        let scope = consented_scope(client, &requested)
            .map_err(|message| Error::oauth("invalid_scope", message))?;
        let resources = self
            .targets
            .resolve(&client.client_id, &resources, &[])?
            .map(|audience| audience.as_slice().to_vec())
            .unwrap_or_default();
        let device_code = random_id();
        let now = self.clock.now();
        let expires_at = now + DEVICE_CODE_TTL;
        // A fresh user code, not one a live grant holds (a clash is rare: 34 bits).
        let user_code = loop {
            let candidate = new_user_code();
            if self
                .state
                .insert_new(&user_code_key(&candidate), DEVICE_CODE_TTL)
                .await?
            {
                break candidate;
            }
        };
        let grant = DeviceGrant {
            client_id: client.client_id.clone(),
            scope,
            resources,
            user_code: user_code.clone(),
            expires_at: expires_at.unix_timestamp(),
            state: DeviceState::Pending,
        };
        self.state
            .put(
                &device_key(&device_code),
                &to_json(&grant)?,
                DEVICE_CODE_TTL + REMEMBERED,
            )
            .await?;
        self.state
            .put(
                &user_code_target_key(&user_code),
                &device_hash(&device_code),
                DEVICE_CODE_TTL,
            )
            .await?;
        tracing::info!(client_id = %client.client_id, "device authorization started");
        Ok(DeviceAuthorization {
            device_code,
            user_code: display(&user_code),
            expires_in: DEVICE_CODE_TTL.as_secs(),
            interval: POLL_INTERVAL,
        })
    }

    /// The grant a person's `user_code` names, if it is live and waiting; `None` for a code
    /// that is unknown, expired or already answered (the caller counts the failure).
    pub async fn pending_device(&self, user_code: &str) -> Result<Option<PendingDevice>, Error> {
        match self.live_grant(user_code).await? {
            Some(grant) => Ok(Some(self.described(grant).await?)),
            None => Ok(None),
        }
    }

    /// Records the person's answer for the grant `user_code` names: `user`, signed in with
    /// `session`. The grant answered, or `None` if the code is no longer waiting.
    pub async fn decide_device(
        &self,
        user_code: &str,
        user: &UserRecord,
        session: &SessionRecord,
        decision: DeviceDecision,
    ) -> Result<Option<PendingDevice>, Error> {
        if decision == DeviceDecision::Allow
            && self.require_verified_email
            && !user.email_verified()
        {
            return Err(Error::Forbidden(
                "confirm your email address before you approve a device",
            ));
        }
        let Some(code) = normalize_user_code(user_code) else {
            return Ok(None);
        };
        // The code is taken (GETDEL) before the answer is written: of two answers given at
        // once (two tabs), one is recorded, and the code cannot be entered again.
        let Some(hash) = self.state.get(&user_code_target_key(&code), true).await? else {
            return Ok(None);
        };
        let Some(mut grant) = self.waiting(&hash).await? else {
            return Ok(None);
        };
        grant.state = match decision {
            DeviceDecision::Allow => {
                self.consent(user.id, &grant.client_id, &grant.scope)
                    .await?;
                let login = super::login_of(session);
                DeviceState::Approved {
                    user_id: user.id,
                    auth_time: login.auth_time,
                    amr: login.amr,
                    idp: login.idp,
                    browser_session: session.id,
                }
            }
            DeviceDecision::Deny => DeviceState::Denied,
        };
        self.save(&hash, &grant).await?;
        tracing::info!(
            user_id = %user.id, client_id = %grant.client_id, ?decision,
            "device authorization answered"
        );
        Ok(Some(self.described(grant).await?))
    }

    /// A token request with `grant_type=…:device_code` by `client` (authenticated): the
    /// session the approval started (and whether its refresh token is handed out), or the
    /// error §3.5 names for where the grant stands.
    pub async fn poll_device(
        &self,
        device_code: &str,
        client: &ClientRecord,
        dpop_jkt: Option<&str>,
    ) -> Result<Redeemed, Error> {
        let hash = device_hash(device_code);
        let key = format!("device:{hash}");
        let Some(grant) = self.read::<DeviceGrant>(&key, false).await? else {
            return Err(INVALID_DEVICE_CODE);
        };
        if grant.client_id != client.client_id {
            return Err(INVALID_DEVICE_CODE);
        }
        if matches!(grant.state, DeviceState::Used) {
            return Err(Error::InvalidGrant("the device code was already used"));
        }
        if self.clock.now().unix_timestamp() >= grant.expires_at {
            return Err(Error::oauth(
                "expired_token",
                "the device code expired: start again",
            ));
        }
        // One poll per interval, across replicas; a faster one slows the device down. The
        // interval is kept apart from the grant, so slowing down never writes over an answer
        // the person gave meanwhile.
        let interval_key = format!("device-interval:{hash}");
        let interval = match self.state.get(&interval_key, false).await? {
            Some(stored) => stored.parse().unwrap_or(POLL_INTERVAL),
            None => POLL_INTERVAL,
        };
        if !self
            .state
            .insert_new(
                &format!("device-poll:{hash}"),
                Duration::from_secs(interval),
            )
            .await?
        {
            let slower = interval + SLOW_DOWN_STEP;
            self.state
                .put(&interval_key, &slower.to_string(), self.remembered(&grant))
                .await?;
            return Err(Error::oauth(
                "slow_down",
                format!("poll at most every {slower} seconds"),
            ));
        }
        match grant.state {
            DeviceState::Pending => {
                return Err(Error::oauth(
                    "authorization_pending",
                    "the user has not answered yet",
                ));
            }
            DeviceState::Denied => {
                return Err(Error::oauth("access_denied", "the user denied the request"));
            }
            DeviceState::Used => {
                return Err(Error::InvalidGrant("the device code was already used"));
            }
            DeviceState::Approved { .. } => {}
        }
        // Taken once: of two concurrent polls, one gets the grant.
        let Some(taken) = self.read::<DeviceGrant>(&key, true).await? else {
            return Err(INVALID_DEVICE_CODE);
        };
        let DeviceState::Approved {
            user_id,
            auth_time,
            amr,
            idp,
            browser_session,
        } = taken.state.clone()
        else {
            return Err(INVALID_DEVICE_CODE);
        };
        self.save(
            &hash,
            &DeviceGrant {
                state: DeviceState::Used,
                ..taken.clone()
            },
        )
        .await?;
        let continuation = self
            .sessions
            .start_with(NewSession {
                id: Uuid::now_v7(),
                user_id,
                scope: taken.scope.clone(),
                dpop_jkt,
                client_id: Some(&client.client_id),
                login: Some(Login {
                    auth_time,
                    amr,
                    claims: Default::default(),
                    idp,
                }),
                resources: taken.resources,
                parent: Some(browser_session),
                user_agent: None,
                ip: None,
            })
            .await?;
        Ok(Redeemed {
            continuation,
            nonce: None,
            refresh: client.allows_grant(GrantType::RefreshToken) && grants_refresh(&taken.scope),
        })
    }

    /// `grant` as the approval page shows it.
    async fn described(&self, grant: DeviceGrant) -> Result<PendingDevice, Error> {
        let (client_name, verified) = match self.clients.find(&grant.client_id).await? {
            Some(client) => (client.name, client.verified),
            None => (grant.client_id.clone(), false),
        };
        Ok(PendingDevice {
            client_id: grant.client_id,
            client_name,
            verified,
            scope: grant.scope,
            user_code: display(&grant.user_code),
        })
    }

    /// The live, waiting grant `user_code` names.
    async fn live_grant(&self, user_code: &str) -> Result<Option<DeviceGrant>, Error> {
        let Some(code) = normalize_user_code(user_code) else {
            return Ok(None);
        };
        let Some(hash) = self.state.get(&user_code_target_key(&code), false).await? else {
            return Ok(None);
        };
        self.waiting(&hash).await
    }

    /// The grant under `hash`, if it still waits for an answer and has not expired.
    async fn waiting(&self, hash: &str) -> Result<Option<DeviceGrant>, Error> {
        let grant = self
            .read::<DeviceGrant>(&format!("device:{hash}"), false)
            .await?;
        Ok(grant.filter(|grant| {
            matches!(grant.state, DeviceState::Pending)
                && self.clock.now().unix_timestamp() < grant.expires_at
        }))
    }

    /// Writes `grant` back, for as long as it is remembered.
    async fn save(&self, hash: &str, grant: &DeviceGrant) -> Result<(), Error> {
        self.state
            .put(
                &format!("device:{hash}"),
                &to_json(grant)?,
                self.remembered(grant),
            )
            .await?;
        Ok(())
    }

    /// How much longer `grant` is remembered: until a while after it expires.
    fn remembered(&self, grant: &DeviceGrant) -> Duration {
        let remembered_until = grant.expires_at + REMEMBERED.as_secs().cast_signed();
        let left = remembered_until - self.clock.now().unix_timestamp();
        Duration::from_secs(left.max(1).cast_unsigned())
    }
}

const INVALID_DEVICE_CODE: Error = Error::InvalidGrant("the device code is invalid");

/// A user code as stored: the alphabet's letters only, upper case; `None` if what was typed
/// cannot be one (any case, dashes and spaces ignored, §6.1).
fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid =
        code.len() == USER_CODE_LENGTH && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    valid.then_some(code)
}

/// `BCDFGHJK` as people read it: `BCDF-GHJK`.
fn display(code: &str) -> String {
    let (first, second) = code.split_at(USER_CODE_LENGTH / 2);
    format!("{first}-{second}")
}

/// Eight letters of the alphabet, uniformly: bytes of 240 or more are drawn again (240 is
/// the largest multiple of 20 a byte holds), so no letter is likelier than another.
fn new_user_code() -> String {
    let mut code = String::with_capacity(USER_CODE_LENGTH);
    while code.len() < USER_CODE_LENGTH {
        let mut bytes = [0u8; 16];
        rand::fill(&mut bytes);
        for byte in bytes {
            if byte < 240 && code.len() < USER_CODE_LENGTH {
                code.push(char::from(USER_CODE_ALPHABET[usize::from(byte % 20)]));
            }
        }
    }
    code
}

fn device_hash(device_code: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(device_code.as_bytes()))
}

fn device_key(device_code: &str) -> String {
    format!("device:{}", device_hash(device_code))
}

/// Reserves a user code while its grant lives.
fn user_code_key(code: &str) -> String {
    format!("device-user-code:{code}")
}

/// The user code's pointer to its grant.
fn user_code_target_key(code: &str) -> String {
    format!("device-user:{code}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_code_is_eight_consonants_shown_in_two_halves() {
        let code = new_user_code();
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)));
        let shown = display(&code);
        assert_eq!(shown.len(), 9);
        assert_eq!(&shown[4..5], "-");
    }

    #[test]
    fn a_user_code_is_read_in_any_case_with_or_without_dashes() {
        assert_eq!(
            normalize_user_code("bcdf-ghjk").as_deref(),
            Some("BCDFGHJK")
        );
        assert_eq!(normalize_user_code("BCDFGHJK").as_deref(), Some("BCDFGHJK"));
        assert_eq!(
            normalize_user_code(" bcdf ghjk ").as_deref(),
            Some("BCDFGHJK")
        );
        // Vowels are not in the alphabet; nor is a ninth letter.
        assert_eq!(normalize_user_code("ABCD-EFGH"), None);
        assert_eq!(normalize_user_code("BCDF-GHJKL"), None);
    }
}
