//! User accounts: validated identities, password hashing, registration and authentication,
//! and the second factor of interactive logins.

mod audit;
mod email;
mod hasher;
mod password;
mod pending_logins;
mod service;
mod totp;
mod username;

pub use audit::{AuditLog, QUEUE_CAPACITY as AUDIT_QUEUE_CAPACITY};
pub use email::Email;
pub use hasher::{HasherLoad, PasswordHasher};
pub use password::Password;
pub use pending_logins::{PENDING_LOGIN_TTL, PendingLogin, PendingLogins};
pub use service::{Accounts, AuthAttempt, Registered};
pub use totp::{Enrolment, RecoveryCodes, SecondFactor, SecondFactors};
pub use username::Username;
