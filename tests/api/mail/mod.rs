//! Mail against a real SMTP server (aiosmtpd, per test): address verification, password
//! resets across replicas, address changes, security notices, the outbox through an outage
//! and a restart, and TLS to the mail server.

mod address;
mod delivery;
mod operators;
mod reset;
pub mod smtp;
mod verification;

use std::time::Duration;

use crate::helpers::{AppOptions, TestApp, spawn_app_with};
use smtp::SmtpServer;

/// How long a mail may take to arrive: the worker is woken at once on the replica that queued
/// it, and polls every second otherwise.
pub const ARRIVES: Duration = Duration::from_secs(10);

/// An app sending to `server`.
pub async fn app_mailing(server: &SmtpServer, options: AppOptions) -> TestApp {
    spawn_app_with(AppOptions {
        mail: server.settings(),
        ..options
    })
    .await
}

/// `GET /me`'s body for the user's token.
pub async fn me(app: &TestApp, token: &str) -> serde_json::Value {
    let response = app.me(token).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}
