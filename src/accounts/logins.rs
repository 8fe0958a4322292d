//! Interactive logins (the web UI's, and the code flow's through it), step by step: a password,
//! then a second factor when the account has one; or a passkey alone. Each step is decided
//! here and answered as a value; the web UI keeps the pending login's id and the session in
//! the browser's cookies, and rate-limits each step by address.

use std::{net::IpAddr, sync::Arc};

use super::{Accounts, AuthAttempt, PendingLogin, PendingLogins, Purpose, Users};
use crate::{
    clock::Clock,
    error::Error,
    store::{Login, UserRecord},
};

/// How a correct password goes on.
#[derive(Debug)]
pub enum PasswordStep {
    /// Signed in: the login a session is to start with.
    SignedIn(Box<UserRecord>, Login),
    /// The account has a second factor: the login waits under `pending_id` for it.
    SecondFactor { pending_id: String },
}

/// What a pending login's second step presents.
pub enum SecondProof<'a> {
    /// A code from the user's authenticator app, or a recovery code.
    Code(&'a str),
    /// The answer to a passkey ceremony begun for this login.
    Passkey {
        ceremony: &'a str,
        response: &'a str,
    },
}

pub struct Logins {
    accounts: Accounts,
    users: Arc<Users>,
    pending: Arc<PendingLogins>,
    clock: Arc<dyn Clock>,
}

impl Logins {
    pub fn new(
        accounts: Accounts,
        users: Arc<Users>,
        pending: Arc<PendingLogins>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            accounts,
            users,
            pending,
            clock,
        }
    }

    /// The password step (checked as every password is: timing, throttle, audit). An account
    /// without a second factor is signed in at once; one with a second factor gets a pending
    /// login, which only its second step turns into a session. `authorization` is the held
    /// authorization request the login continues, if any.
    pub async fn password(
        &self,
        attempt: AuthAttempt,
        authorization: Option<String>,
    ) -> Result<PasswordStep, Error> {
        let user = self.accounts.authenticate(attempt).await?;
        let now = self.clock.now().unix_timestamp();
        if self.accounts.has_second_factor(user.id).await? {
            let pending = PendingLogin {
                user_id: user.id,
                password_at: now,
                authorization,
                idp: None,
            };
            let pending_id = self.pending.hold(&pending).await?;
            return Ok(PasswordStep::SecondFactor { pending_id });
        }
        Ok(PasswordStep::SignedIn(Box::new(user), Login::password(now)))
    }

    /// The login waiting under `pending_id`, if it is still live.
    pub async fn pending(&self, pending_id: &str) -> Result<Option<PendingLogin>, Error> {
        self.pending.find(pending_id, false).await
    }

    /// The login waiting under `pending_id` and its user; `None` once it expired, was
    /// finished, or its user is gone.
    pub async fn pending_with_user(
        &self,
        pending_id: &str,
    ) -> Result<Option<(PendingLogin, UserRecord)>, Error> {
        let Some(pending) = self.pending(pending_id).await? else {
            return Ok(None);
        };
        let user = self.users.find_by_id(pending.user_id).await?;
        Ok(user.map(|user| (pending, user)))
    }

    /// The second step of `pending` (under `pending_id`), for its `user`. The login's `amr`
    /// says both steps (RFC 8176: `pwd`, or `fed` after an upstream's login, then `otp` or the
    /// passkey's `hwk`/`swk`, and `mfa`).
    /// `Ok(None)`: another request with a good proof finished it first.
    pub async fn second_step(
        &self,
        pending_id: &str,
        pending: &PendingLogin,
        user: &UserRecord,
        proof: SecondProof<'_>,
        client_ip: IpAddr,
    ) -> Result<Option<Login>, Error> {
        let method = match proof {
            SecondProof::Code(code) => {
                self.accounts
                    .verify_second_factor(user, code, client_ip)
                    .await?;
                "otp"
            }
            SecondProof::Passkey { ceremony, response } => self
                .accounts
                .passkeys()
                .finish_verification(user, Purpose::SecondFactor, ceremony, response)
                .await?
                .amr(),
        };
        // Of two requests with good proofs, one finishes the login.
        if self.pending.find(pending_id, true).await?.is_none() {
            return Ok(None);
        }
        let first = if pending.idp.is_some() { "fed" } else { "pwd" };
        Ok(Some(Login {
            auth_time: pending.password_at,
            amr: [first, method, "mfa"].map(str::to_owned).to_vec(),
            idp: pending.idp.clone(),
            ..Login::default()
        }))
    }

    /// A login with a passkey alone, begun with no username: the passkey names its user. It
    /// verified the user itself (WebAuthn user verification, which authd requires), so `amr`
    /// is the key's kind with `mfa`; an account's TOTP is not asked. Audited as a password
    /// login is.
    pub async fn passkey(
        &self,
        ceremony: &str,
        response: &str,
        client_ip: IpAddr,
        user_agent: Option<String>,
    ) -> Result<(UserRecord, Login), Error> {
        let (user_id, method) = self
            .accounts
            .passkeys()
            .finish_login(ceremony, response)
            .await?;
        // Deleted between the ceremony's start and end.
        let user = self
            .users
            .find_by_id(user_id)
            .await?
            .ok_or(Error::InvalidPasskey)?;
        self.accounts
            .record_login_without_password(&user, client_ip, user_agent)
            .await;
        let login = Login {
            auth_time: self.clock.now().unix_timestamp(),
            amr: [method.amr(), "mfa"].map(str::to_owned).to_vec(),
            ..Login::default()
        };
        Ok((user, login))
    }
}
