//! Logins through the identity providers an organisation already has: upstream OpenID Connect
//! providers and plain OAuth 2.0 ones (GitHub-style), with authd as a careful relying party.
//!
//! - [`registry`]: the upstreams an operator registers, configured from discovery, their client
//!   secrets sealed under the master key.
//! - [`flow`]: the code flow against an upstream (PKCE S256, `state` bound to the browser,
//!   `nonce`, RFC 9207 `iss`), its pending step in Redis so any replica takes the callback.
//! - [`id_token`]: the upstream's ID token verified against its keys, algorithms pinned.
//! - [`identities`]: who the upstream's user is here: the pair (upstream, subject), never an
//!   address, with just-in-time provisioning and linking by a trusted, verified address only.

mod flow;
mod http;
mod id_token;
mod identities;
mod registry;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use serde_json::json;
use time::Duration;

use crate::{
    accounts::{Accounts, PendingLogins, Users},
    clock::Clock,
    error::{Error, FederationFailure},
    events::{Actor, AuditTrail, EventType, NewEvent},
    exchange::ExternalIssuers,
    store::{ProofStateStore, UpstreamStore},
};

pub use crate::store::{ClaimPaths, FederatedIdentity, Provisioning, UpstreamKind, UpstreamRecord};
pub use flow::{Begun, Callback, Finished, Purpose};
pub use registry::{UpstreamDraft, Upstreams, discover};

/// The upstreams, their logins and the identities they vouch for.
pub struct Federation {
    upstreams: Arc<Upstreams>,
    store: Arc<dyn UpstreamStore>,
    state: Arc<dyn ProofStateStore>,
    accounts: Accounts,
    users: Arc<Users>,
    pending: Arc<PendingLogins>,
    trail: Arc<AuditTrail>,
    clock: Arc<dyn Clock>,
    leeway: Duration,
    /// Each upstream's key cache, rebuilt when its record changes (by revision).
    verifiers: Mutex<HashMap<String, (i64, Arc<ExternalIssuers>)>>,
}

/// What [`Federation`] works with.
pub struct FederationServices {
    pub upstreams: Arc<Upstreams>,
    pub store: Arc<dyn UpstreamStore>,
    pub state: Arc<dyn ProofStateStore>,
    pub accounts: Accounts,
    pub users: Arc<Users>,
    pub pending: Arc<PendingLogins>,
    pub trail: Arc<AuditTrail>,
    pub clock: Arc<dyn Clock>,
}

impl Federation {
    pub fn new(services: FederationServices, leeway: Duration) -> Self {
        Self {
            upstreams: services.upstreams,
            store: services.store,
            state: services.state,
            accounts: services.accounts,
            users: services.users,
            pending: services.pending,
            trail: services.trail,
            clock: services.clock,
            leeway,
            verifiers: Mutex::default(),
        }
    }

    /// The registered upstreams.
    pub fn upstreams(&self) -> &Upstreams {
        &self.upstreams
    }

    /// The identities linked to a user, for the profile page.
    pub async fn identities_of(
        &self,
        user_id: uuid::Uuid,
    ) -> Result<Vec<FederatedIdentity>, Error> {
        Ok(self.store.identities_of(user_id).await?)
    }

    /// Unlinks the user's identity at `upstream_id`. Refused when it is the only way left into
    /// the account (no password, no passkey): the user would be locked out.
    pub async fn unlink(&self, user_id: uuid::Uuid, upstream_id: &str) -> Result<bool, Error> {
        let user = self
            .users
            .find_by_id(user_id)
            .await?
            .ok_or(Error::NotFound("user"))?;
        let identities = self.store.identities_of(user_id).await?;
        let others = identities
            .iter()
            .filter(|identity| identity.upstream_id != upstream_id)
            .count();
        let has_passkey = self.accounts.passkeys().any(user_id).await?;
        if user.password_hash.is_none() && !has_passkey && others == 0 {
            return Err(refused(
                "This is the only way into your account: set a password or add a passkey \
                 before you unlink it.",
            ));
        }
        let Some(identity) = identities
            .iter()
            .find(|identity| identity.upstream_id == upstream_id)
        else {
            return Ok(false);
        };
        let unlinked = self.store.unlink_identity(user_id, upstream_id).await?;
        if unlinked {
            tracing::info!(%user_id, upstream = upstream_id, "federated identity unlinked");
            self.audit(
                NewEvent::new(EventType::IdentityUnlinked, Actor::User(user_id))
                    .user(user_id)
                    .detail(json!({ "upstream": upstream_id, "subject": identity.subject })),
            )
            .await;
        }
        Ok(unlinked)
    }

    /// Records `event` in the audit trail; a failure is logged, as the change is made.
    async fn audit(&self, event: NewEvent) {
        if let Err(err) = self.trail.record(event).await {
            tracing::error!(error = %err, "could not record a federation event");
        }
    }
}

fn refused(message: impl Into<String>) -> Error {
    Error::Federation {
        failure: FederationFailure::Refused,
        message: message.into(),
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::Federation {
        failure: FederationFailure::Invalid,
        message: message.into(),
    }
}

fn unreachable(message: impl Into<String>) -> Error {
    Error::Federation {
        failure: FederationFailure::Unreachable,
        message: message.into(),
    }
}

/// An OAuth error code an upstream sent, as safe, short text for a page.
fn printable(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}
