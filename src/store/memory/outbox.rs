//! The outbox in memory (`authd dev`): the same claims and leases, gone with the process.

use std::{collections::HashMap, sync::Mutex};

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::lock;
use crate::store::{Attempt, Claimed, OutboxDepth, OutboxMessage, OutboxStore, StoreError, Topic};

struct Row {
    message: OutboxMessage,
    next_attempt_at: OffsetDateTime,
    attempts: u32,
    done: bool,
    failed: bool,
}

#[derive(Default)]
pub struct MemoryOutbox {
    rows: Mutex<HashMap<Uuid, Row>>,
}

impl MemoryOutbox {
    pub(super) fn push(&self, messages: &[OutboxMessage]) {
        let mut rows = lock(&self.rows);
        for message in messages {
            rows.insert(
                message.id,
                Row {
                    next_attempt_at: message.created_at,
                    message: message.clone(),
                    attempts: 0,
                    done: false,
                    failed: false,
                },
            );
        }
    }
}

#[async_trait]
impl OutboxStore for MemoryOutbox {
    async fn enqueue(&self, messages: &[OutboxMessage]) -> Result<(), StoreError> {
        self.push(messages);
        Ok(())
    }

    async fn claim(
        &self,
        topic: Topic,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Claimed>, StoreError> {
        let mut rows = lock(&self.rows);
        let mut due: Vec<&mut Row> = rows
            .values_mut()
            .filter(|row| !row.done && row.message.topic == topic && row.next_attempt_at <= now)
            .collect();
        due.sort_by_key(|row| row.message.created_at);
        Ok(due
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|row| {
                row.next_attempt_at = now + lease;
                row.attempts += 1;
                Claimed {
                    message: row.message.clone(),
                    attempts: row.attempts,
                }
            })
            .collect())
    }

    async fn finish(
        &self,
        id: Uuid,
        _now: OffsetDateTime,
        attempt: Attempt,
    ) -> Result<(), StoreError> {
        if let Some(row) = lock(&self.rows).get_mut(&id) {
            match attempt {
                Attempt::Sent => row.done = true,
                Attempt::Retry { at, .. } => row.next_attempt_at = at,
                Attempt::Failed { .. } => {
                    row.done = true;
                    row.failed = true;
                }
            }
        }
        Ok(())
    }

    async fn depth(&self) -> Result<OutboxDepth, StoreError> {
        let rows = lock(&self.rows);
        Ok(OutboxDepth {
            pending: rows.values().filter(|row| !row.done).count() as u64,
            failed: rows.values().filter(|row| row.failed).count() as u64,
        })
    }
}
