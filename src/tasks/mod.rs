//! The work every replica does beside answering requests: following the invalidation channel
//! and sending its heartbeats ([`Channel`]), keeping the signing keys current and cleaning up
//! ([`upkeep`]), and delivering the outbox ([`outbox`]). Each task holds the parts it works on,
//! not the whole state.

mod channel;
mod outbox;
pub mod upkeep;

use tokio::task::JoinHandle;

pub use channel::Channel;

use crate::state::AppState;

/// How often each replica looks for revoked sessions whose end was never recorded: with
/// [`crate::store::END_RECORD_GRACE`], such an end is told at most 75 s after the revocation.
const MISSED_SESSION_END_SWEEP: std::time::Duration = std::time::Duration::from_secs(15);

/// A replica's background tasks, running until stopped.
pub struct Background(Vec<JoinHandle<()>>);

impl Background {
    /// Starts every task of the replica `state` is.
    pub fn start(state: &AppState) -> Self {
        let channel = Channel::of(state);
        let deliveries = state.deliverers.iter().map(|(topic, deliverer)| {
            tokio::spawn(outbox::deliver(
                state.mailer.outbox().clone(),
                *topic,
                deliverer.clone(),
            ))
        });
        Self(
            vec![
                tokio::spawn(channel.clone().follow()),
                tokio::spawn(channel.send_heartbeats()),
                tokio::spawn(upkeep::poll_keys(
                    state.keys.clone(),
                    state.config.key_reload_interval,
                )),
                tokio::spawn(upkeep::record_missed_session_ends(
                    state.sessions.clone(),
                    MISSED_SESSION_END_SWEEP,
                )),
                tokio::spawn(upkeep::clean_up_periodically(
                    state.operations.clone(),
                    state.shared_signals.clone(),
                    state.config.cleanup_interval,
                )),
            ]
            .into_iter()
            .chain(deliveries)
            .collect(),
        )
    }

    pub fn stop(self) {
        for task in self.0 {
            task.abort();
        }
    }
}
