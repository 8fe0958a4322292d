//! The OAuth 2.0 grant types (RFC 6749 §4, RFC 8693 §2.1), named once: as clients register
//! them, as the token endpoint dispatches on them, as the metadata lists them, and as metrics
//! count them.

/// A way to obtain tokens at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantType {
    /// RFC 6749 §4.1, with PKCE.
    AuthorizationCode,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 6749 §4.4: a confidential client's token for itself.
    ClientCredentials,
    /// RFC 8693.
    TokenExchange,
    /// RFC 8628: a device without a browser, approved by its user on another.
    DeviceCode,
    /// RFC 6749 §4.3, legacy (RFC 9700 §2.4 forbids it): kept for the seed clients, and never
    /// registered for a client.
    Password,
}

impl GrantType {
    /// Every grant, in the order the metadata lists them.
    pub const ALL: [Self; 6] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::ClientCredentials,
        Self::TokenExchange,
        Self::DeviceCode,
        Self::Password,
    ];

    /// The grants a client can be registered for.
    pub const REGISTRABLE: [Self; 5] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::ClientCredentials,
        Self::TokenExchange,
        Self::DeviceCode,
    ];

    /// As `grant_type` and client metadata (RFC 7591 §2) spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            Self::Password => "password",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|grant| grant.as_str() == value)
    }

    /// The short name a metric label counts it under.
    pub fn label(self) -> &'static str {
        match self {
            Self::TokenExchange => "token_exchange",
            Self::DeviceCode => "device_code",
            other => other.as_str(),
        }
    }
}

impl std::fmt::Display for GrantType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grant_reads_back_from_its_name() {
        for grant in GrantType::ALL {
            assert_eq!(GrantType::parse(grant.as_str()), Some(grant));
        }
        assert_eq!(GrantType::parse("implicit"), None);
        assert_eq!(GrantType::TokenExchange.label(), "token_exchange");
    }
}
