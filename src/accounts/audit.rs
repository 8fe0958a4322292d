//! The audit log's writer. Login attempts are queued in memory and written to `auth_logs` in
//! batches by one background task: a request never waits for the audit's write, and a burst of
//! logins costs one INSERT per batch instead of one per attempt.
//!
//! The queue is bounded. When it is full (Postgres slower than the logins, for a while), a login
//! waits for room instead of dropping its row: an audit log that loses rows under a credential
//! stuffing attack, when it matters most, is worth little. [`AuditLog::flush`] returns once
//! everything queued before it is written; shutdown calls it after the last request drained.

use std::{collections::HashMap, sync::Arc, time::Duration};

use prometheus::IntGauge;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::{
    events::AuditTrail,
    store::{AuthLogEntry, AuthLogStore, AuthOutcome, UserStore},
};

/// Rows that may wait for the writer; beyond it, logins wait.
pub const QUEUE_CAPACITY: usize = 4096;
/// The most rows one INSERT writes.
const MAX_BATCH: usize = 256;
/// How long the writer waits for a batch to fill once it has a row.
const BATCH_WINDOW: Duration = Duration::from_millis(20);

enum Message {
    Entry(AuthLogEntry),
    Flush(oneshot::Sender<()>),
}

/// The handle requests queue rows through; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    queue: mpsc::Sender<Message>,
    depth: IntGauge,
}

impl AuditLog {
    /// Starts the writer, on the current runtime, with a queue of `capacity` rows. It stops
    /// once every handle is gone and the queue is written.
    /// `trail`, when given, gets each batch too, as `user.logged_in` and `user.login_failed`
    /// events for the audit API and webhooks.
    pub fn start(
        logs: Arc<dyn AuthLogStore>,
        users: Arc<dyn UserStore>,
        trail: Option<Arc<AuditTrail>>,
        depth: IntGauge,
        capacity: usize,
    ) -> Self {
        let (queue, received) = mpsc::channel(capacity.max(1));
        let sinks = Sinks { logs, users, trail };
        tokio::spawn(write_batches(received, sinks, depth.clone()));
        Self { queue, depth }
    }

    /// Queues `entry`, waiting for room if the queue is full. Safe to cancel: a request that
    /// goes away while it waits leaves nothing half-queued.
    pub async fn record(&self, entry: AuthLogEntry) {
        match self.queue.reserve().await {
            Ok(place) => {
                // Counted before it can be written (and uncounted), with no wait in between.
                self.depth.inc();
                place.send(Message::Entry(entry));
            }
            // Only when the runtime is shutting down under us.
            Err(_) => tracing::error!("the audit writer has stopped: an auth log row is lost"),
        }
    }

    /// Returns once every row queued before the call is written (or its write failed and was
    /// logged).
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

/// Where each batch is written.
struct Sinks {
    logs: Arc<dyn AuthLogStore>,
    users: Arc<dyn UserStore>,
    trail: Option<Arc<AuditTrail>>,
}

async fn write_batches(mut received: mpsc::Receiver<Message>, sinks: Sinks, depth: IntGauge) {
    let mut batch: Vec<AuthLogEntry> = Vec::with_capacity(MAX_BATCH);
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = received.recv().await {
        let mut message = Some(first);
        let window = tokio::time::Instant::now() + BATCH_WINDOW;
        while let Some(next) = message.take() {
            match next {
                Message::Entry(entry) => batch.push(entry),
                // Written now: a flush waits for nothing else.
                Message::Flush(done) => {
                    flushes.push(done);
                    break;
                }
            }
            if batch.len() >= MAX_BATCH {
                break;
            }
            message = tokio::time::timeout_at(window, received.recv())
                .await
                .ok()
                .flatten();
        }
        if !batch.is_empty() {
            write(&batch, &sinks).await;
            depth.sub(i64::try_from(batch.len()).unwrap_or(i64::MAX));
            batch.clear();
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Writes one batch, and each successful login's `last_login_at`. A failed write is logged
/// (with how many rows it lost): it never turns a login into an error.
async fn write(batch: &[AuthLogEntry], sinks: &Sinks) {
    if let Err(err) = sinks.logs.append(batch).await {
        tracing::error!(error = %err, rows = batch.len(), "could not write auth log rows");
    }
    if let Some(trail) = &sinks.trail {
        let events = batch
            .iter()
            .map(|entry| {
                AuditTrail::login_event(
                    entry.request_timestamp,
                    entry.user_id.or(entry.attempted_user),
                    entry.request_ip,
                    entry.outcome == AuthOutcome::Success,
                    serde_json::json!({
                        "outcome": entry.outcome.as_str(),
                        "user_agent": entry.user_agent,
                    }),
                )
            })
            .collect();
        if let Err(err) = trail.record_all(events).await {
            tracing::error!(error = %err, rows = batch.len(), "could not write login audit events");
        }
    }
    let users = sinks.users.as_ref();
    // Each user once, at their latest login in the batch.
    let mut latest = HashMap::<Uuid, time::OffsetDateTime>::new();
    for entry in batch {
        if let (AuthOutcome::Success, Some(user_id)) = (entry.outcome, entry.user_id) {
            let at = latest.entry(user_id).or_insert(entry.request_timestamp);
            *at = (*at).max(entry.request_timestamp);
        }
    }
    for (user_id, at) in latest {
        if let Err(err) = users.record_login(user_id, at).await {
            tracing::error!(error = %err, %user_id, "could not record last login");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        net::{IpAddr, Ipv4Addr},
        sync::Mutex,
    };

    use async_trait::async_trait;
    use tokio::sync::Semaphore;

    use super::*;
    use crate::store::{
        StoreError,
        memory::{MemoryAuthLogs, MemoryUsers},
    };

    fn attempt(n: u8) -> AuthLogEntry {
        AuthLogEntry {
            request_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)),
            request_timestamp: time::OffsetDateTime::now_utc(),
            user_id: None,
            outcome: AuthOutcome::UnknownUser,
            user_agent: None,
            attempted_user: None,
        }
    }

    fn gauge() -> IntGauge {
        IntGauge::new("depth", "test").unwrap()
    }

    /// A store whose writes wait for a permit, and that records each batch's size.
    struct Gated {
        open: Semaphore,
        batches: Mutex<Vec<usize>>,
    }

    impl Default for Gated {
        fn default() -> Self {
            Self {
                open: Semaphore::new(0),
                batches: Mutex::default(),
            }
        }
    }

    #[async_trait]
    impl AuthLogStore for Gated {
        async fn append(&self, entries: &[AuthLogEntry]) -> Result<(), StoreError> {
            self.open.acquire().await.unwrap().forget();
            self.batches.lock().unwrap().push(entries.len());
            Ok(())
        }
    }

    #[tokio::test]
    async fn rows_are_written_in_order_in_batches_and_flush_waits_for_them() {
        let logs = Arc::new(MemoryAuthLogs::default());
        let depth = gauge();
        let audit = AuditLog::start(
            logs.clone(),
            Arc::new(MemoryUsers::default()),
            None,
            depth.clone(),
            1024,
        );
        for n in 0..100 {
            audit.record(attempt(n)).await;
        }
        audit.flush().await;
        let written: Vec<IpAddr> = logs.entries().iter().map(|e| e.request_ip).collect();
        let expected: Vec<IpAddr> = (0..100).map(|n| attempt(n).request_ip).collect();
        assert_eq!(written, expected);
        assert_eq!(depth.get(), 0);
    }

    #[tokio::test]
    async fn a_full_queue_makes_logins_wait_and_loses_nothing() {
        let store = Arc::new(Gated::default());
        let depth = gauge();
        let audit = AuditLog::start(
            store.clone(),
            Arc::new(MemoryUsers::default()),
            None,
            depth.clone(),
            4,
        );
        // The writer holds one batch (at most MAX_BATCH rows) at the closed gate; the queue then
        // fills, and the next login waits.
        let mut queued: usize = 0;
        while tokio::time::timeout(
            Duration::from_millis(200),
            audit.record(attempt(u8::try_from(queued % 250).unwrap())),
        )
        .await
        .is_ok()
        {
            queued += 1;
            assert!(queued <= MAX_BATCH + 4, "bounded by a batch and the queue");
        }
        assert!(queued > 4, "{queued}");
        assert_eq!(depth.get(), i64::try_from(queued).unwrap());
        // The login that timed out above gave up its place; everything queued is written once
        // the store answers.
        store.open.add_permits(1_000);
        audit.flush().await;
        let written: usize = store.batches.lock().unwrap().iter().sum();
        assert_eq!(written, queued);
        assert!(
            store
                .batches
                .lock()
                .unwrap()
                .iter()
                .all(|size| *size <= MAX_BATCH)
        );
        assert_eq!(depth.get(), 0);
    }

    #[tokio::test]
    async fn a_failed_write_is_logged_and_flush_still_returns() {
        struct Down;
        #[async_trait]
        impl AuthLogStore for Down {
            async fn append(&self, _: &[AuthLogEntry]) -> Result<(), StoreError> {
                Err(StoreError::Unavailable {
                    service: "postgres",
                    message: "down".to_owned(),
                })
            }
        }
        let depth = gauge();
        let audit = AuditLog::start(
            Arc::new(Down),
            Arc::new(MemoryUsers::default()),
            None,
            depth.clone(),
            8,
        );
        audit.record(attempt(1)).await;
        audit.flush().await;
        assert_eq!(depth.get(), 0);
    }
}
