//! The TOTP second factor (RFC 6238) in the web UI: setting it up from the profile, logging in
//! with a password and a code, recovery codes, and the password-only routes refusing such an
//! account. Codes are computed here from the key the enrolment page shows, as an
//! authenticator app would, on the app's manual clock.

use std::sync::Arc;

use authd::clock::{Clock, ManualClock};
use reqwest::StatusCode;
use serde_json::{Value, json};
use totp_rs::{Algorithm, Builder, Secret};

use crate::{
    browser::{Browser, Page},
    helpers::{AppOptions, TestApp, spawn_app_with},
};

/// An app on a manual clock, and the clock.
async fn app_with_clock(options: AppOptions) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let app = spawn_app_with(AppOptions {
        clock: clock.clone(),
        ..options
    })
    .await;
    (app, clock)
}

/// The code an authenticator app with `secret` shows at `now`, `steps` steps off.
pub fn code_at(secret: &str, now: time::OffsetDateTime, steps: i64) -> String {
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(Secret::try_from_base32(secret).unwrap())
        .build_noncompliant();
    let now = now.unix_timestamp() + steps * 30;
    totp.generate(u64::try_from(now).unwrap()).to_string()
}

fn between<'a>(body: &'a str, start: &str, end: &str) -> &'a str {
    let from = body
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in:\n{body}"))
        + start.len();
    let to = body[from..].find(end).unwrap() + from;
    &body[from..to]
}

/// Turns two-step verification on for the signed-in user; the key and the recovery codes.
pub async fn enrol(browser: &mut Browser<'_>, now: time::OffsetDateTime) -> (String, Vec<String>) {
    let enrol = browser.submit("/ui/profile", "/ui/profile/totp", &[]).await;
    assert_eq!(enrol.status, StatusCode::OK, "{}", enrol.body);
    assert!(enrol.body.contains("<svg"), "a QR code, drawn in the page");
    let secret = between(&enrol.body, "<code id=\"totp-secret\">", "</code>").to_owned();
    let code = code_at(&secret, now, 0);
    let csrf = enrol.input("csrf");
    let done = browser
        .post_raw(
            "/ui/profile/totp/confirm",
            &[("csrf", &csrf), ("code", &code)],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let codes: Vec<String> = done
        .body
        .split("<li><code>")
        .skip(1)
        .map(|rest| rest[..rest.find("</code>").unwrap()].to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "{}", done.body);
    (secret, codes)
}

/// Logs out, and logs in again with the password: the page the login leads to.
async fn password_step(browser: &mut Browser<'_>, username: &str, password: &str) -> Page {
    browser.submit("/ui/profile", "/ui/logout", &[]).await;
    let page = browser.log_in(username, password).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    page
}

async fn code_step(browser: &mut Browser<'_>, code: &str) -> Page {
    browser
        .submit("/ui/login/code", "/ui/login/code", &[("code", code)])
        .await
}

#[tokio::test]
async fn with_a_second_factor_the_password_alone_signs_no_one_in_and_a_code_does() {
    let (app, clock) = app_with_clock(AppOptions::default()).await;
    let mut browser = Browser::new(&app);
    let password = browser.signed_in_as("alice").await;
    let (secret, _) = enrol(&mut browser, clock.now()).await;
    let profile = browser.get("/ui/profile").await;
    assert!(
        profile.body.contains("10 recovery codes left"),
        "{}",
        profile.body
    );

    let after_password = password_step(&mut browser, "alice", &password).await;
    assert_eq!(after_password.location(), "/ui/login/code");
    // Not signed in yet: no session cookie, and the profile asks for a login.
    assert!(!browser.cookies.contains_key("authd_session"));
    let profile = browser.get("/ui/profile").await;
    assert_eq!(profile.status, StatusCode::SEE_OTHER);

    let wrong = code_step(&mut browser, "000000").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    assert!(wrong.body.contains("not valid"), "{}", wrong.body);

    clock.advance(time::Duration::seconds(30));
    let signed_in = code_step(&mut browser, &code_at(&secret, clock.now(), 0)).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert_eq!(signed_in.location(), "/ui/profile");
    assert_eq!(browser.get("/ui/profile").await.status, StatusCode::OK);

    // RFC 6238 §5.2: the same code does not sign in twice.
    let again = password_step(&mut browser, "alice", &password).await;
    assert_eq!(again.location(), "/ui/login/code");
    let replayed = code_step(&mut browser, &code_at(&secret, clock.now(), 0)).await;
    assert_eq!(
        replayed.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        replayed.body
    );
}

#[tokio::test]
async fn a_code_is_good_one_step_either_side_of_now_and_no_further() {
    let (app, clock) = app_with_clock(AppOptions::default()).await;
    let mut browser = Browser::new(&app);
    let password = browser.signed_in_as("alice").await;
    let (secret, _) = enrol(&mut browser, clock.now()).await;
    clock.advance(time::Duration::minutes(5));

    password_step(&mut browser, "alice", &password).await;
    for steps in [-2, 2] {
        let refused = code_step(&mut browser, &code_at(&secret, clock.now(), steps)).await;
        assert_eq!(
            refused.status,
            StatusCode::UNAUTHORIZED,
            "{steps} steps off"
        );
    }
    // A phone a little behind: the previous step's code.
    let late = code_step(&mut browser, &code_at(&secret, clock.now(), -1)).await;
    assert_eq!(late.status, StatusCode::SEE_OTHER, "{}", late.body);
}

#[tokio::test]
async fn each_recovery_code_signs_in_once_however_it_is_typed() {
    let (app, clock) = app_with_clock(AppOptions::default()).await;
    let mut browser = Browser::new(&app);
    let password = browser.signed_in_as("alice").await;
    let (_, codes) = enrol(&mut browser, clock.now()).await;

    password_step(&mut browser, "alice", &password).await;
    let typed = codes[3].replace('-', " ").to_uppercase();
    let used = code_step(&mut browser, &typed).await;
    assert_eq!(used.status, StatusCode::SEE_OTHER, "{}", used.body);
    let profile = browser.get("/ui/profile").await;
    assert!(
        profile.body.contains("9 recovery codes left"),
        "{}",
        profile.body
    );

    password_step(&mut browser, "alice", &password).await;
    let reused = code_step(&mut browser, &codes[3]).await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED, "{}", reused.body);
    let other = code_step(&mut browser, &codes[4]).await;
    assert_eq!(other.status, StatusCode::SEE_OTHER, "{}", other.body);
}

#[tokio::test]
async fn wrong_codes_count_toward_the_login_throttle() {
    let (app, clock) = app_with_clock(AppOptions {
        login_failure_limit: 3,
        ..AppOptions::default()
    })
    .await;
    let mut browser = Browser::new(&app);
    let password = browser.signed_in_as("alice").await;
    let (secret, _) = enrol(&mut browser, clock.now()).await;
    clock.advance(time::Duration::seconds(30));

    password_step(&mut browser, "alice", &password).await;
    for _ in 0..3 {
        let wrong = code_step(&mut browser, "123456").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }
    // Guessing stops here, even with the right code: the budget is spent.
    let throttled = code_step(&mut browser, &code_at(&secret, clock.now(), 0)).await;
    assert_eq!(
        throttled.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        throttled.body
    );
}

#[tokio::test]
async fn password_only_routes_refuse_an_account_with_a_second_factor_naming_the_flows_that_work() {
    let (app, clock) = app_with_clock(AppOptions::default()).await;
    let mut browser = Browser::new(&app);
    let password = browser.signed_in_as("alice").await;
    enrol(&mut browser, clock.now()).await;

    let auth = app
        .post_json("/auth", json!({"username": "alice", "password": password}))
        .await;
    assert_eq!(auth.status(), 403);
    let body: Value = auth.json().await.unwrap();
    assert_eq!(body["error"], "second_factor_required");
    assert!(
        body["message"].as_str().unwrap().contains("web UI"),
        "{body}"
    );

    let grant = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", &password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(grant.status(), 400);
    let body: Value = grant.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("authorization code flow"),
        "{body}"
    );

    // A wrong password is still just a wrong password: nothing says the account has a factor.
    let wrong = app
        .post_json(
            "/auth",
            json!({"username": "alice", "password": "wrong password"}),
        )
        .await;
    assert_eq!(wrong.status(), 401);
}

#[tokio::test]
async fn turning_it_off_takes_the_password_again() {
    let (app, clock) = app_with_clock(AppOptions::default()).await;
    let mut browser = Browser::new(&app);
    let password = browser.signed_in_as("alice").await;
    enrol(&mut browser, clock.now()).await;
    clock.advance(time::Duration::seconds(30));

    let without = browser
        .submit(
            "/ui/profile",
            "/ui/profile/totp/remove",
            &[("password", "")],
        )
        .await;
    assert_eq!(
        without.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        without.body
    );
    let wrong = browser
        .submit(
            "/ui/profile",
            "/ui/profile/totp/remove",
            &[("password", "not the password")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    let removed = browser
        .submit(
            "/ui/profile",
            "/ui/profile/totp/remove",
            &[("password", &password)],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);

    let page = password_step(&mut browser, "alice", &password).await;
    assert_eq!(page.location(), "/ui/profile", "the password alone again");
}

#[tokio::test]
async fn a_code_step_without_a_pending_login_sends_the_browser_back_to_the_login() {
    let (app, _) = app_with_clock(AppOptions::default()).await;
    let mut browser = Browser::new(&app);
    let page = browser.get("/ui/login/code").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(
        page.location().starts_with("/ui/login?notice="),
        "{}",
        page.location()
    );
}

#[tokio::test]
async fn the_code_flows_login_takes_the_code_too_and_the_id_token_says_so() {
    let (app, clock) = app_with_clock(AppOptions::default()).await;
    let client_id = crate::oidc::oidc_client(&app);
    let mut browser = Browser::new(&app);
    let password = browser.signed_in_as("alice").await;
    let (secret, _) = enrol(&mut browser, clock.now()).await;
    browser.submit("/ui/profile", "/ui/logout", &[]).await;
    clock.advance(time::Duration::seconds(30));

    let (verifier, challenge) = crate::code_flow::pkce();
    let start = browser
        .get(&crate::oidc::openid_request(
            &client_id,
            &challenge,
            "openid",
            &[],
        ))
        .await;
    let login_path = start.location().to_owned();
    let code_page =
        crate::code_flow::log_in_here(&mut browser, &login_path, "alice", &password).await;
    assert_eq!(code_page.status, StatusCode::OK, "{}", code_page.body);
    assert!(
        code_page.body.contains("Photo Book"),
        "names the application"
    );
    let csrf = code_page.input("csrf");
    let code = code_at(&secret, clock.now(), 0);
    let after = browser
        .post_raw("/ui/login/code", &[("csrf", &csrf), ("code", &code)])
        .await;
    let claims =
        crate::oidc::id_token_after(&app, &mut browser, after, &client_id, &verifier).await;
    // RFC 8176: a password, a one-time code, and so more than one factor.
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
}
