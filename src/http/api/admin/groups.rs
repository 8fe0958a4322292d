//! `/admin/groups`: groups and their members. A group's name is what the `groups` claim
//! carries when the `groups` scope is granted.

use poem::Request;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    Access, Done, Tagged, admin_caller, etag, if_match, next_cursor, page_limit, uuid_cursor,
};
use crate::{
    admin::{GroupRecord, GroupWrite},
    http::{api::ApiTags, bodies::fields, callers::access::AccessAuth, error::ApiError},
    state::AppState,
};

pub struct GroupsApi(pub AppState);

#[derive(Object)]
struct AdminGroup {
    id: Uuid,
    name: String,
    created_at: OffsetDateTime,
}

fn tagged(group: &GroupRecord) -> (Json<AdminGroup>, String) {
    (
        Json(AdminGroup {
            id: group.id,
            name: group.name.clone(),
            created_at: group.created_at,
        }),
        etag(group.revision),
    )
}

#[derive(Object)]
struct GroupName {
    /// 1 to 100 characters; unique, case-insensitively.
    #[oai(deserialize_with = "fields::name")]
    name: String,
}

#[derive(Object)]
struct GroupPage {
    items: Vec<AdminGroup>,
    #[oai(skip_serializing_if_is_none)]
    next_cursor: Option<String>,
}

#[derive(Object)]
struct Member {
    user_id: Uuid,
    #[oai(read_only)]
    username: String,
}

#[derive(Object)]
struct NewMember {
    user_id: Uuid,
}

#[derive(Object)]
struct MemberPage {
    items: Vec<Member>,
    #[oai(skip_serializing_if_is_none)]
    next_cursor: Option<String>,
}

#[OpenApi(prefix_path = "/admin/groups", tag = "ApiTags::Admin")]
impl GroupsApi {
    /// List groups
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        req: &Request,
        auth: AccessAuth,
        /// Only the group of this name (case-insensitively).
        name: Query<Option<String>>,
        /// 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<GroupPage>, ApiError> {
        admin_caller(&self.0, req, &auth, Access::Read).await?;
        let limit = page_limit(limit.0)?;
        let after = uuid_cursor(cursor.0.as_deref())?;
        let groups = self.0.groups.list(after, name.0.as_deref(), limit).await?;
        Ok(Json(GroupPage {
            next_cursor: next_cursor(groups.last().map(|g| g.id.to_string()), groups.len(), limit),
            items: groups.iter().map(|group| tagged(group).0.0).collect(),
        }))
    }

    /// Create a group
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        req: &Request,
        auth: AccessAuth,
        body: Json<GroupName>,
    ) -> Result<Tagged<AdminGroup>, ApiError> {
        let actor = admin_caller(&self.0, req, &auth, Access::Write).await?;
        let group = self.0.admin.create_group(actor, &body.0.name, None).await?;
        let (json, tag) = tagged(&group);
        Ok(Tagged::Created(json, tag))
    }

    /// Get a group
    #[oai(path = "/:id", method = "get")]
    async fn get(
        &self,
        req: &Request,
        auth: AccessAuth,
        id: Path<Uuid>,
    ) -> Result<Tagged<AdminGroup>, ApiError> {
        admin_caller(&self.0, req, &auth, Access::Read).await?;
        let group = self.0.admin.group(id.0).await?;
        let (json, tag) = tagged(&group);
        Ok(Tagged::Ok(json, tag))
    }

    /// Rename a group
    ///
    /// Send the `ETag` you read as `If-Match`: 412 if the group changed since.
    #[oai(path = "/:id", method = "patch")]
    async fn rename(
        &self,
        req: &Request,
        auth: AccessAuth,
        id: Path<Uuid>,
        body: Json<GroupName>,
    ) -> Result<Tagged<AdminGroup>, ApiError> {
        let actor = admin_caller(&self.0, req, &auth, Access::Write).await?;
        let write = GroupWrite {
            name: body.0.name,
            external_id: None,
            expected: if_match(req, "group")?,
        };
        let group = self.0.admin.rename_group(actor, id.0, write).await?;
        let (json, tag) = tagged(&group);
        Ok(Tagged::Ok(json, tag))
    }

    /// Delete a group
    #[oai(path = "/:id", method = "delete")]
    async fn delete(
        &self,
        req: &Request,
        auth: AccessAuth,
        id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let actor = admin_caller(&self.0, req, &auth, Access::Write).await?;
        self.0.admin.delete_group(actor, id.0).await?;
        Ok(Done::NoContent)
    }

    /// List a group's members
    #[oai(path = "/:id/members", method = "get")]
    async fn members(
        &self,
        req: &Request,
        auth: AccessAuth,
        id: Path<Uuid>,
        /// 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<MemberPage>, ApiError> {
        admin_caller(&self.0, req, &auth, Access::Read).await?;
        self.0.admin.group(id.0).await?;
        let limit = page_limit(limit.0)?;
        let after = uuid_cursor(cursor.0.as_deref())?;
        let members = self.0.groups.members(id.0, after, limit).await?;
        Ok(Json(MemberPage {
            next_cursor: next_cursor(
                members.last().map(|m| m.user_id.to_string()),
                members.len(),
                limit,
            ),
            items: members
                .into_iter()
                .map(|member| Member {
                    user_id: member.user_id,
                    username: member.username,
                })
                .collect(),
        }))
    }

    /// Add a member
    ///
    /// Adding a member twice changes nothing.
    #[oai(path = "/:id/members", method = "post")]
    async fn add_member(
        &self,
        req: &Request,
        auth: AccessAuth,
        id: Path<Uuid>,
        body: Json<NewMember>,
    ) -> Result<Done, ApiError> {
        let actor = admin_caller(&self.0, req, &auth, Access::Write).await?;
        self.0.admin.add_member(actor, id.0, body.0.user_id).await?;
        Ok(Done::NoContent)
    }

    /// Remove a member
    #[oai(path = "/:id/members/:user_id", method = "delete")]
    async fn remove_member(
        &self,
        req: &Request,
        auth: AccessAuth,
        id: Path<Uuid>,
        user_id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let actor = admin_caller(&self.0, req, &auth, Access::Write).await?;
        self.0.admin.remove_member(actor, id.0, user_id.0).await?;
        Ok(Done::NoContent)
    }
}
