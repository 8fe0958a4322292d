//! SCIM 2.0 (RFC 7643, RFC 7644) at `/scim/v2`: an identity provider's provisioning (Entra ID,
//! Okta) creates, changes and removes authd's users and groups. The same tokens as the admin
//! API (`authd:admin`, or `authd:admin:read` to read) and the same audited domain services;
//! bodies are `application/scim+json` (plain JSON is taken too), errors SCIM's own.
//!
//! Served beside the OpenAPI spec, not in it: SCIM describes itself (`/Schemas`,
//! `/ResourceTypes`, `/ServiceProviderConfig`), and its media type and error shape are its own.

mod filter;
mod groups;
mod patch;
mod schemas;
mod users;

use poem::{
    Endpoint, EndpointExt, Request, Response, Route, get, handler,
    http::StatusCode,
    web::{Data, Path, Query},
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    error::Error,
    events::Actor,
    http::{
        api::admin::{Access, admin_caller},
        callers::access::AccessAuth,
    },
    state::AppState,
};

/// SCIM's media type (RFC 7644 §3.1).
const MEDIA_TYPE: &str = "application/scim+json";

/// Each SCIM path's methods, for the `Allow` header of a 405.
pub const ALLOWED_METHODS: [(&str, &str); 9] = [
    ("/scim/v2/ServiceProviderConfig", "GET"),
    ("/scim/v2/ResourceTypes", "GET"),
    ("/scim/v2/ResourceTypes/{id}", "GET"),
    ("/scim/v2/Schemas", "GET"),
    ("/scim/v2/Schemas/{id}", "GET"),
    ("/scim/v2/Users", "GET, POST"),
    ("/scim/v2/Users/{id}", "GET, PUT, PATCH, DELETE"),
    ("/scim/v2/Groups", "GET, POST"),
    ("/scim/v2/Groups/{id}", "GET, PUT, PATCH, DELETE"),
];

/// Every SCIM route, to be nested at `/scim/v2`.
pub fn routes(state: &AppState) -> impl Endpoint + 'static {
    Route::new()
        .at(
            "/ServiceProviderConfig",
            get(service_provider_config)
                .post(not_allowed)
                .put(not_allowed)
                .patch(not_allowed)
                .delete(not_allowed),
        )
        .at(
            "/ResourceTypes",
            get(resource_types)
                .post(not_allowed)
                .put(not_allowed)
                .patch(not_allowed)
                .delete(not_allowed),
        )
        .at(
            "/ResourceTypes/:id",
            get(resource_type)
                .post(not_allowed)
                .put(not_allowed)
                .patch(not_allowed)
                .delete(not_allowed),
        )
        .at(
            "/Schemas",
            get(schema_list)
                .post(not_allowed)
                .put(not_allowed)
                .patch(not_allowed)
                .delete(not_allowed),
        )
        .at(
            "/Schemas/:id",
            get(one_schema)
                .post(not_allowed)
                .put(not_allowed)
                .patch(not_allowed)
                .delete(not_allowed),
        )
        .at("/Users", get(users::list).post(users::create))
        .at(
            "/Users/:id",
            get(users::read)
                .put(users::replace)
                .patch(users::modify)
                .delete(users::delete),
        )
        .at("/Groups", get(groups::list).post(groups::create))
        .at(
            "/Groups/:id",
            get(groups::read)
                .put(groups::replace)
                .patch(groups::modify)
                .delete(groups::delete),
        )
        .at("/.search", poem::post(search))
        .at("/*rest", not_found)
        .data(state.clone())
        // Whatever the framework refuses (a wrong method, an unreadable body) answers in SCIM's
        // error shape too.
        .catch_all_error(|err: poem::Error| async move {
            let status = err.status();
            Response::from(failure(status, None, &err.to_string()))
        })
}

/// A refused request, as SCIM answers it (RFC 7644 §3.12): a status, a `scimType` where one
/// applies, and what went wrong.
#[derive(Debug)]
pub(super) struct Refusal {
    status: StatusCode,
    scim_type: Option<&'static str>,
    detail: String,
}

impl From<Refusal> for Response {
    fn from(refusal: Refusal) -> Self {
        let mut body = json!({
            "schemas": [schemas::ERROR],
            "status": refusal.status.as_u16().to_string(),
            "detail": refusal.detail,
        });
        if let Some(scim_type) = refusal.scim_type {
            body["scimType"] = json!(scim_type);
        }
        let mut response = scim_json(refusal.status, &body);
        if refusal.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                "www-authenticate",
                poem::http::HeaderValue::from_static(r#"Bearer realm="authd""#),
            );
        }
        response
    }
}

pub(super) fn failure(
    status: StatusCode,
    scim_type: Option<&'static str>,
    detail: &str,
) -> Refusal {
    Refusal {
        status,
        scim_type,
        detail: detail.to_owned(),
    }
}

/// A domain error as SCIM says it.
pub(super) fn refused(err: Error) -> Refusal {
    let detail = err.to_string();
    let (status, scim_type) = match &err {
        Error::InvalidField { .. } => (StatusCode::BAD_REQUEST, Some("invalidValue")),
        Error::UsernameTaken | Error::EmailTaken | Error::Taken(_) => {
            (StatusCode::CONFLICT, Some("uniqueness"))
        }
        Error::NotFound(_) => (StatusCode::NOT_FOUND, None),
        Error::PreconditionFailed(_) => (StatusCode::PRECONDITION_FAILED, None),
        Error::MissingToken | Error::InvalidToken(_) | Error::InvalidDpopToken(_) => {
            (StatusCode::UNAUTHORIZED, None)
        }
        Error::InsufficientScope(_) | Error::Forbidden(_) => (StatusCode::FORBIDDEN, None),
        Error::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, None),
        Error::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, None),
        _ => {
            // Logged, and answered without details, as the JSON API does.
            let _ = crate::http::error::ApiError::from(err);
            return failure(StatusCode::INTERNAL_SERVER_ERROR, None, "internal error");
        }
    };
    failure(status, scim_type, &detail)
}

pub(super) fn scim_json(status: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .content_type(MEDIA_TYPE)
        .body(body.to_string())
}

/// The caller, admitted as the admin API admits its callers.
pub(super) async fn caller(
    state: &AppState,
    req: &Request,
    access: Access,
) -> Result<Actor, Refusal> {
    let Some(auth) = AccessAuth::from_header(req) else {
        return Err(failure(
            StatusCode::UNAUTHORIZED,
            None,
            "an access token with scope authd:admin is required",
        ));
    };
    admin_caller(state, req, &auth, access)
        .await
        .map_err(refused)
}

/// Where SCIM resources live, for `meta.location`.
pub(super) fn base(state: &AppState) -> String {
    format!("{}/scim/v2", state.config.public_url)
}

/// A request body: JSON, as `application/scim+json` or `application/json`.
pub(super) async fn body(req: &Request, body: poem::Body) -> Result<Value, Refusal> {
    let content_type = req.content_type().unwrap_or_default().to_ascii_lowercase();
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    if !media.is_empty() && media != MEDIA_TYPE && media != "application/json" {
        return Err(failure(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            "send application/scim+json",
        ));
    }
    let bytes = body.into_bytes().await.map_err(|err| {
        failure(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            &err.to_string(),
        )
    })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(failure(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            "the body must be a JSON object",
        )),
        Err(err) => Err(failure(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            &format!("the body is not JSON: {err}"),
        )),
    }
}

/// A member of a JSON object, its name compared case-insensitively (RFC 7643 §2.1).
pub(super) fn field<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

/// The query parameters of a read or a list (RFC 7644 §3.4.2, §3.9).
#[derive(Debug, Default, Deserialize)]
pub(super) struct ListParams {
    pub filter: Option<String>,
    #[serde(rename = "startIndex")]
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    pub attributes: Option<String>,
    #[serde(rename = "excludedAttributes")]
    pub excluded_attributes: Option<String>,
}

impl ListParams {
    /// `startIndex` (1-based; below 1 is 1) and `count` (0 to [`schemas::MAX_RESULTS`]).
    pub fn window(&self) -> (u32, u32) {
        let start = self.start_index.unwrap_or(1).max(1);
        let count = self
            .count
            .unwrap_or(i64::from(schemas::MAX_RESULTS))
            .clamp(0, i64::from(schemas::MAX_RESULTS));
        (
            u32::try_from(start).unwrap_or(u32::MAX),
            u32::try_from(count).unwrap_or_default(),
        )
    }
}

/// Keeps what `attributes` asks for (and what is always returned), or drops what
/// `excludedAttributes` names (RFC 7644 §3.9). Names compare case-insensitively; a sub-attribute
/// (`emails.value`) keeps or drops its whole attribute.
pub(super) fn project(mut resource: Value, params: &ListParams) -> Value {
    const ALWAYS: [&str; 3] = ["id", "schemas", "meta"];
    let names = |list: &Option<String>| -> Option<Vec<String>> {
        list.as_deref().map(|list| {
            list.split(',')
                .map(|name| {
                    name.trim()
                        .rsplit(':')
                        .next()
                        .unwrap_or_default()
                        .split('.')
                        .next()
                        .unwrap_or_default()
                        .to_ascii_lowercase()
                })
                .filter(|name| !name.is_empty())
                .collect()
        })
    };
    let Value::Object(fields) = &mut resource else {
        return resource;
    };
    if let Some(keep) = names(&params.attributes) {
        fields.retain(|key, _| {
            let key = key.to_ascii_lowercase();
            ALWAYS.contains(&key.as_str()) || keep.contains(&key)
        });
    } else if let Some(drop) = names(&params.excluded_attributes) {
        fields.retain(|key, _| {
            let key = key.to_ascii_lowercase();
            ALWAYS.contains(&key.as_str()) || !drop.contains(&key)
        });
    }
    resource
}

/// A list answer (RFC 7644 §3.4.2).
pub(super) fn list_response(total: u64, start: u32, resources: Vec<Value>) -> Response {
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": [schemas::LIST_RESPONSE],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        }),
    )
}

/// A resource with its `ETag` (its `meta.version`) and, when it was just made, `Location`.
pub(super) fn resource(status: StatusCode, body: &Value) -> Response {
    let mut response = scim_json(status, body);
    if let Some(version) = body["meta"]["version"].as_str()
        && let Ok(value) = poem::http::HeaderValue::from_str(version)
    {
        response.headers_mut().insert("etag", value);
    }
    if status == StatusCode::CREATED
        && let Some(location) = body["meta"]["location"].as_str()
        && let Ok(value) = poem::http::HeaderValue::from_str(location)
    {
        response.headers_mut().insert("location", value);
    }
    response
}

/// Whether `resource` (its JSON) meets `filter`. Strings compare case-insensitively, as the
/// attributes authd publishes are `caseExact: false`, except `id` and `externalId`.
pub(super) fn meets(filter: &filter::Filter, resource: &Value) -> bool {
    use filter::{Filter, Literal, Op};
    match filter {
        Filter::And(left, right) => meets(left, resource) && meets(right, resource),
        Filter::Or(left, right) => meets(left, resource) || meets(right, resource),
        Filter::Present(path) => values_at(resource, path)
            .iter()
            .any(|value| !value.is_null() && value.as_str() != Some("")),
        Filter::Compare { path, op, value } => {
            let exact = path == "id" || path == "externalid";
            values_at(resource, path)
                .iter()
                .any(|found| match (found, value) {
                    (Value::String(found), Literal::Text(wanted)) => {
                        let (found, wanted) = if exact {
                            (found.clone(), wanted.clone())
                        } else {
                            (found.to_lowercase(), wanted.to_lowercase())
                        };
                        match op {
                            Op::Eq => found == wanted,
                            Op::Ne => found != wanted,
                            Op::Co => found.contains(&wanted),
                            Op::Sw => found.starts_with(&wanted),
                            Op::Ew => found.ends_with(&wanted),
                            Op::Gt => found > wanted,
                            Op::Ge => found >= wanted,
                            Op::Lt => found < wanted,
                            Op::Le => found <= wanted,
                        }
                    }
                    (Value::Bool(found), Literal::Bool(wanted)) => match op {
                        Op::Eq => found == wanted,
                        Op::Ne => found != wanted,
                        _ => false,
                    },
                    (Value::Null, Literal::Null) => *op == Op::Eq,
                    _ => false,
                })
        }
    }
}

/// The values at `path` (`username`, `emails.value`, `meta.created`): an attribute of a
/// multi-valued one is each element's; `emails` alone means `emails.value`.
fn values_at(resource: &Value, path: &str) -> Vec<Value> {
    let mut current = vec![resource.clone()];
    let path = path.rsplit_once(':').map_or(path, |(_, last)| last);
    for segment in path.split('.') {
        let mut next = Vec::new();
        for value in current {
            let Value::Object(fields) = value else {
                continue;
            };
            if let Some((_, found)) = fields
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(segment))
            {
                match found {
                    Value::Array(items) => next.extend(items.iter().cloned()),
                    other => next.push(other.clone()),
                }
            }
        }
        current = next;
    }
    // `emails eq "a@b.c"` compares the elements' `value`.
    current
        .into_iter()
        .map(|value| match value {
            Value::Object(fields) => fields.get("value").cloned().unwrap_or(Value::Null),
            other => other,
        })
        .collect()
}

/// Reads `filter`, or answers `invalidFilter`.
pub(super) fn parsed_filter(params: &ListParams) -> Result<Option<filter::Filter>, Refusal> {
    params
        .filter
        .as_deref()
        .filter(|text| !text.trim().is_empty())
        .map(|text| {
            filter::parse(text).map_err(|err| {
                failure(
                    StatusCode::BAD_REQUEST,
                    Some("invalidFilter"),
                    &err.to_string(),
                )
            })
        })
        .transpose()
}

#[handler]
async fn service_provider_config(req: &Request, Data(state): Data<&AppState>) -> Response {
    if let Err(refusal) = caller(state, req, Access::Read).await {
        return refusal.into();
    }
    let base = base(state);
    let documentation = format!("{}/docs", state.config.public_url);
    scim_json(
        StatusCode::OK,
        &schemas::service_provider_config(&base, &documentation),
    )
}

#[handler]
async fn resource_types(req: &Request, Data(state): Data<&AppState>) -> Response {
    if let Err(refusal) = caller(state, req, Access::Read).await {
        return refusal.into();
    }
    let types = schemas::resource_types(&base(state));
    let total = types.len() as u64;
    list_response(total, 1, types)
}

#[handler]
async fn resource_type(
    req: &Request,
    Path(id): Path<String>,
    Data(state): Data<&AppState>,
) -> Response {
    if let Err(refusal) = caller(state, req, Access::Read).await {
        return refusal.into();
    }
    match schemas::resource_types(&base(state))
        .into_iter()
        .find(|kind| kind["id"] == id.as_str())
    {
        Some(kind) => scim_json(StatusCode::OK, &kind),
        None => failure(StatusCode::NOT_FOUND, None, "no such resource type").into(),
    }
}

fn all_schemas(state: &AppState) -> Vec<Value> {
    let base = base(state);
    [schemas::user_schema(), schemas::group_schema()]
        .into_iter()
        .map(|mut schema| {
            let location = format!(
                "{base}/Schemas/{}",
                schema["id"].as_str().unwrap_or_default()
            );
            schema["meta"]["location"] = json!(location);
            schema
        })
        .collect()
}

#[handler]
async fn schema_list(req: &Request, Data(state): Data<&AppState>) -> Response {
    if let Err(refusal) = caller(state, req, Access::Read).await {
        return refusal.into();
    }
    let all = all_schemas(state);
    let total = all.len() as u64;
    list_response(total, 1, all)
}

#[handler]
async fn one_schema(
    req: &Request,
    Path(id): Path<String>,
    Data(state): Data<&AppState>,
) -> Response {
    if let Err(refusal) = caller(state, req, Access::Read).await {
        return refusal.into();
    }
    match all_schemas(state)
        .into_iter()
        .find(|schema| schema["id"] == id.as_str())
    {
        Some(schema) => scim_json(StatusCode::OK, &schema),
        None => failure(StatusCode::NOT_FOUND, None, "no such schema").into(),
    }
}

/// Searching by POST at the root (RFC 7644 §3.4.3) is not offered: list each resource type.
#[handler]
async fn search() -> Response {
    failure(
        StatusCode::NOT_IMPLEMENTED,
        None,
        "search by POST is not supported here: GET /Users or /Groups with a filter",
    )
    .into()
}

#[handler]
async fn not_allowed() -> Response {
    failure(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        "the discovery documents are read-only",
    )
    .into()
}

#[handler]
async fn not_found() -> Response {
    failure(StatusCode::NOT_FOUND, None, "no such SCIM resource").into()
}

/// The query of a request, or defaults when it does not parse.
pub(super) fn params(query: Option<Query<ListParams>>) -> ListParams {
    query.map(|Query(params)| params).unwrap_or_default()
}
