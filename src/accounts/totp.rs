//! The TOTP second factor (RFC 6238): enrolment with a QR code rendered here, confirmation with
//! a first code, recovery codes shown once and stored hashed, and verification in which each
//! code (and each recovery code) is good once.
//!
//! Parameters are the ones every authenticator app reads from an `otpauth://` URI without
//! asking: HMAC-SHA1, 6 digits, 30-second steps, and one step of skew either way for clocks
//! and typing. The 160-bit secret (RFC 4226 §4) is sealed under the master key like the
//! signing keys, so a copy of the database alone cannot mint codes.

use std::{fmt, sync::Arc};

use qrcode::{QrCode, render::svg};
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Builder, Secret, Totp};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::{
    clock::Clock,
    error::Error,
    keys::MasterKeys,
    store::{SecondFactorStore, TotpRecord, UserRecord},
};

/// How many recovery codes an enrolment gives.
const RECOVERY_CODES: usize = 10;

/// What the user needs to add authd to an authenticator app.
pub struct Enrolment {
    /// The secret in base32, for typing in.
    pub secret: Zeroizing<String>,
    /// The QR code of the `otpauth://` URI, as an `<svg>` element to put in the page (drawn
    /// here from the URI alone: no script, no user text, and the page's CSP allows it inline
    /// where it would refuse a `data:` image).
    pub qr_svg: String,
}

impl fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Enrolment([REDACTED])")
    }
}

/// Recovery codes, shown to the user once; only their hashes are stored.
pub struct RecoveryCodes(pub Vec<Zeroizing<String>>);

impl fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecoveryCodes([{} REDACTED])", self.0.len())
    }
}

/// Which second factor a login passed with, for `amr` (RFC 8176).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    Totp,
    RecoveryCode,
}

pub struct SecondFactors {
    store: Arc<dyn SecondFactorStore>,
    masters: MasterKeys,
    clock: Arc<dyn Clock>,
    /// The `issuer` the authenticator app shows beside the account.
    label: String,
}

impl SecondFactors {
    pub fn new(
        store: Arc<dyn SecondFactorStore>,
        masters: MasterKeys,
        clock: Arc<dyn Clock>,
        label: String,
    ) -> Self {
        Self {
            store,
            masters,
            clock,
            label,
        }
    }

    /// Whether `user_id` has a confirmed authenticator: their interactive logins take a code.
    pub async fn enabled(&self, user_id: Uuid) -> Result<bool, Error> {
        Ok(self
            .store
            .totp(user_id)
            .await?
            .is_some_and(|totp| totp.confirmed_at.is_some()))
    }

    /// How many recovery codes `user_id` has left.
    pub async fn recovery_codes_left(&self, user_id: Uuid) -> Result<u64, Error> {
        Ok(self.store.recovery_codes_left(user_id).await?)
    }

    /// Starts (or restarts) an enrolment with a new secret. A user who already has a
    /// confirmed authenticator must remove it first.
    pub async fn begin(&self, user: &UserRecord) -> Result<Enrolment, Error> {
        let secret = Secret::generate();
        let bytes = Zeroizing::new(secret.as_bytes().to_vec());
        let master = self.masters.current();
        let sealed = master
            .seal(&bytes, &aad(user.id))
            .map_err(|err| Error::Internal(err.to_string()))?;
        let record = TotpRecord {
            user_id: user.id,
            sealed_secret: sealed,
            master_key_id: master.id(),
            created_at: self.clock.now(),
            confirmed_at: None,
            last_used_step: 0,
        };
        if !self.store.begin_totp(&record).await? {
            return Err(Error::InvalidField {
                field: "totp",
                message: "an authenticator is already set up: remove it first".to_owned(),
            });
        }
        self.present(&bytes, &user.username)
    }

    /// What the user adds to their app for `secret`.
    fn present(&self, secret: &[u8], username: &str) -> Result<Enrolment, Error> {
        let totp = self.totp(secret, username)?;
        let uri = totp
            .to_url()
            .map_err(|err| Error::Internal(err.to_string()))?;
        Ok(Enrolment {
            secret: Zeroizing::new(totp.secret().to_base32()),
            qr_svg: qr_svg(&uri)?,
        })
    }

    fn open(&self, record: &TotpRecord) -> Result<Zeroizing<Vec<u8>>, Error> {
        let master = self
            .masters
            .find(&record.master_key_id)
            .ok_or_else(|| Error::Internal("the TOTP secret's master key is gone".to_owned()))?;
        master
            .open(&record.sealed_secret, &aad(record.user_id))
            .map_err(|err| Error::Internal(err.to_string()))
    }

    /// The enrolment waiting for its first code, shown again (after a mistyped code).
    pub async fn enrolment(&self, user: &UserRecord) -> Result<Option<Enrolment>, Error> {
        let Some(record) = self
            .store
            .totp(user.id)
            .await?
            .filter(|totp| totp.confirmed_at.is_none())
        else {
            return Ok(None);
        };
        let secret = self.open(&record)?;
        self.present(&secret, &user.username).map(Some)
    }

    /// Confirms an enrolment with a first code from the app; the recovery codes, to show once.
    pub async fn confirm(&self, user: &UserRecord, code: &str) -> Result<RecoveryCodes, Error> {
        let record = self
            .store
            .totp(user.id)
            .await?
            .filter(|totp| totp.confirmed_at.is_none())
            .ok_or_else(|| Error::InvalidField {
                field: "totp",
                message: "there is no authenticator waiting to be confirmed: start again"
                    .to_owned(),
            })?;
        let step = self
            .matching_step(&record, &user.username, code)?
            .ok_or(Error::InvalidSecondFactor)?;
        let codes: Vec<Zeroizing<String>> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
        let hashes: Vec<[u8; 32]> = codes.iter().map(|code| hash_recovery(code)).collect();
        if !self
            .store
            .confirm_totp(user.id, step, &hashes, self.clock.now())
            .await?
        {
            return Err(Error::InvalidSecondFactor);
        }
        tracing::info!(user_id = %user.id, "TOTP second factor enabled");
        Ok(RecoveryCodes(codes))
    }

    /// Checks a code from the user's app, or one of their recovery codes, spending it.
    /// `Err(InvalidSecondFactor)` for a wrong, expired or already used one.
    pub async fn verify(&self, user: &UserRecord, code: &str) -> Result<SecondFactor, Error> {
        let record = self
            .store
            .totp(user.id)
            .await?
            .filter(|totp| totp.confirmed_at.is_some())
            .ok_or(Error::InvalidSecondFactor)?;
        let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
            let step = self
                .matching_step(&record, &user.username, &digits)?
                .ok_or(Error::InvalidSecondFactor)?;
            // RFC 6238 §5.2: a code is accepted once; the store lets exactly one use through.
            return if self.store.spend_totp_step(user.id, step).await? {
                Ok(SecondFactor::Totp)
            } else {
                Err(Error::InvalidSecondFactor)
            };
        }
        let hash = hash_recovery(&normalize_recovery(code));
        if self
            .store
            .spend_recovery_code(user.id, &hash, self.clock.now())
            .await?
        {
            tracing::info!(user_id = %user.id, "recovery code used");
            Ok(SecondFactor::RecoveryCode)
        } else {
            Err(Error::InvalidSecondFactor)
        }
    }

    /// Removes the user's authenticator and recovery codes; whether there was one.
    pub async fn remove(&self, user_id: Uuid) -> Result<bool, Error> {
        let removed = self.store.remove_totp(user_id).await?;
        if removed {
            tracing::info!(%user_id, "TOTP second factor removed");
        }
        Ok(removed)
    }

    /// Re-seals every TOTP secret sealed under an older master key with the current one, as
    /// `authd keys rewrap` does for the signing keys; how many it re-sealed. The old master key
    /// can be dropped once this has run.
    pub async fn rewrap(&self) -> Result<usize, Error> {
        let current = self.masters.current();
        let mut resealed = 0;
        for record in self.store.totp_sealed_elsewhere(&current.id()).await? {
            let secret = self.open(&record)?;
            let sealed = current
                .seal(&secret, &aad(record.user_id))
                .map_err(|err| Error::Internal(err.to_string()))?;
            if self
                .store
                .reseal_totp(&record, &sealed, &current.id())
                .await?
            {
                resealed += 1;
            }
        }
        Ok(resealed)
    }

    /// The step `code` is valid for now (one step of skew either way), if any.
    fn matching_step(
        &self,
        record: &TotpRecord,
        username: &str,
        code: &str,
    ) -> Result<Option<u64>, Error> {
        let secret = self.open(record)?;
        let totp = self.totp(&secret, username)?;
        let now = u64::try_from(self.clock.now().unix_timestamp()).unwrap_or(0);
        Ok(totp.check(code.trim(), now).map(|step| step.max(1)))
    }

    fn totp(&self, secret: &[u8], username: &str) -> Result<Totp, Error> {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(6)
            .with_step_duration(30)
            .with_skew(1)
            .with_secret(Secret::from(secret.to_vec()))
            .with_issuer(Some(self.label.as_str()))
            // A `:` would split the label's issuer from the account (Key Uri Format).
            .with_account_name(username.replace(':', "_"))
            .build()
            .map_err(|err| Error::Internal(format!("TOTP parameters: {err}")))
    }
}

/// Binds a sealed secret to its user: copied into another user's row, it does not open.
fn aad(user_id: Uuid) -> Vec<u8> {
    let mut aad = b"authd totp\0".to_vec();
    aad.extend_from_slice(user_id.as_bytes());
    aad
}

fn qr_svg(uri: &str) -> Result<String, Error> {
    let code = QrCode::new(uri.as_bytes()).map_err(|err| Error::Internal(err.to_string()))?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // The element alone, without the XML declaration a standalone file starts with.
    Ok(match image.find("<svg") {
        Some(start) => image[start..].to_owned(),
        None => image,
    })
}

/// 80 random bits as 16 base32 characters, in groups of four: `abcd-efgh-ijkl-mnop`.
fn recovery_code() -> Zeroizing<String> {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b % 32)]))
        .collect();
    grouped(&chars)
}

/// What the user typed, as the code was shown: without spaces or dashes, in lower case.
fn normalize_recovery(code: &str) -> Zeroizing<String> {
    let kept: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let chars: Vec<char> = kept.chars().collect();
    grouped(&chars)
}

/// `chars` in groups of four joined by dashes, as recovery codes are shown.
fn grouped(chars: &[char]) -> Zeroizing<String> {
    let groups: Vec<String> = chars
        .chunks(4)
        .map(|group| group.iter().collect())
        .collect();
    Zeroizing::new(groups.join("-"))
}

fn hash_recovery(code: &str) -> [u8; 32] {
    Sha256::digest(code.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_80_random_bits_and_typed_any_way() {
        let code = recovery_code();
        assert_eq!(code.len(), 19);
        assert_ne!(*code, *recovery_code());
        let typed = code.replace('-', " ").to_uppercase();
        assert_eq!(*normalize_recovery(&typed), *code);
        assert_eq!(
            hash_recovery(&normalize_recovery(&typed)),
            hash_recovery(&code)
        );
    }

    #[test]
    fn nothing_secret_is_in_debug_output() {
        let codes = RecoveryCodes(vec![recovery_code()]);
        assert_eq!(format!("{codes:?}"), "RecoveryCodes([1 REDACTED])");
    }
}
