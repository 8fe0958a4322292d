//! Password logins that the LDAP directory decides: for a username with no local account, and
//! for accounts made directory-backed (provisioned at a first directory login, or adopted by an
//! operator). A directory account is named by its entry's stable id, never by its username:
//! a username the directory gives to someone else later does not open the old account.

use std::{collections::BTreeSet, sync::Arc};

use serde_json::json;
use uuid::Uuid;

use super::{Email, Groups, Password, Username};
use crate::{
    clock::Clock,
    error::{Error, FederationFailure},
    events::{Actor, AuditTrail, EventType, NewEvent},
    ldap::{DirectoryUser, Ldap, LdapError, Target, Verdict},
    store::{LdapAccount, LdapAccountStore, StoreError, UniqueField, UserRecord, UserStore},
};

/// Who holds the password a login presents.
pub(super) enum Holder {
    /// authd: the local account by that name, if any, and its hash.
    Local(Option<UserRecord>),
    /// The directory: for this directory-backed account, or (`None`) for whoever the directory
    /// knows by the name.
    Directory(Option<(UserRecord, LdapAccount)>),
}

/// The directory's answer to one login.
pub(super) enum Checked {
    Verified(UserRecord),
    /// The wrong password for a directory-backed account.
    WrongPassword(Uuid),
    /// No entry, the wrong password for an entry with no account yet, or an account that is
    /// disabled: one answer.
    Unknown,
}

pub struct LdapLogins {
    ldap: Arc<Ldap>,
    accounts: Arc<dyn LdapAccountStore>,
    users: Arc<dyn UserStore>,
    groups: Arc<Groups>,
    clock: Arc<dyn Clock>,
    trail: Arc<AuditTrail>,
    /// `AUTHD_ADMIN_GROUP`, which the directory may not grant.
    admin_group: String,
}

impl LdapLogins {
    pub fn new(
        ldap: Arc<Ldap>,
        accounts: Arc<dyn LdapAccountStore>,
        (users, groups): (Arc<dyn UserStore>, Arc<Groups>),
        clock: Arc<dyn Clock>,
        trail: Arc<AuditTrail>,
        admin_group: String,
    ) -> Self {
        Self {
            ldap,
            accounts,
            users,
            groups,
            clock,
            trail,
            admin_group,
        }
    }

    pub fn ldap(&self) -> &Ldap {
        &self.ldap
    }

    /// Who holds the password of the account found by name (`None`: no local account).
    pub(super) async fn holder(&self, user: Option<UserRecord>) -> Result<Holder, Error> {
        let Some(user) = user else {
            return Ok(Holder::Directory(None));
        };
        Ok(match self.accounts.find_ldap_account(user.id).await? {
            Some(account) => Holder::Directory(Some((user, account))),
            None => Holder::Local(Some(user)),
        })
    }

    /// Whether the user's password is the directory's.
    pub async fn backs(&self, user_id: Uuid) -> Result<bool, Error> {
        Ok(self.accounts.find_ldap_account(user_id).await?.is_some())
    }

    /// A local account's failed login costs what a directory login costs.
    pub(super) async fn equalize(&self, password: &Password) {
        self.ldap.equalize(password.expose()).await;
    }

    /// Binds to the directory with `password`: at a directory-backed account's own entry (its
    /// linked DN, while that entry still has the linked id), or else at whichever entry the
    /// user filter finds for `username`. On success, the account (made at the first login)
    /// with its groups brought up to date.
    pub(super) async fn check(
        &self,
        local: Option<(UserRecord, LdapAccount)>,
        username: &str,
        password: &Password,
    ) -> Result<Checked, Error> {
        let target = match &local {
            Some((_, account)) => Target::Entry {
                dn: &account.dn,
                id: &account.entry_id,
            },
            None => Target::Name(username),
        };
        let verdict = self
            .ldap
            .verify(target, password.expose())
            .await
            .map_err(unavailable)?;
        let Verdict::Verified(entry) = verdict else {
            return Ok(match local {
                Some((user, _)) => Checked::WrongPassword(user.id),
                None => Checked::Unknown,
            });
        };
        let (user, account) = match local {
            // The entry checked was the account's own (`Target::Entry`).
            Some(linked) => linked,
            None => match self.accounts.find_ldap_entry(&entry.entry_id).await? {
                // Renamed in the directory since: the account is the entry's.
                Some(account) => match self.users.find_by_id(account.user_id).await? {
                    Some(user) => (user, account),
                    None => return Ok(Checked::Unknown),
                },
                None => self.provision(&entry).await?,
            },
        };
        self.sync(&user, account, &entry).await?;
        Ok(Checked::Verified(user))
    }

    /// Makes the existing account `user` directory-backed, as the directory entry `username`
    /// finds: its password hash goes. For an operator (`authd ldap adopt`).
    pub async fn adopt(&self, user: &UserRecord, username: &str) -> Result<DirectoryUser, Error> {
        let entry = self
            .ldap
            .lookup(username)
            .await
            .map_err(unavailable)?
            .ok_or(Error::NotFound("directory entry"))?;
        let account = LdapAccount::linked(user.id, &entry.entry_id, &entry.dn, self.clock.now());
        self.accounts
            .adopt_ldap(&account)
            .await
            .map_err(|err| match err {
                StoreError::Conflict(_) => Error::Taken("directory entry"),
                other => other.into(),
            })?;
        tracing::info!(user_id = %user.id, entry = %entry.entry_id, "account made directory-backed");
        Ok(entry)
    }

    /// Creates the account of a first directory login, from the entry.
    async fn provision(&self, entry: &DirectoryUser) -> Result<(UserRecord, LdapAccount), Error> {
        let username = Username::parse_provisioned(&entry.username).map_err(|_| {
            refused(format!(
                "Your directory username ({}) cannot be a username here. Ask an administrator.",
                entry.username
            ))
        })?;
        let email = entry
            .email
            .as_deref()
            .and_then(|email| Email::parse(email).ok())
            .ok_or_else(|| {
                refused(
                    "The directory holds no usable email address for you, which an account here \
                     needs. Ask an administrator.",
                )
            })?;
        let now = self.clock.now();
        let trust_email = self.ldap.settings().trust_email;
        let user = UserRecord {
            email_verified_at: trust_email.then_some(now),
            last_login_at: Some(now),
            ..UserRecord::new(username.as_str(), email.as_str(), now)
        };
        let account = LdapAccount {
            last_login_at: Some(now),
            ..LdapAccount::linked(user.id, &entry.entry_id, &entry.dn, now)
        };
        match self.accounts.provision_ldap(&user, &account).await {
            Ok(()) => {}
            // The same person's first login, finished on another replica a moment ago.
            Err(StoreError::Conflict(UniqueField::LdapEntry)) => {
                let account = self
                    .accounts
                    .find_ldap_entry(&entry.entry_id)
                    .await?
                    .ok_or_else(|| Error::Internal("a directory account vanished".to_owned()))?;
                let user = self
                    .users
                    .find_by_id(account.user_id)
                    .await?
                    .ok_or(Error::InvalidCredentials)?;
                return Ok((user, account));
            }
            Err(StoreError::Conflict(UniqueField::Email)) => {
                return Err(refused(
                    "An account here already has your address. Log in to it, or ask an \
                     administrator to make it use the directory.",
                ));
            }
            Err(StoreError::Conflict(_)) => {
                return Err(refused(format!(
                    "An account here already has the username {}. Ask an administrator.",
                    user.username
                )));
            }
            Err(other) => return Err(other.into()),
        }
        tracing::info!(user_id = %user.id, "user created at their first directory login");
        let event = NewEvent::new(EventType::UserCreated, Actor::Anonymous)
            .user(user.id)
            .detail(json!({ "username": user.username, "ldap": true }));
        if let Err(err) = self.trail.record(event).await {
            tracing::error!(error = %err, user_id = %user.id, "could not record a user created");
        }
        Ok((user, account))
    }

    /// Brings the account's group memberships to what the directory says (with a group search
    /// configured), creating groups it names, and records the login. Memberships an
    /// administrator gave stay; a group the directory granted is the directory's to take away.
    /// The admin group is never the directory's to grant.
    async fn sync(
        &self,
        user: &UserRecord,
        mut account: LdapAccount,
        entry: &DirectoryUser,
    ) -> Result<(), Error> {
        if self.ldap.settings().groups.is_some() {
            // The admin API's group is granted by an administrator, never by whoever manages
            // the directory's groups.
            let granted: Vec<String> = entry
                .groups
                .iter()
                .filter(|name| {
                    let admin = name.eq_ignore_ascii_case(&self.admin_group);
                    if admin {
                        tracing::warn!(
                            user_id = %user.id, group = %name,
                            "the directory names the admin group: not granted"
                        );
                    }
                    !admin
                })
                .cloned()
                .collect();
            let before: BTreeSet<&String> = account.groups.iter().collect();
            let now: BTreeSet<&String> = granted.iter().collect();
            for name in now.difference(&before) {
                match self.group_named(name, true).await {
                    Ok(Some(id)) => {
                        self.groups.add_member(id, user.id).await?;
                    }
                    Ok(None) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, group = %name, "a directory group is not usable here");
                    }
                }
            }
            for name in before.difference(&now) {
                if let Some(id) = self.group_named(name, false).await? {
                    self.groups.remove_member(id, user.id).await?;
                }
            }
            account.groups = granted;
        }
        account.dn.clone_from(&entry.dn);
        account.last_login_at = Some(self.clock.now());
        Ok(self.accounts.touch_ldap(&account).await?)
    }

    /// The id of the group named `name`, made first with `create`.
    async fn group_named(&self, name: &str, create: bool) -> Result<Option<Uuid>, Error> {
        if let Some(group) = self
            .groups
            .list(None, Some(name), 1)
            .await?
            .into_iter()
            .next()
        {
            return Ok(Some(group.id));
        }
        if !create {
            return Ok(None);
        }
        match self.groups.create(name, None).await {
            Ok(group) => Ok(Some(group.id)),
            // Made by another login a moment ago.
            Err(Error::Taken(_)) => Ok(self
                .groups
                .list(None, Some(name), 1)
                .await?
                .into_iter()
                .next()
                .map(|group| group.id)),
            Err(other) => Err(other),
        }
    }
}

/// Why a password cannot be set here for a directory-backed account.
pub(super) fn password_is_the_directorys() -> Error {
    Error::InvalidField {
        field: "password",
        message: "is kept by your organisation's directory: change it there".to_owned(),
    }
}

fn unavailable(err: LdapError) -> Error {
    tracing::error!(error = %err, "login refused: the directory did not answer");
    Error::Unavailable {
        service: "the directory",
        source: StoreError::Unavailable {
            service: "ldap",
            message: err.to_string(),
        },
    }
}

/// A directory login authd will not turn into an account; the words are for the person, who
/// proved their password.
fn refused(message: impl Into<String>) -> Error {
    Error::Federation {
        failure: FederationFailure::Refused,
        message: message.into(),
    }
}
