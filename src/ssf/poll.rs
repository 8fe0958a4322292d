//! Poll-based delivery (RFC 8936): a receiver acknowledges what it took, and takes what waits,
//! signed now; with nothing waiting, the poll waits a while for something to arrive.

use std::{collections::BTreeMap, time::Duration as StdDuration};

use uuid::Uuid;

use super::SharedSignals;
use crate::{error::Error, store::StreamStatus};

/// The most SETs one poll returns, whatever it asks for.
pub const MAX_EVENTS: u32 = 100;
/// How often a waiting poll looks again for SETs another replica held.
const TICK: StdDuration = StdDuration::from_millis(100);

/// A poll request (RFC 8936 §2.4).
#[derive(Debug, Clone, Default)]
pub struct Poll {
    /// `jti`s the receiver processed.
    pub acknowledged: Vec<String>,
    /// `jti`s the receiver refused, with its reason (§2.4.4): dropped like acknowledged ones,
    /// and logged.
    pub refused: Vec<(String, String)>,
    /// At most this many SETs (0: only acknowledge).
    pub max_events: Option<u32>,
    pub return_immediately: bool,
}

/// What a poll answers: SETs by `jti`, and whether more wait.
#[derive(Debug, Clone, Default)]
pub struct Polled {
    pub sets: BTreeMap<String, String>,
    pub more_available: bool,
}

impl SharedSignals {
    pub async fn poll(
        &self,
        client_id: &str,
        stream_id: Uuid,
        poll: Poll,
    ) -> Result<Polled, Error> {
        let stream = self.stream(client_id, stream_id).await?;
        if !matches!(stream.record.delivery, crate::store::StreamDelivery::Poll) {
            return Err(Error::OAuth {
                code: "invalid_request",
                description: "this stream is delivered by push, not poll".into(),
            });
        }
        for (jti, reason) in &poll.refused {
            tracing::warn!(%stream_id, jti, reason, "the receiver refused a SET");
        }
        let mut acknowledged: Vec<Uuid> = poll
            .acknowledged
            .iter()
            .chain(poll.refused.iter().map(|(jti, _)| jti))
            .filter_map(|jti| Uuid::parse_str(jti).ok())
            .collect();
        let limit = poll.max_events.unwrap_or(MAX_EVENTS).min(MAX_EVENTS);
        // A paused stream holds its SETs and hands out none until it is enabled again.
        let handing_out = stream.record.status == StreamStatus::Enabled;
        let deadline = tokio::time::Instant::now() + self.settings.long_poll;
        loop {
            // Registered before looking, so a SET held while this poll looks still wakes it.
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let (pending, more) = self
                .store
                .take_sets(
                    stream_id,
                    &acknowledged,
                    if handing_out { limit } else { 0 },
                )
                .await?;
            acknowledged.clear();
            let waiting = limit > 0 && handing_out && !poll.return_immediately;
            if !pending.is_empty() || !waiting || tokio::time::Instant::now() >= deadline {
                let mut polled = Polled {
                    sets: BTreeMap::new(),
                    more_available: more,
                };
                for set in pending {
                    let jti = set.jti.simple().to_string();
                    polled.sets.insert(jti, self.sign(set.claims)?);
                }
                return Ok(polled);
            }
            let wait = TICK.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
            let _ = tokio::time::timeout(wait, arrived).await;
        }
    }

    /// Drops SETs that waited past the retention bound; how many (the cleanup task calls it).
    pub async fn expire(&self) -> Result<u64, Error> {
        let before = self.clock.now() - self.settings.retention;
        Ok(self.store.expire_sets(before).await?)
    }
}
