//! Attacks on credentials (issue 9): password guessing against one user, telling known users
//! from unknown ones by the login's answer or its timing, and by registration.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{AppOptions, TestApp, spawn_app, spawn_app_with};

const ATTACKER: &str = "203.0.113.7";
const REAL_USER: &str = "198.51.100.20";

async fn login_from(
    app: &TestApp,
    address: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    app.client
        .post(app.url("/auth"))
        .header("X-Forwarded-For", address)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn failed_logins_throttle_the_guessing_address_but_never_lock_out_the_real_user() {
    let app = spawn_app_with(AppOptions {
        login_failure_limit: 3,
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        ..AppOptions::default()
    })
    .await;
    let password = app.register("alice").await;

    for guess in 0..3 {
        let answer = login_from(&app, ATTACKER, "alice", &format!("guess-{guess}")).await;
        assert_eq!(answer.status(), 401, "guess {guess}");
    }
    // The attacker's address is now refused before any password check: even the right one,
    // and in any case (usernames match regardless of case, so the throttle does too).
    assert_eq!(
        login_from(&app, ATTACKER, "ALICE", "guess").await.status(),
        429
    );
    let throttled = login_from(&app, ATTACKER, "alice", &password).await;
    assert_eq!(throttled.status(), 429);
    let wait: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=15 * 60).contains(&wait), "Retry-After {wait}");
    let oauth = app
        .client
        .post(app.url("/oauth/token"))
        .header("X-Forwarded-For", ATTACKER)
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", &password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        oauth.status(),
        429,
        "the password grant shares the throttle"
    );

    // The real user, elsewhere, is not locked out, however long the attacker keeps trying.
    assert_eq!(
        login_from(&app, REAL_USER, "alice", &password)
            .await
            .status(),
        200
    );
    for _ in 0..3 {
        assert_eq!(
            login_from(&app, ATTACKER, "alice", "again").await.status(),
            429
        );
    }
    assert_eq!(
        login_from(&app, REAL_USER, "alice", &password)
            .await
            .status(),
        200
    );

    // Other users at the attacker's address are unaffected.
    let bob = app.register("bob").await;
    assert_eq!(login_from(&app, ATTACKER, "bob", &bob).await.status(), 200);

    // An unknown username is throttled exactly like a known one: no hint that alice exists.
    for _ in 0..3 {
        assert_eq!(
            login_from(&app, ATTACKER, "nobody", "guess").await.status(),
            401
        );
    }
    let unknown = login_from(&app, ATTACKER, "nobody", "guess").await;
    assert_eq!(unknown.status(), 429);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn timed(request: impl std::future::Future<Output = reqwest::Response>) -> (u16, Duration) {
    let started = Instant::now();
    let status = request.await.status().as_u16();
    (status, started.elapsed())
}

#[tokio::test]
async fn unknown_users_and_wrong_passwords_get_the_same_answer_in_the_same_time() {
    let app = spawn_app().await;
    app.register("alice").await;
    let attempt = |username: &'static str| {
        app.client
            .post(app.url("/auth"))
            .json(&json!({"username": username, "password": "not-the-password"}))
            .send()
    };
    let (known, unknown) = (
        attempt("alice").await.unwrap(),
        attempt("nobody").await.unwrap(),
    );
    assert_eq!(
        (known.status().as_u16(), unknown.status().as_u16()),
        (401, 401)
    );
    assert_eq!(
        known.json::<Value>().await.unwrap(),
        unknown.json::<Value>().await.unwrap(),
        "the same body for both"
    );

    // Interleaved, each going first in turn, so that the machine's load, and whatever the one
    // before leaves running (its audit-log write), falls on both alike.
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for round in 0..40 {
        let order = if round % 2 == 0 {
            ["alice", "nobody"]
        } else {
            ["nobody", "alice"]
        };
        for username in order {
            let (_, elapsed) = timed(async { attempt(username).await.unwrap() }).await;
            if username == "alice" {
                known.push(elapsed)
            } else {
                unknown.push(elapsed)
            }
        }
    }
    let ratio = median(unknown).as_secs_f64() / median(known).as_secs_f64();
    eprintln!("median login time, unknown / known user: {ratio:.2}");
    assert!(
        (0.8..=1.25).contains(&ratio),
        "median login time, unknown user / known user with a wrong password: {ratio:.2}"
    );
}

#[tokio::test]
async fn registration_reveals_a_taken_name_only_by_its_documented_409() {
    let app = spawn_app().await;
    app.register("alice").await;
    let register = |username: String, email: String| {
        app.client
            .post(app.url("/register"))
            .json(&json!({"username": username, "email": email}))
            .send()
    };

    let taken = register("alice".into(), "other@example.com".into())
        .await
        .unwrap();
    assert_eq!(taken.status(), 409);
    assert_eq!(
        taken.json::<Value>().await.unwrap()["error"],
        "username_taken"
    );

    // An invalid request is refused for what it is, before any lookup: the same answer whether
    // or not the name is taken.
    let invalid_taken = register("alice".into(), "not-an-email".into())
        .await
        .unwrap();
    let invalid_free = register("zoe".into(), "not-an-email".into()).await.unwrap();
    assert_eq!(invalid_taken.status(), invalid_free.status());
    assert_eq!(
        invalid_taken.json::<Value>().await.unwrap(),
        invalid_free.json::<Value>().await.unwrap()
    );

    // No timing comparison of a taken name (409) against a new one (201): the documented 409
    // already says the name is taken, so timing could reveal nothing more (a new registration
    // also commits a row, which a refused one does not). What must not differ is everything
    // else, above: a refused request looks the same whether or not the name exists.
}
