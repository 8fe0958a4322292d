//! In-memory sessions for `authd dev`: the same rotation rules under one lock.

use std::{collections::HashMap, sync::Mutex};

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::lock;
use crate::store::{
    RefreshTokenRecord, Rotation, SessionRecord, SessionStore, SessionSummary, StoreError,
};

struct StoredToken {
    family_id: Uuid,
    issued_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    used: bool,
    revoked: bool,
}

#[derive(Default)]
struct Sessions {
    families: HashMap<Uuid, (SessionRecord, bool)>,
    tokens: HashMap<[u8; 32], StoredToken>,
}

impl Sessions {
    fn revoke_family(&mut self, family_id: Uuid) {
        if let Some((_, revoked)) = self.families.get_mut(&family_id) {
            *revoked = true;
        }
        for token in self
            .tokens
            .values_mut()
            .filter(|t| t.family_id == family_id)
        {
            token.revoked = true;
        }
    }
}

#[derive(Default)]
pub struct MemorySessions(Mutex<Sessions>);

#[async_trait]
impl SessionStore for MemorySessions {
    async fn start_session(
        &self,
        session: &SessionRecord,
        first: &RefreshTokenRecord,
    ) -> Result<(), StoreError> {
        let mut sessions = lock(&self.0);
        sessions
            .families
            .insert(session.id, (session.clone(), false));
        sessions.tokens.insert(
            first.token_hash,
            StoredToken {
                family_id: session.id,
                issued_at: first.issued_at,
                expires_at: first.expires_at,
                used: false,
                revoked: false,
            },
        );
        Ok(())
    }

    async fn rotate(
        &self,
        presented: &[u8; 32],
        dpop_jkt: Option<&str>,
        client_id: Option<&str>,
        next: &RefreshTokenRecord,
        session_lifetime: time::Duration,
        now: OffsetDateTime,
    ) -> Result<Rotation, StoreError> {
        let mut sessions = lock(&self.0);
        let Some(token) = sessions.tokens.get(presented) else {
            return Ok(Rotation::Invalid);
        };
        let family_id = token.family_id;
        let Some((session, family_revoked)) = sessions.families.get(&family_id).cloned() else {
            return Ok(Rotation::Invalid);
        };
        if token.revoked || family_revoked || token.expires_at <= now {
            return Ok(Rotation::Invalid);
        }
        if token.used {
            sessions.revoke_family(family_id);
            return Ok(Rotation::Reused(session));
        }
        if !session.accepts_client(client_id) {
            return Ok(Rotation::WrongClient);
        }
        if !session.accepts_key(dpop_jkt) {
            return Ok(Rotation::WrongKey);
        }
        let session_end = session.created_at + session_lifetime;
        if session_end <= now {
            return Ok(Rotation::Ended);
        }
        if let Some(token) = sessions.tokens.get_mut(presented) {
            token.used = true;
        }
        sessions.tokens.insert(
            next.token_hash,
            StoredToken {
                family_id,
                issued_at: next.issued_at,
                expires_at: next.expires_at.min(session_end),
                used: false,
                revoked: false,
            },
        );
        Ok(Rotation::Rotated(session))
    }

    async fn find_live(
        &self,
        presented: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<(SessionRecord, OffsetDateTime)>, StoreError> {
        let sessions = lock(&self.0);
        let Some(token) = sessions.tokens.get(presented) else {
            return Ok(None);
        };
        let Some((session, family_revoked)) = sessions.families.get(&token.family_id) else {
            return Ok(None);
        };
        let live = !token.used && !token.revoked && !family_revoked && token.expires_at > now;
        Ok(live.then(|| (session.clone(), token.expires_at)))
    }

    async fn find_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let sessions = lock(&self.0);
        Ok(sessions
            .families
            .get(&session_id)
            .filter(|(session, revoked)| !revoked && session.user_id == user_id)
            .map(|(session, _)| session.clone()))
    }

    async fn revoke_session(
        &self,
        presented: &[u8; 32],
        _now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let mut sessions = lock(&self.0);
        let Some(family_id) = sessions.tokens.get(presented).map(|t| t.family_id) else {
            return Ok(None);
        };
        let Some((session, revoked)) = sessions.families.get(&family_id).cloned() else {
            return Ok(None);
        };
        if revoked {
            return Ok(None);
        }
        sessions.revoke_family(family_id);
        Ok(Some(session))
    }

    async fn live_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        let sessions = lock(&self.0);
        let mut live: Vec<SessionSummary> = sessions
            .tokens
            .values()
            .filter(|token| !token.used && !token.revoked && token.expires_at > now)
            .filter_map(|token| {
                let (session, revoked) = sessions.families.get(&token.family_id)?;
                (session.user_id == user_id && !revoked).then(|| SessionSummary {
                    session: session.clone(),
                    refreshed_at: token.issued_at,
                    expires_at: token.expires_at,
                })
            })
            .collect();
        live.sort_by_key(|summary| {
            (
                std::cmp::Reverse(summary.session.created_at),
                summary.session.id,
            )
        });
        Ok(live)
    }

    async fn revoke_client_sessions(
        &self,
        user_id: Uuid,
        client_id: &str,
        _now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let mut sessions = lock(&self.0);
        let ended: Vec<SessionRecord> = sessions
            .families
            .values()
            .filter(|(session, revoked)| {
                !revoked
                    && session.user_id == user_id
                    && session.client_id.as_deref() == Some(client_id)
            })
            .map(|(session, _)| session.clone())
            .collect();
        for session in &ended {
            sessions.revoke_family(session.id);
        }
        Ok(ended)
    }

    async fn revoke_children(
        &self,
        parent_id: Uuid,
        _now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let mut sessions = lock(&self.0);
        let ended: Vec<SessionRecord> = sessions
            .families
            .values()
            .filter(|(session, revoked)| {
                !revoked && session.parent_id == Some(parent_id) && !session.outlives_sign_out()
            })
            .map(|(session, _)| session.clone())
            .collect();
        for session in &ended {
            sessions.revoke_family(session.id);
        }
        for (session, _) in sessions.families.values_mut() {
            if session.parent_id == Some(parent_id) {
                session.parent_id = None;
            }
        }
        Ok(ended)
    }

    async fn adopt_children(&self, from: Uuid, to: Uuid) -> Result<(), StoreError> {
        let mut sessions = lock(&self.0);
        for (session, revoked) in sessions.families.values_mut() {
            if !*revoked && session.parent_id == Some(from) {
                session.parent_id = Some(to);
            }
        }
        Ok(())
    }

    async fn revoke_session_by_id(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        _now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let mut sessions = lock(&self.0);
        let Some((session, false)) = sessions.families.get(&session_id).cloned() else {
            return Ok(None);
        };
        if session.user_id != user_id {
            return Ok(None);
        }
        sessions.revoke_family(session_id);
        Ok(Some(session))
    }

    /// Nothing to sweep: these sessions die with the process that could have left an end
    /// unrecorded, and recording an event in memory does not fail.
    async fn claim_unrecorded_ends(
        &self,
        _now: OffsetDateTime,
        _limit: u32,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        Ok(Vec::new())
    }
}
