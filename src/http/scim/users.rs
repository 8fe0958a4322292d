//! `/scim/v2/Users`: authd accounts as SCIM Users. `userName` is the username, the primary of
//! `emails` the address, `active` the opposite of disabled, `displayName` the profile's display
//! name, `externalId` the provisioning client's own id; `password` is written, never read.

use poem::{
    Body, Request, Response, handler,
    http::StatusCode,
    web::{Data, Path, Query},
};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::{
    ListParams, Refusal, base, caller, failure, field, filter, meets, params, parsed_filter, patch,
    project, refused, resource, schemas,
};
use crate::{
    accounts::{Password, Profile, UserRecord, parse_profile},
    admin::{NewUser, UserPatch, UserQuery},
    error::Error,
    events::Actor,
    http::api::admin::{Access, if_match},
    ssf::{Change, Credential, credential_event},
    state::AppState,
};

/// What a PATCH may change, as the schema spells it (and whether it is multi-valued).
const ATTRIBUTES: patch::Attributes = &[
    ("userName", false),
    ("displayName", false),
    ("active", false),
    ("emails", true),
    ("externalId", false),
    ("password", false),
];

/// The most users a filter that cannot be narrowed in the database may look through.
const SCAN_LIMIT: u32 = 10_000;

/// A User as written (POST, PUT, or a PATCH's result).
struct UserWrite {
    username: String,
    email: String,
    display_name: Option<String>,
    active: bool,
    external_id: Option<String>,
    password: Option<String>,
}

fn text(body: &Value, name: &str) -> Result<Option<String>, Refusal> {
    match field(body, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(failure(
            StatusCode::BAD_REQUEST,
            Some("invalidValue"),
            &format!("{name} must be a string"),
        )),
    }
}

fn user_write(body: &Value) -> Result<UserWrite, Refusal> {
    let invalid = |detail: &str| failure(StatusCode::BAD_REQUEST, Some("invalidValue"), detail);
    let username = text(body, "userName")?.ok_or_else(|| invalid("userName is required"))?;
    let emails = match field(body, "emails") {
        Some(Value::Array(emails)) => emails.clone(),
        _ => Vec::new(),
    };
    let primary = emails
        .iter()
        .find(|email| email["primary"] == true)
        .or_else(|| emails.first())
        .and_then(|email| email["value"].as_str())
        .ok_or_else(|| invalid("emails must hold the user's address: authd accounts have one"))?
        .to_owned();
    let active = match field(body, "active") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(active)) => *active,
        // Entra ID sends `"False"` in its PATCH requests: taken as the boolean it means.
        Some(Value::String(text)) if text.eq_ignore_ascii_case("true") => true,
        Some(Value::String(text)) if text.eq_ignore_ascii_case("false") => false,
        Some(_) => return Err(invalid("active must be true or false")),
    };
    Ok(UserWrite {
        username,
        email: primary,
        display_name: text(body, "displayName")?,
        active,
        external_id: text(body, "externalId")?,
        password: text(body, "password")?,
    })
}

fn timestamp(at: time::OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// The User as SCIM shows it.
fn user_value(base: &str, user: &UserRecord, profile: Option<&Profile>) -> Value {
    let mut value = json!({
        "schemas": [schemas::USER_SCHEMA],
        "id": user.id,
        "userName": user.username,
        "active": !user.disabled(),
        "emails": [{ "value": user.email }],
        "meta": {
            "resourceType": "User",
            "created": timestamp(user.created_at),
            "lastModified": timestamp(
                profile.and_then(|p| p.updated_at).unwrap_or(user.created_at).max(user.created_at)
            ),
            "location": format!("{base}/Users/{}", user.id),
            "version": format!("W/\"{}\"", user.revision),
        },
    });
    if let Some(name) = profile.and_then(|p| p.display_name.as_deref()) {
        value["displayName"] = json!(name);
    }
    if let Some(external_id) = &user.external_id {
        value["externalId"] = json!(external_id);
    }
    value
}

async fn shown(state: &AppState, user: &UserRecord) -> Result<Value, Error> {
    let profile = state.users.profile(user.id).await?;
    Ok(user_value(&base(state), user, profile.as_ref()))
}

/// Writes the display name into the profile, keeping its phone number.
async fn save_display_name(
    state: &AppState,
    user_id: Uuid,
    display_name: Option<String>,
) -> Result<(), Error> {
    let Some(existing) = state.users.profile(user_id).await? else {
        // No profile yet and no name to keep: nothing to write.
        if display_name.is_none() {
            return Ok(());
        }
        return state
            .users
            .save_profile(user_id, &parse_profile(display_name, None)?)
            .await;
    };
    let profile = parse_profile(display_name, existing.phone)?;
    state.users.save_profile(user_id, &profile).await
}

fn user_id(id: &str) -> Result<Uuid, Refusal> {
    Uuid::parse_str(id).map_err(|_| failure(StatusCode::NOT_FOUND, None, "no such user"))
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
    answer_list(state, &params)
        .await
        .unwrap_or_else(Response::from)
}

async fn answer_list(state: &AppState, params: &ListParams) -> Result<Response, Refusal> {
    let (start, count) = params.window();
    let filter = parsed_filter(params)?;
    let Some(filter) = filter else {
        let query = UserQuery {
            offset: start - 1,
            limit: count,
            ..UserQuery::default()
        };
        let total = state.users.count(&query).await.map_err(refused)?;
        let users = state.users.list(&query).await.map_err(refused)?;
        let mut shown_users = Vec::with_capacity(users.len());
        for user in &users {
            shown_users.push(project(shown(state, user).await.map_err(refused)?, params));
        }
        return Ok(super::list_response(total, start, shown_users));
    };
    // Narrowed in the database where the filter says which user, then checked here whole.
    let mut query = narrowed(&filter);
    query.limit = SCAN_LIMIT + 1;
    let candidates = state.users.list(&query).await.map_err(refused)?;
    if candidates.len() > SCAN_LIMIT as usize {
        return Err(failure(
            StatusCode::BAD_REQUEST,
            Some("tooMany"),
            "the filter matches too many users to look through: add userName, emails or \
             externalId eq",
        ));
    }
    let mut matching = Vec::new();
    for user in &candidates {
        let value = shown(state, user).await.map_err(refused)?;
        if meets(&filter, &value) {
            matching.push(value);
        }
    }
    let total = matching.len() as u64;
    let page = matching
        .into_iter()
        .skip((start - 1) as usize)
        .take(count as usize)
        .map(|value| project(value, params))
        .collect();
    Ok(super::list_response(total, start, page))
}

/// What the database can narrow a filter to: the `eq` (and `sw`) terms of its top-level `and`.
fn narrowed(filter: &filter::Filter) -> UserQuery {
    use filter::{Filter, Literal, Op};
    let mut query = UserQuery::default();
    let mut terms = vec![filter];
    while let Some(term) = terms.pop() {
        match term {
            Filter::And(left, right) => {
                terms.push(left);
                terms.push(right);
            }
            Filter::Compare {
                path,
                op,
                value: Literal::Text(text),
            } => match (path.as_str(), op) {
                ("username", Op::Eq) => query.username = Some(text.clone()),
                ("emails" | "emails.value", Op::Eq) => query.email = Some(text.clone()),
                ("externalid", Op::Eq) => query.external_id = Some(text.clone()),
                ("username", Op::Sw) => query.prefix = Some(text.clone()),
                _ => {}
            },
            _ => {}
        }
    }
    query
}

#[handler]
pub async fn create(req: &Request, Data(state): Data<&AppState>, body: Body) -> Response {
    let actor = match caller(state, req, Access::Write).await {
        Ok(actor) => actor,
        Err(refusal) => return refusal.into(),
    };
    let created = async {
        let body = super::body(req, body).await?;
        let write = user_write(&body)?;
        let user = state
            .admin
            .create_user(
                actor.clone(),
                NewUser {
                    username: write.username,
                    email: write.email,
                    password: write.password,
                    email_verified: false,
                    external_id: write.external_id,
                },
            )
            .await
            .map_err(refused)?;
        save_display_name(state, user.id, write.display_name)
            .await
            .map_err(refused)?;
        let user = if write.active {
            user
        } else {
            let disable = UserPatch {
                disabled: Some(true),
                ..UserPatch::default()
            };
            state
                .admin
                .update_user(actor, user.id, disable, None)
                .await
                .map_err(refused)?
        };
        let value = shown(state, &user).await.map_err(refused)?;
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
        let user = state.admin.user(user_id(&id)?).await.map_err(refused)?;
        let value = shown(state, &user).await.map_err(refused)?;
        Ok::<_, Refusal>(resource(StatusCode::OK, &project(value, &params(query))))
    };
    read.await.unwrap_or_else(Response::from)
}

/// Writes `write` over the user, conditionally on `expected`, and answers the result.
async fn write_over(
    state: &AppState,
    actor: Actor,
    id: Uuid,
    write: UserWrite,
    expected: Option<i64>,
) -> Result<Response, Refusal> {
    let change = UserPatch {
        username: Some(write.username),
        email: Some(write.email),
        email_verified: None,
        disabled: Some(!write.active),
        external_id: Some(write.external_id),
    };
    let user = state
        .admin
        .update_user(actor.clone(), id, change, expected)
        .await
        .map_err(refused)?;
    save_display_name(state, id, write.display_name)
        .await
        .map_err(refused)?;
    if let Some(raw) = write.password {
        let password = Password::choose(raw, &[&user.username, &user.email]).map_err(refused)?;
        state
            .accounts
            .set_password(&user, &password)
            .await
            .map_err(refused)?;
        let event = credential_event(actor, user.id, Credential::Password, Change::Update);
        if let Err(err) = state.trail.record(event).await {
            tracing::error!(error = %err, user_id = %user.id, "could not record a password change");
        }
    }
    let user = state.admin.user(id).await.map_err(refused)?;
    let value = shown(state, &user).await.map_err(refused)?;
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
        let id = user_id(&id)?;
        let expected = if_match(req, "user").map_err(refused)?;
        let body = super::body(req, body).await?;
        let write = user_write(&body)?;
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
        let id = user_id(&id)?;
        let expected = if_match(req, "user").map_err(refused)?;
        let request = super::body(req, body).await?;
        let user = state.admin.user(id).await.map_err(refused)?;
        if expected.is_some_and(|expected| expected != user.revision) {
            return Err(refused(Error::PreconditionFailed("user")));
        }
        let mut value = shown(state, &user).await.map_err(refused)?;
        patch::apply(&mut value, &request, ATTRIBUTES)?;
        let write = user_write(&value)?;
        write_over(state, actor, id, write, Some(user.revision)).await
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
            .delete_user(actor, user_id(&id)?)
            .await
            .map_err(refused)?;
        Ok::<_, Refusal>(Response::builder().status(StatusCode::NO_CONTENT).finish())
    };
    deleted.await.unwrap_or_else(Response::from)
}
