//! How long after a logout on one authd replica a service built on this crate refuses the
//! token, by poll and by push (run by `bench/shared_signals.sh`, under load; not in CI).
//!
//!     revocation_latency FIRST SECOND --issuer ISS --audience AUD \
//!         --client-id ID --client-secret SECRET [--push PORT] [--samples 200]
//!
//! The service follows its stream at FIRST. For each sample: a session by the password grant
//! on FIRST, its token accepted by the service, its refresh token revoked on SECOND (which ends
//! the session); then the service is asked about the token until it refuses it. The delay runs
//! from SECOND's answer to the first refusal. Prints p50, p99 and max in milliseconds, as JSON.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use authd_resource::{Delivery, Receiver, Rejection, ResourceServer, Settings};
use axum::Router;
use serde_json::{Value, json};

struct Args {
    first: String,
    second: String,
    issuer: String,
    audience: String,
    client_id: String,
    client_secret: String,
    push: Option<u16>,
    samples: usize,
}

fn args() -> Result<Args, String> {
    let mut positional = Vec::new();
    let mut named = std::collections::HashMap::new();
    let mut given = std::env::args().skip(1);
    while let Some(arg) = given.next() {
        match arg.strip_prefix("--") {
            Some(name) => {
                let value = given.next().ok_or(format!("--{name} needs a value"))?;
                named.insert(name.to_owned(), value);
            }
            None => positional.push(arg),
        }
    }
    let take = |name: &str| {
        named
            .get(name)
            .cloned()
            .ok_or(format!("--{name} is required"))
    };
    let [first, second] = <[String; 2]>::try_from(positional)
        .map_err(|_| "give the two replicas' URLs".to_owned())?;
    Ok(Args {
        first,
        second,
        issuer: take("issuer")?,
        audience: take("audience")?,
        client_id: take("client-id")?,
        client_secret: take("client-secret")?,
        push: named
            .get("push")
            .map(|port| port.parse())
            .transpose()
            .map_err(|_| "--push PORT")?,
        samples: named
            .get("samples")
            .map(|n| n.parse())
            .transpose()
            .map_err(|_| "--samples N")?
            .unwrap_or(200),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args()?;
    let mut receiver = Receiver::new(&args.client_id, &args.client_secret);
    receiver.stream_description = format!("latency-{}", std::process::id());
    let listener = match args.push {
        Some(port) => {
            receiver.delivery = Delivery::Push {
                endpoint_url: format!("http://127.0.0.1:{port}/ssf-events").parse()?,
            };
            Some(tokio::net::TcpListener::bind(("127.0.0.1", port)).await?)
        }
        None => None,
    };
    let mut settings = Settings::new(&args.issuer, &args.audience, args.first.parse()?);
    settings.receiver = Some(receiver);
    let server = ResourceServer::start(settings)?;
    if let Some(listener) = listener {
        let app = Router::new().route_service("/ssf-events", server.push_endpoint());
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
    while !server.is_current() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let http = reqwest::Client::new();
    let username = format!("latency-{}", std::process::id());
    let registered: Value = http
        .post(format!("{}/register", args.first))
        .json(&json!({ "username": username, "email": format!("{username}@bench.example") }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let password = registered["password"]
        .as_str()
        .ok_or("no password")?
        .to_owned();
    let mut delays = Vec::with_capacity(args.samples);
    for _ in 0..args.samples {
        let grant: Value = http
            .post(format!("{}/oauth/token", args.first))
            .form(&[
                ("grant_type", "password"),
                ("username", &username),
                ("password", &password),
            ])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = grant["access_token"].as_str().ok_or("no access token")?;
        let refresh = grant["refresh_token"].as_str().ok_or("no refresh token")?;
        // Tokens issued in the second the service started are introspected: wait them out.
        while server.verify(token).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        http.post(format!("{}/oauth/revoke", args.second))
            .form(&[("token", refresh)])
            .send()
            .await?
            .error_for_status()?;
        let revoked = Instant::now();
        delays.push(refused_after(&server, token, revoked).await?);
    }
    delays.sort_by(f64::total_cmp);
    let at = |q: f64| delays[((delays.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{}",
        json!({
            "delivery": if args.push.is_some() { "push" } else { "poll" },
            "samples": delays.len(),
            "p50_ms": at(0.5),
            "p99_ms": at(0.99),
            "max_ms": at(1.0),
        })
    );
    Ok(())
}

/// Milliseconds from `revoked` until the service refuses `token` as revoked.
async fn refused_after(
    server: &Arc<ResourceServer>,
    token: &str,
    revoked: Instant,
) -> Result<f64, String> {
    loop {
        match server.verify(token).await {
            Err(Rejection::Invalid(_)) => return Ok(revoked.elapsed().as_secs_f64() * 1e3),
            Err(other) => return Err(format!("refused for another reason: {other}")),
            Ok(_) if revoked.elapsed() > Duration::from_secs(10) => {
                return Err("still accepted 10 s after its session ended".to_owned());
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}
