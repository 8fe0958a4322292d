//! The `{prefix}events` channel (see [`crate::invalidation`]): a replica publishes each change
//! it made, and its heartbeats; every replica subscribes.
//!
//! Pub/sub, not client-side caching (`CLIENT TRACKING`): what replicas cache (clients, users,
//! the revoked set) is read from Postgres, not Redis, so there are no Redis keys to track; the
//! heartbeat needs a channel anyway; and one subscription per replica, fed in the order Redis
//! received the messages, is what makes the staleness bound provable.
//!
//! On a Redis Cluster the channel is sharded (`SPUBLISH`/`SSUBSCRIBE`, Redis 7): every message
//! goes through the one master that owns the channel's slot, which is what keeps that order
//! (classic pub/sub fans out over the cluster bus, where messages published on different nodes
//! may overtake one another). A subscription ends when any of its node connections drops or the
//! slot moves; the follower then subscribes again and catches up, as after a Redis restart,
//! rather than trust a resubscription that may have missed messages in between.

use async_trait::async_trait;
use futures_util::{StreamExt, stream::BoxStream};
use redis::{PushKind, Value};

use super::{Redis, RedisTarget, target::CONNECT_TIMEOUT, unavailable};
use crate::{
    store::Event,
    store::{EventBus, StoreError},
};

pub struct RedisEvents {
    redis: Redis,
    /// Subscriptions need a connection of their own, outside the pool.
    target: RedisTarget,
}

impl RedisEvents {
    pub fn new(redis: Redis, target: RedisTarget) -> Self {
        Self { redis, target }
    }

    fn channel(&self) -> String {
        self.redis.key("events")
    }
}

#[async_trait]
impl EventBus for RedisEvents {
    async fn publish(&self, event: &Event) -> Result<(), StoreError> {
        let mut connection = self.redis.connection().await?;
        redis::cmd(if self.target.is_cluster() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        })
        .arg(self.channel())
        .arg(event.encode())
        .query_async::<i64>(&mut connection)
        .await
        .map(drop)
        .map_err(|err| unavailable(&err))
    }

    async fn subscribe(&self) -> Result<BoxStream<'static, Event>, StoreError> {
        let client = match self.target.node_client() {
            Some(client) => client?,
            None => return self.subscribe_sharded().await,
        };
        let subscribe = async {
            let mut pubsub = client.get_async_pubsub().await?;
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

impl RedisEvents {
    /// `SSUBSCRIBE` through a cluster connection of its own, whose pushes (RESP3) are the
    /// messages. The stream owns the connection, and ends at the first sign of a gap.
    async fn subscribe_sharded(&self) -> Result<BoxStream<'static, Event>, StoreError> {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let client = self
            .target
            .cluster_client(Some(sender))
            .ok_or_else(|| unavailable(&"no cluster to subscribe to"))??;
        let channel = self.channel();
        let subscribe = async {
            let mut connection = client.get_async_connection().await?;
            connection.ssubscribe(&channel).await?;
            Ok::<_, redis::RedisError>(connection)
        };
        let connection = tokio::time::timeout(CONNECT_TIMEOUT, subscribe)
            .await
            .map_err(|_| unavailable(&"subscribing timed out"))?
            .map_err(|err| unavailable(&err))?;
        let pushes = tokio_stream_of(receiver);
        Ok(pushes
            .take_while(|push| {
                let gap = matches!(push.kind, PushKind::Disconnection | PushKind::SUnsubscribe);
                async move { !gap }
            })
            .filter_map(move |push| {
                // Holding the connection here keeps it open for as long as the stream lives.
                let _connection = &connection;
                let event = match (push.kind, push.data.as_slice()) {
                    (PushKind::SMessage, [_channel, Value::BulkString(payload)]) => {
                        std::str::from_utf8(payload).ok().and_then(Event::decode)
                    }
                    _ => None,
                };
                async move { event }
            })
            .boxed())
    }
}

/// The receiving half of an unbounded channel as a stream.
fn tokio_stream_of<T: Send + 'static>(
    mut receiver: tokio::sync::mpsc::UnboundedReceiver<T>,
) -> BoxStream<'static, T> {
    futures_util::stream::poll_fn(move |context| receiver.poll_recv(context)).boxed()
}
