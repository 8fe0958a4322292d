//! Webhook subscriptions: a URL, the event types it wants, and the secret its deliveries are
//! signed with (Standard Webhooks: `whsec_` and the key in base64), shown once at creation and
//! kept sealed under the master key.

use std::{fmt, sync::Arc};

use base64::{Engine, engine::general_purpose::STANDARD};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{AddressGuard, EventType};
use crate::{
    clock::Clock,
    error::Error,
    keys::MasterKeys,
    store::{WebhookChange, WebhookRecord, WebhookStore, Written},
};

/// Bytes of a signing key (Standard Webhooks asks for 24 to 64).
const SECRET_BYTES: usize = 32;
/// The longest URL a subscription may have.
const MAX_URL: usize = 2048;

/// A subscription's signing secret, as shown once: `whsec_` and the key in base64. Never
/// printed by `Debug`.
pub struct WebhookSecret(Zeroizing<String>);

impl WebhookSecret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

/// A subscription as an administrator writes it.
#[derive(Debug, Clone)]
pub struct WebhookDraft {
    pub url: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub description: String,
}

pub struct Webhooks {
    store: Arc<dyn WebhookStore>,
    master_keys: Arc<MasterKeys>,
    guard: AddressGuard,
    clock: Arc<dyn Clock>,
}

impl Webhooks {
    pub fn new(
        store: Arc<dyn WebhookStore>,
        master_keys: Arc<MasterKeys>,
        guard: AddressGuard,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            master_keys,
            guard,
            clock,
        }
    }

    /// Subscribes `draft`; the secret is returned this once.
    pub async fn create(
        &self,
        draft: WebhookDraft,
    ) -> Result<(WebhookRecord, WebhookSecret), Error> {
        let change = self.check(draft)?;
        let id = Uuid::now_v7();
        let mut key = Zeroizing::new([0_u8; SECRET_BYTES]);
        rand::fill(key.as_mut_slice());
        let master = self.master_keys.current();
        let sealed = master
            .seal(key.as_slice(), id.as_bytes())
            .map_err(|_| Error::Internal("could not seal a webhook secret".to_owned()))?;
        let record = WebhookRecord {
            id,
            url: change.url,
            event_types: change.event_types,
            enabled: change.enabled,
            description: change.description,
            secret: sealed,
            master_key_id: master.id(),
            created_at: self.clock.now(),
            revision: 1,
        };
        self.store.insert_webhook(&record).await?;
        let secret = WebhookSecret(Zeroizing::new(format!(
            "whsec_{}",
            STANDARD.encode(key.as_slice())
        )));
        Ok((record, secret))
    }

    pub async fn find(&self, id: Uuid) -> Result<Option<WebhookRecord>, Error> {
        Ok(self.store.find_webhook(id).await?)
    }

    pub async fn list(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<WebhookRecord>, Error> {
        Ok(self.store.list_webhooks(after, limit).await?)
    }

    pub async fn update(
        &self,
        id: Uuid,
        draft: WebhookDraft,
        expected: Option<i64>,
    ) -> Result<Written<WebhookRecord>, Error> {
        let change = self.check(draft)?;
        Ok(self.store.change_webhook(id, &change, expected).await?)
    }

    pub async fn delete(&self, id: Uuid) -> Result<bool, Error> {
        Ok(self.store.delete_webhook(id).await?)
    }

    /// Re-seals every subscription's secret sealed under an older master key with the current
    /// one, as `authd keys rewrap` does for the signing keys; how many it re-sealed.
    pub async fn rewrap(&self) -> Result<usize, Error> {
        let current = self.master_keys.current();
        let mut resealed = 0;
        let mut after = None;
        loop {
            let page = self.store.list_webhooks(after, 100).await?;
            for webhook in page.iter().filter(|w| w.master_key_id != current.id()) {
                let key = self.key(webhook)?;
                let sealed = current
                    .seal(key.as_slice(), webhook.id.as_bytes())
                    .map_err(|_| Error::Internal("could not seal a webhook secret".to_owned()))?;
                if self
                    .store
                    .reseal_webhook(webhook.id, &webhook.master_key_id, &sealed, &current.id())
                    .await?
                {
                    resealed += 1;
                }
            }
            match page.last() {
                Some(last) if page.len() == 100 => after = Some(last.id),
                _ => return Ok(resealed),
            }
        }
    }

    /// The subscription's signing key, opened.
    pub(super) fn key(&self, webhook: &WebhookRecord) -> Result<Zeroizing<Vec<u8>>, Error> {
        let master = self
            .master_keys
            .find(&webhook.master_key_id)
            .ok_or_else(|| {
                Error::Internal(format!(
                    "webhook {} is sealed under master key {}, which this replica does not have",
                    webhook.id, webhook.master_key_id
                ))
            })?;
        master
            .open(&webhook.secret, webhook.id.as_bytes())
            .map_err(|_| Error::Internal(format!("webhook {}'s secret does not open", webhook.id)))
    }

    pub(super) fn guard(&self) -> &AddressGuard {
        &self.guard
    }

    pub(super) fn store(&self) -> &dyn WebhookStore {
        self.store.as_ref()
    }

    fn check(&self, draft: WebhookDraft) -> Result<WebhookChange, Error> {
        let url = draft.url.trim().to_owned();
        if url.len() > MAX_URL {
            return Err(invalid("url", "must be at most 2048 characters"));
        }
        let parsed =
            url::Url::parse(&url).map_err(|_| invalid("url", "must be an absolute https URL"))?;
        self.guard
            .check_url(&parsed)
            .map_err(|message| invalid("url", message))?;
        let mut event_types: Vec<String> = draft
            .event_types
            .iter()
            .map(|kind| kind.trim().to_owned())
            .collect();
        event_types.sort();
        event_types.dedup();
        if event_types.is_empty() {
            return Err(invalid(
                "event_types",
                "must name at least one event type, or `*` for all",
            ));
        }
        if let Some(unknown) = event_types.iter().find(|kind| {
            *kind != "*" && !EventType::ALL.iter().any(|known| known.as_str() == *kind)
        }) {
            return Err(invalid(
                "event_types",
                format!("`{unknown}` is not an event type authd sends"),
            ));
        }
        let description = draft.description.trim().to_owned();
        if description.chars().count() > 200 || description.chars().any(char::is_control) {
            return Err(invalid(
                "description",
                "must be at most 200 characters, without control characters",
            ));
        }
        Ok(WebhookChange {
            url,
            event_types,
            enabled: draft.enabled,
            description,
        })
    }
}

/// Whether a subscription wants events of `kind`.
pub fn wants(webhook: &WebhookRecord, kind: &str) -> bool {
    webhook
        .event_types
        .iter()
        .any(|wanted| wanted == "*" || wanted == kind)
}

fn invalid(field: &'static str, message: impl Into<String>) -> Error {
    Error::InvalidField {
        field,
        message: message.into(),
    }
}
