//! `/admin/events`: the audit trail, newest first.

use std::net::IpAddr;

use poem::Request;
use poem_openapi::{Object, OpenApi, param::Query, payload::Json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Access, admin_caller, cursor_key, next_cursor, page_limit};
use crate::{
    admin::{AuditEvent, AuditQuery},
    error::Error,
    http::{api::ApiTags, callers::access::AccessAuth, error::ApiError},
    state::AppState,
};

pub struct AuditApi(pub AppState);

#[derive(Object)]
struct AdminEvent {
    id: i64,
    occurred_at: OffsetDateTime,
    /// `user.created`, `user.logged_in`, `user.login_failed`, `session.ended`,
    /// `client.updated`, … (the webhooks' event types).
    #[oai(rename = "type")]
    kind: String,
    #[oai(skip_serializing_if_is_none)]
    user_id: Option<Uuid>,
    #[oai(skip_serializing_if_is_none)]
    client_id: Option<String>,
    /// Who acted: `user:<id>`, `client:<id>`, `operator` (the command line), `anonymous`, or
    /// `system` (authd finishing what a replica that died had started).
    actor: String,
    #[oai(skip_serializing_if_is_none)]
    ip: Option<String>,
    detail: serde_json::Value,
}

impl From<AuditEvent> for AdminEvent {
    fn from(event: AuditEvent) -> Self {
        Self {
            id: event.id,
            occurred_at: event.occurred_at,
            kind: event.event_type,
            user_id: event.user_id,
            client_id: event.client_id,
            actor: event.actor,
            ip: event.ip.as_ref().map(IpAddr::to_string),
            detail: event.detail,
        }
    }
}

#[derive(Object)]
struct EventPage {
    items: Vec<AdminEvent>,
    #[oai(skip_serializing_if_is_none)]
    next_cursor: Option<String>,
}

#[OpenApi(tag = "ApiTags::Admin")]
impl AuditApi {
    /// Read the audit trail
    ///
    /// Logins, ended sessions and every administrative write, newest first, filtered by user,
    /// client, type and time (`since` inclusive, `until` exclusive, RFC 3339). Scope
    /// `authd:admin:read` or `authd:admin`.
    #[allow(clippy::too_many_arguments)] // one per query parameter
    #[oai(path = "/admin/events", method = "get")]
    async fn events(
        &self,
        req: &Request,
        auth: AccessAuth,
        user_id: Query<Option<Uuid>>,
        client_id: Query<Option<String>>,
        #[oai(name = "type")] kind: Query<Option<String>>,
        since: Query<Option<OffsetDateTime>>,
        until: Query<Option<OffsetDateTime>>,
        /// 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<EventPage>, ApiError> {
        admin_caller(&self.0, req, &auth, Access::Read).await?;
        let limit = page_limit(limit.0)?;
        let before = cursor_key(cursor.0.as_deref())?
            .map(|key| {
                key.parse::<i64>().map_err(|_| Error::InvalidField {
                    field: "cursor",
                    message: "is not a cursor this API gave: use next_cursor as it came".to_owned(),
                })
            })
            .transpose()?;
        let query = AuditQuery {
            user_id: user_id.0,
            client_id: client_id.0,
            event_type: kind.0,
            since: since.0,
            until: until.0,
            before,
            limit,
        };
        let events = self.0.trail.list(&query).await?;
        Ok(Json(EventPage {
            next_cursor: next_cursor(events.last().map(|e| e.id.to_string()), events.len(), limit),
            items: events.into_iter().map(AdminEvent::from).collect(),
        }))
    }
}
