//! The refresh token: 256 random bits, base64url. Stored only as its SHA-256.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// `Debug` prints `[REDACTED]`; the string is zeroized on drop.
#[derive(Debug, Clone)]
pub struct RefreshToken(SecretString);

impl RefreshToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes).into())
    }

    /// A token a client presented. Not validated: an unknown token simply matches nothing.
    pub fn presented(raw: String) -> Self {
        Self(raw.into())
    }

    /// The stored form. A hash lookup is not a secret comparison: equal hashes of 256-bit random
    /// tokens are found by index, and nothing about the token leaks through timing.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.expose_secret().as_bytes()).into()
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_opaque_and_never_printed() {
        let (a, b) = (RefreshToken::generate(), RefreshToken::generate());
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 43); // 32 bytes, base64url without padding
        assert_ne!(a.hash(), b.hash());
        assert!(!format!("{a:?}").contains(a.expose()));
    }
}
