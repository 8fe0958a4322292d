//! Requests kept in Redis between their arrival and their answer: a request waiting for the
//! user to log in or consent, and a pushed request (RFC 9126) waiting to be named by its
//! `request_uri`. Any replica can take up what another stored.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    AuthorizationRequest, Authorizations, CODE_TTL, PENDING_TTL, Params, REQUEST_URI_PREFIX,
    Refusal,
};
use crate::{error::Error, store::ClientRecord};

impl Authorizations {
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

    /// Checks a pushed request (RFC 9126 §2.1) of `client`, which authenticated, and stores
    /// it; returns its `request_uri`. No browser is involved: every refusal is the client's.
    pub async fn push(&self, params: &Params, client: &ClientRecord) -> Result<String, Error> {
        let request = self
            .check(params, client)
            .map_err(|refusal| match refusal {
                Refusal::ToUser { code, message } => Error::oauth(code, message),
                Refusal::ToClient(error) => Error::oauth(error.error, error.description),
            })?;
        let id = random_id();
        self.state
            .put(&format!("par:{id}"), &to_json(&request)?, CODE_TTL)
            .await?;
        Ok(format!("{REQUEST_URI_PREFIX}{id}"))
    }

    /// The pushed request `request_uri` names, once.
    pub(super) async fn take_pushed(
        &self,
        request_uri: &str,
    ) -> Result<Option<AuthorizationRequest>, Error> {
        let Some(id) = request_uri.strip_prefix(REQUEST_URI_PREFIX) else {
            return Ok(None);
        };
        self.read(&format!("par:{}", safe(id)), true).await
    }

    pub(super) async fn read<T: DeserializeOwned>(
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

/// 256 random bits, base64url: an id nobody can guess.
pub(super) fn random_id() -> String {
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

pub(super) fn to_json(value: &impl Serialize) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|err| Error::Internal(format!("serialising: {err}")))
}
