//! Clients, signing keys, groups and webhook subscriptions, as administrators manage them.

use serde_json::json;
use uuid::Uuid;

use super::{Admin, written};
use crate::{
    clients::{ClientRecord, ClientSecret, Registration},
    error::Error,
    events::{Actor, EventType, NewEvent, WebhookDraft, WebhookSecret},
    keys::{KeyStatus, RotationMode},
    store::{GroupRecord, WebhookRecord},
};

/// A client's registration as an administrator writes it, and the revision it was read at.
#[derive(Debug)]
pub struct ClientWrite {
    pub registration: Registration,
    pub expected: Option<i64>,
}

/// A group's new name, and the revision it was read at.
#[derive(Debug)]
pub struct GroupWrite {
    pub name: String,
    /// `Some` sets (or with `Some(None)` forgets) the external id; `None` leaves it.
    pub external_id: Option<Option<String>>,
    pub expected: Option<i64>,
}

impl Admin {
    pub async fn create_client(
        &self,
        actor: Actor,
        registration: Registration,
    ) -> Result<(ClientRecord, Option<ClientSecret>), Error> {
        let (client, secret) = self.services.clients.create(registration).await?;
        self.audit(
            NewEvent::new(EventType::ClientCreated, actor)
                .client(client.client_id.clone())
                .detail(json!({ "client_name": client.name })),
        )
        .await;
        Ok((client, secret))
    }

    pub async fn client(&self, client_id: &str) -> Result<ClientRecord, Error> {
        self.services
            .clients
            .find(client_id)
            .await?
            .ok_or(Error::NotFound("client"))
    }

    pub async fn update_client(
        &self,
        actor: Actor,
        client_id: &str,
        write: ClientWrite,
    ) -> Result<ClientRecord, Error> {
        let client = written(
            self.services
                .clients
                .update_if(client_id, write.registration, write.expected)
                .await?,
            "client",
        )?;
        self.audit(NewEvent::new(EventType::ClientUpdated, actor).client(client_id))
            .await;
        Ok(client)
    }

    /// A new secret for a confidential client, returned this once; the old one stays valid for
    /// `previous_valid_for`.
    pub async fn rotate_client_secret(
        &self,
        actor: Actor,
        client_id: &str,
        previous_valid_for: time::Duration,
    ) -> Result<(ClientRecord, ClientSecret), Error> {
        let rotated = self
            .services
            .clients
            .rotate_secret(client_id, previous_valid_for)
            .await?
            .ok_or(Error::NotFound("client"))?;
        self.audit(
            NewEvent::new(EventType::ClientSecretRotated, actor)
                .client(client_id)
                .detail(json!({ "previous_valid_for": previous_valid_for.whole_seconds() })),
        )
        .await;
        Ok(rotated)
    }

    pub async fn delete_client(&self, actor: Actor, client_id: &str) -> Result<(), Error> {
        if !self.services.clients.delete(client_id).await? {
            return Err(Error::NotFound("client"));
        }
        self.audit(NewEvent::new(EventType::ClientDeleted, actor).client(client_id))
            .await;
        Ok(())
    }

    /// The signing keys the JWKS lists, newest first.
    pub fn keys(&self) -> Vec<KeyStatus> {
        self.services.key_ring.statuses(self.now())
    }

    /// Publishes a new signing key: it signs once verifiers have had one JWKS cache lifetime
    /// to fetch it; or, with `now` (after a leak), it signs at once and every other key is
    /// retired at once. The new key's id, or `None` if no rotation was needed.
    pub async fn rotate_keys(&self, actor: Actor, now: bool) -> Result<Option<String>, Error> {
        let mode = if now {
            RotationMode::Immediate
        } else {
            RotationMode::Planned
        };
        let kid = self
            .services
            .keys
            .rotate(mode)
            .await
            .map_err(|err| Error::Internal(format!("key rotation: {err}")))?;
        if let Some(kid) = &kid {
            self.audit(
                NewEvent::new(EventType::KeyRotated, actor)
                    .detail(json!({ "kid": kid, "immediate": now })),
            )
            .await;
        }
        Ok(kid)
    }

    pub async fn create_group(
        &self,
        actor: Actor,
        name: &str,
        external_id: Option<String>,
    ) -> Result<GroupRecord, Error> {
        let group = self.services.groups.create(name, external_id).await?;
        self.audit(
            NewEvent::new(EventType::GroupCreated, actor)
                .detail(json!({ "group_id": group.id, "name": group.name })),
        )
        .await;
        Ok(group)
    }

    pub async fn group(&self, group_id: Uuid) -> Result<GroupRecord, Error> {
        self.services
            .groups
            .find(group_id)
            .await?
            .ok_or(Error::NotFound("group"))
    }

    pub async fn rename_group(
        &self,
        actor: Actor,
        group_id: Uuid,
        write: GroupWrite,
    ) -> Result<GroupRecord, Error> {
        let group = written(
            self.services
                .groups
                .rename(
                    group_id,
                    &write.name,
                    write.external_id.as_ref().map(Option::as_deref),
                    write.expected,
                )
                .await?,
            "group",
        )?;
        self.audit(
            NewEvent::new(EventType::GroupUpdated, actor)
                .detail(json!({ "group_id": group.id, "name": group.name })),
        )
        .await;
        Ok(group)
    }

    pub async fn delete_group(&self, actor: Actor, group_id: Uuid) -> Result<(), Error> {
        if !self.services.groups.delete(group_id).await? {
            return Err(Error::NotFound("group"));
        }
        self.audit(
            NewEvent::new(EventType::GroupDeleted, actor).detail(json!({ "group_id": group_id })),
        )
        .await;
        Ok(())
    }

    pub async fn add_member(
        &self,
        actor: Actor,
        group_id: Uuid,
        user_id: Uuid,
    ) -> Result<(), Error> {
        self.group(group_id).await?;
        if !self.services.groups.add_member(group_id, user_id).await? {
            // The group is there (checked above): the body names a user who is not.
            return Err(Error::InvalidField {
                field: "user_id",
                message: format!("names no user ({user_id})"),
            });
        }
        self.audit(
            NewEvent::new(EventType::GroupMemberAdded, actor)
                .user(user_id)
                .detail(json!({ "group_id": group_id })),
        )
        .await;
        Ok(())
    }

    pub async fn remove_member(
        &self,
        actor: Actor,
        group_id: Uuid,
        user_id: Uuid,
    ) -> Result<(), Error> {
        if !self
            .services
            .groups
            .remove_member(group_id, user_id)
            .await?
        {
            return Err(Error::NotFound("member"));
        }
        self.audit(
            NewEvent::new(EventType::GroupMemberRemoved, actor)
                .user(user_id)
                .detail(json!({ "group_id": group_id })),
        )
        .await;
        Ok(())
    }

    pub async fn create_webhook(
        &self,
        actor: Actor,
        draft: WebhookDraft,
    ) -> Result<(WebhookRecord, WebhookSecret), Error> {
        let (webhook, secret) = self.services.webhooks.create(draft).await?;
        self.audit(
            NewEvent::new(EventType::WebhookCreated, actor)
                .detail(json!({ "webhook_id": webhook.id, "url": webhook.url })),
        )
        .await;
        Ok((webhook, secret))
    }

    pub async fn webhook(&self, webhook_id: Uuid) -> Result<WebhookRecord, Error> {
        self.services
            .webhooks
            .find(webhook_id)
            .await?
            .ok_or(Error::NotFound("webhook"))
    }

    pub async fn update_webhook(
        &self,
        actor: Actor,
        webhook_id: Uuid,
        draft: WebhookDraft,
        expected: Option<i64>,
    ) -> Result<WebhookRecord, Error> {
        let webhook = written(
            self.services
                .webhooks
                .update(webhook_id, draft, expected)
                .await?,
            "webhook",
        )?;
        self.audit(
            NewEvent::new(EventType::WebhookUpdated, actor)
                .detail(json!({ "webhook_id": webhook.id, "url": webhook.url })),
        )
        .await;
        Ok(webhook)
    }

    pub async fn delete_webhook(&self, actor: Actor, webhook_id: Uuid) -> Result<(), Error> {
        if !self.services.webhooks.delete(webhook_id).await? {
            return Err(Error::NotFound("webhook"));
        }
        self.audit(
            NewEvent::new(EventType::WebhookDeleted, actor)
                .detail(json!({ "webhook_id": webhook_id })),
        )
        .await;
        Ok(())
    }
}
