//! How a store call fails: the kinds the domain tells apart.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint refused the write; nothing was written.
    #[error("{0} already exists")]
    Conflict(UniqueField),
    /// The backing service did not answer (connection refused, pool timeout, server error).
    #[error("{service}: {message}")]
    Unavailable {
        service: &'static str,
        message: String,
    },
    /// Stored data that cannot be read back as written: a bug or tampering.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueField {
    Username,
    Email,
    /// A passkey's credential id, registered already (to this account or another).
    PasskeyCredential,
    /// A group's name (case-insensitive).
    GroupName,
    /// An upstream identity provider's id.
    UpstreamId,
    /// A federated identity, linked already (to this account or another), or a second identity
    /// of one upstream for one account.
    FederatedIdentity,
    /// A directory entry linked already (to this account or another), or an account linked to
    /// an entry already.
    LdapEntry,
}

impl std::fmt::Display for UniqueField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UniqueField::Username => "username",
            UniqueField::Email => "email",
            UniqueField::PasskeyCredential => "passkey credential",
            UniqueField::GroupName => "group name",
            UniqueField::UpstreamId => "upstream id",
            UniqueField::FederatedIdentity => "federated identity",
            UniqueField::LdapEntry => "directory entry",
        })
    }
}
