//! Passwords: a secret newtype that never prints, and the rules a chosen one must meet.

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

    /// A password the user chose, for the account `user_inputs` describe (username, email):
    /// long enough, and neither a well-known password nor one a guesser would reach soon
    /// (NIST SP 800-63B §3.1.1.2, ASVS 2.1.7). The estimate is zxcvbn's, whose dictionaries
    /// (among them 30,000 passwords from breach corpora) are compiled into the binary: no
    /// password leaves the process.
    pub fn choose(raw: String, user_inputs: &[&str]) -> Result<Self, Error> {
        let password = Self::parse(raw)?;
        strength::check(password.expose(), user_inputs).map_err(|message| Error::InvalidField {
            field: "password",
            message,
        })?;
        Ok(password)
    }

    /// A password of the right length, its strength unchecked (`choose` checks it).
    fn parse(raw: String) -> Result<Self, Error> {
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

mod strength {
    use zxcvbn::{Score, feedback::Warning};

    /// What zxcvbn analyses: its matching grows fast with length, and a password this long
    /// that is weak in its first 128 characters is weak.
    const ANALYSED_CHARS: usize = 128;

    /// `Ok` for a password worth keeping; else why not, in words for the user.
    pub fn check(password: &str, user_inputs: &[&str]) -> Result<(), String> {
        let analysed: String = password.chars().take(ANALYSED_CHARS).collect();
        let estimate = zxcvbn::zxcvbn(&analysed, user_inputs);
        if estimate.score() >= Score::Three {
            return Ok(());
        }
        let warning = estimate.feedback().and_then(|feedback| feedback.warning());
        // zxcvbn says these only of a password found in its breach-corpus list.
        if matches!(
            warning,
            Some(
                Warning::ThisIsATop10Password
                    | Warning::ThisIsATop100Password
                    | Warning::ThisIsACommonPassword
            )
        ) {
            return Err("is one of the most common passwords: choose another".to_owned());
        }
        let why = warning.map_or_else(
            || "it follows a pattern guessers try early".to_owned(),
            |warning| warning.to_string(),
        );
        Err(format!(
            "is too easy to guess ({why}): add words or characters, or leave it empty to get a \
             generated one"
        ))
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
    fn common_and_guessable_passwords_are_refused_with_a_reason() {
        for (weak, says) in [
            ("password1234", "most common"),
            ("qwertyuiop123", "most common"),
            ("alicealice1234", "too easy"),
            ("abcdefghijklmnop", "too easy"),
            ("aaaaaaaaaaaaaaaa", "too easy"),
        ] {
            let err = Password::choose(weak.to_owned(), &["alice", "alice@example.com"])
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{weak}: {err}");
        }
        for strong in ["correct horse battery", "tangerine-vault-ostrich-42"] {
            assert!(
                Password::choose(strong.to_owned(), &["alice"]).is_ok(),
                "{strong}"
            );
        }
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(Password::parse("short".to_owned()).is_err());
        assert_eq!(Password::generate().expose().len(), 36);
    }
}
