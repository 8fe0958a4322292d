//! Forgotten passwords: one answer whether or not the account exists, a single-use link that
//! works on any replica and expires, every session ended, the old password refused, the
//! second factor kept, and a notice.

use std::{sync::Arc, time::Duration};

use authd::clock::ManualClock;
use reqwest::StatusCode;
use serde_json::json;

use super::{
    ARRIVES, app_mailing,
    smtp::{Mode, SmtpServer},
};
use crate::{
    browser::Browser,
    helpers::{AppOptions, TestApp},
    second_factor::enrol,
};

const NEW_PASSWORD: &str = "a brand new passphrase 7";

async fn ask_for_reset(browser: &mut Browser<'_>, account: &str) -> crate::browser::Page {
    browser
        .submit(
            "/ui/forgot-password",
            "/ui/forgot-password",
            &[("account", account)],
        )
        .await
}

async fn auth_status(app: &TestApp, username: &str, password: &str) -> u16 {
    app.post_json("/auth", json!({"username": username, "password": password}))
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_reset_works_on_another_replica_once_and_ends_every_session() {
    let server = SmtpServer::start(Mode::Plain).await;
    let first = app_mailing(&server, AppOptions::default()).await;
    let second = first.spawn_sibling().await;

    let mut signed_in = Browser::new(&first);
    let old_password = signed_in.signed_in_as("rosa").await;
    let token = first.login("rosa", &old_password).await;
    assert_eq!(first.me_status(&token).await, 200);

    // Asked on the first replica, by email address, in any case.
    let mut asking = Browser::new(&first);
    let page = ask_for_reset(&mut asking, "ROSA@example.com").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("If an account matches"), "{}", page.body);
    let mail = server
        .wait_for("rosa@example.com", "Reset your password", ARRIVES)
        .await;
    assert!(mail.text().contains("30 minutes"), "{}", mail.text());

    // Used on the second.
    let mut resetting = Browser::new(&second);
    let form = resetting.get(&mail.link("/ui/reset-password")).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert!(form.body.contains("rosa"), "{}", form.body);
    let link_token = mail.token("/ui/reset-password");
    let weak = resetting
        .post_raw(
            "/ui/reset-password",
            &[
                ("csrf", &form.input("csrf")),
                ("token", &link_token),
                ("new_password", "rosa"),
            ],
        )
        .await;
    assert_eq!(
        weak.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        weak.body
    );
    assert!(
        weak.body.contains("name=\"new_password\""),
        "the form again: {}",
        weak.body
    );
    let done = resetting
        .post_raw(
            "/ui/reset-password",
            &[
                ("csrf", &form.input("csrf")),
                ("token", &link_token),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), "/ui/login?notice=password-reset");

    // The old password is refused, the new one works, everywhere.
    assert_eq!(auth_status(&first, "rosa", &old_password).await, 401);
    assert_eq!(auth_status(&second, "rosa", NEW_PASSWORD).await, 200);
    // Every session ended: the browser's, and the access tokens issued in it.
    let profile = signed_in.get("/ui/profile").await;
    assert_eq!(profile.status, StatusCode::SEE_OTHER, "{}", profile.body);
    // The link worked once. (The reset ended this browser's session too, which renews its
    // CSRF token: a fresh form's.)
    let csrf = resetting.get("/ui/forgot-password").await.input("csrf");
    let again = resetting
        .post_raw(
            "/ui/reset-password",
            &[
                ("csrf", &csrf),
                ("token", &link_token),
                ("new_password", "another fine passphrase 8"),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
    assert_eq!(auth_status(&first, "rosa", NEW_PASSWORD).await, 200);
    // And the owner is told.
    let notice = server
        .wait_for("rosa@example.com", "Your password was reset", ARRIVES)
        .await;
    assert!(
        !notice.text().contains(&link_token),
        "no secret in a notice"
    );
}

#[tokio::test]
async fn the_answer_is_the_same_for_an_account_that_does_not_exist() {
    let server = SmtpServer::start(Mode::Plain).await;
    let app = app_mailing(&server, AppOptions::default()).await;
    app.register("known").await;
    server
        .wait_for("known@example.com", "Confirm your email address", ARRIVES)
        .await;
    let mut browser = Browser::new(&app);
    let known = ask_for_reset(&mut browser, "known").await;
    let unknown = ask_for_reset(&mut browser, "nobody-here").await;
    let unknown_address = ask_for_reset(&mut browser, "nobody@example.com").await;
    assert_eq!(known.status, StatusCode::OK);
    assert_eq!(known.status, unknown.status);
    assert_eq!(known.body, unknown.body);
    assert_eq!(known.body, unknown_address.body);
    server
        .wait_for("known@example.com", "Reset your password", ARRIVES)
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        server.count(),
        2,
        "no mail for the accounts that do not exist"
    );
}

#[tokio::test]
async fn a_link_expires_and_asking_too_often_is_throttled() {
    let server = SmtpServer::start(Mode::Plain).await;
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let app = app_mailing(
        &server,
        AppOptions {
            clock: clock.clone(),
            ..AppOptions::default()
        },
    )
    .await;
    app.register("slow").await;
    let mut browser = Browser::new(&app);
    ask_for_reset(&mut browser, "slow").await;
    let mail = server
        .wait_for("slow@example.com", "Reset your password", ARRIVES)
        .await;
    clock.advance(time::Duration::minutes(31));
    let page = browser.get(&mail.link("/ui/reset-password")).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.body.contains("not valid"), "{}", page.body);
    assert!(
        page.body.contains("/ui/forgot-password"),
        "a way to ask again"
    );

    // Five mails an hour per account, whoever asks (the first was above).
    for _ in 0..4 {
        let page = ask_for_reset(&mut browser, "slow").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    }
    let refused = ask_for_reset(&mut browser, "slow").await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.body
    );
    assert!(refused.headers.contains_key("retry-after"));
    // Named another way (its address), the account still gets no more than five an hour: the
    // answer is the same, and no mail goes.
    let by_address = ask_for_reset(&mut browser, "slow@example.com").await;
    assert_eq!(by_address.status, StatusCode::OK, "{}", by_address.body);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let resets = server
        .all()
        .into_iter()
        .filter(|mail| mail.subject == "Reset your password")
        .count();
    assert_eq!(resets, 5);
}

#[tokio::test]
async fn a_reset_keeps_the_second_factor() {
    let server = SmtpServer::start(Mode::Plain).await;
    let app = app_mailing(&server, AppOptions::default()).await;
    let mut browser = Browser::new(&app);
    browser.signed_in_as("twofa").await;
    let (_, recovery_codes) = enrol(&mut browser, time::OffsetDateTime::now_utc()).await;
    server
        .wait_for(
            "twofa@example.com",
            "An authenticator app was added to your account",
            ARRIVES,
        )
        .await;

    let mut other = Browser::new(&app);
    ask_for_reset(&mut other, "twofa").await;
    let mail = server
        .wait_for("twofa@example.com", "Reset your password", ARRIVES)
        .await;
    let form = other.get(&mail.link("/ui/reset-password")).await;
    let done = other
        .post_raw(
            "/ui/reset-password",
            &[
                ("csrf", &form.input("csrf")),
                ("token", &mail.token("/ui/reset-password")),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);

    // The new password leads to the code step, not into the account.
    let login = other.log_in("twofa", NEW_PASSWORD).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.body);
    assert_eq!(login.location(), "/ui/login/code");
    // (The app's current code was spent on the enrolment: a recovery code.)
    let signed_in = other
        .submit(
            "/ui/login/code",
            "/ui/login/code",
            &[("code", &recovery_codes[0])],
        )
        .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert_eq!(signed_in.location(), "/ui/profile");
    // And the password-only route still refuses the account.
    assert_eq!(auth_status(&app, "twofa", NEW_PASSWORD).await, 403);
    // The spent recovery code is told to the owner, with what is left.
    let spent = server
        .wait_for(
            "twofa@example.com",
            "A recovery code of your account was used",
            ARRIVES,
        )
        .await;
    assert!(
        spent.text().contains("9 recovery codes are left"),
        "{}",
        spent.text()
    );
}
