//! The two tasks that keep a replica's memory current: one follows the channel and applies
//! what it hears, the other sends the heartbeats that measure how current that is
//! (`invalidation` explains the bound they keep).

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;

use crate::{
    clock::Clock,
    error::Error,
    invalidation::{Event, Freshness, LocalCaches},
    keys::KeyManager,
    metrics::Metrics,
    state::AppState,
    store::EventBus,
    tokens::Revocations,
};

/// How long to wait before subscribing again after the subscription failed or dropped. Until it
/// is back, verification asks Redis (or Postgres) each time, so this only costs speed.
const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(500);

/// How often expired revocations are dropped from memory.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// What following the channel reads and changes: the replica's memory and how current it is.
#[derive(Clone)]
pub struct Channel {
    events: Arc<dyn EventBus>,
    freshness: Arc<Freshness>,
    caches: Arc<LocalCaches>,
    revocations: Arc<Revocations>,
    keys: Arc<KeyManager>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
}

impl Channel {
    /// The parts of `state` the channel's tasks work on.
    pub fn of(state: &AppState) -> Self {
        Self {
            events: state.events.clone(),
            freshness: state.freshness.clone(),
            caches: state.caches.clone(),
            revocations: state.revocations.clone(),
            keys: state.keys.clone(),
            clock: state.clock.clone(),
            metrics: state.metrics.clone(),
        }
    }

    /// Follows the channel for as long as the replica runs: subscribe, catch up on what was
    /// missed before the subscription, then apply every event; start over whenever the
    /// subscription drops.
    pub async fn follow(self) {
        loop {
            self.freshness.lost();
            match self.events.subscribe().await {
                Ok(mut events) => match self.catch_up().await {
                    Ok(()) => {
                        self.freshness.caught_up();
                        // A heartbeat now, not at the next tick (a fifth of the max lag away):
                        // the replica trusts its memory as soon as this one comes back.
                        // Heartbeats sent before the subscription was made are never heard.
                        self.beat().await;
                        tracing::info!("following the invalidation channel");
                        while let Some(event) = events.next().await {
                            self.apply(event).await;
                        }
                        tracing::warn!("the invalidation channel dropped; verifying via Redis");
                    }
                    Err(err) => tracing::warn!(error = %err, "could not catch up; will retry"),
                },
                Err(err) => {
                    tracing::warn!(error = %err, "cannot follow the invalidation channel; verifying via Redis")
                }
            }
            self.freshness.lost();
            tokio::time::sleep(RESUBSCRIBE_AFTER).await;
        }
    }

    /// Sends a heartbeat five times per max lag, so a replica stays current through a few late
    /// ones; and now and then drops expired revocations from memory.
    pub async fn send_heartbeats(self) {
        let period = self.freshness.max_lag() / 5;
        let mut ticks = tokio::time::interval(period.max(Duration::from_millis(1)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_purge = tokio::time::Instant::now();
        loop {
            ticks.tick().await;
            self.beat().await;
            // After the heartbeat, so a slow retry delays only this replica's next one.
            self.revocations.announce_pending(self.clock.now()).await;
            if last_purge.elapsed() >= PURGE_EVERY {
                self.revocations.purge(self.clock.now());
                last_purge = tokio::time::Instant::now();
            }
            self.metrics.set_invalidation_lag(self.freshness.lag());
        }
    }

    async fn beat(&self) {
        let token = self.freshness.beat();
        if let Err(err) = self.events.publish(&Event::Heartbeat(token)).await {
            tracing::debug!(error = %err, "could not send a heartbeat");
        }
    }

    /// Reloads what events may have been missed while unsubscribed. Runs after subscribing, so
    /// a change is either in what is reloaded or in an event still to come (each change is made
    /// durable before it is published).
    async fn catch_up(&self) -> Result<(), Error> {
        self.caches.clear();
        self.revocations.reload(self.clock.now()).await?;
        // A missed key change is also caught by the periodic reload, so this one may fail.
        self.reload_keys().await;
        Ok(())
    }

    async fn apply(&self, event: Event) {
        match &event {
            Event::Heartbeat(token) => self.freshness.heard(*token),
            Event::Revoked(revocation) => self.revocations.apply(revocation),
            Event::KeysChanged => self.reload_keys().await,
            Event::ClientChanged(_) | Event::UserChanged(_) => self.caches.apply(&event),
        }
    }

    async fn reload_keys(&self) {
        if let Err(err) = self.keys.reload().await {
            tracing::error!(error = %err, "could not reload signing keys");
        }
    }
}
