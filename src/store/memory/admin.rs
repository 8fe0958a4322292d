//! Groups, the audit trail and webhook subscriptions, in memory.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{MemoryOutbox, MemoryUsers, lock};
use crate::store::{
    AuditEvent, AuditQuery, AuditStore, GroupMember, GroupRecord, GroupStore, OutboxMessage,
    StoreError, UniqueField, UserStore, WebhookChange, WebhookRecord, WebhookStore, Written,
};

/// Groups, with the users they name (for their usernames, and to drop deleted members).
pub struct MemoryGroups {
    groups: Mutex<BTreeMap<Uuid, GroupRecord>>,
    /// (group, user) pairs.
    members: Mutex<BTreeSet<(Uuid, Uuid)>>,
    users: Arc<MemoryUsers>,
}

impl MemoryGroups {
    pub fn new(users: Arc<MemoryUsers>) -> Self {
        Self {
            groups: Mutex::default(),
            members: Mutex::default(),
            users,
        }
    }
}

#[async_trait]
impl GroupStore for MemoryGroups {
    async fn insert_group(&self, group: &GroupRecord) -> Result<(), StoreError> {
        let mut groups = lock(&self.groups);
        if groups
            .values()
            .any(|other| other.name.eq_ignore_ascii_case(&group.name))
        {
            return Err(StoreError::Conflict(UniqueField::GroupName));
        }
        groups.insert(group.id, group.clone());
        Ok(())
    }

    async fn find_group(&self, id: Uuid) -> Result<Option<GroupRecord>, StoreError> {
        Ok(lock(&self.groups).get(&id).cloned())
    }

    async fn list_groups(
        &self,
        after: Option<Uuid>,
        name: Option<&str>,
        limit: u32,
    ) -> Result<Vec<GroupRecord>, StoreError> {
        Ok(lock(&self.groups)
            .values()
            .filter(|group| after.is_none_or(|after| group.id > after))
            .filter(|group| name.is_none_or(|name| group.name.eq_ignore_ascii_case(name)))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn rename_group(
        &self,
        id: Uuid,
        name: &str,
        external_id: Option<Option<&str>>,
        expected: Option<i64>,
    ) -> Result<Written<GroupRecord>, StoreError> {
        let mut groups = lock(&self.groups);
        if groups
            .values()
            .any(|other| other.id != id && other.name.eq_ignore_ascii_case(name))
        {
            return Err(StoreError::Conflict(UniqueField::GroupName));
        }
        let Some(group) = groups.get_mut(&id) else {
            return Ok(Written::Missing);
        };
        if expected.is_some_and(|expected| expected != group.revision) {
            return Ok(Written::Stale);
        }
        name.clone_into(&mut group.name);
        if let Some(external_id) = external_id {
            group.external_id = external_id.map(str::to_owned);
        }
        group.revision += 1;
        Ok(Written::Done(group.clone()))
    }

    async fn delete_group(&self, id: Uuid) -> Result<bool, StoreError> {
        lock(&self.members).retain(|(group, _)| *group != id);
        Ok(lock(&self.groups).remove(&id).is_some())
    }

    async fn add_member(
        &self,
        group_id: Uuid,
        user_id: Uuid,
        _at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        if !lock(&self.groups).contains_key(&group_id)
            || self.users.find_any(user_id).await?.is_none()
        {
            return Ok(false);
        }
        lock(&self.members).insert((group_id, user_id));
        Ok(true)
    }

    async fn remove_member(&self, group_id: Uuid, user_id: Uuid) -> Result<bool, StoreError> {
        Ok(lock(&self.members).remove(&(group_id, user_id)))
    }

    async fn members(
        &self,
        group_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<GroupMember>, StoreError> {
        let ids: Vec<Uuid> = lock(&self.members)
            .iter()
            .filter(|(group, user)| *group == group_id && after.is_none_or(|after| *user > after))
            .map(|(_, user)| *user)
            .collect();
        let mut members = Vec::new();
        for user_id in ids {
            if members.len() >= limit as usize {
                break;
            }
            if let Some(user) = self.users.find_any(user_id).await? {
                members.push(GroupMember {
                    user_id,
                    username: user.username,
                });
            }
        }
        Ok(members)
    }

    async fn groups_of(&self, user_id: Uuid) -> Result<Vec<String>, StoreError> {
        let group_ids: Vec<Uuid> = lock(&self.members)
            .iter()
            .filter(|(_, user)| *user == user_id)
            .map(|(group, _)| *group)
            .collect();
        let groups = lock(&self.groups);
        let mut names: Vec<String> = group_ids
            .iter()
            .filter_map(|id| groups.get(id).map(|group| group.name.clone()))
            .collect();
        names.sort();
        Ok(names)
    }
}

/// The audit trail, appended with its outbox message.
pub struct MemoryAudit {
    events: Mutex<Vec<AuditEvent>>,
    outbox: Arc<MemoryOutbox>,
}

impl MemoryAudit {
    pub fn new(outbox: Arc<MemoryOutbox>) -> Self {
        Self {
            events: Mutex::default(),
            outbox,
        }
    }
}

#[async_trait]
impl AuditStore for MemoryAudit {
    /// `recorded_ends` needs nothing here: memory sessions leave no end to sweep for.
    async fn append_events(
        &self,
        events: &[AuditEvent],
        outbox: Option<&OutboxMessage>,
        _recorded_ends: &[Uuid],
    ) -> Result<(), StoreError> {
        let mut stored = lock(&self.events);
        for event in events {
            let id = i64::try_from(stored.len()).unwrap_or(i64::MAX) + 1;
            stored.push(AuditEvent {
                id,
                ..event.clone()
            });
        }
        if let Some(message) = outbox {
            self.outbox.push(std::slice::from_ref(message));
        }
        Ok(())
    }

    async fn list_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(lock(&self.events)
            .iter()
            .rev()
            .filter(|event| query.before.is_none_or(|before| event.id < before))
            .filter(|event| query.user_id.is_none_or(|user| event.user_id == Some(user)))
            .filter(|event| {
                query
                    .client_id
                    .as_deref()
                    .is_none_or(|client| event.client_id.as_deref() == Some(client))
            })
            .filter(|event| {
                query
                    .event_type
                    .as_deref()
                    .is_none_or(|kind| event.event_type == kind)
            })
            .filter(|event| query.since.is_none_or(|since| event.occurred_at >= since))
            .filter(|event| query.until.is_none_or(|until| event.occurred_at < until))
            .take(query.limit as usize)
            .cloned()
            .collect())
    }
}

#[derive(Default)]
pub struct MemoryWebhooks {
    webhooks: Mutex<BTreeMap<Uuid, WebhookRecord>>,
}

#[async_trait]
impl WebhookStore for MemoryWebhooks {
    async fn insert_webhook(&self, webhook: &WebhookRecord) -> Result<(), StoreError> {
        lock(&self.webhooks).insert(webhook.id, webhook.clone());
        Ok(())
    }

    async fn find_webhook(&self, id: Uuid) -> Result<Option<WebhookRecord>, StoreError> {
        Ok(lock(&self.webhooks).get(&id).cloned())
    }

    async fn list_webhooks(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<WebhookRecord>, StoreError> {
        Ok(lock(&self.webhooks)
            .values()
            .filter(|webhook| after.is_none_or(|after| webhook.id > after))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn enabled_webhooks(&self) -> Result<Vec<WebhookRecord>, StoreError> {
        Ok(lock(&self.webhooks)
            .values()
            .filter(|webhook| webhook.enabled)
            .cloned()
            .collect())
    }

    async fn change_webhook(
        &self,
        id: Uuid,
        change: &WebhookChange,
        expected: Option<i64>,
    ) -> Result<Written<WebhookRecord>, StoreError> {
        let mut webhooks = lock(&self.webhooks);
        let Some(webhook) = webhooks.get_mut(&id) else {
            return Ok(Written::Missing);
        };
        if expected.is_some_and(|expected| expected != webhook.revision) {
            return Ok(Written::Stale);
        }
        webhook.url.clone_from(&change.url);
        webhook.event_types.clone_from(&change.event_types);
        webhook.enabled = change.enabled;
        webhook.description.clone_from(&change.description);
        webhook.revision += 1;
        Ok(Written::Done(webhook.clone()))
    }

    async fn delete_webhook(&self, id: Uuid) -> Result<bool, StoreError> {
        Ok(lock(&self.webhooks).remove(&id).is_some())
    }

    async fn reseal_webhook(
        &self,
        id: Uuid,
        previous_master: &str,
        sealed: &crate::store::SealedBox,
        master_key_id: &str,
    ) -> Result<bool, StoreError> {
        Ok(lock(&self.webhooks)
            .get_mut(&id)
            .filter(|webhook| webhook.master_key_id == previous_master)
            .map(|webhook| {
                webhook.secret = sealed.clone();
                master_key_id.clone_into(&mut webhook.master_key_id);
            })
            .is_some())
    }
}
