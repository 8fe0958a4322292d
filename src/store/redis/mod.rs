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
use redis::{
    aio::{ConnectionManager, ConnectionManagerConfig},
    cluster_async::ClusterConnection,
};
use tracing::Instrument;

pub use events::RedisEvents;
pub use proof_state::RedisProofState;
pub use rate_limits::RedisRateLimits;
pub use target::RedisTarget;
pub use token_state::RedisTokenState;

use super::{PoolCounters, Probe, StoreError};

const SERVICE: &str = "redis";

/// How authd reaches Redis: one node through one multiplexed connection that reconnects by
/// itself, or a cluster through one multiplexed cluster connection, which routes each command
/// to the node that owns its slot, follows `MOVED`/`ASK` and reconnects after a failover.
///
/// No pool: every request's commands are pipelined on the shared connection, which is what a
/// pool of multiplexed connections would do again per connection, and a pool checks each
/// connection it hands out (deadpool-redis sends `UNWATCH` and `PING` first), doubling the
/// round trips of every command (docs/PERFORMANCE.md, "Each grant against its floor").
#[derive(Clone)]
pub enum Backend {
    Node(ConnectionManager),
    Cluster {
        connection: ClusterConnection,
        /// A second one for revocations alone: their `WAIT` for a replica holds up the commands
        /// queued behind it on the same connection (all of them, for a master that lost its
        /// replica, until the wait times out), so it holds up only other revocations.
        revocations: ClusterConnection,
    },
}

/// Connects to `target` and proves it with a PING, so a wrong URL, an unreachable server or a
/// TLS mismatch is reported at start; a failure says whether Redis could not be reached or
/// refused the login.
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

/// The backend for `target`, not yet proven: a node's connection is made on its first command
/// (and remade after it breaks); a cluster's is made now.
pub async fn open(target: &RedisTarget) -> Result<Backend, StoreError> {
    crate::store::tls::install_provider();
    let backend = match target.node_client() {
        Some(client) => Backend::Node(node_connection(client?)?),
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

fn node_connection(client: redis::Client) -> Result<ConnectionManager, StoreError> {
    // Commands time out in `TimedConnection`; reconnecting gives up after a few quick tries
    // and starts again with the next command, so a Redis that is down answers fast.
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(target::CONNECT_TIMEOUT))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client, config).map_err(|err| unavailable(&err))
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

    /// A handle on the shared multiplexed connection: cloning it is taking a sender.
    async fn checkout(&self, for_revocations: bool) -> Result<TimedConnection, StoreError> {
        self.counters.record(Instant::now(), &Ok::<_, ()>(()));
        let connection = match &self.backend {
            Backend::Node(connection) => Connection::Node(connection.clone()),
            Backend::Cluster {
                connection,
                revocations,
            } => Connection::Cluster(if for_revocations {
                revocations.clone()
            } else {
                connection.clone()
            }),
        };
        Ok(TimedConnection(connection))
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
        Some(self.counters.one_connection())
    }
}

/// How long one command may take. Redis answers in well under a millisecond; no answer by then
/// means a hung server or network, and the caller falls back (revocations, rate limits) or
/// answers 503 instead of holding the request.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

enum Connection {
    Node(ConnectionManager),
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Connection {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Self::Node(connection) => connection.req_packed_command(cmd),
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
            Self::Node(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Node(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

/// A connection whose every command gives up after [`COMMAND_TIMEOUT`]. The connection stays
/// usable: a late reply is matched to its abandoned request and dropped.
struct TimedConnection(Connection);

impl TimedConnection {
    async fn timed<'a, T>(
        &'a mut self,
        request: impl FnOnce(&'a mut Connection) -> redis::RedisFuture<'a, T>,
    ) -> redis::RedisResult<T> {
        tokio::time::timeout(COMMAND_TIMEOUT, request(&mut self.0))
            .await
            .unwrap_or_else(|_| Err(timed_out_error()))
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
        self.0.get_db()
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
