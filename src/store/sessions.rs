//! Sessions: refresh-token families, their rotation, and the login each continues.

use std::net::IpAddr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreError;

/// A session: the family of refresh tokens descended from one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub scope: String,
    pub created_at: OffsetDateTime,
    /// The DPoP key thumbprint its refresh tokens are bound to (RFC 9449 §5), if any.
    pub dpop_jkt: Option<String>,
    /// The client the session was granted to by the code flow; `None` for the password grant
    /// and the web UI's own sessions.
    pub client_id: Option<String>,
    /// The login the session continues: a web UI session's own, or the one a code-flow
    /// session's code came from. `None` for the password grant and `/auth`.
    pub login: Option<Login>,
    /// The resources (RFC 8707) the session was granted for: its access tokens' `aud`. Empty
    /// for `AUTHD_AUDIENCE`.
    pub resources: Vec<String>,
    /// The browser session whose sign-in started this one (a code flow, an approved device):
    /// it ends when that one does.
    pub parent_id: Option<Uuid>,
    /// The browser (its `User-Agent`) and address the session began from, as its user sees
    /// them in the list of their sessions.
    pub user_agent: Option<String>,
    pub ip: Option<IpAddr>,
}

impl SessionRecord {
    /// Whether a refresh presented with `dpop_jkt` (the proof's key, if any) may continue this
    /// session: always for an unbound session, only with its own key for a bound one.
    pub fn accepts_key(&self, dpop_jkt: Option<&str>) -> bool {
        self.dpop_jkt.is_none() || self.dpop_jkt.as_deref() == dpop_jkt
    }

    /// Whether the session lives on when the browser session it came from ends: one granted
    /// `offline_access` is meant to (Back-Channel Logout 1.0 §2.7).
    pub fn outlives_sign_out(&self) -> bool {
        self.scope.split(' ').any(|scope| scope == "offline_access")
    }

    /// Whether a refresh by `client_id` (the authenticated client, if any) may continue this
    /// session: always for a session no client was granted, only by its own client otherwise.
    pub fn accepts_client(&self, client_id: Option<&str>) -> bool {
        self.client_id.is_none() || self.client_id.as_deref() == client_id
    }
}

/// A live session as its user sees it in a list: when it began, when its refresh token last
/// turned over, and when the current one expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    pub session: SessionRecord,
    /// When the live refresh token was issued: the login, or the latest refresh.
    pub refreshed_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// One refresh token as stored: only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub id: Uuid,
    pub token_hash: [u8; 32],
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// It was live: it is now used, and `next` replaces it in the same session.
    Rotated(SessionRecord),
    /// It had been used before: the whole session is now revoked.
    Reused(SessionRecord),
    /// It is live, but its session is bound to another DPoP key than the one presented:
    /// nothing changed, so a thief without the key cannot spend the owner's token.
    WrongKey,
    /// It is live, but its session was granted to another client than the one that presented
    /// it (or to a client, and none authenticated): nothing changed.
    WrongClient,
    /// Unknown, expired, or already revoked.
    Invalid,
    /// Live, but its session is older than the absolute session lifetime: nothing changed,
    /// and the user must sign in again (ASVS 3.3.2).
    Ended,
}

/// How long the replica that revokes a session has to record its end (`session.ended`) before
/// any replica's sweep records it instead: the end of a session revoked by a replica that died
/// before telling anyone is told that much later.
pub const END_RECORD_GRACE: time::Duration = time::Duration::minutes(1);

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn start_session(
        &self,
        session: &SessionRecord,
        first: &RefreshTokenRecord,
    ) -> Result<(), StoreError>;
    /// Atomically: if `presented` is live, mark it used and add `next` to its session; if it was
    /// used already, revoke the session and all its tokens. Of concurrent calls with one token,
    /// exactly one rotates. A live token of a DPoP-bound session rotates only when `dpop_jkt`
    /// is the session's key, and one of a session granted to a client only when `client_id`
    /// is that client.
    /// A session lives at most `session_lifetime` from its start, however often it is
    /// refreshed: `next` expires by then.
    async fn rotate(
        &self,
        presented: &[u8; 32],
        dpop_jkt: Option<&str>,
        client_id: Option<&str>,
        next: &RefreshTokenRecord,
        session_lifetime: time::Duration,
        now: OffsetDateTime,
    ) -> Result<Rotation, StoreError>;
    /// The session of a live (unused, unexpired, unrevoked) refresh token, and when it expires.
    async fn find_live(
        &self,
        presented: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<(SessionRecord, OffsetDateTime)>, StoreError>;
    /// Session `session_id` of `user_id`, if it exists and is not revoked.
    async fn find_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// Revokes the session `presented` belongs to, returning it if there was one to revoke.
    async fn revoke_session(
        &self,
        presented: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// The user's sessions that hold a live refresh token, newest first.
    async fn live_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionSummary>, StoreError>;
    /// Revokes every live session `user_id` granted `client_id`, returning them.
    async fn revoke_client_sessions(
        &self,
        user_id: Uuid,
        client_id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError>;
    /// Revokes every live session started from session `parent_id`, returning them; those
    /// that outlive a sign-out (`offline_access`) are left live, no longer tied to it.
    async fn revoke_children(
        &self,
        parent_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError>;
    /// Moves the live sessions started from session `from` to session `to`.
    async fn adopt_children(&self, from: Uuid, to: Uuid) -> Result<(), StoreError>;
    /// Revokes session `session_id` if it is `user_id`'s and not yet revoked, returning it.
    async fn revoke_session_by_id(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// Up to `limit` revoked sessions whose end is due to be recorded by `now` and is not,
    /// each taken for [`END_RECORD_GRACE`] so that one sweeping replica records it (another
    /// takes it again after that, if this one dies too). Recording the end
    /// ([`super::AuditStore::append_events`]) releases it for good.
    async fn claim_unrecorded_ends(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, StoreError>;
}

/// How and when the user authenticated, and which claims the client asked for: carried from
/// the login to the session a code starts, so every ID token of the session repeats the same
/// `auth_time` and `amr` (OpenID Connect Core §12.2), and UserInfo knows the request's claims.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Login {
    /// Unix seconds of the authentication.
    pub auth_time: i64,
    /// Authentication methods (RFC 8176), e.g. `pwd`.
    #[serde(default)]
    pub amr: Vec<String>,
    #[serde(default, skip_serializing_if = "RequestedClaims::is_empty")]
    pub claims: RequestedClaims,
    /// The upstream identity provider the user logged in through, if any: the ID token's
    /// `idp` claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
}

impl Login {
    /// A password login at `auth_time`: every interactive login authd has so far.
    pub fn password(auth_time: i64) -> Self {
        Self {
            auth_time,
            amr: vec!["pwd".to_owned()],
            claims: RequestedClaims::default(),
            idp: None,
        }
    }
}

/// The `claims` request parameter (§5.5), reduced to the names authd can release: individual
/// claims asked for at UserInfo and in the ID token. `essential` and `value` are not enforced
/// (§5.5.1 lets a provider release a claim or not), and unknown claims are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestedClaims {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token: Vec<String>,
}

impl RequestedClaims {
    pub fn is_empty(&self) -> bool {
        self.userinfo.is_empty() && self.id_token.is_empty()
    }
}
