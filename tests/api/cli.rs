//! The `authd` binary as a user meets it: `dev`, `--help`, and clear start-up errors.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use crate::helpers::{
    admin_database_url, connect_db, durable_resources, empty_database, redis_url,
};

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

/// Waits for the "authd listening on <url>" line both modes print, and returns the URL.
async fn listening_url(stdout: std::process::ChildStdout) -> String {
    let first_line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    });
    let line = tokio::time::timeout(Duration::from_secs(60), first_line)
        .await
        .unwrap()
        .unwrap();
    line.trim()
        .strip_prefix("authd listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned()
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
    let base = listening_url(stdout).await;

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
        // The banner comes among the first log lines; stop reading once it has.
        for line in BufReader::new(stderr).lines().take(16) {
            text.push_str(&line.unwrap());
            text.push('\n');
            if text.contains("Swagger UI") {
                break;
            }
        }
        text
    });
    let banner = tokio::time::timeout(Duration::from_secs(10), banner)
        .await
        .unwrap()
        .unwrap();
    assert!(banner.contains("NOTHING PERSISTS"), "{banner}");

    // No issuer given: the one it advertises is where it listens, with `localhost` as the
    // host (passkeys need a domain name), and the banner names it.
    let port = base.rsplit(':').next().unwrap();
    let issuer = format!("http://localhost:{port}");
    let discovery: serde_json::Value = client
        .get(format!("{base}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], issuer.as_str());
    assert_eq!(
        discovery["token_endpoint"],
        format!("{issuer}/oauth/token").as_str()
    );
    assert!(banner.contains(&format!("{issuer}/docs")), "{banner}");
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

#[test]
fn master_key_and_master_keys_together_are_refused() {
    let stderr = serve_error(
        &[
            ("AUTHD_MASTER_KEY", VALID_KEY),
            ("AUTHD_MASTER_KEYS", VALID_KEY),
        ],
        &[],
    );
    assert!(stderr.contains("not both"), "{stderr}");
    let stderr = serve_error(&[("AUTHD_MASTER_KEYS", "c2hvcnQ=")], &[]);
    assert!(
        stderr.contains("AUTHD_MASTER_KEYS") && stderr.contains("32 bytes"),
        "{stderr}"
    );
}

const VALID_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A file holding `contents`, as a mounted secret would (removed when the test ends).
fn key_file(contents: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, contents.as_bytes()).unwrap();
    file
}

#[test]
fn a_master_key_file_is_read_without_echoing_it_and_the_variable_wins() {
    let short = key_file("c2VjcmV0LWJ1dC1zaG9ydA==\n");
    let path = short.path().to_str().unwrap();
    let stderr = serve_error(&[("AUTHD_MASTER_KEY_FILE", path)], &[]);
    assert!(
        stderr.contains("AUTHD_MASTER_KEY_FILE") && stderr.contains("32 bytes"),
        "{stderr}"
    );
    assert!(!stderr.contains("c2VjcmV0"), "{stderr}");

    // Compose passes an unset AUTHD_MASTER_KEY as an empty one: the file still counts.
    let stderr = serve_error(
        &[("AUTHD_MASTER_KEY", ""), ("AUTHD_MASTER_KEY_FILE", path)],
        &[],
    );
    assert!(stderr.contains("AUTHD_MASTER_KEY_FILE"), "{stderr}");

    // A key given in the environment overrides the file (the operator's real secret).
    let stderr = serve_error(
        &[("AUTHD_MASTER_KEY", "%%%"), ("AUTHD_MASTER_KEY_FILE", path)],
        &[],
    );
    assert!(
        stderr.contains("AUTHD_MASTER_KEY: is not valid base64"),
        "{stderr}"
    );

    let stderr = serve_error(&[("AUTHD_MASTER_KEY_FILE", "/nonexistent/master.key")], &[]);
    assert!(
        stderr.contains("AUTHD_MASTER_KEY_FILE") && stderr.contains("/nonexistent/master.key"),
        "{stderr}"
    );
}

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
    assert!(
        stderr.contains("DATABASE_URL: cannot connect to Postgres at 127.0.0.1:1"),
        "{stderr}"
    );
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
    assert!(
        stderr.contains("REDIS_URL: cannot connect to Redis at 127.0.0.1:1"),
        "{stderr}"
    );
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
fn an_unparseable_value_is_one_line_naming_the_variable() {
    let stderr = serve_error(&[("AUTHD_RATE_LIMIT", "0")], &[]);
    assert!(stderr.contains("AUTHD_RATE_LIMIT"), "{stderr}");
    let stderr = serve_error(&[("AUTHD_TRUSTED_PROXIES", "10.0.0.0/8,not-a-cidr")], &[]);
    assert!(
        stderr.contains("AUTHD_TRUSTED_PROXIES") && stderr.contains("not-a-cidr"),
        "{stderr}"
    );
    let stderr = serve_error(&[("AUTHD_SIGNING_ALG", "HS256")], &[]);
    assert!(
        stderr.contains("AUTHD_SIGNING_ALG") && stderr.contains("RS256"),
        "{stderr}"
    );
    let stderr = serve_error(&[("AUTHD_ACCESS_TOKEN_TTL", "soon")], &[]);
    assert!(stderr.contains("AUTHD_ACCESS_TOKEN_TTL"), "{stderr}");
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

#[tokio::test]
async fn serve_migrates_a_fresh_database_serves_and_drains_on_sigterm() {
    let resources = empty_database().await;
    // The key as docker-compose.yml hands it over: a file, and an empty variable.
    let master_key = key_file(&format!("{VALID_KEY}\n"));
    let mut child = authd()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("AUTHD_MASTER_KEY", "")
        .env("AUTHD_MASTER_KEY_FILE", master_key.path())
        .env("DATABASE_URL", resources.database_url())
        .env("REDIS_URL", redis_url())
        .env("AUTHD_REDIS_PREFIX", &resources.redis_prefix)
        .env("AUTHD_ARGON2_MEMORY_KIB", "8192")
        .env("AUTHD_ARGON2_ITERATIONS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut running = Running(child);
    let base = listening_url(stdout).await;

    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let registered: serde_json::Value = client
        .post(format!("{base}/register"))
        .json(&serde_json::json!({"username": "alice", "email": "alice@example.com"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let password = registered["password"].as_str().unwrap();
    let login = client
        .post(format!("{base}/auth"))
        .basic_auth("alice", Some(password))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);

    let pid = running.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut status = None;
    for _ in 0..100 {
        status = running.0.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(status.expect("exits after SIGTERM").success());
}

#[tokio::test]
async fn migrate_applies_the_schema_once() {
    let resources = empty_database().await;
    let migrate = || {
        authd()
            .arg("migrate")
            .env("DATABASE_URL", resources.database_url())
            .output()
            .unwrap()
    };
    let first = migrate();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .count();
    let applied = format!("{shipped} migration(s) applied");
    assert!(String::from_utf8_lossy(&first.stderr).contains(&applied));
    let second = migrate();
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("0 migration(s) applied"));

    let db = connect_db(&resources.database_url()).await;
    let history: i64 = db
        .query_one("SELECT count(*) FROM refinery_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(history, i64::try_from(shipped).unwrap());
    for table in [
        "users",
        "signing_keys",
        "auth_logs",
        "revocations",
        "refresh_tokens",
        "clients",
    ] {
        let exists: bool = db
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
            .await
            .unwrap()
            .get(0);
        assert!(exists, "{table} missing");
    }
}

/// One command against `database_url`, failing: its one line on stderr.
fn command_error(args: &[&str], database_url: &str) -> String {
    let output = authd()
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("REDIS_URL", redis_url())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
    stderr
}

/// Every command that uses the database, against one that was never migrated: the schema is
/// named as what is missing, with the command that fixes it, not an outage.
#[tokio::test]
async fn commands_against_an_unmigrated_database_say_to_run_migrate() {
    let resources = empty_database().await;
    let url = resources.database_url();
    for args in [
        &["clients", "create", "--name", "app"][..],
        &["clients", "list"],
        &["users", "delete", "alice"],
        &["keys", "list"],
    ] {
        let stderr = command_error(args, &url);
        assert!(
            stderr.contains("DATABASE_URL")
                && stderr.contains("schema missing")
                && stderr.contains("run `authd migrate`")
                && !stderr.contains("unavailable"),
            "{args:?}: {stderr}"
        );
    }
    let stderr = serve_error(
        &[
            ("AUTHD_MASTER_KEY", VALID_KEY),
            ("DATABASE_URL", &url),
            ("REDIS_URL", &redis_url()),
        ],
        &["--no-migrate", "--listen", "127.0.0.1:0"],
    );
    assert!(stderr.contains("run `authd migrate`"), "{stderr}");
}

/// A schema one migration behind, and one a newer authd migrated: each told apart, and
/// neither touched (migrate refuses to run under a newer schema).
#[tokio::test]
async fn a_schema_behind_or_newer_than_the_binary_is_named() {
    let resources = durable_resources().await;
    let url = resources.database_url();
    let db = connect_db(&url).await;
    db.batch_execute(
        "DELETE FROM refinery_schema_history
         WHERE version = (SELECT max(version) FROM refinery_schema_history)",
    )
    .await
    .unwrap();
    let stderr = command_error(&["clients", "list"], &url);
    assert!(
        stderr.contains("behind") && stderr.contains("run `authd migrate`"),
        "{stderr}"
    );

    db.batch_execute(
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
         VALUES (9999, 'from_the_future', '2030-01-01', '0')",
    )
    .await
    .unwrap();
    let stderr = command_error(&["clients", "list"], &url);
    assert!(stderr.contains("newer than this authd"), "{stderr}");
    let stderr = command_error(&["migrate"], &url);
    assert!(stderr.contains("newer than this authd"), "{stderr}");
    let history: i64 = db
        .query_one("SELECT count(*) FROM refinery_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .count();
    assert_eq!(history, i64::try_from(shipped).unwrap(), "nothing migrated");
}

/// Postgres that does not answer, a login it refuses, and a database it does not have: three
/// causes, three sentences, each naming DATABASE_URL.
#[test]
fn connection_failures_name_their_cause() {
    let admin = admin_database_url();
    let (base, _) = admin.rsplit_once('/').unwrap();
    let unreachable = command_error(
        &["clients", "list"],
        "postgres://postgres@127.0.0.1:1/authd",
    );
    assert!(
        unreachable.contains("DATABASE_URL: cannot connect to Postgres at 127.0.0.1:1"),
        "{unreachable}"
    );
    let stranger = base.replacen("postgres://postgres@", "postgres://no_such_role_here@", 1);
    let refused = command_error(&["clients", "list"], &format!("{stranger}/postgres"));
    assert!(
        refused.contains("DATABASE_URL") && refused.contains("authentication failed"),
        "{refused}"
    );
    let missing = command_error(
        &["clients", "list"],
        &format!("{base}/no_such_database_here"),
    );
    assert!(
        missing.contains("DATABASE_URL") && missing.contains("no such database"),
        "{missing}"
    );
}
