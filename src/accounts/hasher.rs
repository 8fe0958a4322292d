//! Argon2id hashing on a few dedicated threads that keep their working memory.
//!
//! Two things shape this module, both measured (docs/PERFORMANCE.md):
//! - Each hash needs `m` KiB of working memory (19 MiB by default). Allocating it per hash made
//!   every login pay ~5,000 page faults, and glibc kept the freed blocks in its per-thread arenas:
//!   RSS grew to 265 MB under a login load. Each worker now owns one buffer, reused and zeroed
//!   after every hash (the blocks derive from the password: a memory dump must not hold them),
//!   and dropped after a minute without logins.
//! - Hashing is the slowest thing authd does on purpose. The workers run at a lower scheduling
//!   priority than the async runtime, so a burst of logins takes the CPU that token
//!   verification leaves idle instead of queueing verifications behind hashes.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::phc::{Output, ParamsString, PasswordHash, Salt},
};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use subtle::ConstantTimeEq as _;
use tokio::sync::{Semaphore, oneshot};
use tracing::{Instrument, field::Empty};
use zeroize::Zeroize as _;

use super::Password;
use crate::{error::Error, metrics::HasherLoad};

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

/// How long an idle worker keeps its buffer before giving the memory back.
const KEEP_MEMORY_WHEN_IDLE: Duration = Duration::from_secs(60);

/// Linux nice value of the hashing threads (the runtime runs at 0). At 10, the scheduler gives a
/// busy runtime thread about nine times the CPU of a hashing thread on a shared core, and the
/// hashing threads all of it when the runtime is idle.
#[cfg(target_os = "linux")]
const WORKER_NICE: i32 = 10;

/// Hashes and verifies with Argon2id. At most one hash per core runs at a time; the rest wait
/// in an async queue, so a request that gives up waiting costs no hashing.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: Params,
    workers: usize,
    permits: Arc<Semaphore>,
    /// Hashes waiting for a permit: the queue that grows when logins outrun the cores.
    queued: Arc<AtomicUsize>,
    jobs: Sender<Job>,
    /// Verified against when the user does not exist, so that case costs what a real check costs.
    dummy_hash: Arc<str>,
}

type Job = Box<dyn FnOnce(&mut Workspace) + Send>;

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
        // Made outside the workers, in memory freed at once: a worker's buffer is kept for a
        // minute, and an authd that has served no login yet should not hold one.
        let dummy_params = params.clone();
        let dummy_hash = tokio::task::spawn_blocking(move || {
            Workspace::new(0).hash(&dummy_params, Password::generate().expose().as_bytes())
        })
        .await
        .map_err(|err| Error::Internal(format!("password hashing task: {err}")))??;
        Ok(Self {
            jobs: start_workers(workers, params.block_count())?,
            params,
            workers,
            permits: Arc::new(Semaphore::new(workers)),
            queued: Arc::default(),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// Returns the PHC string (`$argon2id$v=19$m=…`), with a fresh random salt.
    pub async fn hash(&self, password: &Password) -> Result<String, Error> {
        let password = password.clone();
        let params = self.params.clone();
        self.run("argon2 hash", move |workspace| {
            workspace.hash(&params, password.expose().as_bytes())
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
        let matches = self
            .run("argon2 verify", move |workspace| {
                workspace.verify(&hash, password.expose().as_bytes())
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

    /// Runs `work` on a worker once one is free (a permit guarantees it), in a trace span that
    /// shows the time spent queued.
    async fn run<T: Send + 'static>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&mut Workspace) -> T + Send + 'static,
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
            let (answer, answered) = oneshot::channel();
            let job: Job = Box::new(move |workspace| {
                let _permit = permit;
                // The request may have gone; its answer is then dropped with it.
                let _ = answer.send(work(workspace));
            });
            self.jobs
                .send(job)
                .map_err(|_| Error::Internal("password hashing workers stopped".to_owned()))?;
            answered
                .await
                .map_err(|_| Error::Internal("password hashing worker failed".to_owned()))
        }
        .instrument(span)
        .await
    }
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

/// Starts the hashing threads. They share one job queue, each waiting on it with its own idle
/// timer, and stop when every sender is dropped.
fn start_workers(count: usize, blocks: usize) -> Result<Sender<Job>, Error> {
    let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
    for index in 0..count {
        let queue = queue.clone();
        std::thread::Builder::new()
            .name(format!("authd-argon2-{index}"))
            .spawn(move || work_through(&queue, blocks))
            .map_err(|err| Error::Internal(format!("starting a password hashing thread: {err}")))?;
    }
    Ok(jobs)
}

/// A multi-consumer queue, not a shared `mpsc` receiver behind a lock: with a lock, only the
/// worker holding it timed out, and the others, blocked on the lock, kept their memory for
/// as long as logins stayed away.
fn work_through(queue: &Receiver<Job>, blocks: usize) {
    lower_priority();
    let mut workspace = Workspace::new(blocks);
    loop {
        match queue.recv_timeout(KEEP_MEMORY_WHEN_IDLE) {
            Ok(job) => job(&mut workspace),
            Err(RecvTimeoutError::Timeout) => workspace.release(),
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // Linux keeps a nice value per thread: this affects the calling thread only.
    let thread = rustix::thread::gettid();
    if let Err(err) = rustix::process::setpriority_process(Some(thread), WORKER_NICE) {
        tracing::warn!(%err, "could not lower the priority of a password hashing thread");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

/// A worker's Argon2 memory, allocated on its first hash and kept for the next ones.
struct Workspace {
    blocks: Vec<Block>,
    /// The size of the configured parameters; hashes stored under larger ones get a temporary
    /// buffer rather than growing this one for good (and a workspace of size 0 always does).
    configured: usize,
}

impl Workspace {
    fn new(configured: usize) -> Self {
        Self {
            blocks: Vec::new(),
            configured,
        }
    }

    fn hash(&mut self, params: &Params, password: &[u8]) -> Result<String, Error> {
        let salt = Salt::generate();
        let mut output = [0; Params::DEFAULT_OUTPUT_LEN];
        self.compute(
            Algorithm::Argon2id,
            Version::V0x13,
            params.clone(),
            password,
            &salt,
            &mut output,
        )?;
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(params).map_err(hash_error)?,
            salt: Some(salt),
            hash: Some(Output::new(&output).map_err(hash_error)?),
        };
        Ok(hash.to_string())
    }

    /// What argon2's `PasswordVerifier` does, computed in this workspace: the algorithm,
    /// version, parameters and output length come from the stored hash.
    fn verify(&mut self, stored: &str, password: &[u8]) -> Result<bool, Error> {
        let invalid =
            |err: &dyn std::fmt::Display| Error::Internal(format!("stored password hash: {err}"));
        let parsed = PasswordHash::new(stored).map_err(|err| invalid(&err))?;
        let algorithm =
            Algorithm::try_from(parsed.algorithm.as_str()).map_err(|err| invalid(&err))?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(|err| invalid(&err))?
            .unwrap_or_default();
        let params = Params::try_from(&parsed).map_err(|err| invalid(&err))?;
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
            return Err(invalid(&"no salt or no hash"));
        };
        let mut buffer = [0; Output::MAX_LENGTH];
        let computed = &mut buffer[..expected.len()];
        self.compute(algorithm, version, params, password, salt, computed)?;
        Ok(computed.ct_eq(expected.as_bytes()).into())
    }

    fn compute(
        &mut self,
        algorithm: Algorithm,
        version: Version,
        params: Params,
        password: &[u8],
        salt: &[u8],
        output: &mut [u8],
    ) -> Result<(), Error> {
        let count = params.block_count();
        let mut temporary = Vec::new();
        let blocks = if count <= self.configured {
            if self.blocks.len() < count {
                self.blocks = returnable_blocks(count);
            }
            &mut self.blocks[..count]
        } else {
            temporary.resize(count, Block::default());
            &mut temporary[..]
        };
        let computed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
            password,
            salt,
            output,
            &mut *blocks,
        );
        blocks.iter_mut().for_each(|block| block.zeroize());
        computed.map_err(hash_error)
    }

    fn release(&mut self) {
        self.blocks = Vec::new();
    }
}

/// Above glibc's largest dynamic mmap threshold (32 MiB on 64-bit): an allocation this large
/// is always its own mapping, unmapped when freed.
const ALWAYS_MAPPED_BYTES: usize = 32 * 1024 * 1024 + 1;

/// `count` zeroed blocks in memory that goes back to the system when they are dropped.
/// glibc serves a 19 MiB request from the thread's arena once a freed mapping has raised its
/// mmap threshold (the start-up dummy hash does that), and an arena keeps what is freed: the
/// workers' buffers stayed resident after [`KEEP_MEMORY_WHEN_IDLE`] (docs/PERFORMANCE.md,
/// "Argon2's memory, given back"). Asking for more capacity than the threshold can reach makes
/// it a mapping of its own; the pages beyond `count` blocks are never touched, so they cost
/// address space, not memory. Other allocators simply get an untouched tail.
fn returnable_blocks(count: usize) -> Vec<Block> {
    let capacity = count.max(ALWAYS_MAPPED_BYTES.div_ceil(std::mem::size_of::<Block>()));
    let mut blocks = Vec::with_capacity(capacity);
    blocks.resize(count, Block::default());
    blocks
}

fn hash_error(err: impl std::fmt::Display) -> Error {
    Error::Internal(format!("argon2: {err}"))
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

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
        let password = Password::choose("correct horse battery".to_owned(), &[]).unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(hasher.verify(&password, Some(&hash)).await.unwrap());
        let wrong = Password::presented("incorrect horse".to_owned());
        assert!(!hasher.verify(&wrong, Some(&hash)).await.unwrap());
        assert!(!hasher.verify(&password, None).await.unwrap());
    }

    /// Hashes already in databases were made by argon2's own `PasswordHasher`, and the reused
    /// workspace must agree with it both ways, also for parameters larger than configured.
    #[tokio::test]
    async fn the_workspace_agrees_with_the_argon2_crate() {
        let hasher = PasswordHasher::new(cheap()).await.unwrap();
        let password = Password::choose("correct horse battery".to_owned(), &[]).unwrap();
        let bytes = password.expose().as_bytes();
        for params in [
            Params::new(1024, 1, 1, None).unwrap(),
            Params::new(2048, 2, 2, Some(64)).unwrap(),
        ] {
            let reference = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(bytes)
                .unwrap()
                .to_string();
            assert!(hasher.verify(&password, Some(&reference)).await.unwrap());
            let wrong = Password::presented("correct horse batterz".to_owned());
            assert!(!hasher.verify(&wrong, Some(&reference)).await.unwrap());
        }
        let ours = hasher.hash(&password).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        Argon2::default().verify_password(bytes, &parsed).unwrap();
    }

    #[tokio::test]
    async fn a_malformed_stored_hash_is_an_error_not_a_match() {
        let hasher = PasswordHasher::new(cheap()).await.unwrap();
        let password = Password::presented("anything at all".to_owned());
        for stored in ["", "$argon2id$v=19$m=1024,t=1,p=1$", "$bcrypt$whatever"] {
            assert!(hasher.verify(&password, Some(stored)).await.is_err());
        }
    }

    #[test]
    fn the_workspace_is_zeroed_after_each_hash() {
        let mut workspace = Workspace::new(1024);
        let params = Params::new(1024, 1, 1, None).unwrap();
        workspace.hash(&params, b"correct horse battery").unwrap();
        assert_eq!(workspace.blocks.len(), 1024);
        assert!(
            workspace
                .blocks
                .iter()
                .all(|block| block.as_ref().iter().all(|word| *word == 0))
        );
        workspace.release();
        assert!(workspace.blocks.is_empty());
    }
}
