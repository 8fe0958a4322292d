//! `authd dev`'s mail: kept in memory (the newest [`DevMailbox::CAPACITY`]), shown at
//! `/ui/dev/mail` and written to the log, so every mail flow works with no mail server.

use std::{collections::VecDeque, sync::Mutex};

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::MailContent;
use crate::{
    clock::Clock,
    outbox::{Deliverer, DeliveryError},
};

/// One mail as the dev page shows it.
#[derive(Debug, Clone)]
pub struct DevMail {
    pub id: Uuid,
    pub at: OffsetDateTime,
    pub to: String,
    pub subject: String,
    pub text: String,
}

pub struct DevMailbox {
    mails: Mutex<VecDeque<DevMail>>,
    clock: std::sync::Arc<dyn Clock>,
}

impl DevMailbox {
    pub const CAPACITY: usize = 100;

    pub fn new(clock: std::sync::Arc<dyn Clock>) -> Self {
        Self {
            mails: Mutex::default(),
            clock,
        }
    }

    /// Newest first.
    pub fn mails(&self) -> Vec<DevMail> {
        crate::store::lock(&self.mails)
            .iter()
            .rev()
            .cloned()
            .collect()
    }
}

#[async_trait]
impl Deliverer for DevMailbox {
    async fn deliver(&self, id: Uuid, payload: &[u8]) -> Result<(), DeliveryError> {
        let mail: MailContent = serde_json::from_slice(payload)
            .map_err(|err| DeliveryError::permanent(format!("not a mail: {err}")))?;
        // Development only: the whole mail, link and all, is the point of this line.
        tracing::info!(to = %mail.to, subject = %mail.subject, text = %mail.text, "mail (dev: kept in memory, shown at /ui/dev/mail)");
        let mut mails = crate::store::lock(&self.mails);
        if mails.len() == Self::CAPACITY {
            mails.pop_front();
        }
        mails.push_back(DevMail {
            id,
            at: self.clock.now(),
            to: mail.to,
            subject: mail.subject,
            text: mail.text,
        });
        Ok(())
    }
}
