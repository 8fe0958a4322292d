//! The `keys` channel: a replica that changed the signing keys publishes; every replica listens
//! and reloads its key ring (DESIGN.md, "channel keys").

use async_trait::async_trait;
use futures_util::{StreamExt, stream::BoxStream};

use super::{Redis, unavailable};
use crate::store::{KeyEvents, StoreError};

pub struct RedisKeyEvents {
    redis: Redis,
    /// Subscriptions need a connection of their own, outside the pool.
    client: redis::Client,
}

impl RedisKeyEvents {
    pub fn new(redis: Redis, redis_url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(redis_url).map_err(|err| unavailable(&err))?;
        Ok(Self { redis, client })
    }

    fn channel(&self) -> String {
        self.redis.key("keys")
    }
}

#[async_trait]
impl KeyEvents for RedisKeyEvents {
    async fn publish_key_change(&self) -> Result<(), StoreError> {
        let mut connection = self.redis.connection().await?;
        redis::cmd("PUBLISH")
            .arg(self.channel())
            .arg("changed")
            .query_async::<i64>(&mut connection)
            .await
            .map(drop)
            .map_err(|err| unavailable(&err))
    }

    async fn subscribe(&self) -> Result<BoxStream<'static, ()>, StoreError> {
        let mut pubsub = self
            .client
            .get_async_pubsub()
            .await
            .map_err(|err| unavailable(&err))?;
        pubsub
            .subscribe(self.channel())
            .await
            .map_err(|err| unavailable(&err))?;
        Ok(pubsub.into_on_message().map(drop).boxed())
    }
}
