//! Mail: what authd sends (single-use links and security notices), composed here and sent
//! through the [`Outbox`] by the deliverer the settings choose (SMTP, or `authd dev`'s
//! in-memory mailbox). Without a mail server the link mails are off, and so are the features
//! built on them; notices are skipped.

mod compose;
mod dev_mailbox;
mod settings;
mod smtp;

use std::sync::Arc;

pub use compose::{LinkMail, MailContent, Notice};
pub use dev_mailbox::{DevMail, DevMailbox};
pub use settings::{MailDelivery, MailSettings, SmtpSecurity, SmtpSettings};
pub use smtp::SmtpDeliverer;

use crate::{
    clock::Clock,
    error::Error,
    outbox::{Deliverer, Outbox},
    store::{OutboxMessage, Topic, UserRecord},
};

/// Composes mails and queues them.
pub struct Mailer {
    settings: MailSettings,
    outbox: Outbox,
    /// Where links point: the UI of the public URL.
    public_url: String,
    /// The product name mails are signed with.
    product: String,
    dev_mailbox: Option<Arc<DevMailbox>>,
}

impl Mailer {
    /// The mailer, and the deliverer of [`Topic::Mail`] that the outbox worker runs (none with
    /// mail off).
    pub fn new(
        settings: MailSettings,
        outbox: Outbox,
        public_url: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<(Self, Option<Arc<dyn Deliverer>>), Error> {
        let (deliverer, dev_mailbox): (Option<Arc<dyn Deliverer>>, _) = match &settings.delivery {
            MailDelivery::Off => (None, None),
            MailDelivery::Memory => {
                let mailbox = Arc::new(DevMailbox::new(clock));
                (Some(mailbox.clone()), Some(mailbox))
            }
            MailDelivery::Smtp(smtp) => (
                Some(Arc::new(
                    SmtpDeliverer::new(smtp, settings.from.clone()).map_err(Error::Internal)?,
                )),
                None,
            ),
        };
        let product = settings
            .from
            .name
            .clone()
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "authd".to_owned());
        Ok((
            Self {
                settings,
                outbox,
                public_url: public_url.trim_end_matches('/').to_owned(),
                product,
                dev_mailbox,
            },
            deliverer,
        ))
    }

    /// Whether mail goes anywhere: the features that mail a link need it.
    pub fn enabled(&self) -> bool {
        !matches!(self.settings.delivery, MailDelivery::Off)
    }

    pub fn settings(&self) -> &MailSettings {
        &self.settings
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// `authd dev`'s mailbox.
    pub fn dev_mailbox(&self) -> Option<&DevMailbox> {
        self.dev_mailbox.as_deref()
    }

    /// The URL of a UI page, e.g. `ui_url("/ui/reset-password")`.
    pub fn ui_url(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }

    /// A link mail to `to`, sealed for the store call that writes it with its link.
    pub fn link_mail(
        &self,
        kind: LinkMail,
        to: &str,
        user: &UserRecord,
        url: String,
    ) -> Result<OutboxMessage, Error> {
        let valid_for = match kind {
            LinkMail::ResetPassword => self.settings.reset_link_ttl,
            LinkMail::VerifyEmail | LinkMail::ConfirmNewEmail => self.settings.verify_link_ttl,
        };
        let mail = compose::link_mail(
            kind,
            to,
            &user.username,
            url,
            &spoken(valid_for),
            &self.product,
        )?;
        self.seal(&mail)
    }

    /// A notice to `to` (the account's address, or its old one), sealed; `None` with mail off.
    pub fn notice(
        &self,
        notice: &Notice,
        to: &str,
        user: &UserRecord,
    ) -> Result<Option<OutboxMessage>, Error> {
        if !self.enabled() {
            return Ok(None);
        }
        let forgot = self.ui_url("/ui/forgot-password");
        let mail = compose::notice(
            notice,
            to,
            &user.username,
            &compose::Recovery {
                forgot_password_url: &forgot,
            },
            &self.product,
        )?;
        self.seal(&mail).map(Some)
    }

    /// Queues a notice to the account's address after a change made elsewhere. A notice that
    /// cannot be queued is logged, not returned: the change it tells of is made.
    pub async fn send_notice(&self, notice: Notice, user: &UserRecord) {
        let queued = async {
            if let Some(message) = self.notice(&notice, &user.email, user)? {
                self.outbox.enqueue(&[message]).await?;
            }
            Ok::<_, Error>(())
        };
        if let Err(err) = queued.await {
            tracing::error!(user_id = %user.id, ?notice, error = %err, "could not queue a security notice");
        }
    }

    fn seal(&self, mail: &MailContent) -> Result<OutboxMessage, Error> {
        let payload = zeroize::Zeroizing::new(
            serde_json::to_vec(mail).map_err(|err| Error::Internal(format!("mail: {err}")))?,
        );
        self.outbox.seal(Topic::Mail, &payload)
    }
}

/// "30 minutes", "1 day": how long a link works, as a mail (and the page that sends it) says it.
pub fn spoken(duration: time::Duration) -> String {
    let minutes = duration.whole_minutes();
    let (count, unit) = if minutes % (24 * 60) == 0 && minutes > 0 {
        (minutes / (24 * 60), "day")
    } else if minutes % 60 == 0 && minutes > 0 {
        (minutes / 60, "hour")
    } else {
        (minutes.max(1), "minute")
    };
    if count == 1 {
        format!("1 {unit}")
    } else {
        format!("{count} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_how_long_a_link_works() {
        assert_eq!(spoken(time::Duration::minutes(30)), "30 minutes");
        assert_eq!(spoken(time::Duration::days(1)), "1 day");
        assert_eq!(spoken(time::Duration::hours(2)), "2 hours");
    }
}
