//! The mail settings, validated once: where mail goes (`AUTHD_SMTP_URL`), as whom
//! (`AUTHD_MAIL_FROM`), and how long the mailed links work.

use std::path::PathBuf;

use lettre::message::Mailbox;
use secrecy::SecretString;

/// Where mail goes.
#[derive(Debug, Clone)]
pub enum MailDelivery {
    /// No mail server: the features that need mail are off, and their pages say so.
    Off,
    /// `authd dev`: mails kept in memory, shown at `/ui/dev/mail` and in the log.
    Memory,
    Smtp(SmtpSettings),
}

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://`: none, for a mail catcher on this machine or a trusted network.
    Plain,
    /// `smtp://…?tls=starttls`: STARTTLS, required (never silently skipped).
    StartTls,
    /// `smtps://`: TLS from the first byte.
    Tls,
}

/// No `Debug` of the password: `SecretString` prints as redacted.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// A CA (PEM) trusted beside the system's roots: a private mail server's.
    pub ca_file: Option<PathBuf>,
}

impl SmtpSettings {
    /// Reads `smtp://[user[:password]@]host[:port][?tls=starttls]` or `smtps://…`; a password
    /// from a file (`password_file`) is for a URL without one.
    pub fn parse(
        raw: &str,
        password_file: Option<SecretString>,
        ca_file: Option<PathBuf>,
    ) -> Result<Self, String> {
        let url = url::Url::parse(raw)
            .map_err(|err| format!("must be smtp://host:port or smtps://host:port ({err})"))?;
        let tls = url
            .query_pairs()
            .find(|(key, _)| key == "tls")
            .map(|(_, value)| value.into_owned());
        let security = match (url.scheme(), tls.as_deref()) {
            ("smtp", None) => SmtpSecurity::Plain,
            ("smtp", Some("starttls" | "required")) => SmtpSecurity::StartTls,
            ("smtps", None) => SmtpSecurity::Tls,
            ("smtp", Some(other)) => {
                return Err(format!(
                    "tls={other} is not a choice: use ?tls=starttls (required STARTTLS), \
                     smtps:// (TLS from the start), or plain smtp:// for a local catcher"
                ));
            }
            (scheme, _) => return Err(format!("scheme {scheme}: must be smtp or smtps")),
        };
        let host = url
            .host_str()
            .filter(|host| !host.is_empty())
            .ok_or("names no host")?
            .trim_matches(['[', ']'])
            .to_owned();
        let port = url.port().unwrap_or(match security {
            SmtpSecurity::Plain => 25,
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
        });
        let decode = |part: &str| {
            percent_encoding::percent_decode_str(part)
                .decode_utf8()
                .map(|decoded| decoded.into_owned())
                .map_err(|_| "credentials are not UTF-8 once percent-decoded".to_owned())
        };
        let username = Some(url.username())
            .filter(|user| !user.is_empty())
            .map(decode)
            .transpose()?;
        let in_url = url.password().map(decode).transpose()?;
        let password = match (in_url, password_file) {
            (Some(_), Some(_)) => {
                return Err(
                    "has a password, and AUTHD_SMTP_PASSWORD_FILE gives another: keep one"
                        .to_owned(),
                );
            }
            (Some(password), None) => Some(SecretString::from(password)),
            (None, from_file) => from_file,
        };
        if password.is_some() && username.is_none() {
            return Err("has a password but no user name (smtp://user@host)".to_owned());
        }
        Ok(Self {
            host,
            port,
            security,
            username,
            password,
            ca_file,
        })
    }
}

/// Everything mail needs beside where it goes.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub delivery: MailDelivery,
    /// `AUTHD_MAIL_FROM`, e.g. `Example ID <id@example.com>`.
    pub from: Mailbox,
    /// How long a password-reset link works (`AUTHD_PASSWORD_RESET_TTL`, 30 minutes).
    pub reset_link_ttl: time::Duration,
    /// How long a link confirming an address works (a day).
    pub verify_link_ttl: time::Duration,
    /// `AUTHD_REQUIRE_VERIFIED_EMAIL`: the code flow completes only for a verified address.
    pub require_verified_email: bool,
}

impl MailSettings {
    /// Mail off, with the defaults for the rest: for commands and tests that send nothing.
    pub fn off(from: Mailbox) -> Self {
        Self {
            delivery: MailDelivery::Off,
            from,
            reset_link_ttl: time::Duration::minutes(30),
            verify_link_ttl: time::Duration::days(1),
            require_verified_email: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn reads_each_form_of_the_url() {
        let plain = SmtpSettings::parse("smtp://127.0.0.1:1025", None, None).unwrap();
        assert_eq!((plain.security, plain.port), (SmtpSecurity::Plain, 1025));
        let starttls = SmtpSettings::parse(
            "smtp://mailer:p%40ss@mail.example.com?tls=starttls",
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            (starttls.security, starttls.port),
            (SmtpSecurity::StartTls, 587)
        );
        assert_eq!(starttls.username.as_deref(), Some("mailer"));
        assert_eq!(starttls.password.unwrap().expose_secret(), "p@ss");
        let tls = SmtpSettings::parse("smtps://mail.example.com", None, None).unwrap();
        assert_eq!((tls.security, tls.port), (SmtpSecurity::Tls, 465));
    }

    #[test]
    fn refuses_what_would_be_unsafe_or_ambiguous() {
        for bad in [
            "smtp://mail.example.com?tls=opportunistic",
            "http://mail.example.com",
            "smtp://:secret@mail.example.com",
            "not a url",
        ] {
            assert!(SmtpSettings::parse(bad, None, None).is_err(), "{bad}");
        }
        let both = SmtpSettings::parse(
            "smtp://u:one@mail.example.com",
            Some(SecretString::from("two")),
            None,
        );
        assert!(both.is_err());
    }

    #[test]
    fn never_prints_the_password() {
        let settings =
            SmtpSettings::parse("smtps://u:hunter2@mail.example.com", None, None).unwrap();
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
