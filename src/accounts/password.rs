//! Passwords: a secret newtype, and Argon2id hashing on a bounded blocking pool.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHasher as _, PasswordVerifier as _, phc::PasswordHash},
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;
use tracing::{Instrument, field::Empty};

use crate::{config::Argon2Settings, error::Error};

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

/// Hashes and verifies with Argon2id. At most one hash per core runs at a time; the rest queue,
/// so a burst of logins cannot starve the async runtime that serves token verification.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: Params,
    workers: usize,
    permits: Arc<Semaphore>,
    /// Hashes waiting for a permit: the queue that grows when logins outrun the cores.
    queued: Arc<AtomicUsize>,
    /// Verified against when the user does not exist, so that case costs what a real check costs.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    pub async fn new(settings: Argon2Settings) -> Result<Self, Error> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|err| Error::Internal(format!("argon2 parameters: {err}")))?;
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut hasher = Self {
            params,
            workers,
            permits: Arc::new(Semaphore::new(workers)),
            queued: Arc::default(),
            dummy_hash: Arc::from(""),
        };
        hasher.dummy_hash = hasher.hash(&Password::generate()).await?.into();
        Ok(hasher)
    }

    /// Returns the PHC string (`$argon2id$v=19$m=…`), salt included.
    pub async fn hash(&self, password: &Password) -> Result<String, Error> {
        let password = password.clone();
        let params = self.params.clone();
        self.run_blocking("argon2 hash", move || {
            argon2_with(params)
                .hash_password(password.expose().as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|err| Error::Internal(format!("argon2 hash: {err}")))
        })
        .await?
    }

    /// Checks `password` against `stored`, or against the dummy hash when there is no user, so
    /// that "no such user" and "wrong password" take the same time. Uses the parameters recorded
    /// in the hash itself, so hashes made under older settings keep verifying.
    pub async fn verify(&self, password: &Password, stored: Option<&str>) -> Result<bool, Error> {
        let exists = stored.is_some();
        let hash = stored.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let password = password.clone();
        let params = self.params.clone();
        let matches = self
            .run_blocking("argon2 verify", move || {
                PasswordHash::new(&hash)
                    .map(|parsed| {
                        argon2_with(params)
                            .verify_password(password.expose().as_bytes(), &parsed)
                            .is_ok()
                    })
                    .map_err(|err| Error::Internal(format!("stored password hash: {err}")))
            })
            .await??;
        Ok(exists && matches)
    }

    /// Hashes waiting for a core, and hashes running now.
    pub fn load(&self) -> HasherLoad {
        HasherLoad {
            queued: self.queued.load(Ordering::Relaxed),
            running: self
                .workers
                .saturating_sub(self.permits.available_permits()),
        }
    }

    /// Runs `work` when a core is free, in a trace span that shows the time spent queued.
    async fn run_blocking<T: Send + 'static>(
        &self,
        operation: &'static str,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let span = tracing::info_span!("argon2", otel.name = operation, queued_ms = Empty);
        async move {
            let started = Instant::now();
            let permit = {
                let _waiting = Waiting::in_queue(&self.queued);
                self.permits.clone().acquire_owned().await
            }
            .map_err(|_| Error::Internal("password hashing pool closed".to_owned()))?;
            tracing::Span::current().record("queued_ms", started.elapsed().as_secs_f64() * 1e3);
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                work()
            })
            .await
            .map_err(|err| Error::Internal(format!("password hashing task: {err}")))
        }
        .instrument(span)
        .await
    }
}

/// See [`PasswordHasher::load`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HasherLoad {
    pub queued: usize,
    pub running: usize,
}

/// One place in the hashing queue, given up when dropped: also when the request waiting for it
/// is cancelled.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn in_queue(queue: &'a AtomicUsize) -> Self {
        queue.fetch_add(1, Ordering::Relaxed);
        Self(queue)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn argon2_with(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2Settings {
        Argon2Settings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_match() {
        let hasher = PasswordHasher::new(cheap()).await.unwrap();
        let password = Password::parse("correct horse battery".to_owned()).unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(hasher.verify(&password, Some(&hash)).await.unwrap());
        let wrong = Password::presented("incorrect horse".to_owned());
        assert!(!hasher.verify(&wrong, Some(&hash)).await.unwrap());
        assert!(!hasher.verify(&password, None).await.unwrap());
    }

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
