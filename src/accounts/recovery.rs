//! What a mailed link does: confirm an address, reset a forgotten password, move the account
//! to a new address. Each link is 32 random bytes, mailed once and stored only as their
//! SHA-256; it works once, for a while, on any replica (the store is shared).

use std::{net::IpAddr, sync::Arc};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Email, LdapLogins, Password, PasswordHasher};
use crate::{
    clock::Clock,
    error::Error,
    events::{Actor, AuditTrail, EventType, NewEvent},
    mail::{LinkMail, Mailer, Notice},
    rate_limit::MailThrottle,
    sessions::Sessions,
    store::{AccountLink, LinkChange, LinkPurpose, StoreError, UniqueField, UserRecord, UserStore},
};

/// The services recovery uses, beside the users.
pub struct RecoveryServices {
    pub mailer: Arc<Mailer>,
    pub sessions: Arc<Sessions>,
    pub hasher: PasswordHasher,
    pub throttle: Arc<MailThrottle>,
    pub trail: Arc<AuditTrail>,
    /// The LDAP directory, whose accounts' passwords are not reset here.
    pub ldap: Option<Arc<LdapLogins>>,
}

pub struct Recovery {
    users: Arc<dyn UserStore>,
    mailer: Arc<Mailer>,
    sessions: Arc<Sessions>,
    hasher: PasswordHasher,
    throttle: Arc<MailThrottle>,
    trail: Arc<AuditTrail>,
    ldap: Option<Arc<LdapLogins>>,
    clock: Arc<dyn Clock>,
}

/// A link's token as mailed; only its hash is stored.
struct LinkToken(String);

impl LinkToken {
    fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    fn hash(presented: &str) -> [u8; 32] {
        Sha256::digest(presented.as_bytes()).into()
    }
}

impl Recovery {
    pub fn new(
        users: Arc<dyn UserStore>,
        services: RecoveryServices,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            users,
            mailer: services.mailer,
            sessions: services.sessions,
            hasher: services.hasher,
            throttle: services.throttle,
            trail: services.trail,
            ldap: services.ldap,
            clock,
        }
    }

    /// Whether mail goes anywhere, so that links can be sent.
    pub fn available(&self) -> bool {
        self.mailer.enabled()
    }

    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    /// Whether the code flow waits for a verified address.
    pub fn verified_email_required(&self) -> bool {
        self.available() && self.mailer.settings().require_verified_email
    }

    /// Mails a link confirming the account's address, after a registration. Nothing with mail
    /// off (the address stays unverified, and says so).
    pub async fn send_verification(&self, user: &UserRecord) -> Result<(), Error> {
        if !self.available() || user.email_verified() {
            return Ok(());
        }
        self.mail_link(user, LinkPurpose::VerifyEmail, &user.email)
            .await
    }

    /// Mails the new user `user_id` a link confirming their address. A failure is logged, not
    /// returned: the account exists, and the profile page can send the link again.
    pub async fn after_registration(&self, user_id: Uuid) {
        let sent = async {
            match self.users.find_by_id(user_id).await? {
                Some(user) => self.send_verification(&user).await,
                None => Ok(()),
            }
        };
        if let Err(err) = sent.await {
            tracing::error!(%user_id, error = %err, "could not queue the address verification mail");
        }
    }

    /// [`Self::send_verification`] again, asked for by the signed-in user: throttled.
    pub async fn resend_verification(
        &self,
        user: &UserRecord,
        client_ip: IpAddr,
    ) -> Result<(), Error> {
        self.require_mail("confirming an address")?;
        self.throttle.check(&user.id.to_string(), client_ip).await?;
        self.send_verification(user).await
    }

    /// Uses a verification link: the address it was sent to is verified, if it is still the
    /// account's.
    pub async fn verify_email(&self, token: &str) -> Result<UserRecord, Error> {
        self.redeem(
            token,
            LinkPurpose::VerifyEmail,
            LinkChange::VerifyEmail,
            Vec::new(),
        )
        .await
    }

    /// Asks for a reset link for the account `identifier` names (a username, or an address).
    /// Always the same answer, in the same time: past the throttle, the lookup and the mail
    /// happen after the answer, so neither its content nor its timing says whether the
    /// account exists.
    pub async fn request_reset(
        self: &Arc<Self>,
        identifier: &str,
        client_ip: IpAddr,
    ) -> Result<(), Error> {
        self.require_mail("resetting a password")?;
        let identifier = identifier.trim().to_owned();
        if identifier.is_empty() {
            return Err(Error::InvalidField {
                field: "username",
                message: "is required: your username or email address".to_owned(),
            });
        }
        self.throttle.check(&identifier, client_ip).await?;
        let recovery = self.clone();
        tokio::spawn(async move {
            if let Err(err) = recovery.mail_reset(&identifier).await {
                tracing::error!(error = %err, "could not queue a password-reset mail");
            }
        });
        Ok(())
    }

    /// The account a live reset link is for, without using it (the reset page's form).
    pub async fn reset_link(&self, token: &str) -> Result<UserRecord, Error> {
        self.live_link(token, LinkPurpose::ResetPassword)
            .await
            .map(|(user, _)| user)
    }

    /// Uses a reset link: the new password (checked as at registration) replaces the old one
    /// and a notice is queued, in one transaction; then every session of the account ends.
    /// Second factors stay: the next login still asks for them.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: String,
    ) -> Result<UserRecord, Error> {
        let (user, _) = self.live_link(token, LinkPurpose::ResetPassword).await?;
        // A link mailed before the account was handed to the directory.
        if self.directory_backed(user.id).await? {
            return Err(super::ldap_logins::password_is_the_directorys());
        }
        let password = Password::choose(new_password, &[&user.username, &user.email])?;
        let hash = self.hasher.hash(&password).await?;
        let notices: Vec<_> = self
            .mailer
            .notice(&Notice::PasswordReset, &user.email, &user)?
            .into_iter()
            .collect();
        let user = self
            .redeem(
                token,
                LinkPurpose::ResetPassword,
                LinkChange::SetPassword {
                    password_hash: &hash,
                },
                notices,
            )
            .await?;
        let ended = self.sessions.revoke_all(user.id).await?;
        tracing::info!(user_id = %user.id, sessions_ended = ended, "password reset by mailed link");
        let event = NewEvent::new(EventType::UserPasswordReset, Actor::User(user.id)).user(user.id);
        if let Err(err) = self.trail.record(event).await {
            tracing::error!(error = %err, user_id = %user.id, "could not record a password reset");
        }
        Ok(user)
    }

    /// Mails a link to `new_email` that moves the signed-in account there (the caller checked
    /// the user's password first). Nothing changes until it is used.
    pub async fn request_email_change(
        &self,
        user: &UserRecord,
        new_email: Email,
        client_ip: IpAddr,
    ) -> Result<(), Error> {
        self.require_mail("changing the address")?;
        if new_email.as_str().eq_ignore_ascii_case(&user.email) {
            return Err(Error::InvalidField {
                field: "email",
                message: "is the address the account has already".to_owned(),
            });
        }
        if self
            .users
            .find_by_email(new_email.as_str())
            .await?
            .is_some()
        {
            return Err(Error::EmailTaken);
        }
        self.throttle.check(&user.id.to_string(), client_ip).await?;
        self.mail_link(user, LinkPurpose::ChangeEmail, new_email.as_str())
            .await
    }

    /// The account and new address of a live change link, without using it.
    pub async fn email_change_link(&self, token: &str) -> Result<(UserRecord, String), Error> {
        self.live_link(token, LinkPurpose::ChangeEmail)
            .await
            .map(|(user, link)| (user, link.email))
    }

    /// Uses a change link: the account moves to the new address, verified, and the old
    /// address is told, in one transaction.
    pub async fn confirm_email_change(&self, token: &str) -> Result<UserRecord, Error> {
        let (user, new_address) = self.email_change_link(token).await?;
        let notices: Vec<_> = self
            .mailer
            .notice(&Notice::EmailChanged { new_address }, &user.email, &user)?
            .into_iter()
            .collect();
        self.redeem(
            token,
            LinkPurpose::ChangeEmail,
            LinkChange::ChangeEmail,
            notices,
        )
        .await
    }

    /// Marks a user's address verified without a link (an operator's doing).
    pub async fn mark_verified(&self, user_id: Uuid) -> Result<bool, Error> {
        Ok(self
            .users
            .mark_email_verified(user_id, self.clock.now())
            .await?)
    }

    async fn mail_reset(&self, identifier: &str) -> Result<(), Error> {
        // An address first; then a username, which an administrator may have made look like
        // one (a principal name).
        let by_email = if identifier.contains('@') {
            self.users.find_by_email(identifier).await?
        } else {
            None
        };
        let user = match by_email {
            Some(user) => Some(user),
            None => self.users.find_by_username(identifier).await?,
        };
        match user {
            // The limit per name typed is checked before the answer; this one counts the
            // account however it was named (by username, then by address).
            Some(user) if !self.throttle.allow_account(&user.id.to_string()).await => {
                tracing::warn!(user_id = %user.id, "password reset asked too often for this account: no mail sent");
                Ok(())
            }
            Some(user) if self.directory_backed(user.id).await? => {
                tracing::info!(user_id = %user.id, "password reset asked for a directory account: no mail sent");
                Ok(())
            }
            Some(user) => {
                self.mail_link(&user, LinkPurpose::ResetPassword, &user.email)
                    .await
            }
            None => {
                tracing::info!("password reset asked for an unknown account: no mail sent");
                Ok(())
            }
        }
    }

    async fn directory_backed(&self, user_id: Uuid) -> Result<bool, Error> {
        match &self.ldap {
            Some(ldap) => ldap.backs(user_id).await,
            None => Ok(false),
        }
    }

    async fn mail_link(
        &self,
        user: &UserRecord,
        purpose: LinkPurpose,
        to: &str,
    ) -> Result<(), Error> {
        let settings = self.mailer.settings();
        let (kind, path, ttl) = match purpose {
            LinkPurpose::VerifyEmail => (
                LinkMail::VerifyEmail,
                "/ui/verify-email",
                settings.verify_link_ttl,
            ),
            LinkPurpose::ResetPassword => (
                LinkMail::ResetPassword,
                "/ui/reset-password",
                settings.reset_link_ttl,
            ),
            LinkPurpose::ChangeEmail => (
                LinkMail::ConfirmNewEmail,
                "/ui/confirm-email",
                settings.verify_link_ttl,
            ),
        };
        let token = LinkToken::generate();
        let url = format!("{}?token={}", self.mailer.ui_url(path), token.0);
        let mail = self.mailer.link_mail(kind, to, user, url)?;
        let now = self.clock.now();
        let link = AccountLink {
            token_hash: LinkToken::hash(&token.0),
            purpose,
            user_id: user.id,
            email: to.to_owned(),
            created_at: now,
            expires_at: now + ttl,
        };
        self.users.create_link(&link, &mail).await?;
        self.mailer.outbox().queued();
        tracing::info!(user_id = %user.id, purpose = purpose.as_str(), "link mailed");
        Ok(())
    }

    async fn live_link(
        &self,
        token: &str,
        purpose: LinkPurpose,
    ) -> Result<(UserRecord, AccountLink), Error> {
        let link = self
            .users
            .find_link(&LinkToken::hash(token), purpose, self.clock.now())
            .await?
            .ok_or(Error::InvalidLink)?;
        let user = self
            .users
            .find_by_id(link.user_id)
            .await?
            .ok_or(Error::InvalidLink)?;
        Ok((user, link))
    }

    async fn redeem(
        &self,
        token: &str,
        purpose: LinkPurpose,
        change: LinkChange<'_>,
        notices: Vec<crate::store::OutboxMessage>,
    ) -> Result<UserRecord, Error> {
        let redeemed = self
            .users
            .redeem_link(
                &LinkToken::hash(token),
                purpose,
                change,
                self.clock.now(),
                &notices,
            )
            .await
            .map_err(|err| match err {
                StoreError::Conflict(UniqueField::Email) => Error::EmailTaken,
                other => other.into(),
            })?
            .ok_or(Error::InvalidLink)?;
        if !notices.is_empty() {
            self.mailer.outbox().queued();
        }
        tracing::info!(user_id = %redeemed.user_id, purpose = purpose.as_str(), "link used");
        self.users
            .find_by_id(redeemed.user_id)
            .await?
            .ok_or(Error::InvalidLink)
    }

    fn require_mail(&self, feature: &'static str) -> Result<(), Error> {
        if self.available() {
            Ok(())
        } else {
            Err(Error::MailUnavailable(feature))
        }
    }
}
