//! Redis: shared, short-lived state. Every key carries the configured prefix and a TTL.
//!
//! Every key layout works on a Redis Cluster: each command, script and pipeline touches one
//! key, or keys that share a hash tag (`{revocations}`), so one node answers it.

mod events;
mod proof_state;
mod rate_limits;
mod target;
mod token_state;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use deadpool_redis::{Pool, PoolConfig, Runtime, Timeouts};
use redis::cluster_async::ClusterConnection;
use tracing::Instrument;

pub use events::RedisEvents;
pub use proof_state::RedisProofState;
pub use rate_limits::RedisRateLimits;
pub use target::RedisTarget;
pub use token_state::RedisTokenState;

use super::{PoolCounters, Probe, StoreError};

const SERVICE: &str = "redis";

/// How authd reaches Redis: one node through a pool of multiplexed connections, or a cluster
/// through one multiplexed cluster connection, which routes each command to the node that owns
/// its slot, follows `MOVED`/`ASK` and reconnects after a failover. A pool of cluster
/// connections would only multiply the connections to every node: each is already multiplexed.
#[derive(Clone)]
pub enum Backend {
    Node(Pool),
    Cluster {
        connection: ClusterConnection,
        /// A second one for revocations alone: their `WAIT` for a replica holds up the commands
        /// queued behind it on the same connection (all of them, for a master that lost its
        /// replica, until the wait times out), so it holds up only other revocations.
        revocations: ClusterConnection,
    },
}

impl From<Pool> for Backend {
    fn from(pool: Pool) -> Self {
        Self::Node(pool)
    }
}

/// Connects to `target`, checked with one command now, so a wrong URL, an unreachable server
/// or a TLS mismatch is reported at start.
/// Connects to `target` and proves it with a PING; a failure says whether Redis could not be
/// reached or refused the login.
pub async fn connect(target: &RedisTarget) -> Result<Backend, StoreError> {
    let connected = async {
        let backend = open(target).await?;
        Redis::new(backend.clone(), String::new()).ping().await?;
        Ok(backend)
    };
    connected.await.map_err(|err| connect_failure(err, target))
}

/// Why connecting to `target` failed, in the words that point at the fix.
fn connect_failure(err: StoreError, target: &RedisTarget) -> StoreError {
    let StoreError::Unavailable { message, .. } = err else {
        return err;
    };
    let message = message
        .strip_prefix("Error occurred while creating a new object: ")
        .unwrap_or(&message);
    let address = target.address();
    let lower = message.to_ascii_lowercase();
    let refused_login = ["noauth", "wrongpass", "invalid password", "authentication"]
        .iter()
        .any(|sign| lower.contains(sign));
    unavailable(&if refused_login {
        format!(
            "Redis at {address} refused the login (authentication failed): {message}; check \
             the user and password"
        )
    } else if target.uses_tls() {
        format!("cannot connect to Redis at {address}: {message}")
    } else {
        format!(
            "cannot connect to Redis at {address}: {message} (a server that takes only TLS \
             needs rediss://)"
        )
    })
}

async fn open(target: &RedisTarget) -> Result<Backend, StoreError> {
    crate::store::tls::install_provider();
    let backend = match target.node_client() {
        Some(client) => Backend::Node(node_pool(client?)?),
        None => {
            let client = target
                .cluster_client(None)
                .ok_or_else(|| unavailable(&"no cluster to connect to"))??;
            let connect = || async {
                tokio::time::timeout(target::CONNECT_TIMEOUT, client.get_async_connection())
                    .await
                    .map_err(|_| unavailable(&"connecting to the cluster timed out"))?
                    .map_err(|err| unavailable(&err))
            };
            Backend::Cluster {
                connection: connect().await?,
                revocations: connect().await?,
            }
        }
    };
    Ok(backend)
}

fn node_pool(client: redis::Client) -> Result<Pool, StoreError> {
    // The client's connection info carries its TLS settings (the CA), which the manager keeps.
    let manager = deadpool_redis::Manager::new(client.get_connection_info().clone())
        .map_err(|err| unavailable(&err))?;
    Pool::builder(manager)
        .config(PoolConfig {
            max_size: 32,
            timeouts: Timeouts {
                wait: Some(Duration::from_secs(2)),
                create: Some(Duration::from_secs(2)),
                recycle: Some(Duration::from_secs(2)),
            },
            ..PoolConfig::default()
        })
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|err| unavailable(&err))
}

/// The Redis-backed stores, sharing one backend and one key prefix.
#[derive(Clone)]
pub struct Redis {
    backend: Backend,
    prefix: String,
    counters: Arc<PoolCounters>,
}

impl Redis {
    pub fn new(backend: impl Into<Backend>, prefix: String) -> Self {
        Self {
            backend: backend.into(),
            prefix,
            counters: Arc::default(),
        }
    }

    fn is_cluster(&self) -> bool {
        matches!(self.backend, Backend::Cluster { .. })
    }

    async fn connection(&self) -> Result<TimedConnection, StoreError> {
        self.checkout(false).await
    }

    /// The connection for revocations, which may `WAIT` (see [`Backend::Cluster`]).
    async fn revocation_connection(&self) -> Result<TimedConnection, StoreError> {
        self.checkout(true).await
    }

    async fn checkout(&self, for_revocations: bool) -> Result<TimedConnection, StoreError> {
        let connection = match &self.backend {
            Backend::Node(pool) => {
                let started = Instant::now();
                let connection = pool.get().await;
                self.counters.record(started, &connection);
                Connection::Pooled(connection.map_err(|err| unavailable(&err))?)
            }
            // A handle on a multiplexed connection: cloning it is taking a sender.
            Backend::Cluster {
                connection,
                revocations,
            } => {
                self.counters.record(Instant::now(), &Ok::<_, ()>(()));
                Connection::Cluster(if for_revocations {
                    revocations.clone()
                } else {
                    connection.clone()
                })
            }
        };
        Ok(TimedConnection {
            connection: Some(connection),
            timed_out: false,
        })
    }

    /// `suffix` under this deployment's prefix.
    fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }
}

#[async_trait]
impl Probe for Redis {
    fn name(&self) -> &'static str {
        SERVICE
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.connection().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map(drop)
            .map_err(|err| unavailable(&err))
    }

    fn pool_status(&self) -> Option<super::PoolStatus> {
        match &self.backend {
            Backend::Node(pool) => Some(self.counters.status(pool.status())),
            // One multiplexed connection, always there: a "pool" of one that never waits.
            Backend::Cluster { .. } => Some(self.counters.status(deadpool_redis::Status {
                max_size: 1,
                size: 1,
                available: 1,
                waiting: 0,
            })),
        }
    }
}

/// How long one command may take. Redis answers in well under a millisecond; no answer by then
/// means a hung server or network, and the caller falls back (revocations, rate limits) or
/// answers 503 instead of holding the request.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

enum Connection {
    Pooled(deadpool_redis::Connection),
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Connection {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Self::Pooled(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Self::Pooled(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Pooled(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

/// A connection whose every command gives up after [`COMMAND_TIMEOUT`]. A pooled one that
/// timed out may still owe a reply, so it is taken out of the pool rather than returned to it.
struct TimedConnection {
    /// Always `Some` until dropped.
    connection: Option<Connection>,
    timed_out: bool,
}

impl TimedConnection {
    async fn timed<'a, T>(
        &'a mut self,
        request: impl FnOnce(&'a mut Connection) -> redis::RedisFuture<'a, T>,
    ) -> redis::RedisResult<T> {
        let Self {
            connection: Some(connection),
            timed_out,
        } = self
        else {
            return Err(timed_out_error());
        };
        match tokio::time::timeout(COMMAND_TIMEOUT, request(connection)).await {
            Ok(result) => result,
            Err(_) => {
                *timed_out = true;
                Err(timed_out_error())
            }
        }
    }
}

impl Drop for TimedConnection {
    fn drop(&mut self) {
        if self.timed_out
            && let Some(Connection::Pooled(connection)) = self.connection.take()
        {
            // Detached from the pool, it is closed instead of reused.
            drop(deadpool_redis::Connection::take(connection));
        }
    }
}

fn timed_out_error() -> redis::RedisError {
    (redis::ErrorKind::Io, "redis command timed out").into()
}

impl redis::aio::ConnectionLike for TimedConnection {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        let operation = match cmd.args_iter().next() {
            Some(redis::Arg::Simple(name)) => std::str::from_utf8(name).unwrap_or("command"),
            _ => "command",
        };
        Box::pin(
            self.timed(move |connection| connection.req_packed_command(cmd))
                .instrument(command_span(operation)),
        )
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        Box::pin(
            self.timed(move |connection| connection.req_packed_commands(pipeline, offset, count))
                .instrument(command_span("pipeline")),
        )
    }

    fn get_db(&self) -> i64 {
        self.connection
            .as_ref()
            .map_or(0, |connection| connection.get_db())
    }
}

/// A trace span for one command (or pipeline), named by the command only: keys and arguments
/// (token hashes, nonces) stay out of traces.
fn command_span(operation: &str) -> tracing::Span {
    tracing::info_span!(
        "redis",
        otel.name = %format_args!("redis {operation}"),
        otel.kind = "client",
        db.system.name = "redis",
        db.operation.name = operation,
    )
}

/// A TTL in whole milliseconds for `PX`, at least 1 (Redis refuses 0).
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

fn unavailable(err: &dyn std::fmt::Display) -> StoreError {
    StoreError::Unavailable {
        service: SERVICE,
        message: err.to_string(),
    }
}
