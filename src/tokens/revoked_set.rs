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
/// needs no allocation. Built apart and swapped in whole by [`RevokedSet::replace`].
#[derive(Default)]
pub struct Sets {
    tokens: Ids,
    sessions: Ids,
}

impl Sets {
    fn of(&mut self, kind: RevocationKind) -> &mut Ids {
        match kind {
            RevocationKind::Token => &mut self.tokens,
            RevocationKind::Session => &mut self.sessions,
        }
    }

    /// Adds `revocation`.
    pub fn insert(&mut self, revocation: &Revocation) {
        self.of(revocation.kind)
            .insert(&revocation.id, revocation.expires_at.unix_timestamp());
    }

    fn len(&self) -> usize {
        self.tokens.len() + self.sessions.len()
    }
}

/// Ids of one kind. authd's `jti`s and `sid`s are UUIDs in their canonical text: those are kept
/// as their 16 bytes (an entry about a third the size of a boxed string's, with no allocation
/// of its own: 200,000 revocations cost about 6 MB, not 16); any other id as text.
#[derive(Default)]
struct Ids {
    uuids: HashMap<u128, i64>,
    others: HashMap<Box<str>, i64>,
}

impl Ids {
    fn insert(&mut self, id: &str, expires_at: i64) {
        match canonical_uuid(id) {
            Some(uuid) => {
                self.uuids.insert(uuid, expires_at);
            }
            None => {
                self.others.insert(id.into(), expires_at);
            }
        }
    }

    fn contains(&self, id: &str) -> bool {
        match canonical_uuid(id) {
            Some(uuid) => self.uuids.contains_key(&uuid),
            None => self.others.contains_key(id),
        }
    }

    fn retain_unexpired(&mut self, now: i64) {
        self.uuids.retain(|_, expires_at| *expires_at > now);
        self.others.retain(|_, expires_at| *expires_at > now);
    }

    fn len(&self) -> usize {
        self.uuids.len() + self.others.len()
    }
}

/// `id` as a number when it is a UUID in exactly its canonical form (lower-case hex, hyphens at
/// 8, 13, 18 and 23): then one text maps to one number and back, so an id revoked in one
/// spelling is never matched by another spelling.
fn canonical_uuid(id: &str) -> Option<u128> {
    let bytes = id.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let mut value: u128 = 0;
    for (position, byte) in bytes.iter().enumerate() {
        if matches!(position, 8 | 13 | 18 | 23) {
            if *byte != b'-' {
                return None;
            }
            continue;
        }
        let digit = match byte {
            b'0'..=b'9' => byte - b'0',
            b'a'..=b'f' => byte - b'a' + 10,
            _ => return None,
        };
        value = (value << 4) | u128::from(digit);
    }
    Some(value)
}

impl RevokedSet {
    /// Whether the token `jti`, or the session `sid` it belongs to, is revoked.
    pub fn contains(&self, jti: &str, sid: Option<&str>) -> bool {
        let sets = self
            .inner
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        sets.tokens.contains(jti) || sid.is_some_and(|sid| sets.sessions.contains(sid))
    }

    pub fn insert(&self, revocation: &Revocation) {
        self.inner
            .write()
            .unwrap_or_else(|poison| poison.into_inner())
            .insert(revocation);
    }

    /// Replaces everything with `fresh` (the durable list, read into it row by row).
    pub fn replace(&self, fresh: Sets) {
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
        sets.tokens.retain_unexpired(now);
        sets.sessions.retain_unexpired(now);
    }

    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .len()
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
    fn uuids_are_kept_as_numbers_and_match_only_their_canonical_spelling() {
        let set = RevokedSet::default();
        let jti = "0192f8a4-5b6c-7d8e-9fa0-b1c2d3e4f506";
        set.insert(&revocation(RevocationKind::Token, jti, 100));
        assert!(set.contains(jti, None));
        assert!(!set.contains(&jti.to_uppercase(), None));
        assert!(!set.contains(&jti.replace('-', ""), None));
        assert!(!set.contains("0192f8a4-5b6c-7d8e-9fa0-b1c2d3e4f507", None));
        assert_eq!(
            canonical_uuid(jti),
            Some(uuid::Uuid::parse_str(jti).unwrap().as_u128())
        );
        assert_eq!(canonical_uuid("0192f8a4_5b6c-7d8e-9fa0-b1c2d3e4f506"), None);
    }

    #[test]
    fn purge_forgets_only_what_expired_and_replace_forgets_the_rest() {
        let set = RevokedSet::default();
        set.insert(&revocation(RevocationKind::Token, "old", 10));
        set.insert(&revocation(RevocationKind::Token, "new", 100));
        set.purge(OffsetDateTime::from_unix_timestamp(50).unwrap());
        assert!(!set.contains("old", None));
        assert!(set.contains("new", None));
        let mut fresh = Sets::default();
        fresh.insert(&revocation(RevocationKind::Session, "s", 100));
        set.replace(fresh);
        assert!(!set.contains("new", None));
        assert!(set.contains("x", Some("s")));
        assert_eq!(set.len(), 1);
    }
}
