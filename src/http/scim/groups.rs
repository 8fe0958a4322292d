//! `/scim/v2/Groups`: authd's groups as SCIM Groups. `displayName` is the group's name (what the
//! `groups` claim carries), `members` its users (`value` a user's id), `externalId` the
//! provisioning client's own id.

use std::collections::BTreeSet;

use poem::{
    Body, Request, Response, handler,
    http::StatusCode,
    web::{Data, Path, Query},
};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::{
    ListParams, Refusal, base, caller, failure, field, meets, params, parsed_filter, patch,
    project, refused, resource, schemas,
};
use crate::{
    admin::{GroupRecord, GroupWrite},
    error::Error,
    events::Actor,
    http::api::admin::{Access, if_match},
    state::AppState,
};

const ATTRIBUTES: patch::Attributes = &[
    ("displayName", false),
    ("members", true),
    ("externalId", false),
];

/// The most groups a list looks through (they are few: a directory's, not its users').
const SCAN_LIMIT: u32 = 10_000;
/// Members read at once.
const MEMBER_PAGE: u32 = 200;

struct GroupWriteBody {
    name: String,
    external_id: Option<String>,
    members: BTreeSet<Uuid>,
}

fn group_write(body: &Value) -> Result<GroupWriteBody, Refusal> {
    let invalid = |detail: &str| failure(StatusCode::BAD_REQUEST, Some("invalidValue"), detail);
    let name = match field(body, "displayName") {
        Some(Value::String(name)) => name.clone(),
        _ => return Err(invalid("displayName is required, a string")),
    };
    let external_id = match field(body, "externalId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(_) => return Err(invalid("externalId must be a string")),
    };
    let mut members = BTreeSet::new();
    if let Some(Value::Array(listed)) = field(body, "members") {
        for member in listed {
            let id = member["value"]
                .as_str()
                .and_then(|id| Uuid::parse_str(id).ok())
                .ok_or_else(|| invalid("each member's value must be a user's id"))?;
            members.insert(id);
        }
    }
    Ok(GroupWriteBody {
        name,
        external_id,
        members,
    })
}

async fn member_ids(state: &AppState, group_id: Uuid) -> Result<Vec<Uuid>, Error> {
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let page = state.groups.members(group_id, after, MEMBER_PAGE).await?;
        ids.extend(page.iter().map(|member| member.user_id));
        match page.last() {
            Some(last) if page.len() == MEMBER_PAGE as usize => after = Some(last.user_id),
            _ => return Ok(ids),
        }
    }
}

async fn shown(state: &AppState, group: &GroupRecord) -> Result<Value, Error> {
    let base = base(state);
    let members: Vec<Value> = member_ids(state, group.id)
        .await?
        .into_iter()
        .map(|id| json!({ "value": id, "$ref": format!("{base}/Users/{id}"), "type": "User" }))
        .collect();
    let created = group.created_at.format(&Rfc3339).unwrap_or_default();
    let mut value = json!({
        "schemas": [schemas::GROUP_SCHEMA],
        "id": group.id,
        "displayName": group.name,
        "members": members,
        "meta": {
            "resourceType": "Group",
            "created": created,
            "lastModified": created,
            "location": format!("{base}/Groups/{}", group.id),
            "version": format!("W/\"{}\"", group.revision),
        },
    });
    if let Some(external_id) = &group.external_id {
        value["externalId"] = json!(external_id);
    }
    Ok(value)
}

fn group_id(id: &str) -> Result<Uuid, Refusal> {
    Uuid::parse_str(id).map_err(|_| failure(StatusCode::NOT_FOUND, None, "no such group"))
}

/// Makes the group's members exactly `wanted`: adds the missing, removes the rest.
async fn set_members(
    state: &AppState,
    actor: &Actor,
    group_id: Uuid,
    wanted: &BTreeSet<Uuid>,
) -> Result<(), Refusal> {
    let current: BTreeSet<Uuid> = member_ids(state, group_id)
        .await
        .map_err(refused)?
        .into_iter()
        .collect();
    for user_id in wanted.difference(&current) {
        state
            .admin
            .add_member(actor.clone(), group_id, *user_id)
            .await
            .map_err(refused)?;
    }
    for user_id in current.difference(wanted) {
        state
            .admin
            .remove_member(actor.clone(), group_id, *user_id)
            .await
            .map_err(refused)?;
    }
    Ok(())
}

#[handler]
pub async fn list(
    req: &Request,
    Data(state): Data<&AppState>,
    query: Option<Query<ListParams>>,
) -> Response {
    if let Err(refusal) = caller(state, req, Access::Read).await {
        return refusal.into();
    }
    let params = params(query);
    let listed = async {
        let (start, count) = params.window();
        let filter = parsed_filter(&params)?;
        let groups = state
            .groups
            .list(None, None, SCAN_LIMIT)
            .await
            .map_err(refused)?;
        let mut matching = Vec::new();
        for group in &groups {
            let value = shown(state, group).await.map_err(refused)?;
            if filter.as_ref().is_none_or(|filter| meets(filter, &value)) {
                matching.push(value);
            }
        }
        let total = matching.len() as u64;
        let page = matching
            .into_iter()
            .skip((start - 1) as usize)
            .take(count as usize)
            .map(|value| project(value, &params))
            .collect();
        Ok::<_, Refusal>(super::list_response(total, start, page))
    };
    listed.await.unwrap_or_else(Response::from)
}

#[handler]
pub async fn create(req: &Request, Data(state): Data<&AppState>, body: Body) -> Response {
    let actor = match caller(state, req, Access::Write).await {
        Ok(actor) => actor,
        Err(refusal) => return refusal.into(),
    };
    let created = async {
        let body = super::body(req, body).await?;
        let write = group_write(&body)?;
        let group = state
            .admin
            .create_group(actor.clone(), &write.name, write.external_id)
            .await
            .map_err(refused)?;
        set_members(state, &actor, group.id, &write.members).await?;
        let value = shown(state, &group).await.map_err(refused)?;
        Ok::<_, Refusal>(resource(StatusCode::CREATED, &value))
    };
    created.await.unwrap_or_else(Response::from)
}

#[handler]
pub async fn read(
    req: &Request,
    Path(id): Path<String>,
    Data(state): Data<&AppState>,
    query: Option<Query<ListParams>>,
) -> Response {
    if let Err(refusal) = caller(state, req, Access::Read).await {
        return refusal.into();
    }
    let read = async {
        let group = state.admin.group(group_id(&id)?).await.map_err(refused)?;
        let value = shown(state, &group).await.map_err(refused)?;
        Ok::<_, Refusal>(resource(StatusCode::OK, &project(value, &params(query))))
    };
    read.await.unwrap_or_else(Response::from)
}

async fn write_over(
    state: &AppState,
    actor: Actor,
    id: Uuid,
    write: GroupWriteBody,
    expected: Option<i64>,
) -> Result<Response, Refusal> {
    let change = GroupWrite {
        name: write.name,
        external_id: Some(write.external_id),
        expected,
    };
    let group = state
        .admin
        .rename_group(actor.clone(), id, change)
        .await
        .map_err(refused)?;
    set_members(state, &actor, id, &write.members).await?;
    let value = shown(state, &group).await.map_err(refused)?;
    Ok(resource(StatusCode::OK, &value))
}

#[handler]
pub async fn replace(
    req: &Request,
    Path(id): Path<String>,
    Data(state): Data<&AppState>,
    body: Body,
) -> Response {
    let actor = match caller(state, req, Access::Write).await {
        Ok(actor) => actor,
        Err(refusal) => return refusal.into(),
    };
    let replaced = async {
        let id = group_id(&id)?;
        let expected = if_match(req, "group").map_err(refused)?;
        let body = super::body(req, body).await?;
        let write = group_write(&body)?;
        write_over(state, actor, id, write, expected).await
    };
    replaced.await.unwrap_or_else(Response::from)
}

#[handler]
pub async fn modify(
    req: &Request,
    Path(id): Path<String>,
    Data(state): Data<&AppState>,
    body: Body,
) -> Response {
    let actor = match caller(state, req, Access::Write).await {
        Ok(actor) => actor,
        Err(refusal) => return refusal.into(),
    };
    let patched = async {
        let id = group_id(&id)?;
        let expected = if_match(req, "group").map_err(refused)?;
        let request = super::body(req, body).await?;
        let group = state.admin.group(id).await.map_err(refused)?;
        if expected.is_some_and(|expected| expected != group.revision) {
            return Err(refused(Error::PreconditionFailed("group")));
        }
        let mut value = shown(state, &group).await.map_err(refused)?;
        patch::apply(&mut value, &request, ATTRIBUTES)?;
        let write = group_write(&value)?;
        write_over(state, actor, id, write, Some(group.revision)).await
    };
    patched.await.unwrap_or_else(Response::from)
}

#[handler]
pub async fn delete(
    req: &Request,
    Path(id): Path<String>,
    Data(state): Data<&AppState>,
) -> Response {
    let actor = match caller(state, req, Access::Write).await {
        Ok(actor) => actor,
        Err(refusal) => return refusal.into(),
    };
    let deleted = async {
        state
            .admin
            .delete_group(actor, group_id(&id)?)
            .await
            .map_err(refused)?;
        Ok::<_, Refusal>(Response::builder().status(StatusCode::NO_CONTENT).finish())
    };
    deleted.await.unwrap_or_else(Response::from)
}
