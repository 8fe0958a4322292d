//! Signing keys as stored: public JWK, private half sealed under a master key.

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, jwk::Jwk};
use time::OffsetDateTime;

use super::StoreError;

/// The algorithms authd signs with (`AUTHD_SIGNING_ALG`), and so the ones a stored key may have.
pub const SUPPORTED_ALGORITHMS: [Algorithm; 3] =
    [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// A signing key's public half, as the JWKS publishes it (RFC 7517).
pub type PublicJwk = Jwk;

/// Ciphertext plus the nonce it was sealed with. The GCM tag is at the end of `ciphertext`.
/// Sealing and opening are the master key's (`keys::MasterKey`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBox {
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// A signing key as stored: the private half only as ciphertext.
#[derive(Debug, Clone)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub algorithm: Algorithm,
    pub public_jwk: PublicJwk,
    pub sealed: SealedBox,
    pub master_key_id: String,
    pub created_at: OffsetDateTime,
    pub not_before: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub retire_at: OffsetDateTime,
    pub purpose: KeyPurpose,
}

/// What a stored key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// Signs access tokens in its window, and is in the JWKS while it verifies.
    Signing,
    /// Signs only the expired-token test mode's tokens (`AUTHD_EXPIRED_TOKENS`): expired from
    /// the start, never in the JWKS, never signing anything else. One at most.
    ExpiredTest,
}

impl KeyPurpose {
    /// As stored in `signing_keys.purpose`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signing => "signing",
            Self::ExpiredTest => "expired_test",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        [Self::Signing, Self::ExpiredTest]
            .into_iter()
            .find(|purpose| purpose.as_str() == stored)
    }
}

/// Decides, from the keys stored when the lock is held, whether a new key is still needed.
pub type KeyNeed = dyn Fn(&[SigningKeyRecord]) -> bool + Send + Sync;

/// How a new key ends the others: they sign no later than `signing_ends` and verify no later
/// than `retire_at`. A key that would only have started signing after `signing_ends` never
/// signed anything, and is deleted.
#[derive(Debug, Clone, Copy)]
pub struct Supersede {
    pub signing_ends: OffsetDateTime,
    pub retire_at: OffsetDateTime,
}

#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    async fn list_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Inserts `key` only if `needed` still holds, deciding under a lock shared by every replica,
    /// so replicas starting together add one key between them. Returns whether it was inserted.
    async fn insert_key_if(
        &self,
        key: &SigningKeyRecord,
        needed: &KeyNeed,
        supersede: Option<Supersede>,
    ) -> Result<bool, StoreError>;
    /// Replaces a key's ciphertext if it is still sealed under `previous_master_key_id`
    /// (so two concurrent rewraps cannot undo each other). Returns whether it did.
    async fn replace_sealed(
        &self,
        key: &SigningKeyRecord,
        previous_master_key_id: &str,
    ) -> Result<bool, StoreError>;
}
