//! Users, their sessions, consents and second factors, as administrators manage them.

use serde_json::json;
use uuid::Uuid;

use super::{Admin, written};
use crate::{
    accounts::{Email, NewAccount, Password, UserRecord, Username},
    error::Error,
    events::{Actor, EventType, NewEvent},
    mail::Notice,
    store::UserChange,
};

/// An account as an administrator creates it.
#[derive(Debug)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    /// Checked by the registration rules; `None`: no password (the user sets one by mail).
    pub password: Option<String>,
    pub email_verified: bool,
    /// A provisioning client's id for the user (SCIM `externalId`).
    pub external_id: Option<String>,
}

/// The fields an administrator changes; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UserPatch {
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub disabled: Option<bool>,
    /// `Some(None)` forgets it.
    pub external_id: Option<Option<String>>,
}

/// What the factor reset removed.
#[derive(Debug)]
pub struct FactorsReset {
    pub authenticator_app_removed: bool,
    pub passkeys_removed: usize,
    pub sessions_ended: usize,
}

impl Admin {
    pub async fn create_user(&self, actor: Actor, new: NewUser) -> Result<UserRecord, Error> {
        let username = Username::parse_provisioned(&new.username)?;
        let email = Email::parse(&new.email)?;
        let password = new
            .password
            .map(|raw| Password::choose(raw, &[username.as_str(), email.as_str()]))
            .transpose()?;
        let user = self
            .services
            .accounts
            .create(NewAccount {
                username,
                email,
                password,
                email_verified: new.email_verified,
                external_id: new.external_id,
            })
            .await?;
        self.audit(
            NewEvent::new(EventType::UserCreated, actor)
                .user(user.id)
                .detail(json!({ "username": user.username, "self_registered": false })),
        )
        .await;
        Ok(user)
    }

    pub async fn user(&self, user_id: Uuid) -> Result<UserRecord, Error> {
        self.services
            .users
            .find_any(user_id)
            .await?
            .ok_or(Error::NotFound("user"))
    }

    /// Applies `patch` over revision `expected` (any, with `None`). Disabling ends every
    /// session of the user with its access tokens; their tokens stop opening anything on
    /// every replica within the revocation bound, as a disabled user is no longer found.
    pub async fn update_user(
        &self,
        actor: Actor,
        user_id: Uuid,
        patch: UserPatch,
        expected: Option<i64>,
    ) -> Result<UserRecord, Error> {
        let existing = self.user(user_id).await?;
        if expected.is_some_and(|expected| expected != existing.revision) {
            return Err(Error::PreconditionFailed("user"));
        }
        let now = self.now();
        let username = match &patch.username {
            Some(raw) => Username::parse_provisioned(raw)?.as_str().to_owned(),
            None => existing.username.clone(),
        };
        let email = match &patch.email {
            Some(raw) => Email::parse(raw)?.as_str().to_owned(),
            None => existing.email.clone(),
        };
        let email_changed = !email.eq_ignore_ascii_case(&existing.email);
        let email_verified_at = match patch.email_verified {
            Some(true) => existing
                .email_verified_at
                .filter(|_| !email_changed)
                .or(Some(now)),
            Some(false) => None,
            // A new address is unconfirmed until someone confirms it.
            None => existing.email_verified_at.filter(|_| !email_changed),
        };
        let disabled_at = match patch.disabled {
            Some(true) => existing.disabled_at.or(Some(now)),
            Some(false) => None,
            None => existing.disabled_at,
        };
        let change = UserChange {
            username,
            email,
            email_verified_at,
            disabled_at,
            external_id: patch
                .external_id
                .clone()
                .unwrap_or_else(|| existing.external_id.clone()),
        };
        let updated = written(
            self.services
                .users
                .change(user_id, &change, Some(existing.revision))
                .await?,
            "user",
        )?;
        let mut changed: Vec<&str> = Vec::new();
        if updated.username != existing.username {
            changed.push("username");
        }
        if email_changed {
            changed.push("email");
        }
        if updated.email_verified_at.is_some() != existing.email_verified_at.is_some() {
            changed.push("email_verified");
        }
        if updated.external_id != existing.external_id {
            changed.push("external_id");
        }
        if !changed.is_empty() {
            self.audit(
                NewEvent::new(EventType::UserUpdated, actor.clone())
                    .user(user_id)
                    .detail(json!({ "changed": changed })),
            )
            .await;
        }
        match (existing.disabled(), updated.disabled()) {
            (false, true) => {
                let ended = self
                    .services
                    .sessions
                    .revoke_all_as(user_id, actor.clone())
                    .await?;
                tracing::info!(%user_id, sessions_ended = ended, "user disabled");
                self.audit(
                    NewEvent::new(EventType::UserDisabled, actor)
                        .user(user_id)
                        .detail(json!({ "sessions_ended": ended })),
                )
                .await;
            }
            (true, false) => {
                tracing::info!(%user_id, "user enabled");
                self.audit(NewEvent::new(EventType::UserEnabled, actor).user(user_id))
                    .await;
            }
            _ => {}
        }
        Ok(updated)
    }

    pub async fn delete_user(&self, actor: Actor, user_id: Uuid) -> Result<(), Error> {
        let user = self.user(user_id).await?;
        // Ended first, one by one, so each client that holds one hears of it (back-channel
        // logout): deleting the user would drop the sessions silently.
        self.services
            .sessions
            .revoke_all_as(user_id, actor.clone())
            .await?;
        if !self.services.users.delete(user_id).await? {
            return Err(Error::NotFound("user"));
        }
        self.audit(
            NewEvent::new(EventType::UserDeleted, actor)
                .user(user_id)
                .detail(json!({ "username": user.username })),
        )
        .await;
        Ok(())
    }

    /// Ends one session of the user (with its access tokens); `NotFound` if it is not theirs
    /// or not live.
    pub async fn end_session(
        &self,
        actor: Actor,
        user_id: Uuid,
        session_id: Uuid,
    ) -> Result<(), Error> {
        if self
            .services
            .sessions
            .revoke_by_id_as(user_id, session_id, actor)
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound("session"))
        }
    }

    /// Ends every session of the user; how many.
    pub async fn end_sessions(&self, actor: Actor, user_id: Uuid) -> Result<usize, Error> {
        self.user(user_id).await?;
        self.services.sessions.revoke_all_as(user_id, actor).await
    }

    /// Withdraws the user's consent to a client, ending the sessions it gave the client.
    pub async fn withdraw_consent(&self, user_id: Uuid, client_id: &str) -> Result<(), Error> {
        if self
            .services
            .authorizations
            .withdraw(user_id, client_id)
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound("consent"))
        }
    }

    /// Removes the user's TOTP authenticator, recovery codes and passkeys, ends their sessions
    /// and mails them a notice (as `authd users reset-factors` does).
    pub async fn reset_factors(&self, actor: Actor, user_id: Uuid) -> Result<FactorsReset, Error> {
        let user = self.user(user_id).await?;
        let accounts = &self.services.accounts;
        let reset = FactorsReset {
            authenticator_app_removed: accounts.second_factors().remove(user_id).await?,
            passkeys_removed: accounts.passkeys().remove_all(user_id).await?,
            sessions_ended: self
                .services
                .sessions
                .revoke_all_as(user_id, actor.clone())
                .await?,
        };
        self.services
            .mailer
            .send_notice(Notice::FactorsReset, &user)
            .await;
        self.audit(
            NewEvent::new(EventType::UserFactorsReset, actor)
                .user(user_id)
                .detail(json!({
                    "authenticator_app_removed": reset.authenticator_app_removed,
                    "passkeys_removed": reset.passkeys_removed,
                    "sessions_ended": reset.sessions_ended,
                })),
        )
        .await;
        Ok(reset)
    }
}
