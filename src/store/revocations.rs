//! Revoked tokens and sessions: the durable list and its shared mirror.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;

/// What a revocation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationKind {
    /// One access token, by its `jti`.
    Token,
    /// A session (refresh-token family), by the `sid` its access tokens carry.
    Session,
}

impl RevocationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationKind::Token => "jti",
            RevocationKind::Session => "sid",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub kind: RevocationKind,
    pub id: String,
    /// After this the revoked thing is dead anyway, and the revocation can be forgotten.
    pub expires_at: OffsetDateTime,
}

/// The durable revocation list (Postgres): the truth, consulted when the shared cache cannot be.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    async fn revoke(&self, revocation: &Revocation, now: OffsetDateTime) -> Result<(), StoreError>;
    /// Whether the token `jti`, or the session `sid` it belongs to, is revoked.
    async fn is_revoked(&self, jti: &str, sid: Option<&str>) -> Result<bool, StoreError>;
    /// Every revocation that has not expired by `now`, to repopulate the shared cache.
    async fn unexpired(&self, now: OffsetDateTime) -> Result<Vec<Revocation>, StoreError>;
    /// Hands each revocation that has not expired by `now` to `visit`, as it is read: a
    /// replica's memory is filled without the whole list held twice on the way.
    async fn each_unexpired(
        &self,
        now: OffsetDateTime,
        visit: &mut (dyn FnMut(Revocation) + Send),
    ) -> Result<(), StoreError> {
        for revocation in self.unexpired(now).await? {
            visit(revocation);
        }
        Ok(())
    }
}

/// What one round trip to the shared cache says about a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenStatus {
    pub revoked: bool,
    /// False when the cache lost its data (restart, flush) and must not be trusted for
    /// revocations until it is reloaded from the durable list.
    pub revocations_loaded: bool,
}

/// The shared revocation mirror (Redis), asked when a replica's memory is not current.
///
/// It holds no verified tokens: a verified-token cache anyone with Redis write access could
/// fill would let them plant claims for a token authd never signed. Each replica keeps its own.
#[async_trait]
pub trait TokenStateCache: Send + Sync {
    /// One round trip: revocation of `jti` and `sid`, and whether the list is loaded.
    async fn status(&self, jti: &str, sid: Option<&str>) -> Result<TokenStatus, StoreError>;
    /// Records a revocation for `ttl`.
    async fn revoke(&self, revocation: &Revocation, ttl: Duration) -> Result<(), StoreError>;
    /// Replaces the revocation list with `revocations` and marks it loaded.
    async fn load_revocations(
        &self,
        revocations: &[Revocation],
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
}
