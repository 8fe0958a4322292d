//! Sending over SMTP with lettre: one transport built at start, a connection per mail (authd
//! sends few), TLS by rustls with the system's roots and `AUTHD_SMTP_CA_FILE`.

use std::time::Duration;

use async_trait::async_trait;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
    transport::smtp::{
        authentication::Credentials,
        client::{Certificate, Tls, TlsParameters},
    },
};
use secrecy::ExposeSecret;
use uuid::Uuid;

use super::{
    MailContent,
    settings::{SmtpSecurity, SmtpSettings},
};
use crate::outbox::{Deliverer, DeliveryError};

/// How long one SMTP conversation may take; below the outbox's attempt timeout.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

pub struct SmtpDeliverer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The right-hand side of Message-IDs: the sender's domain.
    message_id_domain: String,
}

impl SmtpDeliverer {
    /// Builds the transport; fails on a CA file that cannot be read.
    pub fn new(settings: &SmtpSettings, from: Mailbox) -> Result<Self, String> {
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone())
                .port(settings.port)
                .timeout(Some(SMTP_TIMEOUT));
        if settings.security != SmtpSecurity::Plain {
            let mut tls = TlsParameters::builder(settings.host.clone());
            if let Some(path) = &settings.ca_file {
                let pem = std::fs::read(path)
                    .map_err(|err| format!("AUTHD_SMTP_CA_FILE {}: {err}", path.display()))?;
                let ca = Certificate::from_pem(&pem)
                    .map_err(|err| format!("AUTHD_SMTP_CA_FILE {}: {err}", path.display()))?;
                tls = tls.add_root_certificate(ca);
            }
            let tls = tls
                .build_rustls()
                .map_err(|err| format!("AUTHD_SMTP_URL: TLS settings: {err}"))?;
            builder = builder.tls(match settings.security {
                SmtpSecurity::StartTls => Tls::Required(tls),
                _ => Tls::Wrapper(tls),
            });
        }
        if let (Some(username), Some(password)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(
                username.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            message_id_domain: from.email.domain().to_owned(),
            from,
        })
    }
}

#[async_trait]
impl Deliverer for SmtpDeliverer {
    async fn deliver(&self, id: Uuid, payload: &[u8]) -> Result<(), DeliveryError> {
        let mail: MailContent = serde_json::from_slice(payload)
            .map_err(|err| DeliveryError::permanent(format!("not a mail: {err}")))?;
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|err| DeliveryError::permanent(format!("recipient: {err}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            // Stable across attempts: a mail sent twice is recognisably the same mail.
            .message_id(Some(format!("<{id}@{}>", self.message_id_domain)))
            .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
            .map_err(|err| DeliveryError::permanent(format!("message: {err}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            // 5xx: the server refused this mail, and would again.
            Err(err) if err.is_permanent() => Err(DeliveryError::permanent(err.to_string())),
            Err(err) => Err(DeliveryError::transient(err.to_string())),
        }
    }
}
