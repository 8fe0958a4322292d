//! The channel replicas tell one another their changes on: the events, as plain data and as
//! the messages that carry them, and the bus that carries them (Redis pub/sub, or a broadcast
//! channel in memory). What replicas do with an event is `invalidation`'s.

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Revocation, RevocationKind, StoreError};

/// A change one replica tells every replica about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The signing keys changed: reload the key ring.
    KeysChanged,
    /// A token or session was revoked (already in Postgres and Redis).
    Revoked(Revocation),
    /// A client was changed or deleted: forget its cached record.
    ClientChanged(String),
    /// A user, or their profile, was changed or deleted: forget what is cached of them.
    UserChanged(Uuid),
    /// A heartbeat: random, so only the replica that sent it knows when it was sent.
    Heartbeat(u64),
}

impl Event {
    /// The message on the channel: a word, then fields separated by single spaces, the free-form
    /// id last (so a client id may hold spaces).
    pub fn encode(&self) -> String {
        match self {
            Self::KeysChanged => "keys".to_owned(),
            Self::Revoked(revocation) => format!(
                "revoked {} {} {}",
                revocation.kind.as_str(),
                revocation.expires_at.unix_timestamp(),
                revocation.id
            ),
            Self::ClientChanged(client_id) => format!("client {client_id}"),
            Self::UserChanged(user_id) => format!("user {user_id}"),
            Self::Heartbeat(token) => format!("heartbeat {token:016x}"),
        }
    }

    /// The event a message encodes; `None` for anything else (a newer replica's event during a
    /// rolling upgrade is ignored, not an error).
    pub fn decode(message: &str) -> Option<Self> {
        let (word, rest) = message.split_once(' ').unwrap_or((message, ""));
        match word {
            "keys" => Some(Self::KeysChanged),
            "revoked" => {
                let mut fields = rest.splitn(3, ' ');
                let kind = match fields.next()? {
                    "jti" => RevocationKind::Token,
                    "sid" => RevocationKind::Session,
                    _ => return None,
                };
                let expires_at = fields.next()?.parse().ok()?;
                let id = fields.next().filter(|id| !id.is_empty())?;
                Some(Self::Revoked(Revocation {
                    kind,
                    id: id.to_owned(),
                    expires_at: OffsetDateTime::from_unix_timestamp(expires_at).ok()?,
                }))
            }
            "client" if !rest.is_empty() => Some(Self::ClientChanged(rest.to_owned())),
            "user" => Uuid::parse_str(rest).ok().map(Self::UserChanged),
            "heartbeat" => u64::from_str_radix(rest, 16).ok().map(Self::Heartbeat),
            _ => None,
        }
    }
}

/// The channel every replica publishes its changes on and follows.
#[async_trait]
pub trait EventBus: Send + Sync {
    async fn publish(&self, event: &Event) -> Result<(), StoreError>;
    /// Every event published from now on, in the order the channel received them, until the
    /// subscription drops (the stream ends). Messages that are not events are skipped.
    async fn subscribe(&self) -> Result<BoxStream<'static, Event>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_survives_the_channel() {
        let events = [
            Event::KeysChanged,
            Event::Revoked(Revocation {
                kind: RevocationKind::Token,
                id: "0190c3b2-7d1e-7c2a-9a51-3f1e2b4c5d6e".to_owned(),
                expires_at: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
            }),
            Event::Revoked(Revocation {
                kind: RevocationKind::Session,
                id: "s".to_owned(),
                expires_at: OffsetDateTime::from_unix_timestamp(1).unwrap(),
            }),
            Event::ClientChanged("my app with spaces".to_owned()),
            Event::UserChanged(Uuid::new_v4()),
            Event::Heartbeat(u64::MAX),
            Event::Heartbeat(0),
        ];
        for event in events {
            assert_eq!(Event::decode(&event.encode()), Some(event));
        }
    }

    #[test]
    fn unknown_or_malformed_messages_are_ignored() {
        for message in [
            "",
            "changed",
            "revoked",
            "revoked jti",
            "revoked jti 12",
            "revoked jti x id",
            "revoked aud 12 id",
            "client",
            "user not-a-uuid",
            "heartbeat zz",
            "future-event 1 2 3",
        ] {
            assert_eq!(Event::decode(message), None, "{message:?}");
        }
    }
}
