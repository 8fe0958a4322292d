//! What a run measured: a latency histogram, answers by status, failures by kind; a progress
//! line while it runs, and the same figures as text and JSON at the end.

use std::{
    collections::BTreeMap,
    io::IsTerminal,
    sync::Mutex,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use serde::Serialize;

/// How one request ended.
#[derive(Debug)]
pub enum Outcome {
    Answered(u16),
    /// No HTTP answer: connection refused or reset, timeout.
    Failed(&'static str),
}

pub struct Recorder {
    inner: Mutex<Tally>,
}

struct Tally {
    /// Microseconds, 1 µs to 5 minutes, three significant figures.
    latency: Histogram<u64>,
    statuses: BTreeMap<u16, u64>,
    failures: BTreeMap<&'static str, u64>,
    /// When errors happened, for fault runs that ask how long an outage lasted: the first and
    /// last (Unix ms, when each erring request ended) and how many in each Unix second.
    first_error_ms: Option<u64>,
    last_error_ms: Option<u64>,
    errors_by_second: BTreeMap<u64, u64>,
}

impl Recorder {
    pub fn new() -> Result<Self, String> {
        let latency =
            Histogram::new_with_bounds(1, 300_000_000, 3).map_err(|err| err.to_string())?;
        Ok(Self {
            inner: Mutex::new(Tally {
                latency,
                statuses: BTreeMap::new(),
                failures: BTreeMap::new(),
                first_error_ms: None,
                last_error_ms: None,
                errors_by_second: BTreeMap::new(),
            }),
        })
    }

    pub fn record(&self, latency: Duration, outcome: Outcome) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut tally = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tally.latency.saturating_record(micros);
        let error = match outcome {
            Outcome::Answered(status) => {
                *tally.statuses.entry(status).or_default() += 1;
                status >= 400
            }
            Outcome::Failed(kind) => {
                *tally.failures.entry(kind).or_default() += 1;
                true
            }
        };
        if error {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| {
                    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
                });
            tally.first_error_ms.get_or_insert(now_ms);
            tally.last_error_ms = Some(now_ms);
            *tally.errors_by_second.entry(now_ms / 1000).or_default() += 1;
        }
    }

    /// The figures so far, over `elapsed`.
    pub fn summary(&self, scenario: &str, elapsed: Duration) -> Summary {
        let tally = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let requests = tally.latency.len();
        let millis = |quantile: f64| tally.latency.value_at_quantile(quantile) as f64 / 1e3;
        let errors = tally
            .statuses
            .iter()
            .filter(|(status, _)| **status >= 400)
            .map(|(_, count)| count)
            .sum::<u64>()
            + tally.failures.values().sum::<u64>();
        Summary {
            scenario: scenario.to_owned(),
            seconds: elapsed.as_secs_f64(),
            requests,
            rps: requests as f64 / elapsed.as_secs_f64().max(1e-9),
            latency_ms: Latency {
                p50: millis(0.5),
                p90: millis(0.9),
                p99: millis(0.99),
                p999: millis(0.999),
                max: tally.latency.max() as f64 / 1e3,
            },
            statuses: tally
                .statuses
                .iter()
                .map(|(status, count)| (status.to_string(), *count))
                .collect(),
            failures: tally
                .failures
                .iter()
                .map(|(kind, count)| ((*kind).to_owned(), *count))
                .collect(),
            errors,
            first_error_unix_ms: tally.first_error_ms,
            last_error_unix_ms: tally.last_error_ms,
            errors_by_unix_second: tally
                .errors_by_second
                .iter()
                .map(|(second, count)| (second.to_string(), *count))
                .collect(),
        }
    }
}

#[derive(Serialize)]
pub struct Summary {
    pub scenario: String,
    pub seconds: f64,
    pub requests: u64,
    pub rps: f64,
    pub latency_ms: Latency,
    /// Answers by HTTP status.
    pub statuses: BTreeMap<String, u64>,
    /// Requests that got no answer, by kind.
    pub failures: BTreeMap<String, u64>,
    /// Answers with status 400 or above, and failures.
    pub errors: u64,
    /// When the first and the last error happened (Unix ms), and errors per Unix second: how
    /// long an outage showed, in a run that injected one.
    pub first_error_unix_ms: Option<u64>,
    pub last_error_unix_ms: Option<u64>,
    pub errors_by_unix_second: BTreeMap<String, u64>,
}

#[derive(Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Summary {
    pub fn print(&self) {
        println!(
            "{}: {} requests in {:.1} s, {:.0} requests/s",
            self.scenario, self.requests, self.seconds, self.rps
        );
        let l = &self.latency_ms;
        println!(
            "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
            l.p50, l.p90, l.p99, l.p999, l.max
        );
        println!("answers by status: {}", counts(&self.statuses));
        if !self.failures.is_empty() {
            println!("no answer: {}", counts(&self.failures));
        }
        println!("errors: {}", self.errors);
        if let (Some(first), Some(last)) = (self.first_error_unix_ms, self.last_error_unix_ms) {
            println!(
                "errors from first to last: {:.2} s",
                Duration::from_millis(last.saturating_sub(first)).as_secs_f64()
            );
        }
    }
}

/// `key: count, key: count`.
fn counts(tally: &BTreeMap<String, u64>) -> String {
    let entries: Vec<String> = tally
        .iter()
        .map(|(key, count)| format!("{key}: {count}"))
        .collect();
    entries.join(", ")
}

/// Rewrites one line on stderr every second until `until`.
pub async fn progress(recorder: &Recorder, scenario: &str, started: Instant, until: Instant) {
    let terminal = std::io::stderr().is_terminal();
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.tick().await;
    while Instant::now() < until {
        ticks.tick().await;
        let elapsed = started.elapsed();
        let now = recorder.summary(scenario, elapsed);
        let line = format!(
            "[{:>4.0} s] {:>9} requests  {:>8.0}/s  p99 {:>8.2} ms  errors {:<8}",
            elapsed.as_secs_f64(),
            now.requests,
            now.rps,
            now.latency_ms.p99,
            now.errors
        );
        // One line rewritten in a terminal; a line a second in a log.
        if terminal {
            eprint!("\r{line}");
        } else {
            eprintln!("{line}");
        }
    }
    if terminal {
        eprintln!();
    }
}
