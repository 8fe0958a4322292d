//! What users allowed clients: remembered per user and client, so the next login with the
//! same scopes does not ask again, and withdrawn from the profile page.

use uuid::Uuid;

use super::Authorizations;
use crate::{
    error::Error,
    store::{Consent, ConsentSummary},
};

impl Authorizations {
    /// Whether the user has already allowed `client_id` every scope in `scope`.
    pub async fn has_consent(
        &self,
        user_id: Uuid,
        client_id: &str,
        scope: &str,
    ) -> Result<bool, Error> {
        let Some(consent) = self.consents.find_consent(user_id, client_id).await? else {
            return Ok(false);
        };
        let granted: Vec<&str> = consent.scope.split(' ').collect();
        Ok(scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .all(|s| granted.contains(&s)))
    }

    /// Remembers that the user allowed `client_id` `scope`, on top of what they allowed before.
    pub async fn consent(&self, user_id: Uuid, client_id: &str, scope: &str) -> Result<(), Error> {
        let previous = self.consents.find_consent(user_id, client_id).await?;
        let mut scopes: Vec<&str> = previous
            .as_ref()
            .map(|consent| consent.scope.split(' ').collect())
            .unwrap_or_default();
        for s in scope.split(' ') {
            if !s.is_empty() && !scopes.contains(&s) {
                scopes.push(s);
            }
        }
        let consent = Consent {
            user_id,
            client_id: client_id.to_owned(),
            scope: scopes.join(" ").trim().to_owned(),
            granted_at: self.clock.now(),
        };
        Ok(self.consents.save_consent(&consent).await?)
    }

    pub async fn consents(&self, user_id: Uuid) -> Result<Vec<ConsentSummary>, Error> {
        Ok(self.consents.list_consents(user_id).await?)
    }

    /// Forgets the user's consent to `client_id` and ends the sessions it gave the client, with
    /// their tokens. Whether there was a consent.
    pub async fn withdraw(&self, user_id: Uuid, client_id: &str) -> Result<bool, Error> {
        let had = self.consents.delete_consent(user_id, client_id).await?;
        let ended = self.sessions.revoke_for_client(user_id, client_id).await?;
        tracing::info!(%user_id, client_id, sessions = ended, "consent withdrawn");
        Ok(had || ended > 0)
    }
}
