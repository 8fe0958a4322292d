//! `authd-load`: load for authd, measured. It registers its own users and logs them in through
//! authd's API, then sends one scenario (or a weighted mix) for a fixed time, in a closed model
//! (N requests in flight) or an open one (a constant arrival rate, latency counted from when
//! each request was due, so a stall is not hidden by requests that were never sent). It prints
//! a progress line, then requests/s, latency percentiles and errors by status, and can write
//! the same as JSON. It sends only to the `--target` URLs it is given: no proxy, no redirects.

mod code_flow;
mod dpop;
mod prepare;
mod report;
mod scenario;

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Parser;
use tokio::sync::Semaphore;

use crate::{
    code_flow::FlowClient,
    prepare::{Needs, prepare},
    report::{Recorder, progress},
    scenario::{Context, Scenario, parse_mix},
};

#[derive(Parser)]
#[command(name = "authd-load", version, about = "Load-test authd and measure it")]
struct Args {
    /// authd's base URL (a replica, or the load balancer in front of several); repeat the flag
    /// to spread requests over replicas round robin.
    #[arg(long = "target", required = true)]
    targets: Vec<String>,
    #[arg(long, value_enum, default_value = "verify")]
    scenario: Scenario,
    /// Weights for `--scenario mixed`.
    #[arg(
        long,
        default_value = "verify=80,jwks=10,refresh=4,introspect=3,login=2,dpop-verify=1"
    )]
    mix: String,
    /// How long to measure, e.g. `30s`, `2m`.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Closed model: requests in flight at once, each sent when one is answered.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Open model instead: requests per second, sent on schedule whatever the answers.
    #[arg(long)]
    rate: Option<f64>,
    /// Users to register and log in before measuring.
    #[arg(long, default_value_t = 16)]
    users: usize,
    /// A confidential client, `ID:SECRET` (from `authd clients create`), for the
    /// client-credentials, introspect and code-flow scenarios (for code-flow, registered with
    /// `--redirect-uri` and the authorization_code grant).
    #[arg(long)]
    client: Option<String>,
    /// The redirect URI the `--client` registered, for the code-flow scenario.
    #[arg(long, default_value = "http://127.0.0.1/callback")]
    redirect_uri: String,
    /// The scope the code-flow scenario asks for (`openid` adds an ID token to each token
    /// response); default: none, so the client's registered scope.
    #[arg(long)]
    scope: Option<String>,
    /// The URL authd knows itself by (`AUTHD_PUBLIC_URL`), which DPoP proofs name; default:
    /// read from its metadata document (RFC 8414 `token_endpoint`).
    #[arg(long)]
    public_url: Option<String>,
    /// The path the `get` scenario requests.
    #[arg(long, default_value = "/ping")]
    path: String,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Exit 1 if any request failed or was answered 4xx/5xx (for CI smoke runs).
    #[arg(long)]
    strict: bool,
}

/// The open model's bound on requests in flight: beyond it the server is long saturated, and
/// more pending requests would only measure the load tool's memory.
const MAX_IN_FLIGHT: usize = 4096;

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("authd-load: {message}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<ExitCode, String> {
    let targets: Vec<String> = args
        .targets
        .iter()
        .map(|target| {
            reqwest::Url::parse(target)
                .map_err(|err| format!("--target {target}: {err}"))
                .map(|_| target.trim_end_matches('/').to_owned())
        })
        .collect::<Result<_, _>>()?;
    let oauth_client = match &args.client {
        Some(pair) => Some(
            pair.split_once(':')
                .map(|(id, secret)| (id.to_owned(), secret.to_owned()))
                .ok_or("--client: expected ID:SECRET")?,
        ),
        None => None,
    };
    let sequence = match args.scenario {
        Scenario::Mixed => parse_mix(&args.mix, oauth_client.is_some())?,
        scenario if scenario.needs_client() && oauth_client.is_none() => {
            return Err(format!(
                "the {} scenario needs --client ID:SECRET (create one with `authd clients create`)",
                scenario.name()
            ));
        }
        scenario => vec![scenario],
    };
    if args.concurrency == 0
        || args
            .rate
            .is_some_and(|rate| !(rate > 0.0 && rate.is_finite()))
    {
        return Err("--concurrency and --rate must be positive".to_owned());
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(args.concurrency.max(64))
        .build()
        .map_err(|err| err.to_string())?;
    let uses = |scenario| sequence.contains(&scenario);
    let public_url = match &args.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None if uses(Scenario::DpopVerify) => discover_public_url(&client, &targets[0]).await?,
        None => targets[0].clone(),
    };

    let flow_client = match (&oauth_client, uses(Scenario::CodeFlow)) {
        (Some((id, secret)), true) => Some(FlowClient {
            id: id.clone(),
            secret: secret.clone(),
            redirect_uri: args.redirect_uri.clone(),
            scope: args.scope.clone(),
        }),
        _ => None,
    };
    let needs = Needs {
        browser_sessions_for: flow_client.as_ref(),
        users: if sequence == [Scenario::Get] {
            0
        } else {
            args.users.max(1)
        },
        // Each refresh holds a token until answered: one chain per request in flight.
        refresh_sessions: if uses(Scenario::Refresh) {
            args.concurrency.max(args.users)
        } else {
            0
        },
        dpop_sessions: if uses(Scenario::DpopVerify) {
            args.users.max(1)
        } else {
            0
        },
    };
    if needs.users > 0 {
        eprintln!(
            "authd-load: preparing {} users through {} (logins are rate limited: raise AUTHD_RATE_LIMIT for login-heavy runs)",
            needs.users, targets[0]
        );
    }
    let fixture = prepare(&client, &targets[0], &public_url, &needs).await?;
    let context = Arc::new(Context {
        client,
        targets,
        public_url,
        fixture,
        oauth_client,
        flow_client,
        sequence,
        path: args.path.clone(),
        next_target: AtomicUsize::new(0),
    });

    let recorder = Arc::new(Recorder::new()?);
    let name = args.scenario.name();
    let started = Instant::now();
    let deadline = started + args.duration;
    let progress = tokio::spawn({
        let recorder = recorder.clone();
        async move { progress(&recorder, name, started, deadline).await }
    });
    match args.rate {
        None => closed(&context, &recorder, args.concurrency, deadline).await,
        Some(rate) => open(&context, &recorder, rate, started, deadline).await,
    }
    let elapsed = started.elapsed();
    let _ = progress.await;

    let summary = recorder.summary(name, elapsed);
    summary.print();
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&summary).map_err(|err| err.to_string())?;
        std::fs::write(path, json).map_err(|err| format!("{}: {err}", path.display()))?;
    }
    Ok(if args.strict && summary.errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Where authd says its token endpoint is, minus the path: the origin DPoP proofs must name.
async fn discover_public_url(client: &reqwest::Client, target: &str) -> Result<String, String> {
    let metadata: serde_json::Value = client
        .get(format!("{target}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|err| format!("{target}: {err}"))?
        .json()
        .await
        .map_err(|err| format!("{target}: metadata: {err}"))?;
    metadata["token_endpoint"]
        .as_str()
        .and_then(|endpoint| endpoint.strip_suffix("/oauth/token"))
        .map(str::to_owned)
        .ok_or_else(|| format!("{target}: metadata without a token_endpoint"))
}

/// `concurrency` loops, each sending its next request when the last is answered.
async fn closed(
    context: &Arc<Context>,
    recorder: &Arc<Recorder>,
    concurrency: usize,
    deadline: Instant,
) {
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (context, recorder, next) = (context.clone(), recorder.clone(), next.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let sent = Instant::now();
                    let outcome = context.request(n).await;
                    recorder.record(sent.elapsed(), outcome);
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
}

/// Requests at `rate` per second, each timed from when it was due, not from when it went out.
async fn open(
    context: &Arc<Context>,
    recorder: &Arc<Recorder>,
    rate: f64,
    started: Instant,
    deadline: Instant,
) {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    for n in 0usize.. {
        let due = started + interval.mul_f64(n as f64);
        if due >= deadline {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let (context, recorder) = (context.clone(), recorder.clone());
        tokio::spawn(async move {
            let outcome = context.request(n).await;
            recorder.record(due.elapsed(), outcome);
            drop(permit);
        });
    }
    // Every permit back means every request answered (or timed out).
    let _ = in_flight.acquire_many(MAX_IN_FLIGHT as u32).await;
}
