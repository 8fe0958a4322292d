//! Second factors for `authd dev`: kept in the process, gone with it.

use std::{collections::HashMap, sync::Mutex};

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::lock;
use crate::{
    store::SealedBox,
    store::{SecondFactorStore, StoreError, TotpRecord},
};

#[derive(Default)]
pub struct MemorySecondFactors(Mutex<Factors>);

#[derive(Default)]
struct Factors {
    totp: HashMap<Uuid, TotpRecord>,
    /// Each user's recovery codes, and whether each was spent.
    recovery: HashMap<Uuid, HashMap<[u8; 32], bool>>,
}

#[async_trait]
impl SecondFactorStore for MemorySecondFactors {
    async fn totp(&self, user_id: Uuid) -> Result<Option<TotpRecord>, StoreError> {
        Ok(lock(&self.0).totp.get(&user_id).cloned())
    }

    async fn begin_totp(&self, record: &TotpRecord) -> Result<bool, StoreError> {
        let mut factors = lock(&self.0);
        if factors
            .totp
            .get(&record.user_id)
            .is_some_and(|existing| existing.confirmed_at.is_some())
        {
            return Ok(false);
        }
        factors.totp.insert(record.user_id, record.clone());
        Ok(true)
    }

    async fn confirm_totp(
        &self,
        user_id: Uuid,
        step: u64,
        recovery_code_hashes: &[[u8; 32]],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut factors = lock(&self.0);
        let Some(totp) = factors
            .totp
            .get_mut(&user_id)
            .filter(|totp| totp.confirmed_at.is_none())
        else {
            return Ok(false);
        };
        totp.confirmed_at = Some(now);
        totp.last_used_step = step;
        let codes = recovery_code_hashes.iter().map(|hash| (*hash, false));
        factors.recovery.insert(user_id, codes.collect());
        Ok(true)
    }

    async fn spend_totp_step(&self, user_id: Uuid, step: u64) -> Result<bool, StoreError> {
        let mut factors = lock(&self.0);
        match factors.totp.get_mut(&user_id) {
            Some(totp) if totp.confirmed_at.is_some() && totp.last_used_step < step => {
                totp.last_used_step = step;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn spend_recovery_code(
        &self,
        user_id: Uuid,
        code_hash: &[u8; 32],
        _now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut factors = lock(&self.0);
        match factors
            .recovery
            .get_mut(&user_id)
            .and_then(|codes| codes.get_mut(code_hash))
        {
            Some(spent) if !*spent => {
                *spent = true;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn recovery_codes_left(&self, user_id: Uuid) -> Result<u64, StoreError> {
        let factors = lock(&self.0);
        let left = factors
            .recovery
            .get(&user_id)
            .map_or(0, |codes| codes.values().filter(|spent| !**spent).count());
        Ok(u64::try_from(left).unwrap_or(u64::MAX))
    }

    async fn remove_totp(&self, user_id: Uuid) -> Result<bool, StoreError> {
        let mut factors = lock(&self.0);
        factors.recovery.remove(&user_id);
        Ok(factors.totp.remove(&user_id).is_some())
    }

    async fn totp_sealed_elsewhere(&self, key_id: &str) -> Result<Vec<TotpRecord>, StoreError> {
        Ok(lock(&self.0)
            .totp
            .values()
            .filter(|totp| totp.master_key_id != key_id)
            .cloned()
            .collect())
    }

    async fn reseal_totp(
        &self,
        previous: &TotpRecord,
        sealed: &SealedBox,
        key_id: &str,
    ) -> Result<bool, StoreError> {
        let mut factors = lock(&self.0);
        match factors.totp.get_mut(&previous.user_id) {
            Some(totp) if totp.sealed_secret == previous.sealed_secret => {
                totp.sealed_secret = sealed.clone();
                totp.master_key_id = key_id.to_owned();
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
