//! The data a run needs, made through authd's own API before anything is measured: users with
//! generated passwords, their sessions (access and refresh tokens), DPoP-bound tokens.

use std::{collections::VecDeque, sync::Mutex, time::Duration};

use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::Value;

use crate::{
    code_flow::{BrowserSession, FlowClient, consent, sign_in},
    dpop::DpopKey,
};

#[derive(Default)]
pub struct Fixture {
    /// `(username, password)` of every user the run registered.
    pub credentials: Vec<(String, String)>,
    /// One bearer access token per user.
    pub tokens: Vec<String>,
    /// Refresh tokens ready to be rotated; each rotation puts its successor back.
    pub refresh_tokens: Mutex<VecDeque<String>>,
    /// DPoP-bound access tokens, with the key each is bound to.
    pub dpop_tokens: Vec<(DpopKey, String)>,
    /// Browsers signed in on `/ui`, each having consented to the code-flow client.
    pub browser_sessions: Vec<BrowserSession>,
}

pub struct Needs<'a> {
    pub users: usize,
    pub refresh_sessions: usize,
    pub dpop_sessions: usize,
    /// Sign every user in on `/ui` and consent to this client.
    pub browser_sessions_for: Option<&'a FlowClient>,
}

/// Registers and logs in through `base`. Login routes are rate limited per client IP: on 429
/// this waits as told (`Retry-After`) and tries again, so preparing is slow against the default
/// limit but never fails because of it.
pub async fn prepare(
    client: &Client,
    base: &str,
    public_url: &str,
    needs: &Needs<'_>,
) -> Result<Fixture, String> {
    if needs.users == 0 {
        return Ok(Fixture::default());
    }
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut credentials = Vec::new();
    for n in 0..needs.users {
        let username = format!("load-{}-{n}", &run[..12]);
        let body = serde_json::json!({
            "username": username,
            "email": format!("{username}@load.example"),
        });
        let registered = json(
            send(|| client.post(format!("{base}/register")).json(&body)).await?,
            "register",
        )
        .await?;
        let password = field(&registered, "password")?;
        credentials.push((username, password));
    }
    let mut tokens = Vec::new();
    let mut refresh_tokens = VecDeque::new();
    let sessions = needs.users.max(needs.refresh_sessions);
    for n in 0..sessions {
        let user = &credentials[n % credentials.len()];
        let session = json(login(client, base, user, None).await?, "login").await?;
        if n < credentials.len() {
            tokens.push(field(&session, "access_token")?);
        }
        refresh_tokens.push_back(field(&session, "refresh_token")?);
    }
    let mut dpop_tokens = Vec::new();
    for n in 0..needs.dpop_sessions {
        let key = DpopKey::generate()?;
        let proof = key.proof("POST", &format!("{public_url}/oauth/token"), None);
        let user = &credentials[n % credentials.len()];
        let session = json(login(client, base, user, Some(proof)).await?, "DPoP login").await?;
        dpop_tokens.push((key, field(&session, "access_token")?));
    }
    let mut browser_sessions = Vec::new();
    if let Some(flow_client) = needs.browser_sessions_for {
        for (username, password) in &credentials {
            let session = sign_in(client, base, username, password).await?;
            consent(client, base, &session, flow_client).await?;
            browser_sessions.push(session);
        }
    }
    Ok(Fixture {
        credentials,
        tokens,
        refresh_tokens: Mutex::new(refresh_tokens),
        dpop_tokens,
        browser_sessions,
    })
}

/// The password grant for `user`, with a DPoP `proof` when the token is to be bound.
async fn login(
    client: &Client,
    base: &str,
    (username, password): &(String, String),
    proof: Option<String>,
) -> Result<Response, String> {
    let form = [
        ("grant_type", "password"),
        ("username", username.as_str()),
        ("password", password.as_str()),
    ];
    send(|| {
        let request = client.post(format!("{base}/oauth/token")).form(&form);
        match &proof {
            Some(proof) => request.header("DPoP", proof),
            None => request,
        }
    })
    .await
}

/// Sends the request `build` makes, again after the wait a 429 asks for.
async fn send(build: impl Fn() -> RequestBuilder) -> Result<Response, String> {
    for _ in 0..120 {
        let response = build().send().await.map_err(|err| err.to_string())?;
        if response.status() != StatusCode::TOO_MANY_REQUESTS {
            return Ok(response);
        }
        let wait = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok())
            .unwrap_or(1);
        tokio::time::sleep(Duration::from_secs(wait)).await;
    }
    Err("still rate limited after two minutes of retries".to_owned())
}

async fn json(response: Response, what: &str) -> Result<Value, String> {
    let status = response.status();
    let body = response.text().await.map_err(|err| err.to_string())?;
    if !status.is_success() {
        return Err(format!("{what}: {status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|err| format!("{what}: {err}"))
}

fn field(body: &Value, name: &str) -> Result<String, String> {
    body[name]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no {name} in {body}"))
}
