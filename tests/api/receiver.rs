//! A test receiver as a child process: a Python script (`tests/*_receiver.py`) that verifies
//! what authd sends with an independent library, prints `ready <port>`, then one JSON line per
//! request, and takes commands on stdin (each acknowledged with `{"ack": …}`).

use std::{
    path::PathBuf,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{Child, ChildStdin, Command},
};

use crate::helpers::eventually;

pub struct Receiver {
    _child: Child,
    stdin: ChildStdin,
    pub port: u16,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    /// Starts `tests/{script}` with `args`, once it listens.
    pub async fn start(script: &str, args: &[&str]) -> Self {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join(script);
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs");
        let stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the receiver starts")
            .unwrap()
            .expect("a ready line");
        let port = ready.strip_prefix("ready ").unwrap().parse().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_str(&line).unwrap());
            }
        });
        Self {
            _child: child,
            stdin,
            port,
            lines: seen,
        }
    }

    /// Sends `command`, and waits until the receiver acted on it.
    pub async fn command(&mut self, command: &str) {
        let before = self.lines.lock().unwrap().len();
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
        let lines = self.lines.clone();
        assert!(
            eventually(Duration::from_secs(5), || {
                let lines = lines.clone();
                async move { lines.lock().unwrap().len() > before }
            })
            .await
        );
    }

    /// Every request it received, in order (acknowledgements left out).
    pub fn requests(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.get("ack").is_none())
            .cloned()
            .collect()
    }
}
