//! User accounts: validated identities, password hashing, registration and authentication.

mod email;
mod password;
mod service;
mod username;

pub use email::Email;
pub use password::{HasherLoad, Password, PasswordHasher};
pub use service::{Accounts, AuthAttempt, Registered};
pub use username::Username;
