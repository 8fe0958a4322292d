//! Changing the address: the password first, a link to the new address, nothing changed until
//! it is used, then the account moves and the old address is told.

use reqwest::StatusCode;
use serde_json::json;

use super::{
    ARRIVES, app_mailing, me,
    smtp::{Mode, SmtpServer},
};
use crate::{browser::Browser, helpers::AppOptions};

#[tokio::test]
async fn a_new_address_takes_the_password_a_link_and_tells_the_old_one() {
    let server = SmtpServer::start(Mode::Plain).await;
    let app = app_mailing(&server, AppOptions::default()).await;
    let mut browser = Browser::new(&app);
    let password = browser.signed_in_as("mover").await;
    let token = app.login("mover", &password).await;

    let wrong = browser
        .submit(
            "/ui/profile",
            "/ui/profile/email",
            &[
                ("email", "moved@example.org"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    let taken = app.register("holder").await;
    let _ = taken;
    let clash = browser
        .submit(
            "/ui/profile",
            "/ui/profile/email",
            &[("email", "holder@example.com"), ("password", &password)],
        )
        .await;
    assert_eq!(clash.status, StatusCode::CONFLICT, "{}", clash.body);

    let asked = browser
        .submit(
            "/ui/profile",
            "/ui/profile/email",
            &[("email", "moved@example.org"), ("password", &password)],
        )
        .await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER, "{}", asked.body);
    let mail = server
        .wait_for(
            "moved@example.org",
            "Confirm your new email address",
            ARRIVES,
        )
        .await;
    // Nothing changed yet.
    assert_eq!(me(&app, &token).await["email"], json!("mover@example.com"));

    let page = browser.get(&mail.link("/ui/confirm-email")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("moved@example.org"), "{}", page.body);
    let done = browser
        .post_raw(
            "/ui/confirm-email",
            &[
                ("csrf", &page.input("csrf")),
                ("token", &mail.token("/ui/confirm-email")),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let now = me(&app, &token).await;
    assert_eq!(now["email"], json!("moved@example.org"));
    assert_eq!(now["email_verified"], json!(true));

    let notice = server
        .wait_for(
            "mover@example.com",
            "Your email address was changed",
            ARRIVES,
        )
        .await;
    assert!(
        notice.text().contains("moved@example.org"),
        "{}",
        notice.text()
    );
    // Mail now goes to the new address: a reset link lands there.
    let mut other = Browser::new(&app);
    other
        .submit(
            "/ui/forgot-password",
            "/ui/forgot-password",
            &[("account", "mover")],
        )
        .await;
    server
        .wait_for("moved@example.org", "Reset your password", ARRIVES)
        .await;
}
