//! Every `/auth` attempt leaves an `auth_logs` row.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{eventually, spawn_app};

#[derive(Debug, PartialEq)]
struct LoggedAttempt {
    ip: String,
    outcome: String,
    username: Option<String>,
    user_agent: Option<String>,
    recent: bool,
}

#[tokio::test]
async fn successes_and_failures_are_logged_with_ip_user_and_outcome() {
    let app = spawn_app().await;
    let password = app.register("alice").await;
    app.login("alice", &password).await;
    for (username, password) in [("alice", "wrong password"), ("nobody", "whatever")] {
        let response = app
            .client
            .post(app.url("/auth"))
            .header("user-agent", "authd-tests/1")
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }

    let db = app.db().await;
    let all_written = eventually(Duration::from_secs(5), || async {
        let count: i64 = db
            .query_one("SELECT count(*) FROM auth_logs", &[])
            .await
            .unwrap()
            .get(0);
        count == 3
    })
    .await;
    assert!(all_written, "three attempts, three rows");

    let rows = db
        .query(
            "SELECT host(l.request_ip), l.outcome, u.username, l.user_agent,
                    now() - l.request_timestamp < interval '1 minute'
             FROM auth_logs l LEFT JOIN users u ON u.id = l.user_id
             ORDER BY l.outcome",
            &[],
        )
        .await
        .unwrap();
    let logged: Vec<LoggedAttempt> = rows
        .iter()
        .map(|row| LoggedAttempt {
            ip: row.get(0),
            outcome: row.get(1),
            username: row.get(2),
            user_agent: row.get(3),
            recent: row.get(4),
        })
        .collect();
    let attempt = |outcome: &str, username: Option<&str>, user_agent: Option<&str>| LoggedAttempt {
        ip: "127.0.0.1".to_owned(),
        outcome: outcome.to_owned(),
        username: username.map(str::to_owned),
        user_agent: user_agent.map(str::to_owned),
        recent: true,
    };
    let agent = Some("authd-tests/1");
    // The login helper sends no User-Agent; the failed attempts above did.
    assert_eq!(logged[0], attempt("success", Some("alice"), None));
    assert_eq!(logged[1], attempt("unknown_user", None, agent));
    assert_eq!(logged[2], attempt("wrong_password", None, agent));

    // Written by the same background task, just after the success's audit row.
    let last_login_recorded = eventually(Duration::from_secs(5), || async {
        let last_login: Option<time::OffsetDateTime> = db
            .query_one(
                "SELECT last_login_at FROM users WHERE username = 'alice'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        last_login.is_some()
    })
    .await;
    assert!(
        last_login_recorded,
        "the successful login is the user's last login"
    );
}

#[tokio::test]
async fn a_sigterm_writes_every_queued_attempt_before_the_process_exits() {
    // Rows are written in batches by a background writer; shutdown must not lose the last ones.
    let resources = crate::helpers::durable_resources().await;
    let authd = crate::process::Served::start(
        &resources,
        &[
            ("AUTHD_RATE_LIMIT", "100000"),
            ("AUTHD_LOGIN_FAILURE_LIMIT", "1000"),
        ],
    )
    .await;
    let (_, password) = authd.register("last").await;
    let client = reqwest::Client::new();
    for attempt in 0..20 {
        let password = if attempt % 2 == 0 {
            password.as_str()
        } else {
            "wrong"
        };
        let status = client
            .post(format!("{}/auth", authd.url))
            .json(&json!({"username": "last", "password": password}))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status == 200 || status == 401, "{status}");
    }
    let (status, log) = authd.stop().await;
    assert!(status.success(), "{log}");
    let db = crate::helpers::connect_db(&resources.database_url()).await;
    let count: i64 = db
        .query_one("SELECT count(*) FROM auth_logs", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        count, 20,
        "every attempt is in the audit log, with no wait after exit"
    );
}
