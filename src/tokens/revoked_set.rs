//! The revocations this replica knows, in memory: loaded from Postgres when the replica
//! (re)subscribes, added to by every revocation event, and never evicted before the revoked
//! thing expires (a bounded cache that dropped a revocation would let its token verify again).
//! Its size is that of the durable list of unexpired revocations.

use std::{collections::HashMap, sync::RwLock};

use time::OffsetDateTime;

use crate::store::{Revocation, RevocationKind};

#[derive(Default)]
pub struct RevokedSet {
    inner: RwLock<Sets>,
}

/// Revoked ids and when each can be forgotten (unix seconds), by kind, so a lookup by `&str`
/// needs no allocation.
#[derive(Default)]
struct Sets {
    tokens: HashMap<Box<str>, i64>,
    sessions: HashMap<Box<str>, i64>,
}

impl Sets {
    fn of(&mut self, kind: RevocationKind) -> &mut HashMap<Box<str>, i64> {
        match kind {
            RevocationKind::Token => &mut self.tokens,
            RevocationKind::Session => &mut self.sessions,
        }
    }
}

impl RevokedSet {
    /// Whether the token `jti`, or the session `sid` it belongs to, is revoked.
    pub fn contains(&self, jti: &str, sid: Option<&str>) -> bool {
        let sets = self
            .inner
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        sets.tokens.contains_key(jti) || sid.is_some_and(|sid| sets.sessions.contains_key(sid))
    }

    pub fn insert(&self, revocation: &Revocation) {
        let mut sets = self
            .inner
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        sets.of(revocation.kind).insert(
            revocation.id.as_str().into(),
            revocation.expires_at.unix_timestamp(),
        );
    }

    /// Replaces everything with `revocations` (the durable list).
    pub fn replace(&self, revocations: &[Revocation]) {
        let mut fresh = Sets::default();
        for revocation in revocations {
            fresh.of(revocation.kind).insert(
                revocation.id.as_str().into(),
                revocation.expires_at.unix_timestamp(),
            );
        }
        *self
            .inner
            .write()
            .unwrap_or_else(|poison| poison.into_inner()) = fresh;
    }

    /// Drops what expired before `now`: its tokens are refused as expired anyway.
    pub fn purge(&self, now: OffsetDateTime) {
        let now = now.unix_timestamp();
        let mut sets = self
            .inner
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        sets.tokens.retain(|_, expires_at| *expires_at > now);
        sets.sessions.retain(|_, expires_at| *expires_at > now);
    }

    pub fn len(&self) -> usize {
        let sets = self
            .inner
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        sets.tokens.len() + sets.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revocation(kind: RevocationKind, id: &str, expires_at: i64) -> Revocation {
        Revocation {
            kind,
            id: id.to_owned(),
            expires_at: OffsetDateTime::from_unix_timestamp(expires_at).unwrap(),
        }
    }

    #[test]
    fn tokens_and_sessions_are_looked_up_by_their_own_kind() {
        let set = RevokedSet::default();
        set.insert(&revocation(RevocationKind::Token, "t", 100));
        set.insert(&revocation(RevocationKind::Session, "s", 100));
        assert!(set.contains("t", None));
        assert!(set.contains("other", Some("s")));
        assert!(!set.contains("s", None), "a session id is not a token id");
        assert!(!set.contains("other", Some("t")));
    }

    #[test]
    fn purge_forgets_only_what_expired_and_replace_forgets_the_rest() {
        let set = RevokedSet::default();
        set.insert(&revocation(RevocationKind::Token, "old", 10));
        set.insert(&revocation(RevocationKind::Token, "new", 100));
        set.purge(OffsetDateTime::from_unix_timestamp(50).unwrap());
        assert!(!set.contains("old", None));
        assert!(set.contains("new", None));
        set.replace(&[revocation(RevocationKind::Session, "s", 100)]);
        assert!(!set.contains("new", None));
        assert!(set.contains("x", Some("s")));
        assert_eq!(set.len(), 1);
    }
}
