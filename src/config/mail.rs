//! The mail settings (`AUTHD_SMTP_*`, `AUTHD_MAIL_FROM`, …), flattened into `serve` and `dev`.

use std::{path::PathBuf, time::Duration};

use clap::Args;
use secrecy::SecretString;

use super::{ConfigError, to_time};
use crate::mail::{MailDelivery, MailSettings, SmtpSettings};

#[derive(Args, Clone)]
pub struct MailArgs {
    /// The mail server: `smtp://host:port` (no TLS: a catcher on this machine),
    /// `smtp://host:587?tls=starttls` (STARTTLS, required) or `smtps://host:465` (TLS), with
    /// `user:password@` if it needs a login. Unset: `serve` sends no mail, and password resets,
    /// address verification and notices are off; `dev` keeps its mails in memory.
    #[arg(long, env = "AUTHD_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// A file holding the mail server's password (a mounted secret), for a URL without one.
    #[arg(long, env = "AUTHD_SMTP_PASSWORD_FILE")]
    pub smtp_password_file: Option<PathBuf>,

    /// A CA certificate (PEM) to trust for the mail server, beside the system's roots.
    #[arg(long, env = "AUTHD_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<PathBuf>,

    /// The sender of authd's mail, e.g. `Example ID <id@example.com>`.
    #[arg(
        long,
        env = "AUTHD_MAIL_FROM",
        default_value = "authd <authd@localhost>"
    )]
    pub mail_from: String,

    /// How long a password-reset link works.
    #[arg(long, env = "AUTHD_PASSWORD_RESET_TTL", default_value = "30m", value_parser = humantime::parse_duration)]
    pub password_reset_ttl: Duration,

    /// Let the authorization code flow complete only for users who confirmed their address
    /// (with mail on).
    #[arg(long, env = "AUTHD_REQUIRE_VERIFIED_EMAIL")]
    pub require_verified_email: bool,
}

impl MailArgs {
    /// Validates the settings; `dev` asks for the in-memory mailbox where no server is set.
    pub fn settings(&self, in_memory_by_default: bool) -> Result<MailSettings, ConfigError> {
        let from = self.mail_from.parse().map_err(|err| {
            ConfigError::new(
                "AUTHD_MAIL_FROM",
                format!("must be an address such as `Example ID <id@example.com>` ({err})"),
            )
        })?;
        let delivery = match &self.smtp_url {
            Some(url) if !url.trim().is_empty() => {
                let password = self
                    .smtp_password_file
                    .as_ref()
                    .map(|path| {
                        std::fs::read_to_string(path)
                            .map(|text| {
                                SecretString::from(text.trim_end_matches(['\r', '\n']).to_owned())
                            })
                            .map_err(|err| {
                                ConfigError::new(
                                    "AUTHD_SMTP_PASSWORD_FILE",
                                    format!("{}: {err}", path.display()),
                                )
                            })
                    })
                    .transpose()?;
                let smtp = SmtpSettings::parse(url.trim(), password, self.smtp_ca_file.clone())
                    .map_err(|message| ConfigError::new("AUTHD_SMTP_URL", message))?;
                if let Some(path) = &smtp.ca_file {
                    std::fs::metadata(path).map_err(|err| {
                        ConfigError::new("AUTHD_SMTP_CA_FILE", format!("{}: {err}", path.display()))
                    })?;
                }
                MailDelivery::Smtp(smtp)
            }
            _ if in_memory_by_default => MailDelivery::Memory,
            _ => MailDelivery::Off,
        };
        let reset_link_ttl = to_time(self.password_reset_ttl);
        if reset_link_ttl < time::Duration::minutes(5) || reset_link_ttl > time::Duration::DAY {
            return Err(ConfigError::new(
                "AUTHD_PASSWORD_RESET_TTL",
                "must be between 5m and 24h",
            ));
        }
        Ok(MailSettings {
            delivery,
            from,
            reset_link_ttl,
            verify_link_ttl: time::Duration::DAY,
            require_verified_email: self.require_verified_email,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use secrecy::ExposeSecret;

    use super::*;

    fn args(url: &str, password_file: Option<PathBuf>) -> MailArgs {
        MailArgs {
            smtp_url: Some(url.to_owned()),
            smtp_password_file: password_file,
            smtp_ca_file: None,
            mail_from: "Example ID <id@example.com>".to_owned(),
            password_reset_ttl: Duration::from_secs(30 * 60),
            require_verified_email: false,
        }
    }

    #[test]
    fn the_password_comes_from_its_file_without_the_line_end() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "s3cret:pass").unwrap();
        let settings = args(
            "smtp://mailer@mail.example.com?tls=starttls",
            Some(file.path().to_owned()),
        )
        .settings(false)
        .unwrap();
        let MailDelivery::Smtp(smtp) = settings.delivery else {
            panic!("SMTP settings");
        };
        assert_eq!(smtp.password.unwrap().expose_secret(), "s3cret:pass");
        assert_eq!(smtp.username.as_deref(), Some("mailer"));
    }

    #[test]
    fn bad_settings_name_their_variable() {
        let missing = args(
            "smtp://mailer@mail.example.com",
            Some(PathBuf::from("/nonexistent/smtp-password")),
        )
        .settings(false)
        .unwrap_err();
        assert_eq!(missing.setting, "AUTHD_SMTP_PASSWORD_FILE");
        let mut bad_from = args("smtp://127.0.0.1:1025", None);
        bad_from.mail_from = "not an address".to_owned();
        assert_eq!(
            bad_from.settings(false).unwrap_err().setting,
            "AUTHD_MAIL_FROM"
        );
        let mut short = args("smtp://127.0.0.1:1025", None);
        short.password_reset_ttl = Duration::from_secs(60);
        assert_eq!(
            short.settings(false).unwrap_err().setting,
            "AUTHD_PASSWORD_RESET_TTL"
        );
        assert_eq!(
            args("smtp://h?tls=opportunistic", None)
                .settings(false)
                .unwrap_err()
                .setting,
            "AUTHD_SMTP_URL"
        );
    }

    #[test]
    fn without_a_server_serve_sends_nothing_and_dev_keeps_mail_in_memory() {
        let mut none = args("", None);
        none.smtp_url = None;
        assert!(matches!(
            none.settings(false).unwrap().delivery,
            MailDelivery::Off
        ));
        assert!(matches!(
            none.settings(true).unwrap().delivery,
            MailDelivery::Memory
        ));
    }
}
