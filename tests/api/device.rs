//! The device authorization grant (RFC 8628): codes from one replica, the person's approval
//! and the device's polls on another; every answer of §3.5; the person's page, its warning
//! and its throttle; and requests-oauth2client's own device flow.

use std::{sync::Arc, time::Duration};

use authd::clock::ManualClock;
use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    admin::Admin,
    browser::{Browser, Page},
    code_flow::register_client,
    helpers::{AppOptions, TestApp, spawn_app, spawn_app_with},
    oidc::verify_id_token,
};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A public client registered for the device grant (and refresh): its id.
fn device_client(app: &TestApp) -> String {
    let client = register_client(
        app,
        &[
            "--name",
            "Living Room TV",
            "--public",
            "--grant-type",
            DEVICE_GRANT,
            "--grant-type",
            "refresh_token",
            "--scope",
            "films:watch",
        ],
    );
    client["client_id"].as_str().unwrap().to_owned()
}

async fn start(app: &TestApp, client_id: &str, scope: &str) -> Value {
    let response = app
        .client
        .post(app.url("/oauth/device_authorization"))
        .form(&[("client_id", client_id), ("scope", scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

/// One poll of the token endpoint: the status and the body.
async fn poll(app: &TestApp, client_id: &str, device_code: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("client_id", client_id),
            ("device_code", device_code),
        ])
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

fn assert_error(answer: &(StatusCode, Value), code: &str) {
    assert_eq!(answer.0, StatusCode::BAD_REQUEST, "{}", answer.1);
    assert_eq!(answer.1["error"], code, "{}", answer.1);
}

/// The person's answer on the page `question` shows.
async fn answer(browser: &mut Browser<'_>, question: &Page, decision: &str) -> Page {
    assert_eq!(question.status, StatusCode::OK, "{}", question.body);
    let csrf = question.input("csrf");
    let user_code = question.input("user_code");
    browser
        .post_raw(
            "/ui/device/decide",
            &[
                ("csrf", &csrf),
                ("user_code", &user_code),
                ("decision", decision),
            ],
        )
        .await
}

#[tokio::test]
async fn a_device_is_approved_on_one_replica_and_polls_another() {
    let first = spawn_app().await;
    let second = first.spawn_sibling().await;
    let client_id = device_client(&first);
    let codes = start(&first, &client_id, "openid offline_access films:watch").await;
    let user_code = codes["user_code"].as_str().unwrap();
    assert!(
        regex_like_user_code(user_code),
        "RFC 8628 §6.1's shape: {user_code}"
    );
    assert_eq!(codes["verification_uri"], first.url("/ui/device"));
    assert_eq!(
        codes["verification_uri_complete"],
        first.url(&format!("/ui/device?user_code={user_code}"))
    );
    assert_eq!(codes["expires_in"], 600);
    assert_eq!(codes["interval"], 5);
    let device_code = codes["device_code"].as_str().unwrap();

    // Before the person answers: pending, from either replica.
    assert_error(
        &poll(&second, &client_id, device_code).await,
        "authorization_pending",
    );

    // The person types the code in lower case without its dash, on the other replica.
    let mut browser = Browser::new(&second);
    browser.signed_in_as("alice").await;
    let typed = user_code.replace('-', "").to_lowercase();
    let question = browser
        .submit("/ui/device", "/ui/device", &[("user_code", &typed)])
        .await;
    assert!(
        question.body.contains("Living Room TV"),
        "{}",
        question.body
    );
    assert!(
        question.body.contains(user_code),
        "the page shows the code to compare"
    );
    assert!(
        question
            .body
            .contains("Only continue if your own device shows")
    );
    let done = answer(&mut browser, &question, "allow").await;
    assert_eq!(done.status, StatusCode::OK);
    assert!(done.body.contains("Device connected"), "{}", done.body);

    // The device waits out its interval, then gets its tokens, once.
    tokio::time::sleep(Duration::from_millis(5_100)).await;
    let (status, tokens) = poll(&first, &client_id, device_code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["scope"], "openid offline_access films:watch");
    assert!(tokens["refresh_token"].is_string());
    let id_token = verify_id_token(&first, tokens["id_token"].as_str().unwrap(), &client_id).await;
    assert_eq!(id_token["amr"], serde_json::json!(["pwd"]));
    assert!(id_token.get("nonce").is_none());
    let me: Value = second
        .me(tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "alice");
    assert_error(
        &poll(&second, &client_id, device_code).await,
        "invalid_grant",
    );

    // The code cannot be entered again.
    let again = browser
        .submit("/ui/device", "/ui/device", &[("user_code", user_code)])
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
}

fn regex_like_user_code(code: &str) -> bool {
    let alphabet = "BCDFGHJKLMNPQRSTVWXZ";
    code.len() == 9
        && code.chars().enumerate().all(|(i, c)| {
            if i == 4 {
                c == '-'
            } else {
                alphabet.contains(c)
            }
        })
}

#[tokio::test]
async fn polling_too_fast_slows_the_device_down_by_five_seconds_each_time() {
    let first = spawn_app().await;
    let second = first.spawn_sibling().await;
    let client_id = device_client(&first);
    let codes = start(&first, &client_id, "films:watch").await;
    let device_code = codes["device_code"].as_str().unwrap();
    assert_error(
        &poll(&first, &client_id, device_code).await,
        "authorization_pending",
    );
    // Within the interval, on the other replica: the interval is enforced across them.
    let slow = poll(&second, &client_id, device_code).await;
    assert_error(&slow, "slow_down");
    assert!(
        slow.1["error_description"]
            .as_str()
            .unwrap()
            .contains("10 seconds")
    );
    let slower = poll(&first, &client_id, device_code).await;
    assert_error(&slower, "slow_down");
    assert!(
        slower.1["error_description"]
            .as_str()
            .unwrap()
            .contains("15 seconds")
    );
}

#[tokio::test]
async fn a_denied_device_is_told_so_and_an_expired_code_expired_token() {
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let app = spawn_app_with(AppOptions {
        clock: clock.clone(),
        ..AppOptions::default()
    })
    .await;
    let client_id = device_client(&app);
    let denied = start(&app, &client_id, "films:watch").await;
    let mut browser = Browser::new(&app);
    browser.signed_in_as("bob").await;
    let question = browser
        .get(&format!(
            "/ui/device?user_code={}",
            denied["user_code"].as_str().unwrap()
        ))
        .await;
    let done = answer(&mut browser, &question, "deny").await;
    assert!(done.body.contains("Device denied"), "{}", done.body);
    assert_error(
        &poll(&app, &client_id, denied["device_code"].as_str().unwrap()).await,
        "access_denied",
    );

    let expiring = start(&app, &client_id, "films:watch").await;
    clock.advance(time::Duration::seconds(601));
    assert_error(
        &poll(&app, &client_id, expiring["device_code"].as_str().unwrap()).await,
        "expired_token",
    );
    // Nor can the person still enter it.
    let late = browser
        .get(&format!(
            "/ui/device?user_code={}",
            expiring["user_code"].as_str().unwrap()
        ))
        .await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_person_not_signed_in_signs_in_first_and_comes_back_to_the_question() {
    let app = spawn_app().await;
    let client_id = device_client(&app);
    let codes = start(&app, &client_id, "films:watch").await;
    let password = app.register("carol").await;
    let mut browser = Browser::new(&app);
    let link = browser
        .get(&format!(
            "/ui/device?user_code={}",
            codes["user_code"].as_str().unwrap()
        ))
        .await;
    assert_eq!(link.status, StatusCode::SEE_OTHER);
    let login = browser.get(link.location()).await;
    assert!(login.body.contains("Living Room TV"), "{}", login.body);
    let signed_in = browser
        .post_raw(
            "/ui/login",
            &[
                ("csrf", &login.input("csrf")),
                ("authorization", &login.input("authorization")),
                ("username", "carol"),
                ("password", &password),
            ],
        )
        .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    let question = browser.get(signed_in.location()).await;
    assert_eq!(question.status, StatusCode::OK, "{}", question.body);
    assert!(question.body.contains("Allow Living Room TV"));
}

#[tokio::test]
async fn guessing_user_codes_is_throttled_and_every_wrong_code_audited() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let page = browser
            .submit("/ui/device", "/ui/device", &[("user_code", "BCDF-GHJK")])
            .await;
        statuses.push(page.status);
    }
    assert!(
        statuses
            .iter()
            .all(|status| *status == StatusCode::BAD_REQUEST),
        "{statuses:?}"
    );
    let refused = browser
        .submit("/ui/device", "/ui/device", &[("user_code", "BCDF-GHJK")])
        .await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let admin = Admin::new(&app).await;
    let events: Value = admin
        .get("/admin/events?type=device.user_code_rejected&limit=200")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["items"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn only_a_client_registered_for_it_may_start_the_device_grant() {
    let app = spawn_app().await;
    let other = register_client(
        &app,
        &[
            "--name",
            "Web",
            "--public",
            "--redirect-uri",
            "https://web.example/cb",
        ],
    );
    let response = app
        .client
        .post(app.url("/oauth/device_authorization"))
        .form(&[("client_id", other["client_id"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client");
    let metadata: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["device_authorization_endpoint"],
        app.url("/oauth/device_authorization")
    );
    assert!(
        metadata["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&Value::from(DEVICE_GRANT))
    );
}

#[tokio::test]
async fn requests_oauth2client_runs_the_device_flow() {
    let app = spawn_app().await;
    let client_id = device_client(&app);
    let password = app.register("dana").await;
    let output = tokio::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/device_client.py"
        ))
        .args([app.address.as_str(), &client_id, "dana", &password])
        .output()
        .await
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "requests-oauth2client failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
