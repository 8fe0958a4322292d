//! Passwords: a secret newtype that never prints.

use secrecy::{ExposeSecret, SecretString};

use crate::error::Error;

/// A plaintext password. `Debug` prints `[REDACTED]`; the bytes are zeroized on drop.
#[derive(Debug, Clone)]
pub struct Password(SecretString);

impl Password {
    /// NIST SP 800-63B §3.1.1.2 asks for at least 8; authd asks for 12. The upper bound keeps a
    /// single request from buying unbounded hashing input.
    pub const MIN_LEN: usize = 12;
    pub const MAX_LEN: usize = 1024;

    /// A password the user chose.
    pub fn parse(raw: String) -> Result<Self, Error> {
        let chars = raw.chars().count();
        if chars < Self::MIN_LEN || raw.len() > Self::MAX_LEN {
            return Err(Error::InvalidField {
                field: "password",
                message: format!(
                    "must be at least {} characters and at most {} bytes",
                    Self::MIN_LEN,
                    Self::MAX_LEN
                ),
            });
        }
        Ok(Self(raw.into()))
    }

    /// A password presented at login. Not checked against the policy: a user who registered
    /// under an older policy must still be able to log in.
    pub fn presented(raw: String) -> Self {
        Self(raw.into())
    }

    /// A fresh random password (a UUIDv4, 122 random bits), as the seed `/register` returned.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string().into())
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let password = Password::parse("hunter2hunter2".to_owned()).unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(Password::parse("short".to_owned()).is_err());
        assert_eq!(Password::generate().expose().len(), 36);
    }
}
