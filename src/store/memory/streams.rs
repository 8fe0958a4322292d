//! Shared Signals streams and their pending SETs, in memory.

use std::{collections::BTreeMap, sync::Mutex};

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::lock;
use crate::store::{
    PendingSet, SealedAuthorization, StoreError, StreamDelivery, StreamRecord, StreamStatus,
    StreamStore,
};

/// One stream's SETs by `jti`, each with when it was queued.
type Queue = BTreeMap<Uuid, (PendingSet, OffsetDateTime)>;

#[derive(Default)]
pub struct MemoryStreams {
    streams: Mutex<BTreeMap<Uuid, StreamRecord>>,
    /// Per stream, its SETs by `jti` (UUIDv7: the order they were made in), with when each was
    /// queued.
    pending: Mutex<BTreeMap<Uuid, Queue>>,
}

#[async_trait]
impl StreamStore for MemoryStreams {
    async fn insert_stream(&self, stream: &StreamRecord) -> Result<(), StoreError> {
        lock(&self.streams).insert(stream.id, stream.clone());
        Ok(())
    }

    async fn find_stream(&self, id: Uuid) -> Result<Option<StreamRecord>, StoreError> {
        Ok(lock(&self.streams).get(&id).cloned())
    }

    async fn client_streams(&self, client_id: &str) -> Result<Vec<StreamRecord>, StoreError> {
        let mut streams: Vec<StreamRecord> = lock(&self.streams)
            .values()
            .filter(|stream| stream.client_id == client_id)
            .cloned()
            .collect();
        streams.sort_by_key(|stream| (stream.created_at, stream.id));
        Ok(streams)
    }

    async fn live_streams(&self) -> Result<Vec<StreamRecord>, StoreError> {
        Ok(lock(&self.streams)
            .values()
            .filter(|stream| stream.status != StreamStatus::Disabled)
            .cloned()
            .collect())
    }

    async fn update_stream(&self, stream: &StreamRecord) -> Result<bool, StoreError> {
        let mut streams = lock(&self.streams);
        let Some(stored) = streams.get_mut(&stream.id) else {
            return Ok(false);
        };
        let (client_id, audience, created_at) = (
            stored.client_id.clone(),
            stored.audience.clone(),
            stored.created_at,
        );
        *stored = StreamRecord {
            client_id,
            audience,
            created_at,
            ..stream.clone()
        };
        Ok(true)
    }

    async fn delete_stream(&self, id: Uuid) -> Result<bool, StoreError> {
        lock(&self.pending).remove(&id);
        Ok(lock(&self.streams).remove(&id).is_some())
    }

    async fn reseal_stream(
        &self,
        id: Uuid,
        previous_master: &str,
        sealed: &SealedAuthorization,
    ) -> Result<bool, StoreError> {
        let mut streams = lock(&self.streams);
        let Some(StreamDelivery::Push {
            authorization: Some(authorization),
            ..
        }) = streams.get_mut(&id).map(|stream| &mut stream.delivery)
        else {
            return Ok(false);
        };
        if authorization.master_key_id != previous_master {
            return Ok(false);
        }
        *authorization = sealed.clone();
        Ok(true)
    }

    async fn sealed_streams(&self) -> Result<Vec<StreamRecord>, StoreError> {
        Ok(lock(&self.streams)
            .values()
            .filter(|stream| {
                matches!(
                    stream.delivery,
                    StreamDelivery::Push {
                        authorization: Some(_),
                        ..
                    }
                )
            })
            .cloned()
            .collect())
    }

    async fn hold_set(
        &self,
        stream_id: Uuid,
        set: &PendingSet,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        if !lock(&self.streams).contains_key(&stream_id) {
            return Ok(false);
        }
        lock(&self.pending)
            .entry(stream_id)
            .or_default()
            .entry(set.jti)
            .or_insert_with(|| (set.clone(), now));
        Ok(true)
    }

    async fn take_sets(
        &self,
        stream_id: Uuid,
        acknowledged: &[Uuid],
        limit: u32,
    ) -> Result<(Vec<PendingSet>, bool), StoreError> {
        let mut pending = lock(&self.pending);
        let Some(sets) = pending.get_mut(&stream_id) else {
            return Ok((Vec::new(), false));
        };
        for jti in acknowledged {
            sets.remove(jti);
        }
        let taken: Vec<PendingSet> = sets
            .values()
            .take(limit as usize)
            .map(|(set, _)| set.clone())
            .collect();
        Ok((taken, sets.len() > limit as usize))
    }

    async fn expire_sets(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let mut expired = 0;
        for sets in lock(&self.pending).values_mut() {
            let count = sets.len();
            sets.retain(|_, (_, queued_at)| *queued_at >= before);
            expired += (count - sets.len()) as u64;
        }
        Ok(expired)
    }
}
