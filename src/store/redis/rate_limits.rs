//! Sliding-window rate limits (`rl:{route}:{subject}`), one atomic script per check so that
//! replicas sharing the Redis share the limit.

use std::{sync::LazyLock, time::Duration};

use async_trait::async_trait;
use redis::Script;
use time::OffsetDateTime;

use super::{Redis, unavailable};
use crate::store::{RateDecision, RateLimitStore, StoreError, Tally};

/// A sorted set of request times (ms) per key. Drop those outside the window; admit (and count,
/// unless only peeking) if fewer than the limit remain, else report when the oldest leaves. The
/// TTL reaps idle keys. The wait is capped at the window: replicas (and concurrent requests on
/// one) read their clocks before their scripts run, so the oldest entry can be newer than `now`.
static SLIDING_WINDOW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local now = tonumber(ARGV[1])
        local window = tonumber(ARGV[2])
        local limit = tonumber(ARGV[3])
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
        if redis.call('ZCARD', KEYS[1]) < limit then
            if ARGV[5] == '1' then
                redis.call('ZADD', KEYS[1], now, ARGV[4])
                redis.call('PEXPIRE', KEYS[1], window)
            end
            return 0
        end
        local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
        return math.min(window, math.max(1, tonumber(oldest[2]) + window - now))
        ",
    )
});

pub struct RedisRateLimits(pub Redis);

#[async_trait]
impl RateLimitStore for RedisRateLimits {
    async fn hit(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
        now: OffsetDateTime,
        tally: Tally,
    ) -> Result<RateDecision, StoreError> {
        let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        // Members must be unique even for two requests in the same millisecond.
        let member = format!("{now_ms}:{}", uuid::Uuid::new_v4().simple());
        let key = self.0.key(&format!("rl:{key}"));
        let mut connection = self.0.connection().await?;
        let retry_after_ms: i64 = SLIDING_WINDOW
            .key(key)
            .arg(now_ms)
            .arg(window_ms)
            .arg(limit)
            .arg(member)
            .arg(if tally == Tally::Count { "1" } else { "0" })
            .invoke_async(&mut connection)
            .await
            .map_err(|err| unavailable(&err))?;
        Ok(match u64::try_from(retry_after_ms) {
            Ok(0) | Err(_) => RateDecision::Allowed,
            Ok(ms) => RateDecision::Limited {
                retry_after: Duration::from_millis(ms),
            },
        })
    }
}
