//! Groups of users: what the `groups` claim carries, and how the admin group is found.

use std::sync::Arc;

use uuid::Uuid;

use crate::{
    clock::Clock,
    error::Error,
    store::{GroupMember, GroupRecord, GroupStore, StoreError, UniqueField, Written},
};

const MAX_NAME: usize = 100;

pub struct Groups {
    store: Arc<dyn GroupStore>,
    clock: Arc<dyn Clock>,
}

impl Groups {
    pub fn new(store: Arc<dyn GroupStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub async fn create(
        &self,
        name: &str,
        external_id: Option<String>,
    ) -> Result<GroupRecord, Error> {
        let group = GroupRecord {
            id: Uuid::now_v7(),
            name: checked_name(name)?,
            created_at: self.clock.now(),
            revision: 1,
            external_id,
        };
        self.store.insert_group(&group).await.map_err(name_taken)?;
        Ok(group)
    }

    pub async fn find(&self, id: Uuid) -> Result<Option<GroupRecord>, Error> {
        Ok(self.store.find_group(id).await?)
    }

    /// A page of groups in id order; with `name`, only the group of that name.
    pub async fn list(
        &self,
        after: Option<Uuid>,
        name: Option<&str>,
        limit: u32,
    ) -> Result<Vec<GroupRecord>, Error> {
        Ok(self.store.list_groups(after, name, limit).await?)
    }

    /// Renames the group, and with `Some` sets (or with `Some(None)` forgets) its external id.
    pub async fn rename(
        &self,
        id: Uuid,
        name: &str,
        external_id: Option<Option<&str>>,
        expected: Option<i64>,
    ) -> Result<Written<GroupRecord>, Error> {
        let name = checked_name(name)?;
        self.store
            .rename_group(id, &name, external_id, expected)
            .await
            .map_err(name_taken)
    }

    pub async fn delete(&self, id: Uuid) -> Result<bool, Error> {
        Ok(self.store.delete_group(id).await?)
    }

    /// Adds a member; false if the group or the user does not exist.
    pub async fn add_member(&self, group_id: Uuid, user_id: Uuid) -> Result<bool, Error> {
        Ok(self
            .store
            .add_member(group_id, user_id, self.clock.now())
            .await?)
    }

    pub async fn remove_member(&self, group_id: Uuid, user_id: Uuid) -> Result<bool, Error> {
        Ok(self.store.remove_member(group_id, user_id).await?)
    }

    pub async fn members(
        &self,
        group_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<GroupMember>, Error> {
        Ok(self.store.members(group_id, after, limit).await?)
    }

    /// The names of the groups `user_id` is in, sorted: the `groups` claim.
    pub async fn names_of(&self, user_id: Uuid) -> Result<Vec<String>, Error> {
        Ok(self.store.groups_of(user_id).await?)
    }

    /// Whether `user_id` is in the group named `group` (case-insensitively).
    pub async fn is_member(&self, user_id: Uuid, group: &str) -> Result<bool, Error> {
        Ok(self
            .names_of(user_id)
            .await?
            .iter()
            .any(|name| name.eq_ignore_ascii_case(group)))
    }
}

fn checked_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(Error::InvalidField {
            field: "name",
            message: "must be 1 to 100 characters, without control characters".to_owned(),
        });
    }
    Ok(name.to_owned())
}

fn name_taken(err: StoreError) -> Error {
    match err {
        StoreError::Conflict(UniqueField::GroupName) => Error::Taken("group name"),
        other => other.into(),
    }
}
