//! User accounts: validated identities, password hashing, registration and authentication.

mod audit;
mod email;
mod hasher;
mod password;
mod service;
mod username;

pub use audit::{AuditLog, QUEUE_CAPACITY as AUDIT_QUEUE_CAPACITY};
pub use email::Email;
pub use hasher::{HasherLoad, PasswordHasher};
pub use password::Password;
pub use service::{Accounts, AuthAttempt, Registered};
pub use username::Username;
