//! Second factors: passkeys (WebAuthn credentials), TOTP authenticators and their
//! recovery codes.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{SealedBox, StoreError};

/// A registered passkey (a WebAuthn credential).
#[derive(Debug, Clone)]
pub struct PasskeyRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub credential_id: Vec<u8>,
    /// What its owner called it ("laptop", "phone").
    pub name: String,
    /// webauthn-rs's `Passkey` as JSON: public key, signature counter, backup flags. Public
    /// material only: the private key never leaves the authenticator.
    pub credential: serde_json::Value,
    pub sign_count: u32,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// Inserts, unless the user has `limit` passkeys already (false then). A credential id
    /// registered before, to anyone, is `Conflict(PasskeyCredential)`.
    async fn insert_passkey(&self, passkey: &PasskeyRecord, limit: u64)
    -> Result<bool, StoreError>;
    /// The user's passkeys, oldest first.
    async fn passkeys(&self, user_id: Uuid) -> Result<Vec<PasskeyRecord>, StoreError>;
    async fn find_passkey(&self, credential_id: &[u8])
    -> Result<Option<PasskeyRecord>, StoreError>;
    /// Records a use: the credential's new state, if its counter is still `previous_count`
    /// (compare and swap). False otherwise: another use of the same counter value got there
    /// first, which a single authenticator never does.
    async fn record_passkey_use(
        &self,
        id: Uuid,
        previous_count: u32,
        credential: &serde_json::Value,
        sign_count: u32,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Removes one of the user's passkeys, unless it is the last one of a passkey-only account
    /// (which would lock the user out). False if nothing was removed.
    async fn remove_passkey(&self, user_id: Uuid, id: Uuid) -> Result<bool, StoreError>;
}

/// A user's TOTP authenticator as stored: its secret sealed under a master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRecord {
    pub user_id: Uuid,
    pub sealed_secret: SealedBox,
    pub master_key_id: String,
    pub created_at: OffsetDateTime,
    /// `None` while the user has not yet shown a first code.
    pub confirmed_at: Option<OffsetDateTime>,
    pub last_used_step: u64,
}

/// Second factors (TOTP and its recovery codes).
#[async_trait]
pub trait SecondFactorStore: Send + Sync {
    async fn totp(&self, user_id: Uuid) -> Result<Option<TotpRecord>, StoreError>;
    /// Starts an enrolment: replaces an unconfirmed authenticator, never a confirmed one
    /// (false then: nothing changed).
    async fn begin_totp(&self, record: &TotpRecord) -> Result<bool, StoreError>;
    /// Confirms the unconfirmed authenticator with the step of its first code, and stores its
    /// recovery codes (hashed), at once. False if there was none to confirm.
    async fn confirm_totp(
        &self,
        user_id: Uuid,
        step: u64,
        recovery_code_hashes: &[[u8; 32]],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Spends `step` of a confirmed authenticator: true only if it is later than every step
    /// spent before (RFC 6238 §5.2), so of two logins with one code exactly one passes.
    async fn spend_totp_step(&self, user_id: Uuid, step: u64) -> Result<bool, StoreError>;
    /// Spends a recovery code: true only the first time.
    async fn spend_recovery_code(
        &self,
        user_id: Uuid,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// How many recovery codes are left unspent.
    async fn recovery_codes_left(&self, user_id: Uuid) -> Result<u64, StoreError>;
    /// Removes the authenticator and its recovery codes; whether there was one.
    async fn remove_totp(&self, user_id: Uuid) -> Result<bool, StoreError>;
    /// Every authenticator whose secret is sealed under another master key than `key_id`.
    async fn totp_sealed_elsewhere(&self, key_id: &str) -> Result<Vec<TotpRecord>, StoreError>;
    /// Replaces a secret's sealing, if it is still sealed as `previous` says (a concurrent
    /// re-enrolment wins); whether it was replaced.
    async fn reseal_totp(
        &self,
        previous: &TotpRecord,
        sealed: &SealedBox,
        key_id: &str,
    ) -> Result<bool, StoreError>;
}
