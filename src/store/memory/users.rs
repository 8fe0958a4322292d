//! Users and the links mailed to them, in memory.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{MemoryOutbox, lock};
use crate::store::{
    AccountLink, LinkChange, LinkPurpose, OutboxMessage, StoreError, UniqueField, UserChange,
    UserQuery, UserRecord, UserStore, Written,
};

pub struct MemoryUsers {
    by_id: Mutex<HashMap<Uuid, UserRecord>>,
    /// Links by token hash.
    links: Mutex<HashMap<[u8; 32], StoredLink>>,
    outbox: Arc<MemoryOutbox>,
}

/// Users whose mail goes to an outbox of their own (for tests of the users alone).
struct StoredLink {
    link: AccountLink,
    used_at: Option<OffsetDateTime>,
}

impl StoredLink {
    fn live(&self, purpose: LinkPurpose, now: OffsetDateTime) -> bool {
        self.used_at.is_none() && self.link.purpose == purpose && self.link.expires_at > now
    }
}

impl Default for MemoryUsers {
    fn default() -> Self {
        Self::new(Arc::default())
    }
}

impl MemoryUsers {
    pub fn new(outbox: Arc<MemoryOutbox>) -> Self {
        Self {
            by_id: Mutex::default(),
            links: Mutex::default(),
            outbox,
        }
    }
}

#[async_trait]
impl UserStore for MemoryUsers {
    async fn insert_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let mut users = lock(&self.by_id);
        for existing in users.values() {
            if existing.username.eq_ignore_ascii_case(&user.username) {
                return Err(StoreError::Conflict(UniqueField::Username));
            }
            if existing.email.eq_ignore_ascii_case(&user.email) {
                return Err(StoreError::Conflict(UniqueField::Email));
            }
        }
        users.insert(user.id, user.clone());
        Ok(())
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(lock(&self.by_id)
            .values()
            .find(|user| user.username.eq_ignore_ascii_case(username) && !user.disabled())
            .cloned())
    }

    async fn find_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        Ok(lock(&self.by_id)
            .get(&id)
            .filter(|user| !user.disabled())
            .cloned())
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(lock(&self.by_id)
            .values()
            .find(|user| user.email.eq_ignore_ascii_case(email) && !user.disabled())
            .cloned())
    }

    async fn find_any(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        Ok(lock(&self.by_id).get(&id).cloned())
    }

    async fn list_users(&self, query: &UserQuery) -> Result<Vec<UserRecord>, StoreError> {
        let mut users: Vec<UserRecord> = lock(&self.by_id)
            .values()
            .filter(|user| query.after.is_none_or(|after| user.id > after))
            .filter(|user| matches(query, user))
            .cloned()
            .collect();
        users.sort_by_key(|user| user.id);
        Ok(users
            .into_iter()
            .skip(query.offset as usize)
            .take(query.limit as usize)
            .collect())
    }

    async fn count_users(&self, query: &UserQuery) -> Result<u64, StoreError> {
        Ok(lock(&self.by_id)
            .values()
            .filter(|user| matches(query, user))
            .count() as u64)
    }

    async fn change_user(
        &self,
        user_id: Uuid,
        change: &UserChange,
        expected: Option<i64>,
    ) -> Result<Written<UserRecord>, StoreError> {
        let mut users = lock(&self.by_id);
        for other in users.values().filter(|other| other.id != user_id) {
            if other.username.eq_ignore_ascii_case(&change.username) {
                return Err(StoreError::Conflict(UniqueField::Username));
            }
            if other.email.eq_ignore_ascii_case(&change.email) {
                return Err(StoreError::Conflict(UniqueField::Email));
            }
        }
        let Some(user) = users.get_mut(&user_id) else {
            return Ok(Written::Missing);
        };
        if expected.is_some_and(|expected| expected != user.revision) {
            return Ok(Written::Stale);
        }
        user.username.clone_from(&change.username);
        user.email.clone_from(&change.email);
        user.email_verified_at = change.email_verified_at;
        user.disabled_at = change.disabled_at;
        user.external_id.clone_from(&change.external_id);
        user.revision += 1;
        Ok(Written::Done(user.clone()))
    }

    async fn record_login(&self, user_id: Uuid, at: OffsetDateTime) -> Result<(), StoreError> {
        if let Some(user) = lock(&self.by_id).get_mut(&user_id) {
            user.last_login_at = Some(at);
        }
        Ok(())
    }

    async fn set_pop_public_key(&self, user_id: Uuid, pem: &str) -> Result<bool, StoreError> {
        Ok(lock(&self.by_id)
            .get_mut(&user_id)
            .map(|user| {
                user.pop_public_key = Some(pem.to_owned());
                user.revision += 1;
            })
            .is_some())
    }

    async fn delete_user(&self, user_id: Uuid) -> Result<bool, StoreError> {
        Ok(lock(&self.by_id).remove(&user_id).is_some())
    }

    /// Does not see the passkeys (another memory store): `Passkeys` checks that the user has
    /// one before dropping the password.
    async fn set_password_hash(
        &self,
        user_id: Uuid,
        password_hash: Option<&str>,
    ) -> Result<bool, StoreError> {
        Ok(lock(&self.by_id)
            .get_mut(&user_id)
            .map(|user| {
                user.password_hash = password_hash.map(str::to_owned);
                user.revision += 1;
            })
            .is_some())
    }

    async fn mark_email_verified(
        &self,
        user_id: Uuid,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(lock(&self.by_id)
            .get_mut(&user_id)
            .map(|user| {
                if user.email_verified_at.is_none() {
                    user.email_verified_at = Some(at);
                    user.revision += 1;
                }
            })
            .is_some())
    }

    async fn create_link(
        &self,
        link: &AccountLink,
        mail: &OutboxMessage,
    ) -> Result<(), StoreError> {
        lock(&self.links).insert(
            link.token_hash,
            StoredLink {
                link: link.clone(),
                used_at: None,
            },
        );
        self.outbox.push(std::slice::from_ref(mail));
        Ok(())
    }

    async fn find_link(
        &self,
        token_hash: &[u8; 32],
        purpose: LinkPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<AccountLink>, StoreError> {
        Ok(lock(&self.links)
            .get(token_hash)
            .filter(|stored| stored.live(purpose, now))
            .map(|stored| stored.link.clone()))
    }

    async fn redeem_link(
        &self,
        token_hash: &[u8; 32],
        purpose: LinkPurpose,
        change: LinkChange<'_>,
        now: OffsetDateTime,
        notices: &[OutboxMessage],
    ) -> Result<Option<AccountLink>, StoreError> {
        // Users before links, as everywhere here: one lock order.
        let mut users = lock(&self.by_id);
        let mut links = lock(&self.links);
        let Some(link) = links
            .get(token_hash)
            .filter(|stored| stored.live(purpose, now))
            .map(|stored| stored.link.clone())
        else {
            return Ok(None);
        };
        if matches!(change, LinkChange::ChangeEmail)
            && users.values().any(|other| {
                other.id != link.user_id && other.email.eq_ignore_ascii_case(&link.email)
            })
        {
            return Err(StoreError::Conflict(UniqueField::Email));
        }
        for other in links.values_mut() {
            if other.link.user_id == link.user_id && other.live(purpose, now) {
                other.used_at = Some(now);
            }
        }
        let Some(user) = users.get_mut(&link.user_id) else {
            return Ok(None);
        };
        match change {
            LinkChange::VerifyEmail => {
                if !user.email.eq_ignore_ascii_case(&link.email) {
                    return Ok(None);
                }
                user.email_verified_at.get_or_insert(now);
            }
            LinkChange::SetPassword { password_hash } => {
                user.password_hash = Some(password_hash.to_owned());
            }
            LinkChange::ChangeEmail => {
                user.email = link.email.clone();
                user.email_verified_at = Some(now);
            }
        }
        user.revision += 1;
        self.outbox.push(notices);
        Ok(Some(link))
    }
}

/// Whether `user` meets the query's conditions (not its paging).
fn matches(query: &UserQuery, user: &UserRecord) -> bool {
    let (name, email) = (user.username.to_lowercase(), user.email.to_lowercase());
    let lower = |text: &Option<String>| text.as_deref().map(str::to_lowercase);
    lower(&query.prefix).is_none_or(|p| name.starts_with(&p) || email.starts_with(&p))
        && lower(&query.username).is_none_or(|u| name == u)
        && lower(&query.email).is_none_or(|e| email == e)
        && query
            .external_id
            .as_deref()
            .is_none_or(|id| user.external_id.as_deref() == Some(id))
}
