//! LDAP-backed accounts in memory.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use uuid::Uuid;

use super::{lock, users::MemoryUsers};
use crate::store::{LdapAccount, LdapAccountStore, StoreError, UniqueField, UserRecord, UserStore};

pub struct MemoryLdapAccounts {
    by_user: Mutex<BTreeMap<Uuid, LdapAccount>>,
    users: Arc<MemoryUsers>,
}

impl MemoryLdapAccounts {
    pub fn new(users: Arc<MemoryUsers>) -> Self {
        Self {
            by_user: Mutex::default(),
            users,
        }
    }

    fn check_new(&self, account: &LdapAccount) -> Result<(), StoreError> {
        let taken = lock(&self.by_user)
            .values()
            .any(|linked| linked.entry_id == account.entry_id || linked.user_id == account.user_id);
        if taken {
            return Err(StoreError::Conflict(UniqueField::LdapEntry));
        }
        Ok(())
    }
}

#[async_trait]
impl LdapAccountStore for MemoryLdapAccounts {
    async fn find_ldap_account(&self, user_id: Uuid) -> Result<Option<LdapAccount>, StoreError> {
        Ok(lock(&self.by_user).get(&user_id).cloned())
    }

    async fn find_ldap_entry(&self, entry_id: &str) -> Result<Option<LdapAccount>, StoreError> {
        Ok(lock(&self.by_user)
            .values()
            .find(|account| account.entry_id == entry_id)
            .cloned())
    }

    async fn provision_ldap(
        &self,
        user: &UserRecord,
        account: &LdapAccount,
    ) -> Result<(), StoreError> {
        self.check_new(account)?;
        self.users.insert_user(user).await?;
        lock(&self.by_user).insert(account.user_id, account.clone());
        Ok(())
    }

    async fn adopt_ldap(&self, account: &LdapAccount) -> Result<(), StoreError> {
        self.check_new(account)?;
        self.users.set_password_hash(account.user_id, None).await?;
        lock(&self.by_user).insert(account.user_id, account.clone());
        Ok(())
    }

    async fn touch_ldap(&self, account: &LdapAccount) -> Result<(), StoreError> {
        if let Some(stored) = lock(&self.by_user).get_mut(&account.user_id) {
            stored.dn.clone_from(&account.dn);
            stored.groups.clone_from(&account.groups);
            stored.last_login_at = account.last_login_at;
        }
        Ok(())
    }
}
