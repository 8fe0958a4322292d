//! How current this replica's memory is, measured by its own heartbeats coming back.
//!
//! A replica publishes a random heartbeat every few tens of milliseconds and notes when it sent
//! it. The channel delivers messages in the order Redis received them, so hearing a heartbeat
//! back means every event published before it was sent has been heard too: memory is current as
//! of that send time. Trust needs two things: the subscription has caught up since it last
//! (re)connected (what it missed was reloaded), and the newest heartbeat heard was sent within
//! the max lag. Only the sender knows a heartbeat's token before it is on the channel, and a
//! token counts once, so a Redis writer cannot fake freshness by publishing heartbeats of its
//! own, nor by replaying one.

use std::{
    collections::VecDeque,
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// Heartbeats sent and not heard back yet; older ones are dropped (they would be too old to
/// make memory current anyway).
const MAX_PENDING: usize = 64;

pub struct Freshness {
    max_lag: Duration,
    /// The origin of the nanosecond times below (an `Instant` cannot live in an atomic).
    epoch: Instant,
    /// When the newest heartbeat heard back was sent, in nanoseconds since `epoch`; 0 if none
    /// has been heard since the subscription (re)connected.
    current_as_of: AtomicU64,
    /// Whether what was missed before the subscription (re)connected has been reloaded.
    caught_up: AtomicBool,
    pending: Mutex<VecDeque<(u64, u64)>>,
}

impl Freshness {
    pub fn new(max_lag: Duration) -> Self {
        Self {
            max_lag,
            epoch: Instant::now(),
            current_as_of: AtomicU64::new(0),
            caught_up: AtomicBool::new(false),
            pending: Mutex::new(VecDeque::with_capacity(MAX_PENDING)),
        }
    }

    pub fn max_lag(&self) -> Duration {
        self.max_lag
    }

    /// Whether memory may answer on its own: caught up, and heard from within the max lag.
    pub fn is_current(&self) -> bool {
        self.lag().is_some_and(|lag| lag <= self.max_lag)
    }

    /// How far behind memory may be (now minus the send time of the newest heartbeat heard);
    /// `None` while it is not caught up or no heartbeat has come back.
    pub fn lag(&self) -> Option<Duration> {
        if !self.caught_up.load(Ordering::Acquire) {
            return None;
        }
        let as_of = self.current_as_of.load(Ordering::Acquire);
        (as_of != 0).then(|| Duration::from_nanos(self.nanos_now().saturating_sub(as_of)))
    }

    /// Registers a heartbeat about to be sent, and returns the token to publish.
    pub fn beat(&self) -> u64 {
        let token = rand::random::<u64>();
        let mut pending = crate::store::lock(&self.pending);
        if pending.len() == MAX_PENDING {
            pending.pop_front();
        }
        pending.push_back((token, self.nanos_now()));
        token
    }

    /// A heartbeat came back on the channel: if it is one of ours, memory is current as of when
    /// it was sent. Other replicas' heartbeats, replays and forgeries are ignored.
    pub fn heard(&self, token: u64) {
        let mut pending = crate::store::lock(&self.pending);
        let Some(position) = pending.iter().position(|(sent, _)| *sent == token) else {
            return;
        };
        // Delivery is in order: the ones sent before it are not coming any more.
        let sent_at = pending[position].1;
        pending.drain(..=position);
        self.current_as_of
            .fetch_max(sent_at.max(1), Ordering::AcqRel);
    }

    /// The subscription dropped (or is about to be made): nothing may be trusted until it is
    /// back, has caught up, and a heartbeat sent since has come back.
    pub fn lost(&self) {
        self.caught_up.store(false, Ordering::Release);
        self.current_as_of.store(0, Ordering::Release);
        crate::store::lock(&self.pending).clear();
    }

    /// What was missed while the subscription was down has been reloaded.
    pub fn caught_up(&self) {
        self.caught_up.store(true, Ordering::Release);
    }

    fn nanos_now(&self) -> u64 {
        // Not 0, which means "never"; u64 nanoseconds last 584 years of uptime.
        u64::try_from(self.epoch.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caught_up(max_lag: Duration) -> Freshness {
        let freshness = Freshness::new(max_lag);
        freshness.caught_up();
        freshness
    }

    #[test]
    fn memory_is_trusted_only_after_catching_up_and_hearing_an_own_heartbeat() {
        let freshness = Freshness::new(Duration::from_secs(60));
        let token = freshness.beat();
        freshness.heard(token);
        assert!(!freshness.is_current(), "not caught up yet");
        freshness.caught_up();
        assert!(freshness.is_current());
        freshness.lost();
        assert!(!freshness.is_current());
        freshness.caught_up();
        assert!(
            !freshness.is_current(),
            "a heartbeat heard before the loss does not count after it"
        );
    }

    #[test]
    fn trust_ends_when_no_heartbeat_comes_back_within_the_lag() {
        let freshness = caught_up(Duration::from_millis(20));
        freshness.heard(freshness.beat());
        assert!(freshness.is_current());
        freshness.beat(); // sent, never heard back
        std::thread::sleep(Duration::from_millis(30));
        assert!(!freshness.is_current());
    }

    #[test]
    fn foreign_forged_and_replayed_heartbeats_change_nothing() {
        let freshness = caught_up(Duration::from_millis(20));
        let token = freshness.beat();
        freshness.heard(token.wrapping_add(1)); // another replica's, or a forgery
        assert!(!freshness.is_current());
        freshness.heard(token);
        std::thread::sleep(Duration::from_millis(30));
        freshness.heard(token); // replayed later: counts once, at its send time
        assert!(!freshness.is_current());
    }

    #[test]
    fn a_late_heartbeat_makes_memory_current_as_of_when_it_was_sent() {
        let freshness = caught_up(Duration::from_millis(20));
        let first = freshness.beat();
        std::thread::sleep(Duration::from_millis(30));
        let second = freshness.beat();
        freshness.heard(first);
        assert!(!freshness.is_current(), "sent too long ago");
        freshness.heard(second);
        assert!(freshness.is_current());
    }
}
