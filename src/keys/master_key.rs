//! The master key: AES-256-GCM over signing keys at rest.

use std::fmt;

use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{Aead, Generate, KeyInit, Payload},
};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// 32 secret bytes. `Debug` never shows them, and they are wiped when dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.id())
    }
}

pub use crate::store::SealedBox;

/// AES-GCM refuses only inputs over 64 GiB; kept as an error rather than a panic all the same.
#[derive(Debug, thiserror::Error)]
#[error("encryption failed")]
pub struct SealError;

#[derive(Debug, thiserror::Error)]
#[error("decryption failed: wrong master key, or the ciphertext or its associated data changed")]
pub struct OpenError;

impl MasterKey {
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// A fresh random key, for `authd dev` where nothing outlives the process.
    pub fn generate_ephemeral() -> Self {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        Self(bytes)
    }

    /// A public, stable name for this key, stored beside each ciphertext so that a keyring of
    /// several master keys knows which one opens a row. One-way: it reveals nothing of the key.
    pub fn id(&self) -> String {
        let digest = Sha256::new()
            .chain_update(b"authd master key id\0")
            .chain_update(self.0)
            .finalize();
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Encrypts with a fresh random 96-bit nonce. `aad` is authenticated, not encrypted: binding it
    /// to the row's identity means a ciphertext copied into another row fails to open.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<SealedBox, SealError> {
        let nonce = Nonce::generate();
        let ciphertext = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| SealError)?;
        Ok(SealedBox {
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    pub fn open(&self, sealed: &SealedBox, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        let nonce = Nonce::try_from(sealed.nonce.as_slice()).map_err(|_| OpenError)?;
        self.cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed.ciphertext,
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| OpenError)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.0.into())
    }
}

/// Every master key a deployment knows: the first seals new keys; any opens the keys it sealed
/// (each stored key names its master key by id). Rotating the master key is: put the new key
/// first on every replica, run `authd keys rewrap`, then drop the old one.
#[derive(Debug, Clone)]
pub struct MasterKeys {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl MasterKeys {
    pub fn new(current: MasterKey, previous: Vec<MasterKey>) -> Self {
        Self { current, previous }
    }

    /// The key new signing keys are sealed under.
    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    /// The key with this id, if this deployment still has it.
    pub fn find(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.id() == id)
    }
}

impl From<&MasterKey> for MasterKeys {
    fn from(current: &MasterKey) -> Self {
        Self::new(current.clone(), Vec::new())
    }
}

impl From<MasterKey> for MasterKeys {
    fn from(current: MasterKey) -> Self {
        Self::new(current, Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_binds_the_associated_data() {
        let key = MasterKey::generate_ephemeral();
        let sealed = key.seal(b"private key", b"kid-1|RS256").unwrap();
        assert_ne!(sealed.ciphertext, b"private key");
        assert_eq!(
            key.open(&sealed, b"kid-1|RS256").unwrap().as_slice(),
            b"private key"
        );
        assert!(key.open(&sealed, b"kid-2|RS256").is_err());
        assert!(
            MasterKey::generate_ephemeral()
                .open(&sealed, b"kid-1|RS256")
                .is_err()
        );
    }

    proptest::proptest! {
        /// Whatever is sealed opens to itself with its own AAD, and to nothing with any other
        /// AAD, another master key, or any single flipped bit of the ciphertext or nonce.
        #[test]
        fn sealing_round_trips_and_any_change_fails(
            plaintext in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
            aad in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            other_aad in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            flip in proptest::prelude::any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            let key = MasterKey::generate_ephemeral();
            let sealed = key.seal(&plaintext, &aad).unwrap();
            let opened = key.open(&sealed, &aad).unwrap();
            proptest::prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
            if other_aad != aad {
                proptest::prop_assert!(key.open(&sealed, &other_aad).is_err());
            }
            proptest::prop_assert!(MasterKey::generate_ephemeral().open(&sealed, &aad).is_err());

            let mut tampered = sealed.clone();
            let position = flip.index(tampered.ciphertext.len());
            tampered.ciphertext[position] ^= 1 << bit;
            proptest::prop_assert!(key.open(&tampered, &aad).is_err());
            let mut renonced = sealed;
            let position = flip.index(renonced.nonce.len());
            renonced.nonce[position] ^= 1 << bit;
            proptest::prop_assert!(key.open(&renonced, &aad).is_err());
        }
    }

    #[test]
    fn debug_shows_the_id_not_the_key() {
        let key = MasterKey::from_slice(&[7u8; 32]).unwrap();
        let shown = format!("{key:?}");
        assert!(shown.starts_with("MasterKey(") && !shown.contains("7, 7"));
    }
}
