//! An LDAP directory that holds some users' passwords (`AUTHD_LDAP_URL`), spoken to through
//! ldap3 over rustls. authd never learns such a password's hash: a login searches for the
//! user's entry as authd's service account, then binds as that entry with the password typed.
//!
//! Each check opens its own connection: a bind changes who the connection is, so one shared
//! between logins would carry one person's rights into another's search. A login already pays
//! for an Argon2 hash; one TLS handshake more is of the same order.

mod entry;
mod settings;

use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry, SearchOptions, ldap_escape};
use secrecy::ExposeSecret;
use uuid::Uuid;

pub use entry::DirectoryUser;
pub use settings::{LdapAttributes, LdapGroups, LdapSecurity, LdapSettings};

/// `invalidCredentials` (RFC 4511 §4.1.9): a wrong password, or a DN that names no entry.
const INVALID_CREDENTIALS: u32 = 49;
/// `sizeLimitExceeded`: the search found more entries than asked for.
const SIZE_LIMIT_EXCEEDED: u32 = 4;
/// `noSuchObject`: a search base (here, a linked entry's DN) that names no entry.
const NO_SUCH_OBJECT: u32 = 32;

/// Whose password a check is for.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// Whoever the user filter finds for a typed name.
    Name(&'a str),
    /// The entry at `dn`, while it is the one with this stable `id`: a directory-backed
    /// account's, whatever name the person typed, and never a newcomer's at the same DN.
    Entry { dn: &'a str, id: &'a str },
}

/// What the directory says of a username and password.
#[derive(Debug)]
pub enum Verdict {
    Verified(DirectoryUser),
    /// No entry for the username, or the wrong password: one answer, in about one time.
    Refused,
}

/// The directory could not answer: down, slow, refusing authd's own bind, or answering what
/// authd cannot use. A login that needs it fails with 503; the message is for the logs.
#[derive(Debug, thiserror::Error)]
#[error("LDAP directory {url}: {message}")]
pub struct LdapError {
    url: String,
    message: String,
}

pub struct Ldap {
    settings: LdapSettings,
}

impl Ldap {
    pub fn new(settings: LdapSettings) -> Self {
        Self { settings }
    }

    pub fn settings(&self) -> &LdapSettings {
        &self.settings
    }

    /// Checks `password` for the entry `target` names. An empty password is refused before
    /// anything is sent: LDAP reads a bind with a DN and no password as an unauthenticated
    /// bind, which some servers accept (RFC 4513 §5.1.2).
    pub async fn verify(&self, target: Target<'_>, password: &str) -> Result<Verdict, LdapError> {
        if password.is_empty() {
            return Ok(Verdict::Refused);
        }
        let mut ldap = self.connect().await?;
        // Each step has its timeout; this bounds them all, whatever ldap3 leaves unbounded.
        let result = tokio::time::timeout(
            self.settings.timeout * 4,
            self.verify_on(&mut ldap, target, password),
        )
        .await
        .unwrap_or_else(|_| Err(self.error("no answer in time".to_owned())));
        let _ = ldap.unbind().await;
        result
    }

    /// Costs what [`Self::verify`] costs for a username the directory does not have, so that a
    /// local account's failed login takes as long as a directory user's; the answer is dropped.
    pub async fn equalize(&self, password: &str) {
        let absent = format!("authd-absent-{}", Uuid::new_v4().simple());
        if let Err(err) = self.verify(Target::Name(&absent), password).await {
            tracing::debug!(error = %err, "directory unavailable for a timing-equal failure");
        }
    }

    /// The entry `username` finds, with its groups, as authd's service account reads it: for
    /// `authd ldap check`, and to make an existing account directory-backed.
    pub async fn lookup(&self, username: &str) -> Result<Option<DirectoryUser>, LdapError> {
        let mut ldap = self.connect().await?;
        let result = async {
            self.bind_service(&mut ldap).await?;
            let Some(entry) = self.find_user(&mut ldap, Target::Name(username)).await? else {
                return Ok(None);
            };
            let groups = self.groups_of(&mut ldap, &entry.dn).await?;
            DirectoryUser::read(&self.settings.attributes, &entry, username, groups)
                .map(Some)
                .map_err(|message| self.error(message))
        }
        .await;
        let _ = ldap.unbind().await;
        result
    }

    async fn verify_on(
        &self,
        ldap: &mut ldap3::Ldap,
        target: Target<'_>,
        password: &str,
    ) -> Result<Verdict, LdapError> {
        self.bind_service(ldap).await?;
        let typed = match target {
            Target::Name(username) => username,
            Target::Entry { .. } => "",
        };
        let found = match self.find_user(ldap, target).await? {
            Some(entry) => {
                let user =
                    DirectoryUser::read(&self.settings.attributes, &entry, typed, Vec::new())
                        .map_err(|message| self.error(message))?;
                match target {
                    Target::Entry { id, .. } if user.entry_id != id => {
                        tracing::info!(dn = %user.dn, "the entry at a linked DN is another one now");
                        None
                    }
                    _ => Some(user),
                }
            }
            None => None,
        };
        let Some(mut user) = found else {
            // A bind as no one, so that an unknown name costs what a wrong password does.
            let absent = format!("cn={},{}", Uuid::new_v4().simple(), self.settings.user_base);
            self.bind(ldap, &absent, password).await?;
            return Ok(Verdict::Refused);
        };
        if !self.bind(ldap, &user.dn, password).await? {
            return Ok(Verdict::Refused);
        }
        // Groups are read as authd, not as the user, who may not be allowed to list them.
        if self.settings.groups.is_some() {
            self.bind_service(ldap).await?;
            user.groups = self.groups_of(ldap, &user.dn).await?;
        }
        Ok(Verdict::Verified(user))
    }

    async fn connect(&self) -> Result<ldap3::Ldap, LdapError> {
        let settings = LdapConnSettings::new()
            .set_conn_timeout(self.settings.timeout)
            .set_starttls(self.settings.security == LdapSecurity::StartTls)
            .set_config(self.settings.tls.clone());
        let (connection, ldap) = LdapConnAsync::with_settings(settings, &self.settings.url)
            .await
            .map_err(|err| self.error(format!("cannot connect: {err}")))?;
        ldap3::drive!(connection);
        Ok(ldap)
    }

    /// Binds as authd's service account, or stays anonymous without one.
    async fn bind_service(&self, ldap: &mut ldap3::Ldap) -> Result<(), LdapError> {
        let (Some(dn), Some(password)) = (&self.settings.bind_dn, &self.settings.bind_password)
        else {
            return Ok(());
        };
        if self.bind(ldap, dn, password.expose_secret()).await? {
            return Ok(());
        }
        Err(self.error(format!(
            "refused the bind as {dn}: check AUTHD_LDAP_BIND_DN and its password"
        )))
    }

    /// Whether the directory accepted `password` for `dn`.
    async fn bind(
        &self,
        ldap: &mut ldap3::Ldap,
        dn: &str,
        password: &str,
    ) -> Result<bool, LdapError> {
        let result = ldap
            .with_timeout(self.settings.timeout)
            .simple_bind(dn, password)
            .await
            .map_err(|err| self.error(format!("bind: {err}")))?;
        match result.rc {
            0 => Ok(true),
            INVALID_CREDENTIALS => Ok(false),
            _ => Err(self.error(format!("bind: {result}"))),
        }
    }

    /// The one entry `target` names: the user filter's for a name (two are a directory authd
    /// cannot tell who is who in: an error, not a guess), or the entry at a DN.
    async fn find_user(
        &self,
        ldap: &mut ldap3::Ldap,
        target: Target<'_>,
    ) -> Result<Option<SearchEntry>, LdapError> {
        let (base, scope, filter) = match target {
            Target::Name(username) => (
                self.settings.user_base.as_str(),
                Scope::Subtree,
                self.settings
                    .user_filter
                    .replace("{username}", &ldap_escape(username)),
            ),
            Target::Entry { dn, .. } => (dn, Scope::Base, "(objectClass=*)".to_owned()),
        };
        let attributes = &self.settings.attributes;
        let wanted = [&attributes.id, &attributes.username, &attributes.email];
        let ldap3::SearchResult(entries, result) = ldap
            .with_timeout(self.settings.timeout)
            .with_search_options(SearchOptions::new().sizelimit(2))
            .search(base, scope, &filter, wanted)
            .await
            .map_err(|err| self.error(format!("user search: {err}")))?;
        match result.rc {
            0 | SIZE_LIMIT_EXCEEDED => {}
            // The entry at a linked DN is gone (renamed, deleted).
            NO_SUCH_OBJECT if matches!(target, Target::Entry { .. }) => return Ok(None),
            _ => return Err(self.error(format!("user search: {result}"))),
        }
        let mut entries = entries.into_iter().map(SearchEntry::construct);
        let first = entries.next();
        if entries.next().is_some() {
            return Err(self.error(format!(
                "the user filter finds more than one entry for {target:?}: make it match one"
            )));
        }
        Ok(first)
    }

    /// The names of the groups `dn` is in, sorted; none without a group search.
    async fn groups_of(&self, ldap: &mut ldap3::Ldap, dn: &str) -> Result<Vec<String>, LdapError> {
        let Some(groups) = &self.settings.groups else {
            return Ok(Vec::new());
        };
        let filter = groups.filter.replace("{dn}", &ldap_escape(dn));
        let (entries, _) = ldap
            .with_timeout(self.settings.timeout)
            .search(
                &groups.base,
                Scope::Subtree,
                &filter,
                [&groups.name_attribute],
            )
            .await
            .and_then(ldap3::SearchResult::success)
            .map_err(|err| self.error(format!("group search: {err}")))?;
        let mut names: Vec<String> = entries
            .into_iter()
            .map(SearchEntry::construct)
            .filter_map(|entry| entry::first_text(&entry, &groups.name_attribute))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn error(&self, message: String) -> LdapError {
        LdapError {
            url: self.settings.url.clone(),
            message,
        }
    }
}
