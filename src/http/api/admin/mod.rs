//! The admin API, `/admin/…`: users, their sessions, consents and factors, clients, signing
//! keys, groups, the audit trail, webhooks and upstream identity providers, for programs that manage authd (a portal, a
//! Terraform provider, a GitOps job). It calls the same domain services as `authd users …`
//! and `authd clients …`.
//!
//! Who may call: an access token authd issued for itself with scope `authd:admin` (read and
//! write) or `authd:admin:read` (read only); a user's token only while the user is in the
//! admin group (`AUTHD_ADMIN_GROUP`). Lists page with `limit` and an opaque `next_cursor`;
//! records carry an `ETag`, and writes that replace one honour `If-Match` (412 when the record
//! changed since it was read). Errors are authd's usual `{error, message}`.

mod audit;
mod clients;
mod groups;
mod upstreams;
mod users;
mod webhooks;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use poem::Request;
use poem_openapi::{ApiResponse, Object, types::ToJSON};

use crate::{
    admin::actor_of,
    error::Error,
    events::Actor,
    http::callers::{
        access::{AccessAuth, authorize},
        admitted,
    },
    rate_limit::RateLimitedRoute,
    state::AppState,
};

pub use audit::AuditApi;
pub use clients::ClientsApi;
pub use groups::GroupsApi;
pub use upstreams::UpstreamsApi;
pub use users::UsersApi;
pub use webhooks::WebhooksApi;

/// The scope that reads and writes through the admin API.
pub const ADMIN_SCOPE: &str = "authd:admin";
/// The scope that only reads.
pub const ADMIN_READ_SCOPE: &str = "authd:admin:read";

/// The longest page; the default is [`DEFAULT_LIMIT`].
const MAX_LIMIT: u32 = 200;
const DEFAULT_LIMIT: u32 = 50;

/// What a request does, for the scope it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

/// Admits an admin API call: the per-address rate limit, then the token, its scope and, for a
/// user's token, the user's membership of the admin group. Who acted, for the audit trail.
pub(crate) async fn admin_caller(
    state: &AppState,
    req: &Request,
    auth: &AccessAuth,
    access: Access,
) -> Result<Actor, Error> {
    admitted(state, req, RateLimitedRoute::Admin).await?;
    let caller = authorize(state, req, auth).await?;
    let claims = &caller.verified.claims;
    let mut scopes = claims.scope.as_deref().unwrap_or_default().split(' ');
    let allowed = match access {
        Access::Write => scopes.any(|scope| scope == ADMIN_SCOPE),
        Access::Read => scopes.any(|scope| scope == ADMIN_SCOPE || scope == ADMIN_READ_SCOPE),
    };
    if !allowed {
        return Err(Error::InsufficientScope(match access {
            Access::Write => ADMIN_SCOPE,
            Access::Read => ADMIN_READ_SCOPE,
        }));
    }
    if claims.username.is_none() {
        return Ok(actor_of(None, claims.client_id.as_deref()));
    }
    // A user's token: the user must still exist, be enabled, and be an administrator now
    // (leaving the group takes effect at once, whatever tokens they hold).
    let user = caller.user(state).await?;
    if !state
        .groups
        .is_member(user.id, &state.config.admin_group)
        .await?
    {
        return Err(Error::Forbidden(
            "only members of the admin group may use the admin API",
        ));
    }
    Ok(actor_of(Some(user.id), None))
}

/// A page size as asked for: 1 to 200, 50 when not given.
fn page_limit(limit: Option<u32>) -> Result<u32, Error> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        Some(_) => Err(Error::InvalidField {
            field: "limit",
            message: "must be 1 to 200".to_owned(),
        }),
    }
}

/// The cursor after `last`, the last item of a full page; none after a short one.
fn next_cursor(last: Option<String>, returned: usize, limit: u32) -> Option<String> {
    (returned >= limit as usize)
        .then_some(last)
        .flatten()
        .map(|key| URL_SAFE_NO_PAD.encode(key))
}

/// The key a cursor this API gave stands for.
fn cursor_key(cursor: Option<&str>) -> Result<Option<String>, Error> {
    cursor
        .map(|cursor| {
            URL_SAFE_NO_PAD
                .decode(cursor)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or(Error::InvalidField {
                    field: "cursor",
                    message: "is not a cursor this API gave: use next_cursor as it came".to_owned(),
                })
        })
        .transpose()
}

/// A cursor over UUID keys.
fn uuid_cursor(cursor: Option<&str>) -> Result<Option<uuid::Uuid>, Error> {
    cursor_key(cursor)?
        .map(|key| {
            uuid::Uuid::parse_str(&key).map_err(|_| Error::InvalidField {
                field: "cursor",
                message: "is not a cursor this API gave: use next_cursor as it came".to_owned(),
            })
        })
        .transpose()
}

/// A record's `ETag`: its revision, quoted (a strong validator).
pub(crate) fn etag(revision: i64) -> String {
    format!("\"{revision}\"")
}

/// The revision an `If-Match` header names: `None` when absent or `*` (any). A value that
/// is no revision of ours matches nothing, so the write is refused.
pub(crate) fn if_match(req: &Request, what: &'static str) -> Result<Option<i64>, Error> {
    let Some(value) = req.headers().get(poem::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or_default().trim();
    if value == "*" {
        return Ok(None);
    }
    value
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse::<i64>()
        .map(Some)
        .map_err(|_| Error::PreconditionFailed(what))
}

/// A record with its `ETag`.
#[derive(ApiResponse)]
pub enum Tagged<T: ToJSON> {
    #[oai(status = 200)]
    Ok(
        poem_openapi::payload::Json<T>,
        #[oai(header = "ETag")] String,
    ),
    #[oai(status = 201)]
    Created(
        poem_openapi::payload::Json<T>,
        #[oai(header = "ETag")] String,
    ),
}

/// A write that answers nothing.
#[derive(ApiResponse)]
pub enum Done {
    #[oai(status = 204)]
    NoContent,
}

/// A count of what a write ended.
#[derive(Object)]
struct Ended {
    /// How many sessions ended.
    sessions_ended: u64,
}
