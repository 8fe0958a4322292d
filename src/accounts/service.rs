//! Registration and password authentication.

use std::{net::IpAddr, sync::Arc};

use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    AuditLog, Email, HasherLoad, LdapLogins, Passkeys, Password, PasswordHasher, Reauthentications,
    SecondFactor, SecondFactors, Username,
    ldap_logins::{Checked, Holder},
};
use crate::{
    clock::Clock,
    error::Error,
    events::{Actor, AuditTrail, EventType, NewEvent},
    mail::{Mailer, Notice},
    metrics::Metrics,
    possession::PopPublicKey,
    rate_limit::LoginThrottle,
    store::{AuthLogEntry, AuthOutcome, StoreError, UniqueField, UserRecord, UserStore},
};

/// The outcome of a registration: the new user's id, and the password if authd generated it
/// (the only time it is ever available).
#[derive(Debug)]
pub struct Registered {
    pub user_id: Uuid,
    pub generated_password: Option<Password>,
}

/// One login attempt, with what the audit log records about where it came from.
#[derive(Debug)]
pub struct AuthAttempt {
    pub username: String,
    pub password: Password,
    pub client_ip: IpAddr,
    pub user_agent: Option<String>,
}

/// A user's authenticators beyond the password: the TOTP app and passkeys, the sessions
/// that confirmed a change with a passkey a moment ago, and the mailer that tells the user
/// when a recovery code is spent.
pub struct Factors {
    pub totp: Arc<SecondFactors>,
    pub passkeys: Arc<Passkeys>,
    pub reauthentications: Arc<Reauthentications>,
    pub notices: Arc<Mailer>,
}

#[derive(Clone)]
pub struct Accounts {
    users: Arc<dyn UserStore>,
    audit: AuditLog,
    hasher: PasswordHasher,
    throttle: Arc<LoginThrottle>,
    second_factors: Arc<SecondFactors>,
    passkeys: Arc<Passkeys>,
    reauthentications: Arc<Reauthentications>,
    notices: Arc<Mailer>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    /// Where registrations are recorded (`user.created`); none in unit tests.
    trail: Option<Arc<AuditTrail>>,
    /// The LDAP directory that holds some users' passwords, if one is configured.
    ldap: Option<Arc<LdapLogins>>,
}

/// An account an administrator creates.
#[derive(Debug)]
pub struct NewAccount {
    pub username: Username,
    pub email: Email,
    /// `None`: no password; the user sets one through "Forgot your password?" (or an
    /// administrator sets one later).
    pub password: Option<Password>,
    pub email_verified: bool,
    /// A provisioning client's id for the user (SCIM `externalId`).
    pub external_id: Option<String>,
}

impl Accounts {
    pub fn new(
        users: Arc<dyn UserStore>,
        audit: AuditLog,
        hasher: PasswordHasher,
        throttle: Arc<LoginThrottle>,
        factors: Factors,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            users,
            audit,
            hasher,
            throttle,
            second_factors: factors.totp,
            passkeys: factors.passkeys,
            reauthentications: factors.reauthentications,
            notices: factors.notices,
            clock,
            metrics,
            trail: None,
            ldap: None,
        }
    }

    /// Records self-registrations in `trail`.
    pub fn with_trail(mut self, trail: Arc<AuditTrail>) -> Self {
        self.trail = Some(trail);
        self
    }

    /// Lets the LDAP directory decide the password logins of the accounts it backs, and of
    /// usernames with no local account.
    pub fn with_ldap(mut self, ldap: Arc<LdapLogins>) -> Self {
        self.ldap = Some(ldap);
        self
    }

    /// The LDAP directory's logins, if a directory is configured.
    pub fn ldap(&self) -> Option<&LdapLogins> {
        self.ldap.as_deref()
    }

    /// Whether the user's password lives in the LDAP directory (and so cannot be set here).
    pub async fn directory_backed(&self, user_id: Uuid) -> Result<bool, Error> {
        match &self.ldap {
            Some(ldap) => ldap.backs(user_id).await,
            None => Ok(false),
        }
    }

    /// Creates an account as an administrator asks: the password, if given, was checked by
    /// the same rules as at registration ([`Password::choose`]).
    pub async fn create(&self, new: NewAccount) -> Result<UserRecord, Error> {
        let now = self.clock.now();
        let password_hash = match &new.password {
            Some(password) => Some(self.hasher.hash(password).await?),
            None => None,
        };
        let user = UserRecord {
            password_hash,
            email_verified_at: new.email_verified.then_some(now),
            external_id: new.external_id,
            ..UserRecord::new(new.username.as_str(), new.email.as_str(), now)
        };
        self.users.insert_user(&user).await.map_err(taken)?;
        tracing::info!(user_id = %user.id, "user created by an administrator");
        Ok(user)
    }

    /// Enrolment in, and removal of, the TOTP second factor.
    pub fn second_factors(&self) -> &SecondFactors {
        &self.second_factors
    }

    /// The user's passkeys: registration, login, verification, removal.
    pub fn passkeys(&self) -> &Passkeys {
        &self.passkeys
    }

    /// Whether a password alone is not enough for this user: they have a TOTP authenticator
    /// or a passkey, and an interactive login asks for one after the password.
    pub async fn has_second_factor(&self, user_id: Uuid) -> Result<bool, Error> {
        Ok(self.second_factors.enabled(user_id).await? || self.passkeys.any(user_id).await?)
    }

    /// Makes the account passkey-only: the password hash is deleted, and no password opens
    /// the account any more. Only while it has a passkey (checked again by the store, in the
    /// same transaction as the change).
    pub async fn drop_password(&self, user: &UserRecord) -> Result<(), Error> {
        let refused = || Error::InvalidField {
            field: "passkey",
            message: "is required: add a passkey before you stop using a password".to_owned(),
        };
        if self.directory_backed(user.id).await? {
            return Err(super::ldap_logins::password_is_the_directorys());
        }
        if !self.passkeys.any(user.id).await? {
            return Err(refused());
        }
        if !self.users.set_password_hash(user.id, None).await? {
            return Err(refused());
        }
        tracing::info!(user_id = %user.id, "account made passkey-only");
        Ok(())
    }

    /// Sets a new password (checked for strength as at registration): for a passkey-only
    /// account that wants one back.
    pub async fn set_password(&self, user: &UserRecord, password: &Password) -> Result<(), Error> {
        if self.directory_backed(user.id).await? {
            return Err(super::ldap_logins::password_is_the_directorys());
        }
        let hash = self.hasher.hash(password).await?;
        self.users.set_password_hash(user.id, Some(&hash)).await?;
        tracing::info!(user_id = %user.id, "password set");
        Ok(())
    }

    /// The second step of an interactive login, for a user past the password: a code from
    /// their authenticator or a recovery code. Throttled and counted with the password
    /// failures of the same username and address, so the two steps share one budget.
    pub async fn verify_second_factor(
        &self,
        user: &UserRecord,
        code: &str,
        client_ip: IpAddr,
    ) -> Result<SecondFactor, Error> {
        self.throttle.check(&user.username, client_ip).await?;
        let result = self.second_factors.verify(user, code).await;
        if matches!(result, Ok(SecondFactor::RecoveryCode)) {
            // A spent recovery code may be someone else's: the owner hears of it (ASVS 2.5.5).
            let left = self.second_factors.recovery_codes_left(user.id).await?;
            self.notices
                .send_notice(Notice::RecoveryCodeUsed { left }, user)
                .await;
        }
        if matches!(result, Err(Error::InvalidSecondFactor)) {
            tracing::info!(user_id = %user.id, ip = %client_ip, "login failed: wrong second factor");
            self.throttle.failed(&user.username, client_ip).await;
        }
        result
    }

    pub fn hasher_load(&self) -> HasherLoad {
        self.hasher.load()
    }

    /// Creates a user. Without a chosen password, authd generates one and returns it once.
    /// A taken username or email is refused atomically by the store, so of concurrent duplicate
    /// registrations exactly one succeeds.
    pub async fn register(
        &self,
        username: Username,
        email: Email,
        password: Option<Password>,
        pop_key: Option<PopPublicKey>,
    ) -> Result<Registered, Error> {
        let (password, generated) = match password {
            Some(chosen) => (chosen, false),
            None => (Password::generate(), true),
        };
        let user = UserRecord {
            password_hash: Some(self.hasher.hash(&password).await?),
            pop_public_key: pop_key.map(|key| key.pem().to_owned()),
            ..UserRecord::new(username.as_str(), email.as_str(), self.clock.now())
        };
        self.users.insert_user(&user).await.map_err(taken)?;
        tracing::info!(user_id = %user.id, "registered user");
        if let Some(trail) = &self.trail {
            let event = NewEvent::new(EventType::UserCreated, Actor::Anonymous)
                .user(user.id)
                .detail(serde_json::json!({ "username": user.username, "self_registered": true }));
            if let Err(err) = trail.record(event).await {
                tracing::error!(error = %err, user_id = %user.id, "could not record a registration");
            }
        }
        Ok(Registered {
            user_id: user.id,
            generated_password: generated.then_some(password),
        })
    }

    /// Checks a username and password. Unknown users are checked against a dummy hash, and both
    /// failures are one error, so neither the answer nor its timing says which users exist.
    /// With an LDAP directory, every failure costs one hash and one directory check alike
    /// (see [`LdapLogins`]). Every attempt is queued for the audit log, written in the
    /// background. An address that keeps failing for one username is throttled
    /// ([`LoginThrottle`]) before any hashing.
    pub async fn authenticate(&self, attempt: AuthAttempt) -> Result<UserRecord, Error> {
        self.throttle
            .check(&attempt.username, attempt.client_ip)
            .await?;
        let user = self.users.find_by_username(&attempt.username).await?;
        let holder = match &self.ldap {
            Some(ldap) => ldap.holder(user).await?,
            None => Holder::Local(user),
        };
        let checked = match holder {
            Holder::Local(user) => self.check_local(user, &attempt.password).await?,
            Holder::Directory(local) => {
                let checked = match &self.ldap {
                    Some(ldap) => {
                        ldap.check(local, &attempt.username, &attempt.password)
                            .await?
                    }
                    None => Checked::Unknown,
                };
                // A failure costs the hash a local one does, so that none is cheaper than
                // another; a success need not.
                if !matches!(checked, Checked::Verified(_)) {
                    self.hasher.verify(&attempt.password, None).await?;
                }
                checked
            }
        };
        let now = self.clock.now();
        let (outcome, result, named) = match checked {
            Checked::Verified(user) => (AuthOutcome::Success, Ok(user), None),
            Checked::WrongPassword(user_id) => {
                // Known only to the logs: the client gets the same answer as for no such user.
                tracing::info!(%user_id, ip = %attempt.client_ip, "login failed: wrong password");
                (
                    AuthOutcome::WrongPassword,
                    Err(Error::InvalidCredentials),
                    Some(user_id),
                )
            }
            Checked::Unknown => {
                tracing::info!(ip = %attempt.client_ip, "login failed: no such user");
                (
                    AuthOutcome::UnknownUser,
                    Err(Error::InvalidCredentials),
                    None,
                )
            }
        };
        self.metrics.login(outcome);
        if result.is_err() {
            self.throttle
                .failed(&attempt.username, attempt.client_ip)
                .await;
        }
        let user_id = result.as_ref().ok().map(|user: &UserRecord| user.id);
        self.record_attempt(
            now,
            attempt.client_ip,
            (user_id, named),
            outcome,
            attempt.user_agent,
        )
        .await;
        result
    }

    /// The password checked against the account's hash (or the dummy's).
    async fn check_local(
        &self,
        user: Option<UserRecord>,
        password: &Password,
    ) -> Result<Checked, Error> {
        let matches = self
            .hasher
            .verify(
                password,
                // A passkey-only account has no hash: checked against the dummy, and refused
                // like a wrong password, so the answer says nothing about the account.
                user.as_ref().and_then(|u| u.password_hash.as_deref()),
            )
            .await?;
        let checked = match user {
            Some(user) if matches => return Ok(Checked::Verified(user)),
            Some(user) => Checked::WrongPassword(user.id),
            None => Checked::Unknown,
        };
        if let Some(ldap) = &self.ldap {
            ldap.equalize(password).await;
        }
        Ok(checked)
    }

    /// [`Self::authenticate`], for a route that can take a password and nothing else (`/auth`,
    /// `/pop/login`, the password grant): an account with a second factor is refused, naming
    /// the flows that can carry one. Refused only after the password checked, so the answer
    /// says nothing to whoever does not know it.
    pub async fn authenticate_password_only(
        &self,
        attempt: AuthAttempt,
    ) -> Result<UserRecord, Error> {
        let user = self.authenticate(attempt).await?;
        if self.has_second_factor(user.id).await? {
            return Err(Error::SecondFactorRequired);
        }
        Ok(user)
    }

    /// Re-authentication of a signed-in `user` before a sensitive change (ASVS 3.7.1): their
    /// password, checked as a login is (timing, throttle, audit); or, with no password, a
    /// passkey ceremony their `session` passed in the last few minutes
    /// ([`super::Reauthentications`]), which is how a passkey-only account confirms a change.
    pub async fn reauthenticate(
        &self,
        user: &UserRecord,
        session: Option<Uuid>,
        attempt: AuthAttempt,
    ) -> Result<(), Error> {
        if attempt.password.expose().is_empty() {
            if let Some(session) = session
                && self.reauthentications.is_recent(session).await?
            {
                return Ok(());
            }
            return Err(Error::InvalidField {
                field: "password",
                message: "is required: re-enter your password (or confirm with a passkey) to \
                          make this change"
                    .to_owned(),
            });
        }
        let checked = self
            .authenticate(AuthAttempt {
                username: user.username.clone(),
                ..attempt
            })
            .await?;
        if checked.id != user.id {
            return Err(Error::InvalidCredentials);
        }
        Ok(())
    }

    /// Writes a login with a passkey, or through an upstream identity provider, to the audit
    /// log, as a password login is written (a passkey's failures are logged by `Passkeys`, and
    /// throttled by the route's rate limit: there is no secret to guess).
    pub async fn record_login_without_password(
        &self,
        user: &UserRecord,
        client_ip: IpAddr,
        user_agent: Option<String>,
    ) {
        self.metrics.login(AuthOutcome::Success);
        let now = self.clock.now();
        self.record_attempt(
            now,
            client_ip,
            (Some(user.id), None),
            AuthOutcome::Success,
            user_agent,
        )
        .await;
    }

    /// Queues a login attempt for the audit log; waits only if its queue is full (see
    /// `AuditLog`). The user who logged in, or else the existing account a failed attempt
    /// named.
    async fn record_attempt(
        &self,
        at: OffsetDateTime,
        client_ip: IpAddr,
        (user_id, attempted_user): (Option<Uuid>, Option<Uuid>),
        outcome: AuthOutcome,
        user_agent: Option<String>,
    ) {
        let entry = AuthLogEntry {
            request_ip: client_ip,
            request_timestamp: at,
            user_id,
            outcome,
            user_agent,
            attempted_user,
        };
        self.audit.record(entry).await;
    }

    /// Returns once every login attempt so far is in the audit log: for shutdown.
    pub async fn flush_audit(&self) {
        self.audit.flush().await;
    }
}

/// A username or address another account holds, as the store refused it.
pub(super) fn taken(err: StoreError) -> Error {
    match err {
        StoreError::Conflict(UniqueField::Username) => Error::UsernameTaken,
        StoreError::Conflict(UniqueField::Email) => Error::EmailTaken,
        other => other.into(),
    }
}
