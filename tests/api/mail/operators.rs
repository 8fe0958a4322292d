//! What operators and developers meet: a code flow that waits for a confirmed address, `authd
//! dev`'s mailbox page, and the `authd users verify-email` and `reset-factors` commands.

use std::time::Duration;

use authd::mail::{MailDelivery, MailSettings};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{
    ARRIVES, app_mailing, me,
    smtp::{Mode, SmtpServer},
};
use crate::{
    browser::Browser,
    code_flow::{
        answer_consent, authorize_path, client_answer, log_in_here, pkce, public_client, redeem,
        request, visit,
    },
    helpers::{AppOptions, Backend, TestApp, eventually, redis_url, spawn_app_with},
    second_factor::enrol,
};

#[tokio::test]
async fn with_verified_addresses_required_the_code_flow_waits_for_the_link() {
    let server = SmtpServer::start(Mode::Plain).await;
    let app = spawn_app_with(AppOptions {
        mail: MailSettings {
            require_verified_email: true,
            ..server.settings()
        },
        ..AppOptions::default()
    })
    .await;
    let client_id = public_client(&app, "photos:read");
    let password = app.register("waiting").await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new(&app);
    let start = visit(
        &mut browser,
        &authorize_path(&request(&client_id, &challenge, "openid email photos:read")),
    )
    .await;
    assert_eq!(
        start.status,
        StatusCode::OK,
        "the login page: {}",
        start.body
    );
    let login_path = format!("/ui/login?authorization={}", start.input("authorization"));
    let waiting = log_in_here(&mut browser, &login_path, "waiting", &password).await;
    assert_eq!(waiting.status, StatusCode::FORBIDDEN, "{}", waiting.body);
    assert!(
        waiting.body.contains("Confirm your email address"),
        "{}",
        waiting.body
    );
    assert!(
        waiting.body.contains("waiting@example.com"),
        "{}",
        waiting.body
    );

    let mail = server
        .wait_for("waiting@example.com", "Confirm your email address", ARRIVES)
        .await;
    let csrf = waiting.input("csrf");
    let verified = browser
        .post_raw(
            "/ui/verify-email",
            &[("csrf", &csrf), ("token", &mail.token("/ui/verify-email"))],
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    // "I have confirmed it: continue": on to the consent page.
    let at = waiting
        .body
        .find("/oauth/authorize/continue")
        .expect("a link back into the flow");
    let rest = &waiting.body[at..];
    let resume = rest[..rest.find('"').unwrap()].replace("&amp;", "&");
    let consent = visit(&mut browser, &resume).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    assert!(consent.body.contains("Photo Book"), "{}", consent.body);

    // And UserInfo says the address is verified (with an access token issued, the email
    // scope's claims are UserInfo's, not the ID token's: OpenID Connect Core §5.4).
    let back = answer_consent(&mut browser, &consent, "allow").await;
    let answer = client_answer(&back).expect("sent to the client");
    let tokens: Value = redeem(&app, &client_id, &answer["code"], &verifier)
        .await
        .json()
        .await
        .unwrap();
    let userinfo: Value = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["email"], json!("waiting@example.com"));
    assert_eq!(userinfo["email_verified"], json!(true));
}

#[tokio::test]
async fn authd_dev_shows_its_mail_on_a_page_and_serve_has_no_such_page() {
    let app = spawn_app_with(AppOptions {
        backend: Backend::Memory,
        mail: MailSettings {
            delivery: MailDelivery::Memory,
            ..MailSettings::off("authd <authd@localhost>".parse().unwrap())
        },
        ..AppOptions::default()
    })
    .await;
    app.register("devmail").await;
    let shown = eventually(ARRIVES, || async {
        let page = app.get("/ui/dev/mail").await.text().await.unwrap();
        page.contains("Confirm your email address") && page.contains("/ui/verify-email?token=")
    })
    .await;
    assert!(shown, "the mail is on the dev page");

    let serve = crate::helpers::spawn_app().await;
    assert_eq!(serve.get("/ui/dev/mail").await.status(), 404);
}

fn authd_command(app: &TestApp, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_authd"));
    command
        .env_clear()
        .args(args)
        .env("DATABASE_URL", app.resources.database_url())
        .env("REDIS_URL", redis_url())
        .env("AUTHD_REDIS_PREFIX", &app.resources.redis_prefix);
    command
}

fn run(mut command: std::process::Command) -> Value {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn operators_vouch_for_an_address_and_reset_lost_factors_from_the_command_line() {
    let server = SmtpServer::start(Mode::Plain).await;
    let app = app_mailing(&server, AppOptions::default()).await;
    let mut browser = Browser::new(&app);
    let password = browser.signed_in_as("lostphone").await;
    enrol(&mut browser, time::OffsetDateTime::now_utc()).await;

    let vouched = run(authd_command(&app, &["users", "verify-email", "lostphone"]));
    assert_eq!(vouched["email_verified"], json!(true));
    let session_token = browser.access_token();
    let current = eventually(Duration::from_secs(2), || async {
        me(&app, &session_token).await["email_verified"] == json!(true)
    });
    assert!(current.await, "every replica says so within the lag");

    let mut reset = authd_command(&app, &["users", "reset-factors", "lostphone"]);
    reset
        .env("AUTHD_MASTER_KEY", &app.resources.master_key_base64)
        .env("AUTHD_SMTP_URL", server.url());
    let report = run(reset);
    assert_eq!(report["authenticator_app_removed"], json!(true));
    assert_eq!(report["passkeys_removed"], json!(0));
    assert_eq!(report["sessions_ended"], json!(1));
    assert_eq!(report["notice_queued"], json!(true));

    // The replica sends the notice the command queued.
    server
        .wait_for(
            "lostphone@example.com",
            "The second factors of your account were removed",
            ARRIVES,
        )
        .await;
    // The browser's session ended; the password alone signs in again.
    let profile = browser.get("/ui/profile").await;
    assert_eq!(profile.status, StatusCode::SEE_OTHER);
    let login = browser.log_in("lostphone", &password).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.body);
    assert_eq!(login.location(), "/ui/profile");
}
