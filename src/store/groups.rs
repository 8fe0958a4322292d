//! Groups of users, and who is in each.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{StoreError, Written};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    pub id: Uuid,
    /// What the `groups` claim carries; unique case-insensitively.
    pub name: String,
    pub created_at: OffsetDateTime,
    pub revision: i64,
    /// A provisioning client's id for the group (SCIM `externalId`).
    pub external_id: Option<String>,
}

/// A member as a group lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub user_id: Uuid,
    pub username: String,
}

#[async_trait]
pub trait GroupStore: Send + Sync {
    /// A taken name is `Conflict(GroupName)`.
    async fn insert_group(&self, group: &GroupRecord) -> Result<(), StoreError>;
    async fn find_group(&self, id: Uuid) -> Result<Option<GroupRecord>, StoreError>;
    /// Groups in id order after `after`; with `name`, only the one of that name
    /// (case-insensitively).
    async fn list_groups(
        &self,
        after: Option<Uuid>,
        name: Option<&str>,
        limit: u32,
    ) -> Result<Vec<GroupRecord>, StoreError>;
    /// Renames the group (and, with `Some`, sets its external id) if its revision is
    /// `expected` (any, with `None`).
    async fn rename_group(
        &self,
        id: Uuid,
        name: &str,
        external_id: Option<Option<&str>>,
        expected: Option<i64>,
    ) -> Result<Written<GroupRecord>, StoreError>;
    /// Deletes the group and its memberships; whether it existed.
    async fn delete_group(&self, id: Uuid) -> Result<bool, StoreError>;
    /// Adds a member (again is no change); false if the group or the user does not exist.
    async fn add_member(
        &self,
        group_id: Uuid,
        user_id: Uuid,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Removes a member; whether they were one.
    async fn remove_member(&self, group_id: Uuid, user_id: Uuid) -> Result<bool, StoreError>;
    /// Members in user-id order after `after`.
    async fn members(
        &self,
        group_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<GroupMember>, StoreError>;
    /// The names of the groups `user_id` is in, sorted.
    async fn groups_of(&self, user_id: Uuid) -> Result<Vec<String>, StoreError>;
}
