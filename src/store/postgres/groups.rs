//! `groups` and `group_members` tables.

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{Postgres, storable, unavailable, users::unique_violation};
use crate::store::{GroupMember, GroupRecord, GroupStore, StoreError, Written};

pub struct PostgresGroups(pub(super) Postgres);

#[async_trait]
impl GroupStore for PostgresGroups {
    async fn insert_group(&self, group: &GroupRecord) -> Result<(), StoreError> {
        self.0
            .client()
            .await?
            .execute(
                "INSERT INTO groups (id, name, created_at, external_id) VALUES ($1, $2, $3, $4)",
                &[
                    &group.id,
                    &group.name,
                    &group.created_at,
                    &group.external_id,
                ],
            )
            .await
            .map(drop)
            .map_err(|err| unique_violation(&err))
    }

    async fn find_group(&self, id: Uuid) -> Result<Option<GroupRecord>, StoreError> {
        let row = self
            .0
            .client()
            .await?
            .query_opt(
                "SELECT id, name, created_at, revision, external_id FROM groups WHERE id = $1",
                &[&id],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        row.as_ref().map(group_from_row).transpose()
    }

    async fn list_groups(
        &self,
        after: Option<Uuid>,
        name: Option<&str>,
        limit: u32,
    ) -> Result<Vec<GroupRecord>, StoreError> {
        if name.is_some_and(|name| !storable(name)) {
            return Ok(Vec::new());
        }
        let rows = self
            .0
            .client()
            .await?
            .query(
                "SELECT id, name, created_at, revision, external_id FROM groups
                 WHERE ($1::uuid IS NULL OR id > $1)
                   AND ($2::text IS NULL OR lower(name) = lower($2))
                 ORDER BY id LIMIT $3",
                &[&after, &name, &i64::from(limit)],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        rows.iter().map(group_from_row).collect()
    }

    async fn rename_group(
        &self,
        id: Uuid,
        name: &str,
        external_id: Option<Option<&str>>,
        expected: Option<i64>,
    ) -> Result<Written<GroupRecord>, StoreError> {
        let client = self.0.client().await?;
        let row = client
            .query_opt(
                "UPDATE groups SET name = $2,
                     external_id = CASE WHEN $5 THEN $4 ELSE external_id END
                 WHERE id = $1 AND ($3::bigint IS NULL OR revision = $3)
                 RETURNING id, name, created_at, revision, external_id",
                &[
                    &id,
                    &name,
                    &expected,
                    &external_id.flatten(),
                    &external_id.is_some(),
                ],
            )
            .await
            .map_err(|err| unique_violation(&err))?;
        if let Some(row) = row {
            return Ok(Written::Done(group_from_row(&row)?));
        }
        super::missing_or_stale(&client, "SELECT 1 FROM groups WHERE id = $1", &id).await
    }

    async fn delete_group(&self, id: Uuid) -> Result<bool, StoreError> {
        self.0
            .execute("DELETE FROM groups WHERE id = $1", &[&id])
            .await
            .map(|deleted| deleted == 1)
    }

    async fn add_member(
        &self,
        group_id: Uuid,
        user_id: Uuid,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        // Both must exist: the SELECT finds nothing otherwise, and nothing is inserted.
        let client = self.0.client().await?;
        let found = client
            .query_opt(
                "SELECT 1 FROM groups g, users u WHERE g.id = $1 AND u.id = $2",
                &[&group_id, &user_id],
            )
            .await
            .map_err(|err| unavailable(&err))?
            .is_some();
        if !found {
            return Ok(false);
        }
        client
            .execute(
                "INSERT INTO group_members (group_id, user_id, added_at) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&group_id, &user_id, &at],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        // A concurrent deletion of either ends the membership with it (ON DELETE CASCADE).
        Ok(true)
    }

    async fn remove_member(&self, group_id: Uuid, user_id: Uuid) -> Result<bool, StoreError> {
        self.0
            .execute(
                "DELETE FROM group_members WHERE group_id = $1 AND user_id = $2",
                &[&group_id, &user_id],
            )
            .await
            .map(|deleted| deleted == 1)
    }

    async fn members(
        &self,
        group_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<GroupMember>, StoreError> {
        let rows = self
            .0
            .client()
            .await?
            .query(
                "SELECT u.id, u.username FROM group_members m JOIN users u ON u.id = m.user_id
                 WHERE m.group_id = $1 AND ($2::uuid IS NULL OR u.id > $2)
                 ORDER BY u.id LIMIT $3",
                &[&group_id, &after, &i64::from(limit)],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        rows.iter()
            .map(|row| {
                Ok(GroupMember {
                    user_id: row.try_get(0).map_err(corrupt)?,
                    username: row.try_get(1).map_err(corrupt)?,
                })
            })
            .collect()
    }

    async fn groups_of(&self, user_id: Uuid) -> Result<Vec<String>, StoreError> {
        let (client, statement) = self
            .0
            .prepared(
                "SELECT g.name FROM group_members m JOIN groups g ON g.id = m.group_id
                 WHERE m.user_id = $1 ORDER BY g.name",
            )
            .await?;
        let rows = client
            .query(&statement, &[&user_id])
            .await
            .map_err(|err| unavailable(&err))?;
        rows.iter()
            .map(|row| row.try_get(0).map_err(corrupt))
            .collect()
    }
}

fn corrupt(err: tokio_postgres::Error) -> StoreError {
    StoreError::Corrupt(format!("groups row: {err}"))
}

fn group_from_row(row: &Row) -> Result<GroupRecord, StoreError> {
    Ok(GroupRecord {
        id: row.try_get("id").map_err(corrupt)?,
        name: row.try_get("name").map_err(corrupt)?,
        created_at: row.try_get("created_at").map_err(corrupt)?,
        revision: row.try_get("revision").map_err(corrupt)?,
        external_id: row.try_get("external_id").map_err(corrupt)?,
    })
}
