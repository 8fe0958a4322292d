//! Accounts whose password lives in an LDAP directory.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{StoreError, UserRecord};

/// A local account and the directory entry that holds its password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapAccount {
    pub user_id: Uuid,
    /// The entry's stable id (`entryUUID`, or `objectGUID` as hex): what names it.
    pub entry_id: String,
    /// The entry's DN at the last login.
    pub dn: String,
    /// The groups the directory granted at the last login.
    pub groups: Vec<String>,
    pub linked_at: OffsetDateTime,
    pub last_login_at: Option<OffsetDateTime>,
}

impl LdapAccount {
    /// A link made `now`, its groups still to be read.
    pub fn linked(user_id: Uuid, entry_id: &str, dn: &str, now: OffsetDateTime) -> Self {
        Self {
            user_id,
            entry_id: entry_id.to_owned(),
            dn: dn.to_owned(),
            groups: Vec::new(),
            linked_at: now,
            last_login_at: None,
        }
    }
}

#[async_trait]
pub trait LdapAccountStore: Send + Sync {
    async fn find_ldap_account(&self, user_id: Uuid) -> Result<Option<LdapAccount>, StoreError>;
    async fn find_ldap_entry(&self, entry_id: &str) -> Result<Option<LdapAccount>, StoreError>;
    /// Creates `user` (with no password hash) and its account, both or neither. A taken
    /// username or address is `Conflict(Username | Email)`; a linked entry
    /// `Conflict(LdapEntry)`.
    async fn provision_ldap(
        &self,
        user: &UserRecord,
        account: &LdapAccount,
    ) -> Result<(), StoreError>;
    /// Makes an existing user directory-backed: links the entry and drops the password hash,
    /// both or neither. `Conflict(LdapEntry)` if the entry or the user is linked already.
    async fn adopt_ldap(&self, account: &LdapAccount) -> Result<(), StoreError>;
    /// Records a login: the entry's DN and groups now.
    async fn touch_ldap(&self, account: &LdapAccount) -> Result<(), StoreError>;
}
