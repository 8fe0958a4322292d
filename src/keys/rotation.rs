//! Signing-key rotation: scheduled, planned, or immediate (a key thought compromised).
//!
//! A planned rotation publishes the next key one JWKS cache lifetime before it signs, so a
//! verifier caching the JWKS never meets an unknown kid; the keys it supersedes stop signing
//! then, and keep verifying for one more token lifetime (the grace period) before they retire.
//! An immediate rotation signs with the new key at once and retires the others at once.
//! A Postgres advisory lock makes one replica rotate; the others hear of it on the Redis
//! channel, or at their next poll.

use std::sync::Arc;

use jsonwebtoken::Algorithm;
use time::{Duration, OffsetDateTime};

use super::{
    KeyRing, KeyRingError, MasterKeys, key_ring::generate_off_runtime, signing_key::KeyWindow,
};
use crate::{
    clock::Clock,
    store::{EventBus, KeyPurpose, SigningKeyRecord, SigningKeyStore, Supersede},
};

/// How long verifiers may cache the JWKS (its `Cache-Control: max-age`), and so how far ahead a
/// planned rotation publishes the next key.
pub const JWKS_MAX_AGE: Duration = Duration::minutes(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationMode {
    /// By the schedule: only if no key was created within the rotation interval.
    Scheduled,
    /// On demand: publish the next key now, sign with it after one JWKS cache lifetime.
    Planned,
    /// Compromise: sign with the new key at once and retire every other key at once.
    Immediate,
}

pub struct KeyManager {
    store: Arc<dyn SigningKeyStore>,
    events: Arc<dyn EventBus>,
    ring: Arc<KeyRing>,
    masters: MasterKeys,
    clock: Arc<dyn Clock>,
    algorithm: Algorithm,
    key_lifetime: Duration,
    rotation_interval: Duration,
    /// The longest an access token lives, leeway included: how long a superseded key verifies.
    max_token_lifetime: Duration,
}

/// The settings a [`KeyManager`] works by.
pub struct KeyPolicy {
    /// What new keys are: a change takes effect at the next rotation.
    pub algorithm: Algorithm,
    pub key_lifetime: Duration,
    pub rotation_interval: Duration,
    pub max_token_lifetime: Duration,
}

impl KeyManager {
    pub fn new(
        store: Arc<dyn SigningKeyStore>,
        events: Arc<dyn EventBus>,
        ring: Arc<KeyRing>,
        masters: MasterKeys,
        clock: Arc<dyn Clock>,
        policy: KeyPolicy,
    ) -> Self {
        Self {
            store,
            events,
            ring,
            masters,
            clock,
            algorithm: policy.algorithm,
            key_lifetime: policy.key_lifetime,
            rotation_interval: policy.rotation_interval,
            max_token_lifetime: policy.max_token_lifetime,
        }
    }

    /// Rotates as `mode` says. Returns the new key's kid, or `None` when a scheduled rotation
    /// was not due (or another replica did it first).
    pub async fn rotate(&self, mode: RotationMode) -> Result<Option<String>, KeyRingError> {
        let now = self.clock.now();
        if mode == RotationMode::Scheduled
            && !self.rotation_due(&self.store.list_keys().await?, now)
        {
            return Ok(None);
        }
        let (not_before, supersede) = match mode {
            RotationMode::Immediate => (
                now,
                Supersede {
                    signing_ends: now,
                    retire_at: now,
                },
            ),
            RotationMode::Planned | RotationMode::Scheduled => {
                let starts = now + JWKS_MAX_AGE;
                (
                    starts,
                    Supersede {
                        signing_ends: starts,
                        retire_at: starts + self.max_token_lifetime,
                    },
                )
            }
        };
        let window = KeyWindow {
            not_before,
            expires_at: not_before + self.key_lifetime,
            retire_at: not_before + self.key_lifetime + self.max_token_lifetime,
        };
        let (record, _) =
            generate_off_runtime(self.algorithm, self.masters.current().clone(), window, now)
                .await?;
        let interval = self.rotation_interval;
        let still_needed = move |stored: &[SigningKeyRecord]| {
            mode != RotationMode::Scheduled || is_due(stored, now, interval)
        };
        if !self
            .store
            .insert_key_if(&record, &still_needed, Some(supersede))
            .await?
        {
            return Ok(None);
        }
        tracing::info!(kid = %record.kid, ?mode, not_before = %record.not_before, "rotated signing key");
        self.reload().await?;
        if let Err(err) = self.events.publish(&crate::store::Event::KeysChanged).await {
            // The others will find the key at their next poll.
            tracing::warn!(error = %err, "could not announce the key rotation");
        }
        Ok(Some(record.kid))
    }

    /// Rebuilds this replica's key ring from Postgres.
    pub async fn reload(&self) -> Result<(), KeyRingError> {
        self.ring
            .reload(self.store.as_ref(), &self.masters, self.clock.now())
            .await
    }

    /// Re-seals every stored private key that is not under the current master key, and tells
    /// the replicas. Returns how many were re-sealed. Safe while serving: a row is replaced whole,
    /// and every replica holds both master keys while this runs.
    pub async fn rewrap(&self) -> Result<usize, KeyRingError> {
        let current = self.masters.current().id();
        let mut rewrapped = 0;
        for record in self.store.list_keys().await? {
            if record.master_key_id == current {
                continue;
            }
            let resealed = super::reseal(&record, &self.masters)?;
            if self
                .store
                .replace_sealed(&resealed, &record.master_key_id)
                .await?
            {
                rewrapped += 1;
                tracing::info!(kid = %record.kid, from = %record.master_key_id, to = %current, "re-sealed signing key");
            }
        }
        if rewrapped > 0 {
            self.reload().await?;
            if let Err(err) = self.events.publish(&crate::store::Event::KeysChanged).await {
                tracing::warn!(error = %err, "could not announce the re-sealed keys");
            }
        }
        Ok(rewrapped)
    }

    fn rotation_due(&self, stored: &[SigningKeyRecord], now: OffsetDateTime) -> bool {
        is_due(stored, now, self.rotation_interval)
    }
}

/// Due when the newest signing key was created a whole interval ago (the test key, made
/// whenever the test mode first starts, says nothing about rotation).
fn is_due(stored: &[SigningKeyRecord], now: OffsetDateTime, interval: Duration) -> bool {
    stored
        .iter()
        .filter(|record| record.purpose == KeyPurpose::Signing)
        .map(|record| record.created_at)
        .max()
        .is_none_or(|newest| newest + interval <= now)
}
