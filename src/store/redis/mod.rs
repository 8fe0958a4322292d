//! Redis: shared, short-lived state. Every key carries the configured prefix and a TTL.

mod events;
mod proof_state;
mod rate_limits;
mod token_state;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use deadpool_redis::{Config, Pool, PoolConfig, Runtime, Timeouts};
use tracing::Instrument;

pub use events::RedisEvents;
pub use proof_state::RedisProofState;
pub use rate_limits::RedisRateLimits;
pub use token_state::RedisTokenState;

use super::{PoolCounters, Probe, StoreError};

const SERVICE: &str = "redis";

/// A pool of connections to `redis_url`; like Postgres, checked with one connection now.
pub async fn connect(redis_url: &str) -> Result<Pool, StoreError> {
    let mut config = Config::from_url(redis_url);
    config.pool = Some(PoolConfig {
        max_size: 32,
        timeouts: Timeouts {
            wait: Some(Duration::from_secs(2)),
            create: Some(Duration::from_secs(2)),
            recycle: Some(Duration::from_secs(2)),
        },
        ..PoolConfig::default()
    });
    let pool = config
        .create_pool(Some(Runtime::Tokio1))
        .map_err(|err| unavailable(&err))?;
    Redis::new(pool.clone(), String::new()).ping().await?;
    Ok(pool)
}

/// The Redis-backed stores, sharing one pool and one key prefix.
#[derive(Clone)]
pub struct Redis {
    pool: Pool,
    prefix: String,
    counters: Arc<PoolCounters>,
}

impl Redis {
    pub fn new(pool: Pool, prefix: String) -> Self {
        Self {
            pool,
            prefix,
            counters: Arc::default(),
        }
    }

    async fn connection(&self) -> Result<TimedConnection, StoreError> {
        let started = Instant::now();
        let connection = self.pool.get().await;
        self.counters.record(started, &connection);
        let connection = connection.map_err(|err| unavailable(&err))?;
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
        Some(self.counters.status(self.pool.status()))
    }
}

/// How long one command may take. Redis answers in well under a millisecond; no answer by then
/// means a hung server or network, and the caller falls back (revocations, rate limits) or
/// answers 503 instead of holding the request.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// A pooled connection whose every command gives up after [`COMMAND_TIMEOUT`]. One that timed
/// out may still owe a reply, so it is taken out of the pool rather than returned to it.
struct TimedConnection {
    /// Always `Some` until dropped.
    connection: Option<deadpool_redis::Connection>,
    timed_out: bool,
}

impl TimedConnection {
    async fn timed<'a, T>(
        &'a mut self,
        request: impl FnOnce(&'a mut deadpool_redis::Connection) -> redis::RedisFuture<'a, T>,
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
            && let Some(connection) = self.connection.take()
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
