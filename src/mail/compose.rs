//! What authd writes: each mail as a subject, a text part and an HTML part from one pair of
//! templates. Short, no secrets but the link a mail exists to carry, no images, no tracking.

use askama::Template;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A mail ready to send: the outbox's payload for [`crate::store::Topic::Mail`].
#[derive(Serialize, Deserialize)]
pub struct MailContent {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Mails that carry a single-use link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMail {
    /// To a new account's address, or one not yet confirmed.
    VerifyEmail,
    ResetPassword,
    /// To the address the user asked to move to.
    ConfirmNewEmail,
}

/// Security notices to the account's address, after the change they tell of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    PasswordChanged,
    PasswordReset,
    TotpAdded,
    TotpRemoved,
    PasskeyAdded,
    PasskeyRemoved,
    PasskeyOnly,
    /// To the old address, naming the new one.
    EmailChanged {
        new_address: String,
    },
    /// An operator removed the second factors (`authd users reset-factors`).
    FactorsReset,
    /// A login spent one of the recovery codes; `left` remain.
    RecoveryCodeUsed {
        left: u64,
    },
}

pub struct Action {
    pub label: &'static str,
    pub url: String,
}

#[derive(Template)]
#[template(path = "mail.txt")]
struct Text<'a> {
    greeting: &'a str,
    paragraphs: &'a [String],
    action: &'a Option<Action>,
    closing: &'a [String],
    product: &'a str,
}

#[derive(Template)]
#[template(path = "mail.html")]
struct Html<'a> {
    subject: &'a str,
    greeting: &'a str,
    paragraphs: &'a [String],
    action: &'a Option<Action>,
    closing: &'a [String],
    product: &'a str,
}

/// The parts of a mail before rendering.
struct Draft {
    subject: &'static str,
    paragraphs: Vec<String>,
    action: Option<Action>,
    closing: Vec<String>,
}

impl Draft {
    fn render(self, to: &str, username: &str, product: &str) -> Result<MailContent, Error> {
        let failed = |err: askama::Error| Error::Internal(format!("mail template: {err}"));
        let text = Text {
            greeting: username,
            paragraphs: &self.paragraphs,
            action: &self.action,
            closing: &self.closing,
            product,
        }
        .render()
        .map_err(failed)?;
        let html = Html {
            subject: self.subject,
            greeting: username,
            paragraphs: &self.paragraphs,
            action: &self.action,
            closing: &self.closing,
            product,
        }
        .render()
        .map_err(failed)?;
        Ok(MailContent {
            to: to.to_owned(),
            subject: self.subject.to_owned(),
            text,
            html,
        })
    }
}

/// Where a mail's reader goes when they did not cause what it says.
pub struct Recovery<'a> {
    pub forgot_password_url: &'a str,
}

pub fn link_mail(
    kind: LinkMail,
    to: &str,
    username: &str,
    url: String,
    valid_for: &str,
    product: &str,
) -> Result<MailContent, Error> {
    let works = format!("The link works once, for {valid_for}.");
    let draft = match kind {
        LinkMail::VerifyEmail => Draft {
            subject: "Confirm your email address",
            paragraphs: vec![format!(
                "Please confirm that {to} is the email address of your account {username}."
            )],
            action: Some(Action {
                label: "Confirm this address",
                url,
            }),
            closing: vec![
                works,
                "If you did not create this account, ignore this mail.".to_owned(),
            ],
        },
        LinkMail::ResetPassword => Draft {
            subject: "Reset your password",
            paragraphs: vec![format!(
                "Someone asked to reset the password of your account {username}. If it was \
                 you, choose a new password here."
            )],
            action: Some(Action {
                label: "Choose a new password",
                url,
            }),
            closing: vec![
                works,
                "If you did not ask for this, ignore this mail: your password stays as it is."
                    .to_owned(),
            ],
        },
        LinkMail::ConfirmNewEmail => Draft {
            subject: "Confirm your new email address",
            paragraphs: vec![format!(
                "You asked to change the email address of your account {username} to {to}. \
                 Nothing changes until you confirm."
            )],
            action: Some(Action {
                label: "Confirm the new address",
                url,
            }),
            closing: vec![
                works,
                "If you did not ask for this, ignore this mail.".to_owned(),
            ],
        },
    };
    draft.render(to, username, product)
}

pub fn notice(
    notice: &Notice,
    to: &str,
    username: &str,
    recovery: &Recovery<'_>,
    product: &str,
) -> Result<MailContent, Error> {
    let (subject, what) = match notice {
        Notice::PasswordChanged => (
            "Your password was changed",
            "The password of your account was changed.".to_owned(),
        ),
        Notice::PasswordReset => (
            "Your password was reset",
            "The password of your account was reset with a link mailed to this address. \
             Every session of the account was signed out."
                .to_owned(),
        ),
        Notice::TotpAdded => (
            "An authenticator app was added to your account",
            "An authenticator app was added to your account as a second factor.".to_owned(),
        ),
        Notice::TotpRemoved => (
            "The authenticator app was removed from your account",
            "The authenticator app was removed from your account: it no longer asks for its \
             codes."
                .to_owned(),
        ),
        Notice::PasskeyAdded => (
            "A passkey was added to your account",
            "A passkey was added to your account: it can now sign in with it.".to_owned(),
        ),
        Notice::PasskeyRemoved => (
            "A passkey was removed from your account",
            "A passkey was removed from your account.".to_owned(),
        ),
        Notice::PasskeyOnly => (
            "Your account no longer has a password",
            "Your account no longer has a password: only its passkeys sign in now.".to_owned(),
        ),
        Notice::EmailChanged { new_address } => (
            "Your email address was changed",
            format!(
                "The email address of your account was changed to {new_address}. Mail for the \
                 account goes there from now on; this is the last one sent to this address."
            ),
        ),
        Notice::RecoveryCodeUsed { left } => (
            "A recovery code of your account was used",
            format!(
                "A login to your account used one of its recovery codes instead of the \
                 authenticator app. {left} recovery codes are left."
            ),
        ),
        Notice::FactorsReset => (
            "The second factors of your account were removed",
            "An administrator removed the authenticator app and the passkeys of your account. \
             Add them again from your profile."
                .to_owned(),
        ),
    };
    Draft {
        subject,
        paragraphs: vec![what],
        action: None,
        closing: vec![
            "If this was you, there is nothing to do.".to_owned(),
            format!(
                "If it was not, reset your password at {} and tell your administrator.",
                recovery.forgot_password_url
            ),
        ],
    }
    .render(to, username, product)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_mail_carries_its_link_in_both_parts_and_escapes_html() {
        let mail = link_mail(
            LinkMail::ResetPassword,
            "a@example.com",
            "<b>eve</b>",
            "https://id.example.com/ui/reset-password?token=abc&x=1".to_owned(),
            "30 minutes",
            "authd",
        )
        .unwrap();
        assert_eq!(mail.subject, "Reset your password");
        assert!(
            mail.text
                .contains("https://id.example.com/ui/reset-password?token=abc&x=1")
        );
        assert!(mail.text.contains("Hello <b>eve</b>,"), "{}", mail.text);
        assert!(!mail.html.contains("<b>eve"), "{}", mail.html);
        assert!(
            mail.html.contains("&#60;b&#62;eve&#60;/b&#62;"),
            "{}",
            mail.html
        );
        assert!(mail.html.contains("token=abc&#38;x=1"), "{}", mail.html);
        assert!(!mail.html.contains("<img"));
    }

    #[test]
    fn a_notice_names_the_change_and_the_way_back() {
        let mail = notice(
            &Notice::EmailChanged {
                new_address: "new@example.com".to_owned(),
            },
            "old@example.com",
            "alice",
            &Recovery {
                forgot_password_url: "https://id.example.com/ui/forgot-password",
            },
            "authd",
        )
        .unwrap();
        assert_eq!(mail.to, "old@example.com");
        assert!(mail.text.contains("new@example.com"));
        assert!(
            mail.text
                .contains("https://id.example.com/ui/forgot-password")
        );
    }
}
