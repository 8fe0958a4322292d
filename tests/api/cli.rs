//! The `authd` binary as a user meets it: `dev`, `--help`, and clear start-up errors.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use crate::helpers::{admin_database_url, redis_url};

fn authd() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_authd"));
    command.env_clear();
    command
}

/// Kills the child when the test ends, pass or fail.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn dev_serves_with_no_services_and_says_nothing_persists() {
    let mut child = authd()
        .args(["dev", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let _running = Running(child);
    let first_line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    });
    let line = tokio::time::timeout(Duration::from_secs(60), first_line)
        .await
        .unwrap()
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("authd listening on ")
        .expect(&line)
        .to_owned();

    let client = reqwest::Client::new();
    let ping = client.get(format!("{base}/ping")).send().await.unwrap();
    assert_eq!(ping.status(), 200);
    let register = client
        .post(format!("{base}/register"))
        .json(&serde_json::json!({"username": "alice", "email": "alice@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), 201);

    let banner = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().take(12) {
            text.push_str(&line.unwrap());
            text.push('\n');
        }
        text
    });
    let banner = tokio::time::timeout(Duration::from_secs(10), banner)
        .await
        .unwrap()
        .unwrap();
    assert!(banner.contains("NOTHING PERSISTS"), "{banner}");
}

fn serve_error(envs: &[(&str, &str)], args: &[&str]) -> String {
    let output = authd()
        .arg("serve")
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
    stderr
}

#[test]
fn serve_without_a_master_key_names_the_setting() {
    let stderr = serve_error(&[], &[]);
    assert!(
        stderr.contains("AUTHD_MASTER_KEY") && stderr.contains("required"),
        "{stderr}"
    );
}

#[test]
fn a_malformed_master_key_is_refused_without_echoing_it() {
    let stderr = serve_error(&[("AUTHD_MASTER_KEY", "c2VjcmV0LWJ1dC1zaG9ydA==")], &[]);
    assert!(
        stderr.contains("AUTHD_MASTER_KEY") && stderr.contains("32 bytes"),
        "{stderr}"
    );
    assert!(!stderr.contains("c2VjcmV0"), "{stderr}");

    let stderr = serve_error(&[("AUTHD_MASTER_KEY", "%%% not base64 %%%")], &[]);
    assert!(stderr.contains("not valid base64"), "{stderr}");
}

const VALID_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

#[test]
fn an_unreachable_database_names_database_url() {
    let stderr = serve_error(
        &[
            ("AUTHD_MASTER_KEY", VALID_KEY),
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/authd"),
            ("REDIS_URL", &redis_url()),
        ],
        &[],
    );
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}

#[test]
fn an_unreachable_redis_names_redis_url() {
    let stderr = serve_error(
        &[
            ("AUTHD_MASTER_KEY", VALID_KEY),
            ("DATABASE_URL", &admin_database_url()),
            ("REDIS_URL", "redis://127.0.0.1:1"),
        ],
        &["--no-migrate"],
    );
    assert!(stderr.contains("REDIS_URL"), "{stderr}");
}

#[test]
fn a_bad_setting_is_named() {
    let stderr = serve_error(
        &[
            ("AUTHD_MASTER_KEY", VALID_KEY),
            ("AUTHD_ISSUER", "not a url"),
        ],
        &[],
    );
    assert!(stderr.contains("AUTHD_ISSUER"), "{stderr}");
}

#[test]
fn help_documents_every_setting() {
    let output = authd().args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for variable in [
        "DATABASE_URL",
        "REDIS_URL",
        "AUTHD_LISTEN",
        "AUTHD_MASTER_KEY",
        "AUTHD_ISSUER",
        "AUTHD_AUDIENCE",
        "AUTHD_ACCESS_TOKEN_TTL",
        "AUTHD_REDIS_PREFIX",
        "AUTHD_RATE_LIMIT",
        "AUTHD_EXPIRED_TOKENS",
        "AUTHD_TRUSTED_PROXIES",
        "AUTHD_NO_MIGRATE",
    ] {
        assert!(help.contains(variable), "{variable} missing from --help");
    }
}
