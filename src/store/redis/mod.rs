//! Redis: shared, short-lived state. Every key carries the configured prefix and a TTL.

mod key_events;
mod proof_state;
mod rate_limits;
mod token_state;

use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::{Config, Pool, PoolConfig, Runtime, Timeouts};

pub use key_events::RedisKeyEvents;
pub use proof_state::RedisProofState;
pub use rate_limits::RedisRateLimits;
pub use token_state::RedisTokenState;

use super::{Probe, StoreError};

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
}

impl Redis {
    pub fn new(pool: Pool, prefix: String) -> Self {
        Self { pool, prefix }
    }

    async fn connection(&self) -> Result<deadpool_redis::Connection, StoreError> {
        self.pool.get().await.map_err(|err| unavailable(&err))
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
