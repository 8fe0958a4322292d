//! What administrators do, from the admin API or the command line: the same domain services
//! the rest of authd uses, each write recorded in the audit trail with who made it.
//!
//! Conditional writes take the revision the writer read (`If-Match`); a write over a newer
//! revision changes nothing and is refused ([`Error::PreconditionFailed`]).

mod directory;
mod settings;
mod upstreams;

use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

/// The records administrators read, as the stores hand them out.
pub use crate::store::{
    AuditEvent, AuditQuery, ConsentSummary, GroupMember, GroupRecord, SessionSummary, UserQuery,
    WebhookRecord,
};
pub use directory::{FactorsReset, NewUser, UserPatch};
pub use settings::{ClientWrite, GroupWrite};

use crate::{
    accounts::{Accounts, Groups, Users},
    authorization::Authorizations,
    clients::Clients,
    clock::Clock,
    error::Error,
    events::{Actor, AuditTrail, NewEvent, Webhooks},
    federation::Upstreams,
    keys::{KeyManager, KeyRing},
    mail::Mailer,
    sessions::Sessions,
    store::Written,
};

/// The services administration acts through.
pub struct AdminServices {
    pub users: Arc<Users>,
    pub accounts: Accounts,
    pub sessions: Arc<Sessions>,
    pub clients: Arc<Clients>,
    pub authorizations: Arc<Authorizations>,
    pub keys: Arc<KeyManager>,
    pub key_ring: Arc<KeyRing>,
    pub groups: Arc<Groups>,
    pub trail: Arc<AuditTrail>,
    pub webhooks: Arc<Webhooks>,
    pub mailer: Arc<Mailer>,
    pub upstreams: Arc<Upstreams>,
}

pub struct Admin {
    services: AdminServices,
    clock: Arc<dyn Clock>,
}

impl Admin {
    pub fn new(services: AdminServices, clock: Arc<dyn Clock>) -> Self {
        Self { services, clock }
    }

    /// The services, for reads that need no audit.
    pub fn services(&self) -> &AdminServices {
        &self.services
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Records an administrative write. The write happened: a failure here is logged, and the
    /// caller is answered as for any write that committed.
    async fn audit(&self, event: NewEvent) {
        let kind = event.kind.as_str();
        if let Err(err) = self.services.trail.record(event).await {
            tracing::error!(error = %err, event = kind, "could not record an administrative write");
        }
    }
}

/// A conditional write's outcome as the admin API answers it: `what` names the record in the
/// error.
fn written<T>(written: Written<T>, what: &'static str) -> Result<T, Error> {
    match written {
        Written::Done(record) => Ok(record),
        Written::Missing => Err(Error::NotFound(what)),
        Written::Stale => Err(Error::PreconditionFailed(what)),
    }
}

/// The actor's id for the audit trail, when an administrative action names who acted.
pub fn actor_of(user_id: Option<Uuid>, client_id: Option<&str>) -> Actor {
    match (user_id, client_id) {
        (Some(user_id), _) => Actor::User(user_id),
        (None, Some(client_id)) => Actor::Client(client_id.to_owned()),
        (None, None) => Actor::Anonymous,
    }
}
