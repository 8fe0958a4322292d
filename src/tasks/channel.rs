//! The two background tasks that keep a replica's memory current: one follows the channel and
//! applies what it hears, the other sends the heartbeats that measure how current that is.

use std::time::Duration;

use futures_util::StreamExt;

use super::Event;
use crate::{error::Error, state::AppState};

/// How long to wait before subscribing again after the subscription failed or dropped. Until it
/// is back, verification asks Redis (or Postgres) each time, so this only costs speed.
const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(500);

/// How often expired revocations are dropped from memory.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// Follows the channel for as long as the replica runs: subscribe, catch up on what was missed
/// before the subscription, then apply every event; start over whenever the subscription drops.
pub async fn follow(state: AppState) {
    loop {
        state.freshness.lost();
        match state.events.subscribe().await {
            Ok(mut events) => match catch_up(&state).await {
                Ok(()) => {
                    state.freshness.caught_up();
                    // A heartbeat now, not at the next tick (a fifth of the max lag away): the
                    // replica trusts its memory as soon as this one comes back. Heartbeats sent
                    // before the subscription was made are never heard.
                    if let Err(err) = state
                        .events
                        .publish(&Event::Heartbeat(state.freshness.beat()))
                        .await
                    {
                        tracing::debug!(error = %err, "could not send a heartbeat");
                    }
                    tracing::info!("following the invalidation channel");
                    while let Some(event) = events.next().await {
                        apply(&state, event).await;
                    }
                    tracing::warn!("the invalidation channel dropped; verifying via Redis");
                }
                Err(err) => tracing::warn!(error = %err, "could not catch up; will retry"),
            },
            Err(err) => {
                tracing::warn!(error = %err, "cannot follow the invalidation channel; verifying via Redis")
            }
        }
        state.freshness.lost();
        tokio::time::sleep(RESUBSCRIBE_AFTER).await;
    }
}

/// Reloads what events may have been missed while unsubscribed. Runs after subscribing, so a
/// change is either in what is reloaded or in an event still to come (each change is made
/// durable before it is published).
async fn catch_up(state: &AppState) -> Result<(), Error> {
    state.caches.clear();
    state.revocations.reload(state.clock.now()).await?;
    // A missed key change is also caught by the periodic reload, so this one may fail.
    if let Err(err) = state.keys.reload().await {
        tracing::error!(error = %err, "could not reload signing keys");
    }
    Ok(())
}

async fn apply(state: &AppState, event: Event) {
    match &event {
        Event::Heartbeat(token) => state.freshness.heard(*token),
        Event::Revoked(revocation) => state.revocations.apply(revocation),
        Event::KeysChanged => {
            if let Err(err) = state.keys.reload().await {
                tracing::error!(error = %err, "could not reload signing keys");
            }
        }
        Event::ClientChanged(_) | Event::UserChanged(_) => state.caches.apply(&event),
    }
}

/// Sends a heartbeat five times per max lag, so a replica stays current through a few late
/// ones; and now and then drops expired revocations from memory.
pub async fn send_heartbeats(state: AppState) {
    let period = state.freshness.max_lag() / 5;
    let mut ticks = tokio::time::interval(period.max(Duration::from_millis(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_purge = tokio::time::Instant::now();
    loop {
        ticks.tick().await;
        let token = state.freshness.beat();
        if let Err(err) = state.events.publish(&Event::Heartbeat(token)).await {
            tracing::debug!(error = %err, "could not send a heartbeat");
        }
        // After the heartbeat, so a slow retry delays only this replica's next one.
        state.revocations.announce_pending(state.clock.now()).await;
        if last_purge.elapsed() >= PURGE_EVERY {
            state.revocations.purge(state.clock.now());
            last_purge = tokio::time::Instant::now();
        }
        state.metrics.set_invalidation_lag(state.freshness.lag());
    }
}
