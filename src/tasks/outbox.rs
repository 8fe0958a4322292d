//! The outbox worker: one per topic on every replica. It delivers what is due, then waits
//! for this replica to queue something or for the next poll (what another replica queued, or
//! a retry coming due), and reads the queue's depth into the metrics now and then.

use std::{sync::Arc, time::Duration};

use tokio::time::Instant;

use crate::{
    outbox::{BATCH, Deliverer, Outbox},
    store::Topic,
};

/// How often a replica looks for messages it was not woken for.
const POLL: Duration = Duration::from_secs(1);
/// How often the depth metric is read.
const MEASURE: Duration = Duration::from_secs(15);
/// After a store error, the wait before trying again.
const AFTER_ERROR: Duration = Duration::from_secs(5);

pub async fn deliver(outbox: Outbox, topic: Topic, deliverer: Arc<dyn Deliverer>) {
    let mut measured_at: Option<Instant> = None;
    loop {
        // Registered before delivering, so a message queued meanwhile is not missed.
        let woken = outbox.woken();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let wait = match outbox.deliver_due(topic, deliverer.as_ref()).await {
            // A full batch: more may be due at once.
            Ok(claimed) if claimed >= BATCH => Duration::ZERO,
            Ok(_) => POLL,
            Err(err) => {
                tracing::warn!(topic = topic.as_str(), error = %err, "outbox: could not deliver; trying again shortly");
                AFTER_ERROR
            }
        };
        if measured_at.is_none_or(|at| at.elapsed() >= MEASURE) {
            if let Err(err) = outbox.measure().await {
                tracing::debug!(error = %err, "outbox: could not read the queue depth");
            }
            measured_at = Some(Instant::now());
        }
        if !wait.is_zero() {
            tokio::select! {
                () = &mut woken => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}
