//! The outbox and the mail server: a mail queued while the server is down goes out once it is
//! back, after a replica restart too; TLS by STARTTLS and SMTPS against the test CA, a login,
//! and a wrong CA refused (and the mail kept, not lost).

use std::{path::PathBuf, time::Duration};

use serde_json::json;

use super::{
    ARRIVES, app_mailing,
    smtp::{Mode, SmtpServer, certs, settings_for},
};
use crate::{
    helpers::{AppOptions, spawn_app_with},
    metrics::scrape,
};

async fn deliveries(app: &crate::helpers::TestApp, outcome: &str) -> f64 {
    scrape(app)
        .await
        .into_iter()
        .find(|(name, labels, _)| {
            name == "authd_outbox_deliveries_total"
                && labels == &json!({"topic": "mail", "outcome": outcome})
        })
        .map_or(0.0, |(_, _, value)| value)
}

#[tokio::test]
async fn a_mail_queued_while_the_server_is_down_goes_out_when_it_is_back() {
    let port = SmtpServer::start(Mode::Plain).await.stop().await;
    let app = spawn_app_with(AppOptions {
        mail: settings_for(&format!("smtp://127.0.0.1:{port}"), None),
        ..AppOptions::default()
    })
    .await;
    app.register("patient").await;
    // The first attempts fail (connection refused) and are retried.
    let retried = crate::helpers::eventually(Duration::from_secs(10), || async {
        deliveries(&app, "retried").await >= 1.0
    })
    .await;
    assert!(retried, "a failed attempt is counted as retried");
    let server = SmtpServer::start_on(port, Mode::Plain, None).await;
    server
        .wait_for(
            "patient@example.com",
            "Confirm your email address",
            Duration::from_secs(30),
        )
        .await;
    let counted = crate::helpers::eventually(Duration::from_secs(5), || async {
        deliveries(&app, "sent").await == 1.0
    });
    assert!(counted.await, "the delivery is counted as sent");
    // Sent once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn a_replica_that_stops_leaves_its_mail_to_the_next() {
    let port = SmtpServer::start(Mode::Plain).await.stop().await;
    let options = AppOptions {
        mail: settings_for(&format!("smtp://127.0.0.1:{port}"), None),
        ..AppOptions::default()
    };
    let first = spawn_app_with(options.clone()).await;
    first.register("survivor").await;
    let resources = first.resources.clone();
    let retried = crate::helpers::eventually(Duration::from_secs(10), || async {
        deliveries(&first, "retried").await >= 1.0
    })
    .await;
    assert!(retried);
    drop(first);
    // The replica is gone; a new one on the same database takes the mail over.
    let server = SmtpServer::start_on(port, Mode::Plain, None).await;
    let next = crate::helpers::start_again(options, resources).await;
    server
        .wait_for(
            "survivor@example.com",
            "Confirm your email address",
            Duration::from_secs(30),
        )
        .await;
    let counted = crate::helpers::eventually(Duration::from_secs(5), || async {
        deliveries(&next, "sent").await == 1.0
    });
    assert!(counted.await, "the new replica sent it");
}

#[tokio::test]
async fn starttls_and_smtps_verify_the_server_and_log_in() {
    for mode in [Mode::StartTls, Mode::Smtps] {
        let server = SmtpServer::start_on(0, mode, Some("mailer:s3cret:pass")).await;
        let url = match mode {
            Mode::StartTls => format!(
                "smtp://mailer:s3cret%3Apass@localhost:{}?tls=starttls",
                server.port
            ),
            _ => format!("smtps://mailer:s3cret%3Apass@localhost:{}", server.port),
        };
        let app = spawn_app_with(AppOptions {
            mail: settings_for(&url, Some(certs().join("ca.crt"))),
            ..AppOptions::default()
        })
        .await;
        app.register("secure").await;
        let mail = server
            .wait_for("secure@example.com", "Confirm your email address", ARRIVES)
            .await;
        assert!(mail.tls, "{mode:?}: over TLS");
        assert_eq!(mail.auth.as_deref(), Some("mailer"), "{mode:?}: logged in");
    }
}

#[tokio::test]
async fn a_server_whose_certificate_the_ca_did_not_sign_gets_no_mail() {
    let wrong: PathBuf = certs().join("wrong-ca.crt");
    for mode in [Mode::StartTls, Mode::Smtps] {
        let server = SmtpServer::start(mode).await;
        let app = spawn_app_with(AppOptions {
            mail: settings_for(&server.url(), Some(wrong.clone())),
            ..AppOptions::default()
        })
        .await;
        app.register("careful").await;
        let retried = crate::helpers::eventually(Duration::from_secs(10), || async {
            deliveries(&app, "retried").await >= 1.0
        })
        .await;
        assert!(
            retried,
            "{mode:?}: the refused handshake is a failed attempt"
        );
        assert_eq!(server.count(), 0, "{mode:?}: nothing was sent");
        assert_eq!(deliveries(&app, "sent").await, 0.0);
    }
}

#[tokio::test]
async fn the_notices_of_a_factor_change_reach_the_owner() {
    let server = SmtpServer::start(Mode::Plain).await;
    let app = app_mailing(&server, AppOptions::default()).await;
    let mut browser = crate::browser::Browser::new(&app);
    let password = browser.signed_in_as("noticed").await;
    crate::second_factor::enrol(&mut browser, time::OffsetDateTime::now_utc()).await;
    browser
        .submit(
            "/ui/profile",
            "/ui/profile/totp/remove",
            &[("password", &password)],
        )
        .await;
    for subject in [
        "An authenticator app was added to your account",
        "The authenticator app was removed from your account",
    ] {
        let mail = server
            .wait_for("noticed@example.com", subject, ARRIVES)
            .await;
        assert!(mail.text().contains("/ui/forgot-password"), "the way back");
        assert!(
            mail.message_id.ends_with("@example.com>"),
            "{}",
            mail.message_id
        );
    }
}
