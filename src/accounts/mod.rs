//! User accounts: validated identities, password hashing, registration and authentication,
//! the second factor of interactive logins, and passkeys.

mod audit;
mod email;
mod groups;
mod hasher;
mod ldap_logins;
mod logins;
mod passkeys;
mod password;
mod pending_logins;
mod reauthentications;
mod recovery;
mod service;
mod totp;
mod username;
mod users;

pub use crate::{
    metrics::HasherLoad,
    store::{Profile, UserRecord},
};
pub use audit::{AuditLog, QUEUE_CAPACITY as AUDIT_QUEUE_CAPACITY};
pub use email::Email;
pub use groups::Groups;
pub use hasher::{Argon2Settings, PasswordHasher};
pub use ldap_logins::LdapLogins;
pub use logins::{Logins, PasswordStep, SecondProof};
pub use passkeys::{Ceremony, PASSKEY_LIMIT, PasskeyMethod, Passkeys, Purpose};
pub use password::Password;
pub use pending_logins::{PENDING_LOGIN_TTL, PendingLogin, PendingLogins};
pub use reauthentications::{REAUTHENTICATION_TTL, Reauthentications};
pub use recovery::{Recovery, RecoveryServices};
pub use service::{Accounts, AuthAttempt, Factors, NewAccount, Registered};
pub use totp::{Enrolment, RecoveryCodes, SecondFactor, SecondFactors};
pub use username::Username;
pub use users::{Users, parse_profile};
