//! Sessions: the refresh-token family a login starts, its rotation, reuse detection and
//! revocation. Access tokens issued in a session carry its id as `sid`, so revoking the session
//! revokes them too.

mod refresh_token;

use std::{net::IpAddr, sync::Arc};

use time::Duration;
use uuid::Uuid;

pub use crate::store::SessionRecord;
pub use refresh_token::RefreshToken;

use crate::{
    clock::Clock,
    error::Error,
    events::{Actor, AuditTrail, EventType, NewEvent},
    metrics::Metrics,
    store::Login,
    store::{
        RefreshTokenRecord, Revocation, RevocationKind, Rotation, SessionStore, SessionSummary,
    },
    tokens::Revocations,
};

/// A live session and the refresh token that continues it (shown to the client once).
#[derive(Debug)]
pub struct Continuation {
    pub session: SessionRecord,
    pub refresh_token: RefreshToken,
}

/// What a new session is: whose, with what scope, bound to which key and granted to which
/// client.
#[derive(Debug)]
pub struct NewSession<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub scope: String,
    pub dpop_jkt: Option<&'a str>,
    pub client_id: Option<&'a str>,
    /// The login it continues, for its ID tokens (OpenID Connect).
    pub login: Option<Login>,
    /// The resources it is granted for (RFC 8707); empty for `AUTHD_AUDIENCE`.
    pub resources: Vec<String>,
    /// The browser session whose sign-in granted it, which takes it along when it ends.
    pub parent: Option<Uuid>,
    /// Where it began, for its user's list of sessions.
    pub user_agent: Option<String>,
    pub ip: Option<IpAddr>,
}

pub struct Sessions {
    store: Arc<dyn SessionStore>,
    revocations: Arc<Revocations>,
    clock: Arc<dyn Clock>,
    refresh_token_ttl: Duration,
    /// The longest a session lives, however often it is refreshed (ASVS 3.3.2): its refresh
    /// tokens expire by then.
    max_lifetime: Duration,
    /// How long a session's access tokens can outlive its revocation: the access-token lifetime
    /// plus the verifier's leeway.
    access_token_reach: Duration,
    metrics: Arc<Metrics>,
    /// Where each ended session is recorded (`session.ended`); none in unit tests.
    trail: Option<Arc<AuditTrail>>,
}

/// Why a session ended, as its `session.ended` event says.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// Its refresh token was revoked (RFC 7009) or its user signed out.
    Revoked,
    /// A refresh token was used twice (RFC 9700 §4.14).
    RefreshTokenReused,
    /// A consent was withdrawn.
    ConsentWithdrawn,
    /// The browser session whose sign-in granted it ended.
    SignedOut,
    /// The authorization code that started it was presented again (OAuth 2.1 §4.1.3).
    CodeReplayed,
}

impl Ending {
    fn as_str(self) -> &'static str {
        match self {
            Ending::Revoked => "revoked",
            Ending::RefreshTokenReused => "refresh_token_reused",
            Ending::ConsentWithdrawn => "consent_withdrawn",
            Ending::SignedOut => "signed_out",
            Ending::CodeReplayed => "authorization_code_replayed",
        }
    }
}

impl Sessions {
    pub fn new(
        store: Arc<dyn SessionStore>,
        revocations: Arc<Revocations>,
        clock: Arc<dyn Clock>,
        refresh_token_ttl: Duration,
        max_lifetime: Duration,
        access_token_reach: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            revocations,
            clock,
            refresh_token_ttl,
            max_lifetime,
            access_token_reach,
            metrics,
            trail: None,
        }
    }

    /// Records every session that ends in `trail`.
    pub fn with_trail(mut self, trail: Arc<AuditTrail>) -> Self {
        self.trail = Some(trail);
        self
    }

    /// Starts a session for `user_id`; with `dpop_jkt`, its refresh tokens are bound to that
    /// DPoP key and work only with a proof signed by it (RFC 9449 §5).
    pub async fn start(
        &self,
        user_id: Uuid,
        scope: String,
        dpop_jkt: Option<&str>,
    ) -> Result<Continuation, Error> {
        self.start_with(NewSession {
            id: Uuid::now_v7(),
            user_id,
            scope,
            dpop_jkt,
            client_id: None,
            login: None,
            resources: Vec::new(),
            parent: None,
            user_agent: None,
            ip: None,
        })
        .await
    }

    /// Starts the session `new` describes: one granted to a client, or one whose id the
    /// caller had to know before it existed.
    pub async fn start_with(&self, new: NewSession<'_>) -> Result<Continuation, Error> {
        let session = SessionRecord {
            id: new.id,
            user_id: new.user_id,
            scope: new.scope,
            created_at: self.clock.now(),
            dpop_jkt: new.dpop_jkt.map(str::to_owned),
            client_id: new.client_id.map(str::to_owned),
            login: new.login,
            resources: new.resources,
            parent_id: new.parent,
            user_agent: new.user_agent,
            ip: new.ip,
        };
        let refresh_token = RefreshToken::generate();
        self.store
            .start_session(&session, &self.record(&refresh_token))
            .await?;
        Ok(Continuation {
            session,
            refresh_token,
        })
    }

    /// Trades a refresh token for its successor. A token presented twice is a stolen one (or a
    /// client racing itself): either way the session ends here (RFC 9700 §4.14).
    ///
    /// A DPoP-bound session refreshes only with a proof by its key (`dpop_jkt`). The store
    /// checks that under the same lock as the rotation, before the token is used, so a thief
    /// without the key cannot burn the owner's token. A session the code flow granted a client
    /// refreshes only for that client (`client_id`, authenticated), checked the same way.
    pub async fn refresh(
        &self,
        presented: &RefreshToken,
        dpop_jkt: Option<&str>,
        client_id: Option<&str>,
    ) -> Result<Continuation, Error> {
        let next = RefreshToken::generate();
        let now = self.clock.now();
        match self
            .store
            .rotate(
                &presented.hash(),
                dpop_jkt,
                client_id,
                &self.record(&next),
                self.max_lifetime,
                now,
            )
            .await?
        {
            Rotation::Rotated(session) => Ok(Continuation {
                session,
                refresh_token: next,
            }),
            Rotation::Reused(session) => {
                self.metrics.refresh_reuse.inc();
                tracing::warn!(
                    user_id = %session.user_id,
                    session = %session.id,
                    "refresh token reused: session revoked"
                );
                self.finish(&session, Actor::Anonymous, Ending::RefreshTokenReused)
                    .await?;
                Err(Error::InvalidGrant(
                    "refresh token was already used; the session is revoked",
                ))
            }
            // No client authenticated: the session's client must (RFC 6749 §6).
            Rotation::WrongClient if client_id.is_none() => Err(Error::CLIENT_AUTH_FAILED),
            Rotation::WrongClient => Err(Error::InvalidGrant(
                "the refresh token was issued to another client",
            )),
            Rotation::WrongKey => Err(Error::InvalidGrant(
                "the refresh token is bound to a DPoP key: send a DPoP proof signed with it",
            )),
            Rotation::Invalid => Err(Error::InvalidGrant(
                "refresh token is invalid, expired or revoked",
            )),
            Rotation::Ended => Err(Error::InvalidGrant(
                "the session has reached its maximum lifetime: sign in again",
            )),
        }
    }

    /// The session of a live refresh token, and when that token expires.
    pub async fn find_live(
        &self,
        presented: &RefreshToken,
    ) -> Result<Option<(SessionRecord, time::OffsetDateTime)>, Error> {
        Ok(self
            .store
            .find_live(&presented.hash(), self.clock.now())
            .await?)
    }

    /// `user_id`'s session `session_id`, unless it was revoked.
    pub async fn find(
        &self,
        user_id: Uuid,
        session_id: Uuid,
    ) -> Result<Option<SessionRecord>, Error> {
        Ok(self.store.find_session(user_id, session_id).await?)
    }

    /// Ends the session `presented` belongs to, if any (unknown tokens are not an error:
    /// RFC 7009 §2.2).
    pub async fn revoke(&self, presented: &RefreshToken) -> Result<(), Error> {
        let now = self.clock.now();
        if let Some(session) = self.store.revoke_session(&presented.hash(), now).await? {
            let holder = session
                .client_id
                .clone()
                .map_or(Actor::User(session.user_id), Actor::Client);
            self.finish(&session, holder, Ending::Revoked).await?;
            tracing::info!(user_id = %session.user_id, session = %session.id, "session revoked");
        }
        Ok(())
    }

    /// Replaces the browser session `presented` belongs to with `successor`, a new sign-in in
    /// the same browser: the sessions it granted to clients move to `successor` when both are
    /// the same user's, and end with it when they are not.
    pub async fn replace(
        &self,
        presented: &RefreshToken,
        successor: &SessionRecord,
    ) -> Result<(), Error> {
        if let Some((previous, _)) = self.find_live(presented).await?
            && previous.user_id == successor.user_id
            && previous.id != successor.id
        {
            self.store.adopt_children(previous.id, successor.id).await?;
        }
        self.revoke(presented).await
    }

    /// The user's live sessions, newest first.
    pub async fn live(&self, user_id: Uuid) -> Result<Vec<SessionSummary>, Error> {
        Ok(self.store.live_sessions(user_id, self.clock.now()).await?)
    }

    /// Ends `user_id`'s session `session_id` and every access token issued in it. Whether it
    /// was theirs and live: a session of another user is left alone, as if unknown.
    pub async fn revoke_by_id(&self, user_id: Uuid, session_id: Uuid) -> Result<bool, Error> {
        self.revoke_by_id_as(user_id, session_id, Actor::User(user_id))
            .await
    }

    /// [`Self::revoke_by_id`], by `actor` (an administrator).
    pub async fn revoke_by_id_as(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        actor: Actor,
    ) -> Result<bool, Error> {
        let now = self.clock.now();
        let Some(session) = self
            .store
            .revoke_session_by_id(user_id, session_id, now)
            .await?
        else {
            return Ok(false);
        };
        tracing::info!(user_id = %session.user_id, session = %session.id, "session revoked");
        self.finish(&session, actor, Ending::Revoked).await?;
        Ok(true)
    }

    /// Ends every live session of `user_id`, with the access tokens issued in them (a password
    /// reset, second factors reset by an operator). Returns how many there were.
    pub async fn revoke_all(&self, user_id: Uuid) -> Result<usize, Error> {
        self.revoke_all_as(user_id, Actor::User(user_id)).await
    }

    /// [`Self::revoke_all`], by `actor` (an administrator, an operator).
    pub async fn revoke_all_as(&self, user_id: Uuid, actor: Actor) -> Result<usize, Error> {
        let mut ended = 0;
        for live in self.live(user_id).await? {
            if self
                .revoke_by_id_as(user_id, live.session.id, actor.clone())
                .await?
            {
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// Ends every session `user_id` granted `client_id`, with the access tokens issued in them
    /// (a withdrawn consent). Returns how many there were.
    pub async fn revoke_for_client(&self, user_id: Uuid, client_id: &str) -> Result<usize, Error> {
        let now = self.clock.now();
        let ended = self
            .store
            .revoke_client_sessions(user_id, client_id, now)
            .await?;
        for session in &ended {
            self.finish(session, Actor::User(user_id), Ending::ConsentWithdrawn)
                .await?;
        }
        Ok(ended.len())
    }

    /// Ends session `session_id` whoever holds it, and every access token issued in it, even
    /// one the session has not issued yet (a replayed authorization code, OAuth 2.1 §4.1.3:
    /// the replay can arrive while the first redemption is still starting the session).
    pub async fn revoke_granted(&self, user_id: Uuid, session_id: Uuid) -> Result<(), Error> {
        let now = self.clock.now();
        let revoked = self
            .store
            .revoke_session_by_id(user_id, session_id, now)
            .await?;
        let revocation = Revocation {
            kind: RevocationKind::Session,
            id: session_id.to_string(),
            expires_at: now + self.access_token_reach,
        };
        self.revocations.revoke(&revocation, now).await?;
        if let Some(session) = revoked {
            self.ended(&session, Actor::Anonymous, Ending::CodeReplayed)
                .await;
        }
        Ok(())
    }

    /// Finishes what the replicas that revoked them did not: sessions revoked at least
    /// [`crate::store::END_RECORD_GRACE`] ago whose end was never recorded, because the
    /// replica died (or the database failed) between the revocation and the record. Each is
    /// finished as a fresh revocation is, by authd itself. Returns how many there were.
    ///
    /// Every replica sweeps; a session is taken by one at a time.
    pub async fn record_missed_ends(&self) -> Result<usize, Error> {
        const BATCH: u32 = 100;
        let mut finished = 0;
        loop {
            let missed = self
                .store
                .claim_unrecorded_ends(self.clock.now(), BATCH)
                .await?;
            for session in &missed {
                tracing::warn!(
                    user_id = %session.user_id,
                    session = %session.id,
                    "recording the end of a session revoked without it"
                );
                self.finish(session, Actor::System, Ending::Revoked).await?;
            }
            finished += missed.len();
            if missed.len() < BATCH as usize {
                return Ok(finished);
            }
        }
    }

    /// What follows the revocation of `session` in the store: its access tokens revoked, the
    /// sessions its sign-in granted to clients ended with it, and its end recorded (which
    /// tells its client, by back-channel logout, webhooks and Shared Signals receivers).
    ///
    /// The record comes last because it is what marks the session finished: a replica that
    /// dies before it leaves the session to [`Self::record_missed_ends`], which does all of
    /// this again (each step is idempotent).
    async fn finish(
        &self,
        session: &SessionRecord,
        actor: Actor,
        why: Ending,
    ) -> Result<(), Error> {
        self.revoke_access_tokens(session).await?;
        // Only a session granted to no client (a browser's) grants others: a client's session
        // has none to look for.
        if session.client_id.is_none() {
            let children = self
                .store
                .revoke_children(session.id, self.clock.now())
                .await?;
            for child in &children {
                self.revoke_access_tokens(child).await?;
                self.ended(child, actor.clone(), Ending::SignedOut).await;
            }
        }
        self.ended(session, actor, why).await;
        Ok(())
    }

    /// Records that `session` ended. The session is over whatever happens here: a failure to
    /// record it is logged, not returned, and the sweep records it later.
    async fn ended(&self, session: &SessionRecord, actor: Actor, why: Ending) {
        let Some(trail) = &self.trail else {
            return;
        };
        let mut event = NewEvent::new(EventType::SessionEnded, actor)
            .user(session.user_id)
            .detail(serde_json::json!({ "session_id": session.id, "reason": why.as_str() }));
        if let Some(client_id) = &session.client_id {
            event = event.client(client_id.clone());
        }
        if let Err(err) = trail.record_session_end(event, session.id).await {
            tracing::error!(
                error = %err,
                session = %session.id,
                "could not record an ended session; it is retried within a minute or two"
            );
        }
    }

    async fn revoke_access_tokens(&self, session: &SessionRecord) -> Result<(), Error> {
        let now = self.clock.now();
        let revocation = Revocation {
            kind: RevocationKind::Session,
            id: session.id.to_string(),
            expires_at: now + self.access_token_reach,
        };
        self.revocations.revoke(&revocation, now).await
    }

    fn record(&self, token: &RefreshToken) -> RefreshTokenRecord {
        let now = self.clock.now();
        RefreshTokenRecord {
            id: Uuid::now_v7(),
            token_hash: token.hash(),
            issued_at: now,
            // A session's first token; later ones are capped at the session's end by `rotate`.
            expires_at: now + self.refresh_token_ttl.min(self.max_lifetime),
        }
    }
}
