//! A real SMTP server per test: `tests/smtp_server.py` (aiosmtpd) as a child process on a
//! loopback port, plain, STARTTLS or SMTPS, with a test CA made once per test run. Every mail
//! it accepts is read from its stdout, its parts decoded by Python's own MIME parser.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use authd::mail::{MailDelivery, MailSettings, SmtpSettings};
use serde::Deserialize;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, ChildStdin, Command},
    sync::Notify,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plain,
    StartTls,
    Smtps,
}

impl Mode {
    fn arg(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::StartTls => "starttls",
            Mode::Smtps => "smtps",
        }
    }
}

/// One mail as the server received it.
#[derive(Debug, Clone, Deserialize)]
pub struct Received {
    pub rcpt_tos: Vec<String>,
    pub subject: String,
    pub from: String,
    pub message_id: String,
    pub text: Option<String>,
    pub html: Option<String>,
    pub tls: bool,
    pub auth: Option<String>,
}

impl Received {
    pub fn text(&self) -> &str {
        self.text.as_deref().expect("a text part")
    }

    /// The first link in the text part to `path` on the app (`/ui/reset-password`), as the
    /// path and query a browser would open.
    pub fn link(&self, path: &str) -> String {
        let line = self
            .text()
            .lines()
            .map(str::trim)
            .find(|line| line.starts_with("http") && line.contains(path))
            .unwrap_or_else(|| panic!("no link to {path} in:\n{}", self.text()));
        let at = line.find(path).unwrap();
        line[at..].to_owned()
    }

    /// The token of the link to `path`.
    pub fn token(&self, path: &str) -> String {
        let link = self.link(path);
        link.split_once("token=").expect("a token").1.to_owned()
    }
}

pub struct SmtpServer {
    child: Child,
    /// Kept open: the server stops when its stdin closes.
    _stdin: ChildStdin,
    pub port: u16,
    pub mode: Mode,
    received: Arc<Mutex<Vec<Received>>>,
    arrived: Arc<Notify>,
}

/// The test CA, server certificate and a wrong CA, made once for the whole run.
pub fn certs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("authd-smtp-certs")
            .tempdir()
            .unwrap()
            .keep();
        let made = std::process::Command::new("python3")
            .arg(script())
            .arg("make-certs")
            .arg(&dir)
            .status()
            .expect("python3 runs");
        assert!(made.success(), "make-certs failed");
        dir
    })
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py")
}

impl SmtpServer {
    pub async fn start(mode: Mode) -> Self {
        Self::start_on(0, mode, None).await
    }

    /// On `port` (0: any), requiring a login as `auth` (`user:password`) if given.
    pub async fn start_on(port: u16, mode: Mode, auth: Option<&str>) -> Self {
        let mut command = Command::new("python3");
        command
            .arg(script())
            .args(["serve", "--port", &port.to_string(), "--mode", mode.arg()])
            .arg("--certs")
            .arg(certs())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(auth) = auth {
            command.args(["--auth", auth]);
        }
        let mut child = command.spawn().expect("python3 runs");
        let stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the SMTP server starts")
            .unwrap()
            .expect("a ready line");
        let port: u16 = ready
            .strip_prefix("ready ")
            .unwrap_or_else(|| panic!("not a ready line: {ready}"))
            .parse()
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let (sink, notify) = (received.clone(), arrived.clone());
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mail: Received = serde_json::from_str(&line)
                    .unwrap_or_else(|err| panic!("not a mail line ({err}): {line}"));
                sink.lock().unwrap().push(mail);
                notify.notify_waiters();
            }
        });
        Self {
            child,
            _stdin: stdin,
            port,
            mode,
            received,
            arrived,
        }
    }

    /// The URL authd is given, naming `localhost` so the certificate's name matches.
    pub fn url(&self) -> String {
        match self.mode {
            Mode::Plain => format!("smtp://127.0.0.1:{}", self.port),
            Mode::StartTls => format!("smtp://localhost:{}?tls=starttls", self.port),
            Mode::Smtps => format!("smtps://localhost:{}", self.port),
        }
    }

    /// Mail settings sending here, trusting the test CA.
    pub fn settings(&self) -> MailSettings {
        settings_for(&self.url(), Some(certs().join("ca.crt")))
    }

    /// Stops the server (its port is free again at once); the port.
    pub async fn stop(mut self) -> u16 {
        let _ = self.child.kill().await;
        self.port
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The first mail to `to` whose subject is `subject`, waiting up to `timeout` for it.
    pub async fn wait_for(&self, to: &str, subject: &str, timeout: Duration) -> Received {
        self.try_wait_for(to, subject, timeout)
            .await
            .unwrap_or_else(|| {
                panic!(
                    "no mail \"{subject}\" to {to} within {timeout:?}; received: {:#?}",
                    self.all()
                        .iter()
                        .map(|mail| (&mail.rcpt_tos, &mail.subject))
                        .collect::<Vec<_>>()
                )
            })
    }

    pub async fn try_wait_for(
        &self,
        to: &str,
        subject: &str,
        timeout: Duration,
    ) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Some(mail) =
                self.received.lock().unwrap().iter().find(|mail| {
                    mail.subject == subject && mail.rcpt_tos.iter().any(|rcpt| rcpt == to)
                })
            {
                return Some(mail.clone());
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return None;
            }
        }
    }
}

/// Mail settings for `url`, trusting `ca` beside the system's roots.
pub fn settings_for(url: &str, ca: Option<PathBuf>) -> MailSettings {
    MailSettings {
        delivery: MailDelivery::Smtp(SmtpSettings::parse(url, None, ca).unwrap()),
        ..MailSettings::off("Example ID <id@example.com>".parse().unwrap())
    }
}
