//! Passkeys for `authd dev`: kept in the process, gone with it.

use std::sync::Mutex;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::lock;
use crate::store::{PasskeyRecord, PasskeyStore, StoreError, UniqueField};

/// The memory stores do not see each other: whether an account is passkey-only is the
/// users store's business, so `remove_passkey` here only keeps a user's last passkey when
/// told by the caller's own check (`Passkeys::remove` asks first). Good enough for one
/// process of `authd dev`; Postgres decides it in one transaction.
#[derive(Default)]
pub struct MemoryPasskeys(Mutex<Vec<PasskeyRecord>>);

#[async_trait]
impl PasskeyStore for MemoryPasskeys {
    async fn insert_passkey(
        &self,
        passkey: &PasskeyRecord,
        limit: u64,
    ) -> Result<bool, StoreError> {
        let mut passkeys = lock(&self.0);
        if passkeys
            .iter()
            .any(|existing| existing.credential_id == passkey.credential_id)
        {
            return Err(StoreError::Conflict(UniqueField::PasskeyCredential));
        }
        let owned = passkeys
            .iter()
            .filter(|existing| existing.user_id == passkey.user_id)
            .count();
        if u64::try_from(owned).unwrap_or(u64::MAX) >= limit {
            return Ok(false);
        }
        passkeys.push(passkey.clone());
        Ok(true)
    }

    async fn passkeys(&self, user_id: Uuid) -> Result<Vec<PasskeyRecord>, StoreError> {
        Ok(lock(&self.0)
            .iter()
            .filter(|passkey| passkey.user_id == user_id)
            .cloned()
            .collect())
    }

    async fn find_passkey(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyRecord>, StoreError> {
        Ok(lock(&self.0)
            .iter()
            .find(|passkey| passkey.credential_id == credential_id)
            .cloned())
    }

    async fn record_passkey_use(
        &self,
        id: Uuid,
        previous_count: u32,
        credential: &serde_json::Value,
        sign_count: u32,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut passkeys = lock(&self.0);
        let Some(passkey) = passkeys
            .iter_mut()
            .find(|passkey| passkey.id == id && passkey.sign_count == previous_count)
        else {
            return Ok(false);
        };
        passkey.credential = credential.clone();
        passkey.sign_count = sign_count;
        passkey.last_used_at = Some(at);
        Ok(true)
    }

    async fn remove_passkey(&self, user_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
        let mut passkeys = lock(&self.0);
        let before = passkeys.len();
        passkeys.retain(|passkey| !(passkey.id == id && passkey.user_id == user_id));
        Ok(passkeys.len() < before)
    }
}
