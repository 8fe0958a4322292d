//! Keeping the signing keys current, and cleaning up what can no longer matter.

use std::{sync::Arc, time::Duration};

use crate::{
    keys::{KeyManager, RotationMode},
    operations::Operations,
    sessions::Sessions,
    ssf::SharedSignals,
};

/// Every `interval`: rotate if the schedule says so (one replica wins the lock), and re-read
/// the keys, so a missed announcement only delays.
pub async fn poll_keys(keys: Arc<KeyManager>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.tick().await; // the first tick is immediate; the ring was just loaded
    loop {
        ticks.tick().await;
        if let Err(err) = keys.rotate(RotationMode::Scheduled).await {
            tracing::error!(error = %err, "scheduled key rotation failed");
        }
        if let Err(err) = keys.reload().await {
            tracing::error!(error = %err, "could not reload signing keys");
        }
    }
}

/// At start and every `interval`: record the ends of sessions revoked by a replica that died
/// before it could (every replica sweeps; each such session is taken by one).
pub async fn record_missed_session_ends(sessions: Arc<Sessions>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        if let Err(err) = sessions.record_missed_ends().await {
            tracing::error!(error = %err, "could not record the ends of revoked sessions");
        }
    }
}

/// Every `interval`, one replica removes expired data (the others find the lock taken).
/// SETs that waited in a poll stream past their retention are dropped at the same pace (the
/// delete is idempotent, so every replica may run it).
pub async fn clean_up_periodically(
    operations: Arc<Operations>,
    shared_signals: Arc<SharedSignals>,
    interval: Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        if let Err(err) = operations.clean_up().await {
            tracing::error!(error = %err, "cleanup failed");
        }
        match shared_signals.expire().await {
            Ok(0) => {}
            Ok(dropped) => {
                tracing::warn!(
                    dropped,
                    "SETs dropped unread: their poll streams' receivers did not take them within AUTHD_SSF_RETENTION"
                );
            }
            Err(err) => tracing::error!(error = %err, "could not drop expired SETs"),
        }
    }
}
