//! Re-authentication before a sensitive change (ASVS 3.7.1), when it was not a password typed
//! into the same form: a passkey ceremony marks the browser's session as re-authenticated for
//! a few minutes. Kept in Redis, so the change may land on any replica.

use std::{sync::Arc, time::Duration};

use uuid::Uuid;

use crate::{error::Error, store::ProofStateStore};

/// How long a passkey re-authentication stands for sensitive changes.
pub const REAUTHENTICATION_TTL: Duration = Duration::from_secs(300);

pub struct Reauthentications {
    store: Arc<dyn ProofStateStore>,
}

impl Reauthentications {
    pub fn new(store: Arc<dyn ProofStateStore>) -> Self {
        Self { store }
    }

    /// Marks `session` (a refresh family's id) as re-authenticated just now.
    pub async fn record(&self, session: Uuid) -> Result<(), Error> {
        self.store
            .put(&key(session), "1", REAUTHENTICATION_TTL)
            .await?;
        Ok(())
    }

    /// Whether `session` re-authenticated within the last few minutes.
    pub async fn is_recent(&self, session: Uuid) -> Result<bool, Error> {
        Ok(self.store.get(&key(session), false).await?.is_some())
    }
}

fn key(session: Uuid) -> String {
    format!("reauthenticated:{session}")
}
