//! `/admin/webhooks`: subscriptions to the audit trail's events, delivered signed as Standard
//! Webhooks specifies, from the outbox (at least once, retried with backoff).

use poem::Request;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    Access, Done, Tagged, admin_caller, etag, if_match, next_cursor, page_limit, uuid_cursor,
};
use crate::{
    admin::WebhookRecord,
    events::WebhookDraft,
    http::{api::ApiTags, bodies::fields, callers::access::AccessAuth, error::ApiError},
    state::AppState,
};

pub struct WebhooksApi(pub AppState);

/// A subscription as written.
#[derive(Object)]
struct WebhookFields {
    /// https (http only where `AUTHD_WEBHOOK_ALLOW_LOOPBACK` is on); never a loopback, private
    /// or link-local address.
    #[oai(deserialize_with = "fields::url")]
    url: String,
    /// The event types to deliver (`user.created`, `session.ended`, …), or `["*"]` for all.
    #[oai(deserialize_with = "fields::event_types")]
    event_types: Option<Vec<String>>,
    /// Default true.
    #[oai(deserialize_with = "fields::enabled")]
    enabled: Option<bool>,
    #[oai(deserialize_with = "fields::optional_description")]
    description: Option<String>,
}

#[derive(Object)]
struct AdminWebhook {
    id: Uuid,
    url: String,
    event_types: Vec<String>,
    enabled: bool,
    description: String,
    created_at: OffsetDateTime,
    /// The signing secret (`whsec_…`, Standard Webhooks): shown once, at creation.
    #[oai(skip_serializing_if_is_none)]
    secret: Option<String>,
}

fn describe(webhook: &WebhookRecord, secret: Option<String>) -> AdminWebhook {
    AdminWebhook {
        id: webhook.id,
        url: webhook.url.clone(),
        event_types: webhook.event_types.clone(),
        enabled: webhook.enabled,
        description: webhook.description.clone(),
        created_at: webhook.created_at,
        secret,
    }
}

fn draft(fields: WebhookFields) -> WebhookDraft {
    WebhookDraft {
        url: fields.url,
        event_types: fields.event_types.unwrap_or_default(),
        enabled: fields.enabled.unwrap_or(true),
        description: fields.description.unwrap_or_default(),
    }
}

#[derive(Object)]
struct WebhookPage {
    items: Vec<AdminWebhook>,
    #[oai(skip_serializing_if_is_none)]
    next_cursor: Option<String>,
}

/// The subscription with its secret, this once: no cache may keep it.
#[derive(ApiResponse)]
enum CreatedWebhook {
    #[oai(status = 201)]
    Created(
        Json<AdminWebhook>,
        #[oai(header = "ETag")] String,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[OpenApi(prefix_path = "/admin/webhooks", tag = "ApiTags::Admin")]
impl WebhooksApi {
    /// List webhook subscriptions
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        req: &Request,
        auth: AccessAuth,
        /// 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<WebhookPage>, ApiError> {
        admin_caller(&self.0, req, &auth, Access::Read).await?;
        let limit = page_limit(limit.0)?;
        let after = uuid_cursor(cursor.0.as_deref())?;
        let webhooks = self.0.admin.services().webhooks.list(after, limit).await?;
        Ok(Json(WebhookPage {
            next_cursor: next_cursor(
                webhooks.last().map(|w| w.id.to_string()),
                webhooks.len(),
                limit,
            ),
            items: webhooks.iter().map(|w| describe(w, None)).collect(),
        }))
    }

    /// Subscribe
    ///
    /// The answer holds the signing secret, this once. Scope `authd:admin`.
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        req: &Request,
        auth: AccessAuth,
        body: Json<WebhookFields>,
    ) -> Result<CreatedWebhook, ApiError> {
        let actor = admin_caller(&self.0, req, &auth, Access::Write).await?;
        let (webhook, secret) = self.0.admin.create_webhook(actor, draft(body.0)).await?;
        Ok(CreatedWebhook::Created(
            Json(describe(&webhook, Some(secret.expose().to_owned()))),
            etag(webhook.revision),
            "no-store".to_owned(),
        ))
    }

    /// Get a subscription
    #[oai(path = "/:id", method = "get")]
    async fn get(
        &self,
        req: &Request,
        auth: AccessAuth,
        id: Path<Uuid>,
    ) -> Result<Tagged<AdminWebhook>, ApiError> {
        admin_caller(&self.0, req, &auth, Access::Read).await?;
        let webhook = self.0.admin.webhook(id.0).await?;
        Ok(Tagged::Ok(
            Json(describe(&webhook, None)),
            etag(webhook.revision),
        ))
    }

    /// Replace a subscription
    ///
    /// Its secret stays. Send the `ETag` you read as `If-Match`: 412 if it changed since.
    #[oai(path = "/:id", method = "put")]
    async fn replace(
        &self,
        req: &Request,
        auth: AccessAuth,
        id: Path<Uuid>,
        body: Json<WebhookFields>,
    ) -> Result<Tagged<AdminWebhook>, ApiError> {
        let actor = admin_caller(&self.0, req, &auth, Access::Write).await?;
        let expected = if_match(req, "webhook")?;
        let webhook = self
            .0
            .admin
            .update_webhook(actor, id.0, draft(body.0), expected)
            .await?;
        Ok(Tagged::Ok(
            Json(describe(&webhook, None)),
            etag(webhook.revision),
        ))
    }

    /// Unsubscribe
    ///
    /// Deliveries not yet made are dropped.
    #[oai(path = "/:id", method = "delete")]
    async fn delete(
        &self,
        req: &Request,
        auth: AccessAuth,
        id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let actor = admin_caller(&self.0, req, &auth, Access::Write).await?;
        self.0.admin.delete_webhook(actor, id.0).await?;
        Ok(Done::NoContent)
    }
}
