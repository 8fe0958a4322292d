//! What authd said was revoked, from the Security Event Tokens of this service's stream:
//! sessions ended (CAEP `session-revoked`), accounts disabled, enabled or deleted (RISC), each
//! remembered as long as a token issued before it can live.

use std::{
    collections::HashMap,
    sync::RwLock,
    time::{Duration, Instant},
};

use jsonwebtoken::{Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::Value;

use crate::{Rejection, keys::KeySet, token::AccessClaims};

pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
pub const ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
pub const ACCOUNT_ENABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-enabled";
pub const ACCOUNT_PURGED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-purged";
pub const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";

/// The events this service asks its stream for.
pub const WANTED: [&str; 4] = [
    SESSION_REVOKED,
    ACCOUNT_DISABLED,
    ACCOUNT_ENABLED,
    ACCOUNT_PURGED,
];

#[derive(Debug, Deserialize)]
pub(crate) struct SetClaims {
    #[serde(default)]
    pub sub_id: Value,
    pub events: HashMap<String, Value>,
}

/// A user's standing, as the stream told it. Pushed SETs can arrive out of order (each is
/// retried on its own), so the standing follows the events' own times, not their arrival: an
/// enabling that arrives before the disabling it undoes still wins.
#[derive(Debug, Clone, Copy)]
struct Account {
    /// Disabled or deleted now: every token of the user is refused.
    blocked: bool,
    /// Deleted: nothing enables it again.
    purged: bool,
    /// When the account was last disabled and last enabled (unix seconds), as told.
    disabled_at: Option<i64>,
    enabled_at: Option<i64>,
    remembered_until: Instant,
}

impl Account {
    fn new(remembered_until: Instant) -> Self {
        Self {
            blocked: false,
            purged: false,
            disabled_at: None,
            enabled_at: None,
            remembered_until,
        }
    }

    /// Disabled (or deleted) at `at`: blocked unless it was enabled later. Events of one
    /// second are taken in the order they arrive.
    fn disable(&mut self, at: i64, purged: bool) {
        self.purged |= purged;
        self.disabled_at = self.disabled_at.max(Some(at));
        self.blocked = self.purged || self.enabled_at.is_none_or(|enabled| at >= enabled);
    }

    /// Enabled at `at`: unblocked unless it was disabled later, or deleted.
    fn enable(&mut self, at: i64) {
        self.enabled_at = self.enabled_at.max(Some(at));
        self.blocked = self.purged || self.disabled_at.is_some_and(|disabled| disabled > at);
    }

    /// Tokens issued at or before this are refused even once enabled again: they were
    /// issued before the account was disabled.
    fn issued_before(&self) -> Option<i64> {
        self.disabled_at
    }
}

#[derive(Default)]
struct State {
    sessions: HashMap<String, Instant>,
    accounts: HashMap<String, Account>,
}

pub(crate) struct Revoked {
    issuer: String,
    audience: String,
    remember: Duration,
    state: RwLock<State>,
}

impl Revoked {
    /// SETs for `audience` (the receiver's client id) from `issuer`, remembered `remember`.
    pub fn new(issuer: &str, audience: &str, remember: Duration) -> Self {
        Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            remember,
            state: RwLock::default(),
        }
    }

    /// Whether what the stream said refuses this token.
    pub fn refuses(&self, claims: &AccessClaims) -> Option<&'static str> {
        let state = self
            .state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if claims
            .sid
            .as_ref()
            .is_some_and(|sid| state.sessions.contains_key(sid))
        {
            return Some("its session was revoked");
        }
        let account = state.accounts.get(&claims.sub)?;
        if account.blocked {
            return Some("its account is disabled");
        }
        account
            .issued_before()
            .is_some_and(|before| claims.iat <= before)
            .then_some("it was issued before its account was disabled")
    }

    /// Verifies a SET (RFC 8417, SSF 1.0 §4: `typ`, authd's key, `iss`, this receiver's `aud`)
    /// and remembers what it says; its claims.
    pub async fn take(&self, keys: &KeySet, token: &str) -> Result<SetClaims, Rejection> {
        let header = decode_header(token).map_err(|_| Rejection::invalid("not a JWT"))?;
        if header.typ.as_deref() != Some("secevent+jwt") {
            return Err(Rejection::invalid("not a SET (typ)"));
        }
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| Rejection::invalid("the SET names no key"))?;
        let key = keys.key(kid).await?;
        if header.alg != key.algorithm {
            return Err(Rejection::invalid("the SET's algorithm is not its key's"));
        }
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["iss", "aud", "iat"]);
        let set = decode::<SetClaims>(token, &key.decoding, &validation)
            .map_err(|err| Rejection::invalid(err.to_string()))?
            .claims;
        self.apply(&set);
        Ok(set)
    }

    fn apply(&self, set: &SetClaims) {
        let until = Instant::now() + self.remember;
        let mut state = self
            .state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        state.sessions.retain(|_, kept| *kept > now);
        state
            .accounts
            .retain(|_, account| account.remembered_until > now);
        let user = user_of(&set.sub_id);
        for (event_type, event) in &set.events {
            let at = event
                .get("event_timestamp")
                .and_then(Value::as_i64)
                .unwrap_or(i64::MAX);
            match event_type.as_str() {
                SESSION_REVOKED => {
                    if let Some(sid) = session_of(&set.sub_id) {
                        state.sessions.insert(sid.to_owned(), until);
                    }
                }
                ACCOUNT_DISABLED | ACCOUNT_PURGED | ACCOUNT_ENABLED => {
                    let Some(user) = user else { continue };
                    let account = state
                        .accounts
                        .entry(user.to_owned())
                        .or_insert_with(|| Account::new(until));
                    account.remembered_until = until;
                    if event_type == ACCOUNT_ENABLED {
                        account.enable(at);
                    } else {
                        account.disable(at, event_type == ACCOUNT_PURGED);
                    }
                }
                _ => {}
            }
        }
    }
}

/// The user of a subject: an `iss_sub` one, or a complex one's `user`.
fn user_of(subject: &Value) -> Option<&str> {
    let user = match subject.get("format").and_then(Value::as_str) {
        Some("complex") => subject.get("user")?,
        _ => subject,
    };
    (user.get("format").and_then(Value::as_str) == Some("iss_sub"))
        .then(|| user.get("sub").and_then(Value::as_str))
        .flatten()
}

/// The session of a subject: a complex one's `session`, or an opaque subject alone.
fn session_of(subject: &Value) -> Option<&str> {
    let session = match subject.get("format").and_then(Value::as_str) {
        Some("complex") => subject.get("session")?,
        _ => subject,
    };
    (session.get("format").and_then(Value::as_str) == Some("opaque"))
        .then(|| session.get("id").and_then(Value::as_str))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standing(events: &[(&str, i64)]) -> Account {
        let mut account = Account::new(Instant::now());
        for (kind, at) in events {
            match *kind {
                "disabled" => account.disable(*at, false),
                "purged" => account.disable(*at, true),
                _ => account.enable(*at),
            }
        }
        account
    }

    #[test]
    fn an_enabling_undoes_the_earlier_disabling_in_whichever_order_they_arrive() {
        for events in [
            [("disabled", 100), ("enabled", 200)],
            [("enabled", 200), ("disabled", 100)],
        ] {
            let account = standing(&events);
            assert!(!account.blocked, "{events:?}");
            assert_eq!(account.issued_before(), Some(100), "{events:?}");
        }
    }

    #[test]
    fn a_later_disabling_blocks_whichever_order_they_arrive_and_a_purge_for_good() {
        for events in [
            [("enabled", 100), ("disabled", 200)],
            [("disabled", 200), ("enabled", 100)],
            [("purged", 100), ("enabled", 200)],
        ] {
            assert!(standing(&events).blocked, "{events:?}");
        }
        // Within one second, arrival decides.
        assert!(!standing(&[("disabled", 100), ("enabled", 100)]).blocked);
        assert!(standing(&[("enabled", 100), ("disabled", 100)]).blocked);
    }
}
