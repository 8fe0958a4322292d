//! Rate-limit policies, shared by replicas through the store and falling back to a per-replica
//! window when the shared store cannot answer:
//! - [`RateLimiter`]: requests per client IP and route, in a sliding one-second window;
//! - [`LoginThrottle`]: failed logins per username and client IP, in a longer window;
//! - [`ClientRateLimiter`]: an authenticated client's requests, from wherever they come, in a
//!   sliding one-second window;
//! - [`MailThrottle`]: mails a person can have sent (password resets, verification links),
//!   per client IP and per recipient, in an hour's window;
//! - [`DeviceCodeThrottle`]: wrong device user codes, per client IP and over the whole code
//!   space, so the short codes of RFC 8628 cannot be guessed (§5.1).

use std::{
    net::IpAddr,
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

pub use crate::metrics::RateLimitedRoute;
use crate::{
    clock::Clock,
    error::Error,
    metrics::Metrics,
    store::{RateDecision, RateLimitStore, Tally, memory::MemoryRateLimits},
    tokens::hash_token,
};

/// A sliding window over the shared store, with the per-replica fallback.
struct Windows {
    shared: Arc<dyn RateLimitStore>,
    /// Used only while the shared store is down: a per-replica limit beats no limit
    /// (../shared/DESIGN.md, failure policy).
    local: MemoryRateLimits,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    /// The second of the last warning logged: a flood of refusals (a password-guessing burst)
    /// is one warning a second, not one a request. The metric counts every refusal.
    last_warning: AtomicI64,
}

impl Windows {
    fn new(shared: Arc<dyn RateLimitStore>, clock: Arc<dyn Clock>, metrics: Arc<Metrics>) -> Self {
        Self {
            shared,
            local: MemoryRateLimits::default(),
            clock,
            metrics,
            last_warning: AtomicI64::new(i64::MIN),
        }
    }

    /// Whether `key` has fewer than `limit` hits in `window` (see [`RateLimitStore::hit`]).
    async fn decide(&self, key: &str, limit: u32, window: Duration, tally: Tally) -> RateDecision {
        let now = self.clock.now();
        let shared = self.shared.hit(key, limit, window, now, tally).await;
        shared.unwrap_or_else(|err| {
            tracing::warn!(error = %err, "shared rate limiter unavailable; limiting per replica");
            self.metrics.rate_limit_fallbacks.inc();
            self.local.decide(key, limit, window, now, tally)
        })
    }

    /// The error for a refusal, counted under `route` and logged at most once a second.
    fn refuse(
        &self,
        decision: RateDecision,
        route: RateLimitedRoute,
        client_ip: IpAddr,
    ) -> Result<(), Error> {
        let RateDecision::Limited { retry_after } = decision else {
            return Ok(());
        };
        self.metrics.rate_limited(route);
        if self.first_refusal_this_second() {
            tracing::warn!(route = route.as_str(), %client_ip, "rate limit exceeded: refusing requests");
        }
        Err(Error::RateLimited { retry_after })
    }

    /// Whether no refusal was logged yet this second.
    fn first_refusal_this_second(&self) -> bool {
        let second = self.clock.now().unix_timestamp();
        self.last_warning.swap(second, Ordering::Relaxed) != second
    }

    /// The error for a refusal, counted under `route`; the caller logs whom it refused.
    fn refuse_quietly(&self, decision: RateDecision, route: RateLimitedRoute) -> Result<(), Error> {
        let RateDecision::Limited { retry_after } = decision else {
            return Ok(());
        };
        self.metrics.rate_limited(route);
        Err(Error::RateLimited { retry_after })
    }
}

/// Requests per client IP and route.
pub struct RateLimiter {
    windows: Windows,
    limit: NonZeroU32,
    window: Duration,
}

impl RateLimiter {
    pub fn per_second(
        shared: Arc<dyn RateLimitStore>,
        limit: NonZeroU32,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            windows: Windows::new(shared, clock, metrics),
            limit,
            window: Duration::from_secs(1),
        }
    }

    /// Counts one request from `client_ip` on `route`, or refuses it with the time to wait.
    pub async fn check(&self, route: RateLimitedRoute, client_ip: IpAddr) -> Result<(), Error> {
        let key = format!("{}:{client_ip}", route.as_str());
        let decision = self
            .windows
            .decide(&key, self.limit.get(), self.window, Tally::Count)
            .await;
        self.windows.refuse(decision, route, client_ip)
    }
}

/// Requests per authenticated client, across replicas: one misbehaving service cannot starve
/// every other client's token and introspection requests. A client's own limit, else the
/// server's default; none at all costs nothing (no round trip).
pub struct ClientRateLimiter {
    windows: Windows,
    default: Option<NonZeroU32>,
    window: Duration,
}

impl ClientRateLimiter {
    pub fn new(
        shared: Arc<dyn RateLimitStore>,
        default: Option<NonZeroU32>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            windows: Windows::new(shared, clock, metrics),
            default,
            window: Duration::from_secs(1),
        }
    }

    /// Counts one request of `client_id`, whose own limit is `limit`, or refuses it with the
    /// time to wait.
    pub async fn check(&self, client_id: &str, limit: Option<NonZeroU32>) -> Result<(), Error> {
        let Some(limit) = limit.or(self.default) else {
            return Ok(());
        };
        let decision = self
            .windows
            .decide(
                &format!("client:{client_id}"),
                limit.get(),
                self.window,
                Tally::Count,
            )
            .await;
        if let RateDecision::Limited { .. } = decision
            && self.windows.first_refusal_this_second()
        {
            tracing::warn!(
                client_id,
                limit = limit.get(),
                "client over its rate limit: refusing its requests"
            );
        }
        self.windows
            .refuse_quietly(decision, RateLimitedRoute::Client)
    }
}

/// Failed logins per username and client IP (OWASP ASVS 2.2.1): after `limit` failures within
/// `window`, that address must wait before it may try that username again.
///
/// Keyed by the pair, not by the username alone: an attacker guessing from one address is
/// slowed to `limit` guesses a window, while the real user, at another address, can still log
/// in (a username-wide lock would let anyone lock anyone out, indefinitely). Guessing from many
/// addresses is what the per-IP limit and Argon2's cost are for. Any username is throttled the
/// same, known or not, so the throttle says nothing about which users exist.
pub struct LoginThrottle {
    windows: Windows,
    limit: NonZeroU32,
    window: Duration,
}

impl LoginThrottle {
    pub fn new(
        shared: Arc<dyn RateLimitStore>,
        limit: NonZeroU32,
        window: Duration,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            windows: Windows::new(shared, clock, metrics),
            limit,
            window,
        }
    }

    /// Refuses the attempt, before any password is checked, if this address has failed for
    /// this username `limit` times within the window.
    pub async fn check(&self, username: &str, client_ip: IpAddr) -> Result<(), Error> {
        let decision = self
            .windows
            .decide(
                &key(username, client_ip),
                self.limit.get(),
                self.window,
                Tally::Peek,
            )
            .await;
        self.windows
            .refuse(decision, RateLimitedRoute::LoginFailures, client_ip)
    }

    /// Counts a failed attempt.
    pub async fn failed(&self, username: &str, client_ip: IpAddr) {
        self.windows
            .decide(
                &key(username, client_ip),
                u32::MAX,
                self.window,
                Tally::Count,
            )
            .await;
    }
}

/// Mails a person can have authd send: per client IP and per recipient (an account, whatever
/// identifier named it), each in a sliding hour. Requests over either limit are refused
/// (429); a request for an unknown account counts like one for a known account, so the limit
/// says nothing about which exist.
pub struct MailThrottle {
    windows: Windows,
    per_ip: u32,
    per_recipient: u32,
}

impl MailThrottle {
    const WINDOW: Duration = Duration::from_secs(3600);

    pub fn new(
        shared: Arc<dyn RateLimitStore>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            windows: Windows::new(shared, clock, metrics),
            per_ip: 20,
            per_recipient: 5,
        }
    }

    /// Counts a request from `client_ip` for mail to `recipient` (a username or address as
    /// typed, or a user id), refusing it over either limit.
    pub async fn check(&self, recipient: &str, client_ip: IpAddr) -> Result<(), Error> {
        let by_ip = self
            .windows
            .decide(
                &format!("mail-ip:{client_ip}"),
                self.per_ip,
                Self::WINDOW,
                Tally::Count,
            )
            .await;
        self.windows
            .refuse(by_ip, RateLimitedRoute::Mail, client_ip)?;
        let recipient = hash_token(&recipient.trim().to_lowercase());
        let by_recipient = self
            .windows
            .decide(
                &format!("mail-to:{recipient}"),
                self.per_recipient,
                Self::WINDOW,
                Tally::Count,
            )
            .await;
        self.windows
            .refuse(by_recipient, RateLimitedRoute::Mail, client_ip)
    }

    /// Counts a mail to the account `user_id`, however it was named (a username and an
    /// address are two names for one account): whether it is within the limit. For work done
    /// after the answer, which cannot refuse; the caller drops the mail instead.
    pub async fn allow_account(&self, user_id: &str) -> bool {
        let decision = self
            .windows
            .decide(
                &format!("mail-account:{user_id}"),
                self.per_recipient,
                Self::WINDOW,
                Tally::Count,
            )
            .await;
        matches!(decision, RateDecision::Allowed)
    }
}

/// Wrong user codes at the device verification page (RFC 8628 §5.1): per client IP, and over
/// the whole code space (every address together), each in a sliding window. With 20^8 codes
/// and at most [`Self::ALL`] wrong guesses in ten minutes, the chance of hitting one of a
/// thousand live codes in a code's lifetime is below one in ten thousand.
pub struct DeviceCodeThrottle {
    windows: Windows,
}

impl DeviceCodeThrottle {
    const WINDOW: Duration = Duration::from_secs(600);
    /// Wrong codes one address may enter in the window.
    const PER_IP: u32 = 10;
    /// Wrong codes everyone together may enter in the window.
    const ALL: u32 = 2000;

    pub fn new(
        shared: Arc<dyn RateLimitStore>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            windows: Windows::new(shared, clock, metrics),
        }
    }

    /// Refuses a code from `client_ip`, before it is looked up, when that address or everyone
    /// has used up the window's wrong codes.
    pub async fn check(&self, client_ip: IpAddr) -> Result<(), Error> {
        for (key, limit) in [
            (format!("device-guess-ip:{client_ip}"), Self::PER_IP),
            ("device-guess-all".to_owned(), Self::ALL),
        ] {
            let decision = self
                .windows
                .decide(&key, limit, Self::WINDOW, Tally::Peek)
                .await;
            self.windows
                .refuse(decision, RateLimitedRoute::DeviceCodes, client_ip)?;
        }
        Ok(())
    }

    /// Counts a wrong code.
    pub async fn failed(&self, client_ip: IpAddr) {
        for key in [
            format!("device-guess-ip:{client_ip}"),
            "device-guess-all".to_owned(),
        ] {
            self.windows
                .decide(&key, u32::MAX, Self::WINDOW, Tally::Count)
                .await;
        }
    }
}

/// The store key of a username and address. Usernames match regardless of case, so the
/// throttle does too (`Alice` and `ALICE` share one count). The name is hashed: it may be
/// anything a client typed (a password pasted in the wrong field, say), and Redis keys show in
/// tools.
fn key(username: &str, client_ip: IpAddr) -> String {
    let name = hash_token(&username.to_lowercase());
    format!("login-fail:{name}:{client_ip}")
}
