//! Users and the small profile document each may keep.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{AccountLink, LinkChange, LinkPurpose, OutboxMessage, StoreError};

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    /// Argon2id PHC string; `None` for a passkey-only account, which no password opens.
    pub password_hash: Option<String>,
    pub created_at: OffsetDateTime,
    /// When the user proved they receive mail at `email`; `None` until then.
    pub email_verified_at: Option<OffsetDateTime>,
    pub last_login_at: Option<OffsetDateTime>,
    /// The RSA public key (SubjectPublicKeyInfo PEM) for the signed-nonce scheme, if registered.
    pub pop_public_key: Option<String>,
    /// When an administrator disabled the account; `None` while it is enabled. The lookups
    /// the domain makes (`find_by_*`) never return a disabled user.
    pub disabled_at: Option<OffsetDateTime>,
    /// Bumped by the store on every change an administrator would see (not on a login): the
    /// admin API's `ETag`, compared by conditional writes.
    pub revision: i64,
    /// The provisioning client's own id for the user (SCIM `externalId`).
    pub external_id: Option<String>,
}

/// A page of the user directory, for administrators: users in id order (which is creation
/// order: ids are UUIDv7), disabled ones included.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Case-insensitive prefix of the username or the address.
    pub prefix: Option<String>,
    /// This username, case-insensitively (SCIM's `userName eq`).
    pub username: Option<String>,
    /// This address, case-insensitively (SCIM's `emails eq`).
    pub email: Option<String>,
    /// This external id, exactly (SCIM's `externalId eq`).
    pub external_id: Option<String>,
    /// Users after this id (the previous page's last).
    pub after: Option<Uuid>,
    /// Users skipped first (SCIM's `startIndex`, less one).
    pub offset: u32,
    pub limit: u32,
}

/// What an administrator may change on an account, all at once (the store writes every field).
#[derive(Debug, Clone)]
pub struct UserChange {
    pub username: String,
    pub email: String,
    pub email_verified_at: Option<OffsetDateTime>,
    pub disabled_at: Option<OffsetDateTime>,
    pub external_id: Option<String>,
}

/// How a conditional write ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written<T> {
    Done(T),
    /// No such record.
    Missing,
    /// The record's revision is no longer the one the writer read: nothing was written.
    Stale,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts atomically; a taken username or email (case-insensitive) is `Conflict`.
    async fn insert_user(&self, user: &UserRecord) -> Result<(), StoreError>;
    /// Looks a user up by username, case-insensitively.
    async fn find_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError>;
    async fn find_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError>;
    /// Looks a user up by email, case-insensitively.
    async fn find_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError>;
    async fn record_login(&self, user_id: Uuid, at: OffsetDateTime) -> Result<(), StoreError>;
    /// Sets (or replaces) the user's proof-of-possession public key; false if no such user.
    async fn set_pop_public_key(&self, user_id: Uuid, pem: &str) -> Result<bool, StoreError>;
    /// Deletes the user with everything that is theirs (sessions, consents, profile); false if
    /// no such user.
    async fn delete_user(&self, user_id: Uuid) -> Result<bool, StoreError>;
    /// Sets the password hash, or with `None` makes the account passkey-only: only while the
    /// user has a passkey (checked in the same statement). False if nothing changed.
    async fn set_password_hash(
        &self,
        user_id: Uuid,
        password_hash: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// Marks the account's current address verified (an operator's doing); false if no such
    /// user.
    async fn mark_email_verified(
        &self,
        user_id: Uuid,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// The user with this id, disabled or not (administrators see every account).
    async fn find_any(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError>;
    /// A page of users, disabled ones included.
    async fn list_users(&self, query: &UserQuery) -> Result<Vec<UserRecord>, StoreError>;
    /// How many users the query's conditions match, all pages together.
    async fn count_users(&self, query: &UserQuery) -> Result<u64, StoreError>;
    /// Writes `change`, if the stored revision is `expected` (any, with `None`). A taken
    /// username or address is `Conflict`.
    async fn change_user(
        &self,
        user_id: Uuid,
        change: &UserChange,
        expected: Option<i64>,
    ) -> Result<Written<UserRecord>, StoreError>;
    /// Stores a mailed link with the mail that carries it: both or neither.
    async fn create_link(&self, link: &AccountLink, mail: &OutboxMessage)
    -> Result<(), StoreError>;
    /// The live link (unused, unexpired at `now`) with this hash and purpose, left unused.
    async fn find_link(
        &self,
        token_hash: &[u8; 32],
        purpose: LinkPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<AccountLink>, StoreError>;
    /// Uses the live link up, makes its `change` and queues `notices`, in one transaction;
    /// every other live link of the user for the same purpose is used up with it. `None`, and
    /// nothing changed, if the link is unknown, used or expired, or verifies an address the
    /// account no longer has. A new address another account took is `Conflict(Email)`.
    async fn redeem_link(
        &self,
        token_hash: &[u8; 32],
        purpose: LinkPurpose,
        change: LinkChange<'_>,
        now: OffsetDateTime,
        notices: &[OutboxMessage],
    ) -> Result<Option<AccountLink>, StoreError>;
}

impl UserRecord {
    /// A new account made `now`: a fresh id, no password, address unconfirmed, never logged
    /// in; each way of making one sets what differs.
    pub fn new(username: &str, email: &str, now: OffsetDateTime) -> Self {
        Self {
            id: Uuid::now_v7(),
            username: username.to_owned(),
            email: email.to_owned(),
            password_hash: None,
            created_at: now,
            email_verified_at: None,
            last_login_at: None,
            pop_public_key: None,
            disabled_at: None,
            revision: 1,
            external_id: None,
        }
    }

    pub fn email_verified(&self) -> bool {
        self.email_verified_at.is_some()
    }

    pub fn disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

/// The small per-user document behind `/api/profile`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub display_name: Option<String>,
    pub phone: Option<String>,
    /// When it was last saved (OpenID Connect's `updated_at`): set by the store, not written.
    pub updated_at: Option<OffsetDateTime>,
}

#[async_trait]
pub trait ProfileStore: Send + Sync {
    async fn profile(&self, user_id: Uuid) -> Result<Option<Profile>, StoreError>;
    /// Replaces the whole document.
    async fn put_profile(
        &self,
        user_id: Uuid,
        profile: &Profile,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
}
