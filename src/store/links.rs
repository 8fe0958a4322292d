//! Single-use links mailed to a user, kept as the SHA-256 of their random token.

use time::OffsetDateTime;
use uuid::Uuid;

/// What a mailed link does when it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Proves the user receives mail at the address.
    VerifyEmail,
    /// Sets a new password.
    ResetPassword,
    /// Moves the account to the address the link was sent to.
    ChangeEmail,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::VerifyEmail => "verify_email",
            LinkPurpose::ResetPassword => "reset_password",
            LinkPurpose::ChangeEmail => "change_email",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        [Self::VerifyEmail, Self::ResetPassword, Self::ChangeEmail]
            .into_iter()
            .find(|purpose| purpose.as_str() == stored)
    }
}

/// A link as stored. `email` is the address it was sent to: a verification only counts while
/// the account still has that address, and a change of address moves the account to it.
#[derive(Debug, Clone)]
pub struct AccountLink {
    pub token_hash: [u8; 32],
    pub purpose: LinkPurpose,
    pub user_id: Uuid,
    pub email: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// The change a link makes when it is redeemed, in the transaction that uses it up.
#[derive(Debug, Clone, Copy)]
pub enum LinkChange<'a> {
    /// Marks the address verified (if it is still the account's).
    VerifyEmail,
    /// Replaces the password hash (an Argon2id PHC string).
    SetPassword { password_hash: &'a str },
    /// Replaces the address with the link's, verified.
    ChangeEmail,
}
