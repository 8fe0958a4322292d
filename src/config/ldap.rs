//! The LDAP directory's settings (`AUTHD_LDAP_*`), flattened into `serve`, `dev` and
//! `authd ldap`.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Subcommand};
use secrecy::SecretString;

use super::ConfigError;
use crate::ldap::{LdapAttributes, LdapGroups, LdapSettings};

/// `authd ldap …`: try the directory settings, and hand existing accounts to the directory.
#[derive(Subcommand)]
pub enum LdapCommand {
    /// Bind as authd's service account and look a username up as a login would; prints the
    /// entry's DN, stable id, username, address and groups as JSON. Fails, saying why, when the
    /// directory cannot be used with these settings.
    Check(Box<LdapCheckArgs>),
    /// Make an existing account directory-backed: its password hash is deleted, and its
    /// password logins bind to the directory entry of the same username (or `--entry`).
    Adopt(Box<LdapAdoptArgs>),
}

#[derive(Args)]
pub struct LdapCheckArgs {
    /// The username to look up, as a person would type it at login.
    pub username: String,

    #[command(flatten)]
    pub ldap: LdapArgs,
}

#[derive(Args)]
pub struct LdapAdoptArgs {
    /// The local account.
    pub username: String,

    /// The directory's username for the entry, where it differs.
    #[arg(long)]
    pub entry: Option<String>,

    #[command(flatten)]
    pub connection: super::ConnectionArgs,

    #[command(flatten)]
    pub common: super::CommonArgs,
}

#[derive(Args, Clone, Debug)]
pub struct LdapArgs {
    /// An LDAP directory that holds users' passwords: `ldaps://host[:636]`, or
    /// `ldap://host[:389]` with StartTLS (required; there is no plain LDAP). A password login
    /// for a username with no local account, or for a directory-backed one, binds to it as
    /// the user. Unset: no directory.
    #[arg(long, env = "AUTHD_LDAP_URL")]
    pub ldap_url: Option<String>,

    /// A CA certificate (PEM) to trust for the directory, beside the system's roots.
    #[arg(long, env = "AUTHD_LDAP_CA_FILE")]
    pub ldap_ca_file: Option<PathBuf>,

    /// The DN authd binds as to search for users and groups, e.g.
    /// `cn=authd,ou=services,dc=example,dc=com`. Unset: searches are anonymous.
    #[arg(long, env = "AUTHD_LDAP_BIND_DN")]
    pub ldap_bind_dn: Option<String>,

    /// A file holding that DN's password (a mounted secret).
    #[arg(long, env = "AUTHD_LDAP_BIND_PASSWORD_FILE")]
    pub ldap_bind_password_file: Option<PathBuf>,

    /// Where users are searched for (the subtree), e.g. `ou=people,dc=example,dc=com`.
    #[arg(long, env = "AUTHD_LDAP_USER_BASE")]
    pub ldap_user_base: Option<String>,

    /// The filter that finds one user, `{username}` standing for the name typed (escaped).
    #[arg(long, env = "AUTHD_LDAP_USER_FILTER", default_value = LdapSettings::DEFAULT_USER_FILTER)]
    pub ldap_user_filter: String,

    /// The attribute that names an entry for good: `entryUUID` (OpenLDAP, 389-ds),
    /// `objectGUID` (Active Directory).
    #[arg(long, env = "AUTHD_LDAP_ID_ATTRIBUTE", default_value = "entryUUID")]
    pub ldap_id_attribute: String,

    /// The attribute a new account's username comes from (`sAMAccountName` in Active
    /// Directory).
    #[arg(long, env = "AUTHD_LDAP_USERNAME_ATTRIBUTE", default_value = "uid")]
    pub ldap_username_attribute: String,

    /// The attribute a new account's address comes from.
    #[arg(long, env = "AUTHD_LDAP_EMAIL_ATTRIBUTE", default_value = "mail")]
    pub ldap_email_attribute: String,

    /// Where groups are searched for; the groups a user is in become authd groups and the
    /// `groups` claim. Unset: no group search.
    #[arg(long, env = "AUTHD_LDAP_GROUP_BASE")]
    pub ldap_group_base: Option<String>,

    /// The filter that finds a user's groups, `{dn}` standing for the user's DN (escaped).
    #[arg(long, env = "AUTHD_LDAP_GROUP_FILTER", default_value = LdapSettings::DEFAULT_GROUP_FILTER)]
    pub ldap_group_filter: String,

    /// The attribute that is a group's name.
    #[arg(long, env = "AUTHD_LDAP_GROUP_NAME_ATTRIBUTE", default_value = "cn")]
    pub ldap_group_name_attribute: String,

    /// Addresses the directory holds count as verified (it is the organisation's own record).
    #[arg(long, env = "AUTHD_LDAP_TRUST_EMAIL")]
    pub ldap_trust_email: bool,

    /// How long authd waits to connect to the directory, and for each answer after.
    #[arg(long, env = "AUTHD_LDAP_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub ldap_timeout: Duration,
}

impl LdapArgs {
    /// The validated settings; `None` without a URL.
    pub fn settings(&self) -> Result<Option<LdapSettings>, ConfigError> {
        let Some(url) = self
            .ldap_url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty())
        else {
            return Ok(None);
        };
        let security = LdapSettings::security_of(url)
            .map_err(|message| ConfigError::new("AUTHD_LDAP_URL", message))?;
        let user_base = required(self.ldap_user_base.as_deref(), "AUTHD_LDAP_USER_BASE")?;
        let user_filter = filter(
            &self.ldap_user_filter,
            "{username}",
            "AUTHD_LDAP_USER_FILTER",
        )?;
        let (bind_dn, bind_password) = match (&self.ldap_bind_dn, &self.ldap_bind_password_file) {
            (Some(dn), Some(path)) => (Some(dn.trim().to_owned()), Some(read_secret(path)?)),
            (None, None) => (None, None),
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "AUTHD_LDAP_BIND_PASSWORD_FILE",
                    "is required with AUTHD_LDAP_BIND_DN",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "AUTHD_LDAP_BIND_DN",
                    "is required with AUTHD_LDAP_BIND_PASSWORD_FILE",
                ));
            }
        };
        // The CA file read now, so that a bad one stops start-up with its name.
        let tls = crate::store::tls::client_config(self.ldap_ca_file.as_deref())
            .map_err(|err| ConfigError::new("AUTHD_LDAP_CA_FILE", err.to_string()))?;
        let groups = match self.ldap_group_base.as_deref().map(str::trim) {
            Some(base) if !base.is_empty() => Some(LdapGroups {
                base: base.to_owned(),
                filter: filter(&self.ldap_group_filter, "{dn}", "AUTHD_LDAP_GROUP_FILTER")?,
                name_attribute: attribute(
                    &self.ldap_group_name_attribute,
                    "AUTHD_LDAP_GROUP_NAME_ATTRIBUTE",
                )?,
            }),
            _ => None,
        };
        if !(Duration::from_millis(100)..=Duration::from_secs(60)).contains(&self.ldap_timeout) {
            return Err(ConfigError::new(
                "AUTHD_LDAP_TIMEOUT",
                "must be between 100ms and 60s",
            ));
        }
        Ok(Some(LdapSettings {
            url: url.to_owned(),
            security,
            tls: std::sync::Arc::new(tls),
            bind_dn,
            bind_password,
            user_base,
            user_filter,
            attributes: LdapAttributes {
                id: attribute(&self.ldap_id_attribute, "AUTHD_LDAP_ID_ATTRIBUTE")?,
                username: attribute(
                    &self.ldap_username_attribute,
                    "AUTHD_LDAP_USERNAME_ATTRIBUTE",
                )?,
                email: attribute(&self.ldap_email_attribute, "AUTHD_LDAP_EMAIL_ATTRIBUTE")?,
            },
            groups,
            trust_email: self.ldap_trust_email,
            timeout: self.ldap_timeout,
        }))
    }
}

fn required(value: Option<&str>, setting: &'static str) -> Result<String, ConfigError> {
    value
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ConfigError::new(setting, "is required with AUTHD_LDAP_URL"))
}

/// A search filter in parentheses that uses `placeholder` once at least.
fn filter(raw: &str, placeholder: &str, setting: &'static str) -> Result<String, ConfigError> {
    let raw = raw.trim();
    if !(raw.starts_with('(') && raw.ends_with(')') && raw.contains(placeholder)) {
        return Err(ConfigError::new(
            setting,
            format!("must be a filter in parentheses that uses {placeholder}"),
        ));
    }
    Ok(raw.to_owned())
}

/// An attribute name (RFC 4512 §1.4: a letter, then letters, digits and hyphens).
fn attribute(raw: &str, setting: &'static str) -> Result<String, ConfigError> {
    let raw = raw.trim();
    let mut chars = raw.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !valid {
        return Err(ConfigError::new(
            setting,
            "must be an attribute name, e.g. uid",
        ));
    }
    Ok(raw.to_owned())
}

fn read_secret(path: &PathBuf) -> Result<SecretString, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        ConfigError::new(
            "AUTHD_LDAP_BIND_PASSWORD_FILE",
            format!("{}: {err}", path.display()),
        )
    })?;
    let password = text.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        // An empty password would make the bind an anonymous one (RFC 4513 §5.1.2).
        return Err(ConfigError::new(
            "AUTHD_LDAP_BIND_PASSWORD_FILE",
            format!("{}: is empty", path.display()),
        ));
    }
    Ok(SecretString::from(password.to_owned()))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        ldap: LdapArgs,
    }

    fn args(extra: &[&str]) -> LdapArgs {
        let mut argv = vec![
            "authd",
            "--ldap-url",
            "ldaps://ldap.example.com",
            "--ldap-user-base",
            "ou=people,dc=example,dc=com",
        ];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).unwrap().ldap
    }

    #[test]
    fn defaults_suit_openldap_and_groups_are_off_without_a_base() {
        let settings = args(&[]).settings().unwrap().unwrap();
        assert_eq!(settings.user_filter, LdapSettings::DEFAULT_USER_FILTER);
        assert_eq!(settings.attributes.id, "entryUUID");
        assert!(settings.groups.is_none());
        assert!(settings.bind_dn.is_none());
        let mut none = args(&[]);
        none.ldap_url = None;
        assert!(none.settings().unwrap().is_none());
    }

    #[test]
    fn the_bind_password_comes_from_its_file_and_may_not_be_empty() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "s3cret").unwrap();
        let path = file.path().to_str().unwrap().to_owned();
        let settings = args(&[
            "--ldap-bind-dn",
            "cn=authd",
            "--ldap-bind-password-file",
            &path,
        ])
        .settings()
        .unwrap()
        .unwrap();
        use secrecy::ExposeSecret;
        assert_eq!(settings.bind_password.unwrap().expose_secret(), "s3cret");

        let empty = tempfile::NamedTempFile::new().unwrap();
        let path = empty.path().to_str().unwrap().to_owned();
        let err = args(&[
            "--ldap-bind-dn",
            "cn=authd",
            "--ldap-bind-password-file",
            &path,
        ])
        .settings()
        .unwrap_err();
        assert_eq!(err.setting, "AUTHD_LDAP_BIND_PASSWORD_FILE");
    }

    #[test]
    fn bad_settings_name_their_variable() {
        for (extra, setting) in [
            (
                &["--ldap-user-filter", "(uid=alice)"][..],
                "AUTHD_LDAP_USER_FILTER",
            ),
            (
                &["--ldap-bind-dn", "cn=authd"][..],
                "AUTHD_LDAP_BIND_PASSWORD_FILE",
            ),
            (
                &["--ldap-id-attribute", "entry UUID"][..],
                "AUTHD_LDAP_ID_ATTRIBUTE",
            ),
            (&["--ldap-timeout", "10ms"][..], "AUTHD_LDAP_TIMEOUT"),
            (
                &[
                    "--ldap-group-base",
                    "ou=groups",
                    "--ldap-group-filter",
                    "(member=x)",
                ][..],
                "AUTHD_LDAP_GROUP_FILTER",
            ),
            (
                &["--ldap-ca-file", "/nonexistent/ca.pem"][..],
                "AUTHD_LDAP_CA_FILE",
            ),
        ] {
            let err = args(extra).settings().unwrap_err();
            assert_eq!(err.setting, setting, "{extra:?}");
        }
        let mut http = args(&[]);
        http.ldap_url = Some("http://ldap.example.com".to_owned());
        assert_eq!(http.settings().unwrap_err().setting, "AUTHD_LDAP_URL");
        let mut no_base = args(&[]);
        no_base.ldap_user_base = None;
        assert_eq!(
            no_base.settings().unwrap_err().setting,
            "AUTHD_LDAP_USER_BASE"
        );
    }
}
