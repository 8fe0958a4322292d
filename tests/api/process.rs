//! One `authd serve` process, started as an operator would, with its log kept in a file.

use std::{
    path::PathBuf,
    process::{ExitStatus, Stdio},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};
use uuid::Uuid;

use crate::helpers::{TestResources, redis_url};

/// The settings every authd process of these tests gets: the test's database, Redis prefix and
/// master key, and cheap Argon2.
pub fn authd_env(command: &mut Command, resources: &TestResources) {
    command
        .env("DATABASE_URL", resources.database_url())
        .env("REDIS_URL", redis_url())
        .env("AUTHD_REDIS_PREFIX", &resources.redis_prefix)
        .env("AUTHD_MASTER_KEY", &resources.master_key_base64)
        .env("AUTHD_ARGON2_MEMORY_KIB", "8192")
        .env("AUTHD_ARGON2_ITERATIONS", "1")
        .env("AUTHD_LOG", "warn");
}

pub fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

pub struct Served {
    pub url: String,
    /// Everything the process wrote to stderr: its log.
    pub log: PathBuf,
    child: Child,
}

impl Served {
    /// Starts `authd serve` on a free port with `env` over [`authd_env`]'s settings, and waits
    /// until it says where it listens.
    pub async fn start(resources: &TestResources, env: &[(&str, &str)]) -> Self {
        let log = std::env::temp_dir().join(format!("authd-{}.log", Uuid::new_v4().simple()));
        let mut command = Command::new(env!("CARGO_BIN_EXE_authd"));
        command
            .arg("serve")
            .env("AUTHD_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        authd_env(&mut command, resources);
        command.envs(env.iter().copied());
        let mut child = command.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("authd listening on ") {
                    return url.to_owned();
                }
            }
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("authd serve exited before listening:\n{log}")
        })
        .await
        .expect("authd serve listens within 30 s");
        Self { url, log, child }
    }

    /// Registers `username` with a generated password: `(user id, password)`.
    pub async fn register(&self, username: &str) -> (String, String) {
        let response = reqwest::Client::new()
            .post(format!("{}/register", self.url))
            .json(&serde_json::json!({
                "username": username,
                "email": format!("{username}@example.com"),
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: serde_json::Value = response.json().await.unwrap();
        let field = |name: &str| body[name].as_str().unwrap().to_owned();
        (field("id"), field("password"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("still running")
    }

    /// SIGTERM; then, once it has drained and exited, its exit status and its whole log.
    pub async fn stop(mut self) -> (ExitStatus, String) {
        signal(self.pid(), "TERM");
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("authd exits after draining")
            .unwrap();
        (status, std::fs::read_to_string(&self.log).unwrap())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}
