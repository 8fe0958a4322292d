//! Logins between their two steps: the password checked, the second factor not yet. Held in
//! Redis for a few minutes under a random id the browser keeps in a cookie, so any replica can
//! finish a login another started, and nothing is signed in until both steps pass.

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{error::Error, store::ProofStateStore};

/// How long a user has to type the code after the password.
pub const PENDING_LOGIN_TTL: Duration = Duration::from_secs(300);

/// A login waiting for its second factor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub user_id: Uuid,
    /// Unix seconds of the first step (the password, or the upstream's login): the login's
    /// `auth_time`.
    pub password_at: i64,
    /// The held authorization request the login continues, if any.
    pub authorization: Option<String>,
    /// The upstream identity provider the first step was a login through, if it was not a
    /// password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
}

pub struct PendingLogins {
    store: Arc<dyn ProofStateStore>,
}

impl PendingLogins {
    pub fn new(store: Arc<dyn ProofStateStore>) -> Self {
        Self { store }
    }

    /// Holds `login`; its id, for the browser's cookie.
    pub async fn hold(&self, login: &PendingLogin) -> Result<String, Error> {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        let id = URL_SAFE_NO_PAD.encode(bytes);
        let value = serde_json::to_string(login).map_err(|err| Error::Internal(err.to_string()))?;
        self.store.put(&key(&id), &value, PENDING_LOGIN_TTL).await?;
        Ok(id)
    }

    /// The login held under `id`; with `take`, it is gone afterwards (a finished login cannot
    /// be finished twice). A wrong code looks without taking, so the user can try again.
    pub async fn find(&self, id: &str, take: bool) -> Result<Option<PendingLogin>, Error> {
        if id.len() != 43
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Ok(None);
        }
        Ok(self
            .store
            .get(&key(id), take)
            .await?
            .and_then(|value| serde_json::from_str(&value).ok()))
    }
}

fn key(id: &str) -> String {
    format!("login-second-step:{id}")
}
