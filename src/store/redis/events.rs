//! The `{prefix}events` channel (see [`crate::invalidation`]): a replica publishes each change
//! it made, and its heartbeats; every replica subscribes.
//!
//! Pub/sub, not client-side caching (`CLIENT TRACKING`): what replicas cache (clients, users,
//! the revoked set) is read from Postgres, not Redis, so there are no Redis keys to track; the
//! heartbeat needs a channel anyway; and one subscription per replica, fed in the order Redis
//! received the messages, is what makes the staleness bound provable.

use async_trait::async_trait;
use futures_util::{StreamExt, stream::BoxStream};

use super::{Redis, unavailable};
use crate::{
    invalidation::Event,
    store::{EventBus, StoreError},
};

pub struct RedisEvents {
    redis: Redis,
    /// Subscriptions need a connection of their own, outside the pool.
    client: redis::Client,
}

impl RedisEvents {
    pub fn new(redis: Redis, redis_url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(redis_url).map_err(|err| unavailable(&err))?;
        Ok(Self { redis, client })
    }

    fn channel(&self) -> String {
        self.redis.key("events")
    }
}

#[async_trait]
impl EventBus for RedisEvents {
    async fn publish(&self, event: &Event) -> Result<(), StoreError> {
        let mut connection = self.redis.connection().await?;
        redis::cmd("PUBLISH")
            .arg(self.channel())
            .arg(event.encode())
            .query_async::<i64>(&mut connection)
            .await
            .map(drop)
            .map_err(|err| unavailable(&err))
    }

    async fn subscribe(&self) -> Result<BoxStream<'static, Event>, StoreError> {
        let subscribe = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(self.channel()).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::time::timeout(super::COMMAND_TIMEOUT, subscribe)
            .await
            .map_err(|_| unavailable(&"subscribing timed out"))?
            .map_err(|err| unavailable(&err))?;
        Ok(pubsub
            .into_on_message()
            .filter_map(|message| async move {
                let payload: String = message.get_payload().ok()?;
                Event::decode(&payload)
            })
            .boxed())
    }
}
