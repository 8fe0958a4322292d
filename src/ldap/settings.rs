//! The directory's settings, validated once (`AUTHD_LDAP_*`).

use std::{sync::Arc, time::Duration};

use secrecy::SecretString;

/// How the connection to the directory is protected. There is no plain LDAP: a login sends the
/// user's password in the bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdapSecurity {
    /// `ldaps://`: TLS from the first byte.
    Tls,
    /// `ldap://`: StartTLS (RFC 4511 §4.14), required before anything is sent.
    StartTls,
}

/// What to read from a user's entry. Names of attributes, compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapAttributes {
    /// The entry's stable id: `entryUUID` (OpenLDAP, 389-ds), `objectGUID` (Active Directory).
    pub id: String,
    pub username: String,
    pub email: String,
}

/// Where groups are and how a user's are found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapGroups {
    pub base: String,
    /// With `{dn}` where the user's DN goes (escaped).
    pub filter: String,
    /// The attribute that is the group's name in the `groups` claim.
    pub name_attribute: String,
}

#[derive(Debug, Clone)]
pub struct LdapSettings {
    /// As given, for messages: `ldaps://ldap.example.com`.
    pub url: String,
    pub security: LdapSecurity,
    /// The TLS client: the system's roots and `AUTHD_LDAP_CA_FILE`, read once, at start.
    pub tls: Arc<rustls::ClientConfig>,
    /// The service account that searches; anonymous search without one.
    pub bind_dn: Option<String>,
    pub bind_password: Option<SecretString>,
    pub user_base: String,
    /// With `{username}` where the typed username goes (escaped).
    pub user_filter: String,
    pub attributes: LdapAttributes,
    pub groups: Option<LdapGroups>,
    /// Addresses the directory holds count as verified.
    pub trust_email: bool,
    /// For connecting, and for each operation after.
    pub timeout: Duration,
}

impl LdapSettings {
    pub const DEFAULT_USER_FILTER: &str = "(&(objectClass=inetOrgPerson)(uid={username}))";
    pub const DEFAULT_GROUP_FILTER: &str = "(&(objectClass=groupOfNames)(member={dn}))";

    /// Which protection the URL asks for; anything else is refused, in words for the operator.
    pub fn security_of(url: &str) -> Result<LdapSecurity, String> {
        let parsed = url::Url::parse(url)
            .map_err(|err| format!("must be ldaps://host[:port] or ldap://host[:port] ({err})"))?;
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err("names no host".to_owned());
        }
        if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
            return Err(
                "must be only ldaps://host[:port] or ldap://host[:port]: the search \
                        base and filter have settings of their own"
                    .to_owned(),
            );
        }
        match parsed.scheme() {
            "ldaps" => Ok(LdapSecurity::Tls),
            "ldap" => Ok(LdapSecurity::StartTls),
            other => Err(format!(
                "scheme {other}: must be ldaps or ldap (with StartTLS)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_say_how_the_connection_is_protected() {
        assert_eq!(
            LdapSettings::security_of("ldaps://ldap.example.com").unwrap(),
            LdapSecurity::Tls
        );
        assert_eq!(
            LdapSettings::security_of("ldap://127.0.0.1:389/").unwrap(),
            LdapSecurity::StartTls
        );
        for bad in [
            "http://ldap.example.com",
            "ldap://",
            "ldaps://ldap.example.com/dc=example,dc=com",
            "not a url",
        ] {
            assert!(LdapSettings::security_of(bad).is_err(), "{bad}");
        }
    }
}
