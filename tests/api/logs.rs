//! Structured logs: what `authd serve` writes during a whole session, read back line by line.

use serde_json::Value;
use tokio::process::Command;

use crate::{
    helpers::durable_resources,
    process::{Served, authd_env},
};

struct Session {
    client: reqwest::Client,
    url: String,
}

impl Session {
    async fn token(&self, form: &[(&str, &str)], request_id: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/oauth/token", self.url))
            .header("x-request-id", request_id)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    async fn me(&self, access_token: &str, request_id: Option<&str>) -> reqwest::Response {
        let mut request = self
            .client
            .get(format!("{}/me", self.url))
            .bearer_auth(access_token);
        if let Some(id) = request_id {
            request = request.header("x-request-id", id);
        }
        request.send().await.unwrap()
    }
}

fn field<'a>(line: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(line, |value, key| &value[*key])
}

#[tokio::test]
async fn a_whole_session_is_logged_as_json_lines_with_request_ids_and_security_events_but_no_secret()
 {
    let resources = durable_resources().await;
    let authd = Served::start(&resources, &[("AUTHD_LOG", "info")]).await;
    let session = Session {
        client: reqwest::Client::new(),
        url: authd.url.clone(),
    };
    let (user_id, password) = authd.register("logged").await;
    let wrong_password = "not-the-password-0123";

    let refused = session
        .token(
            &[
                ("grant_type", "password"),
                ("username", "logged"),
                ("password", wrong_password),
            ],
            "wrong-password",
        )
        .await;
    assert_eq!(refused.status(), 400);
    let login: Value = session
        .token(
            &[
                ("grant_type", "password"),
                ("username", "logged"),
                ("password", &password),
            ],
            "login",
        )
        .await
        .json()
        .await
        .unwrap();
    let first_access = login["access_token"].as_str().unwrap().to_owned();
    let first_refresh = login["refresh_token"].as_str().unwrap().to_owned();

    let me = session.me(&first_access, Some("me-42")).await;
    assert_eq!(me.status(), 200);
    assert_eq!(
        me.headers()["x-request-id"],
        "me-42",
        "the caller's id is echoed"
    );
    let generated = session.me(&first_access, None).await;
    let generated = generated.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(generated).is_ok(), "{generated}");
    let hostile = session.me(&first_access, Some("has spaces in it")).await;
    assert_ne!(hostile.headers()["x-request-id"], "has spaces in it");

    let refreshed: Value = session
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &first_refresh),
            ],
            "refresh",
        )
        .await
        .json()
        .await
        .unwrap();
    let second_access = refreshed["access_token"].as_str().unwrap().to_owned();
    let second_refresh = refreshed["refresh_token"].as_str().unwrap().to_owned();
    // The first refresh token again: reuse, so the whole session is revoked.
    let reused = session
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &first_refresh),
            ],
            "reuse",
        )
        .await;
    assert_eq!(reused.status(), 400);
    assert_eq!(
        session.me(&second_access, Some("revoked")).await.status(),
        401
    );

    // An operator rotates the signing key: that event is logged by the command that does it.
    let mut rotate = Command::new(env!("CARGO_BIN_EXE_authd"));
    rotate.args(["keys", "rotate", "--now"]);
    authd_env(&mut rotate, &resources);
    let rotated = rotate.env("AUTHD_LOG", "info").output().await.unwrap();
    assert!(rotated.status.success());
    let rotation_log = String::from_utf8(rotated.stderr).unwrap();
    assert!(
        rotation_log.contains("rotated signing key"),
        "{rotation_log}"
    );

    let (status, log) = authd.stop().await;
    assert!(status.success());

    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    for line in &lines {
        for key in ["timestamp", "level", "message"] {
            assert!(line.get(key).is_some(), "{key} missing from {line}");
        }
    }
    let answered = |request_id: &str| {
        lines
            .iter()
            .find(|line| {
                line["message"] == "answered" && field(line, &["span", "request_id"]) == request_id
            })
            .unwrap_or_else(|| panic!("no access line for {request_id}:\n{log}"))
    };
    // The default access log (`writes`): every state-changing request and every error, not the
    // reads that succeed.
    let login_line = answered("login");
    assert_eq!(login_line["level"], "INFO");
    assert_eq!(login_line["status"], 200);
    assert!(login_line["latency_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(login_line["route"], "/oauth/token");
    assert_eq!(field(login_line, &["span", "http.request.method"]), "POST");
    assert_eq!(field(login_line, &["span", "client.address"]), "127.0.0.1");
    let trace_id = field(login_line, &["span", "trace_id"]).as_str().unwrap();
    assert!(trace_id.len() == 32 && trace_id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(answered("reuse")["status"], 400);
    let refused_read = answered("revoked");
    assert_eq!(refused_read["status"], 401);
    assert_eq!(refused_read["route"], "/me");
    assert_eq!(field(refused_read, &["span", "http.request.method"]), "GET");
    assert!(
        !lines
            .iter()
            .any(|line| line["message"] == "answered"
                && field(line, &["span", "request_id"]) == "me-42"),
        "a read that succeeded is not in the default access log"
    );

    // Security events, with the user's id.
    let event = |message: &str| {
        lines
            .iter()
            .find(|line| line["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} in\n{log}"))
    };
    let wrong = event("login failed: wrong password");
    assert_eq!(wrong["user_id"], user_id.as_str());
    assert_eq!(field(wrong, &["span", "request_id"]), "wrong-password");
    let reuse = event("refresh token reused: session revoked");
    assert_eq!(reuse["level"], "WARN");
    assert_eq!(reuse["user_id"], user_id.as_str());
    let revoked = event("revoked token presented");
    assert_eq!(revoked["level"], "WARN");
    assert_eq!(revoked["user_id"], user_id.as_str());

    for (what, secret) in [
        ("the password", password.as_str()),
        ("a wrong password", wrong_password),
        ("a refresh token", first_refresh.as_str()),
        ("a refresh token", second_refresh.as_str()),
        ("an access token", first_access.as_str()),
        ("an access token", second_access.as_str()),
        ("the master key", resources.master_key_base64.as_str()),
    ] {
        assert!(!log.contains(secret), "{what} in the server's log");
        assert!(
            !rotation_log.contains(secret),
            "{what} in the operator's log"
        );
    }
}
