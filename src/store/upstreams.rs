//! Upstream identity providers and the federated identities they vouch for.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{SealedBox, StoreError, UserRecord, Written};

/// How authd talks to an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamKind {
    /// OpenID Connect: an ID token, verified against the upstream's keys.
    Oidc,
    /// Plain OAuth 2.0 (GitHub-style): who the user is comes from the userinfo endpoint.
    Oauth2,
}

impl UpstreamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Oauth2 => "oauth2",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "oidc" => Some(Self::Oidc),
            "oauth2" => Some(Self::Oauth2),
            _ => None,
        }
    }
}

/// Whether a first login through an upstream may create an authd user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provisioning {
    /// Just in time: the first login creates the user from the upstream's claims.
    Jit,
    /// Only users already linked to an identity of the upstream may log in with it.
    Existing,
}

impl Provisioning {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jit => "jit",
            Self::Existing => "existing",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "jit" => Some(Self::Jit),
            "existing" => Some(Self::Existing),
            _ => None,
        }
    }
}

/// Where an upstream puts what authd reads of a user: a claim name, or a dotted path into
/// nested objects. OpenID Connect's names unless set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClaimPaths {
    pub subject: String,
    pub username: String,
    pub email: String,
    pub email_verified: String,
}

impl Default for ClaimPaths {
    fn default() -> Self {
        Self {
            subject: "sub".to_owned(),
            username: "preferred_username".to_owned(),
            email: "email".to_owned(),
            email_verified: "email_verified".to_owned(),
        }
    }
}

/// An upstream as stored.
#[derive(Debug, Clone)]
pub struct UpstreamRecord {
    pub id: String,
    pub name: String,
    pub kind: UpstreamKind,
    pub issuer: Option<String>,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    /// The JWS algorithms its ID tokens may use (`RS256`, …).
    pub algorithms: Vec<String>,
    /// It sends RFC 9207's `iss` with every authorization response.
    pub iss_parameter: bool,
    pub client_id: String,
    /// The client secret, sealed under the master key named (the id as associated data).
    pub client_secret: SealedBox,
    pub master_key_id: String,
    pub scopes: String,
    pub claims: ClaimPaths,
    pub provisioning: Provisioning,
    pub trust_email: bool,
    pub require_second_factor: bool,
    pub enabled: bool,
    pub created_at: OffsetDateTime,
    pub revision: i64,
}

/// A user's identity at an upstream: the pair (upstream, subject) names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedIdentity {
    pub upstream_id: String,
    pub subject: String,
    pub user_id: Uuid,
    pub username: Option<String>,
    pub email: Option<String>,
    pub linked_at: OffsetDateTime,
    pub last_login_at: Option<OffsetDateTime>,
}

#[async_trait]
pub trait UpstreamStore: Send + Sync {
    /// `Conflict` if the id is taken.
    async fn insert_upstream(&self, upstream: &UpstreamRecord) -> Result<(), StoreError>;
    async fn find_upstream(&self, id: &str) -> Result<Option<UpstreamRecord>, StoreError>;
    /// Every upstream, by id.
    async fn list_upstreams(&self) -> Result<Vec<UpstreamRecord>, StoreError>;
    /// Writes every field but the id and creation time, if the stored revision is `expected`
    /// (any, without one).
    async fn replace_upstream(
        &self,
        upstream: &UpstreamRecord,
        expected: Option<i64>,
    ) -> Result<Written<UpstreamRecord>, StoreError>;
    /// Replaces an upstream's sealed client secret (`authd keys rewrap`), if it is still sealed
    /// under `previous_master`; whether it was.
    async fn reseal_upstream(
        &self,
        id: &str,
        previous_master: &str,
        sealed: &SealedBox,
        master_key_id: &str,
    ) -> Result<bool, StoreError>;
    /// Deletes the upstream and the identities linked through it.
    async fn delete_upstream(&self, id: &str) -> Result<bool, StoreError>;

    async fn find_identity(
        &self,
        upstream_id: &str,
        subject: &str,
    ) -> Result<Option<FederatedIdentity>, StoreError>;
    /// The identities linked to a user, by upstream.
    async fn identities_of(&self, user_id: Uuid) -> Result<Vec<FederatedIdentity>, StoreError>;
    /// Links an identity to its (existing) user. `Conflict` if the identity is linked already,
    /// or the user has one of that upstream.
    async fn link_identity(&self, identity: &FederatedIdentity) -> Result<(), StoreError>;
    /// Creates `user` and links `identity` to it, both or neither.
    async fn provision(
        &self,
        user: &UserRecord,
        identity: &FederatedIdentity,
    ) -> Result<(), StoreError>;
    /// Records a login through the identity, with what the upstream said of the user now.
    async fn touch_identity(
        &self,
        identity: &FederatedIdentity,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Whether the user had that identity.
    async fn unlink_identity(&self, user_id: Uuid, upstream_id: &str) -> Result<bool, StoreError>;
}
