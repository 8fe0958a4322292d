//! Registration mails a link; following it (a page, then its button) verifies the address,
//! which `/me`, `/userinfo` and ID tokens then say.

use reqwest::StatusCode;
use serde_json::json;

use super::{
    ARRIVES, app_mailing, me,
    smtp::{Mode, SmtpServer},
};
use crate::{browser::Browser, helpers::AppOptions};

#[tokio::test]
async fn registering_mails_a_link_that_verifies_the_address_once() {
    let server = SmtpServer::start(Mode::Plain).await;
    let app = app_mailing(&server, AppOptions::default()).await;
    let password = app.register("vera").await;
    let token = app.login("vera", &password).await;
    assert_eq!(me(&app, &token).await["email_verified"], json!(false));

    let mail = server
        .wait_for("vera@example.com", "Confirm your email address", ARRIVES)
        .await;
    assert!(mail.from.contains("id@example.com"), "{}", mail.from);
    assert!(
        mail.html
            .as_deref()
            .unwrap()
            .contains("Confirm this address")
    );
    let link = mail.link("/ui/verify-email");
    let mut browser = Browser::new(&app);
    // Opening the link changes nothing (a mail scanner may fetch it); its button does.
    let page = browser.get(&link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(me(&app, &token).await["email_verified"], json!(false));
    let csrf = page.input("csrf");
    let token_field = mail.token("/ui/verify-email");
    let done = browser
        .post_raw(
            "/ui/verify-email",
            &[("csrf", &csrf), ("token", &token_field)],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("is confirmed"), "{}", done.body);
    assert_eq!(me(&app, &token).await["email_verified"], json!(true));

    let again = browser
        .post_raw(
            "/ui/verify-email",
            &[("csrf", &csrf), ("token", &token_field)],
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
    assert!(again.body.contains("not valid"), "{}", again.body);
}

#[tokio::test]
async fn the_profile_sends_the_link_again_and_says_whether_the_address_is_confirmed() {
    let server = SmtpServer::start(Mode::Plain).await;
    let app = app_mailing(&server, AppOptions::default()).await;
    let mut browser = Browser::new(&app);
    browser.signed_in_as("resend").await;
    let profile = browser.get("/ui/profile").await;
    assert!(profile.body.contains("(not confirmed)"), "{}", profile.body);
    server
        .wait_for("resend@example.com", "Confirm your email address", ARRIVES)
        .await;

    let sent = browser
        .submit("/ui/profile", "/ui/profile/verify-email", &[])
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let deadline = tokio::time::Instant::now() + ARRIVES;
    while server.count() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mails = server.all();
    assert_eq!(mails.len(), 2, "a second link");
    let newest = &mails[1];
    let csrf = browser.get("/ui/profile").await.input("csrf");
    let done = browser
        .post_raw(
            "/ui/verify-email",
            &[
                ("csrf", &csrf),
                ("token", &newest.token("/ui/verify-email")),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let profile = browser.get("/ui/profile").await;
    assert!(profile.body.contains("(confirmed)"), "{}", profile.body);
    assert!(!profile.body.contains("Send the confirmation link again"));
}

#[tokio::test]
async fn without_a_mail_server_the_pages_say_so_and_nothing_links_to_them() {
    let app = crate::helpers::spawn_app().await;
    let mut browser = Browser::new(&app);
    let login = browser.get("/ui/login").await;
    assert!(
        !login.body.contains("/ui/forgot-password"),
        "{}",
        login.body
    );
    let forgot = browser.get("/ui/forgot-password").await;
    assert_eq!(forgot.status, StatusCode::NOT_FOUND, "{}", forgot.body);
    assert!(forgot.body.contains("sends no mail"), "{}", forgot.body);
    let password = app.register("nomail").await;
    let token = app.login("nomail", &password).await;
    assert_eq!(me(&app, &token).await["email_verified"], json!(false));
}
