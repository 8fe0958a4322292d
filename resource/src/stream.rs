//! This service as a Shared Signals receiver: its token (client credentials, `ssf:receiver`),
//! its stream at authd (found by description, or made), and the loop that keeps it current,
//! by long polling (RFC 8936) or, for a push stream, by asking for verification events.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::{
    ResourceServer,
    revoked::WANTED,
    server::push_authorization,
    settings::{Delivery, Receiver},
};

const POLL: &str = "urn:ietf:rfc:8936";
const PUSH: &str = "urn:ietf:rfc:8935";
/// The wait after a failed round, before the next.
const RETRY: Duration = Duration::from_secs(1);

/// The receiver's access token, renewed a minute before it expires.
pub(crate) struct ReceiverToken {
    cached: Mutex<Option<(String, Instant)>>,
}

impl ReceiverToken {
    pub fn new() -> Self {
        Self {
            cached: Mutex::new(None),
        }
    }

    pub async fn get(
        &self,
        server: &ResourceServer,
        receiver: &Receiver,
    ) -> Result<String, String> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let answer: Value = server
            .http
            .post(server.settings.endpoint("/oauth/token"))
            .basic_auth(&receiver.client_id, Some(&receiver.client_secret))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "ssf:receiver"),
            ])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|err| format!("token endpoint: {err}"))?
            .json()
            .await
            .map_err(|err| format!("token endpoint: {err}"))?;
        let token = answer["access_token"]
            .as_str()
            .ok_or("the token endpoint answered no access_token")?
            .to_owned();
        let lifetime = answer["expires_in"]
            .as_u64()
            .unwrap_or(300)
            .saturating_sub(60);
        *cached = Some((
            token.clone(),
            Instant::now() + Duration::from_secs(lifetime),
        ));
        Ok(token)
    }
}

/// Keeps the service current with its stream, for as long as the server lives.
pub(crate) async fn follow(server: Arc<ResourceServer>, receiver: Receiver) {
    let mut stream: Option<Value> = None;
    let mut acknowledged: Vec<String> = Vec::new();
    loop {
        let round = async {
            let token = server.receiver_token.get(&server, &receiver).await?;
            if stream.is_none() {
                stream = Some(ensure_stream(&server, &receiver, &token).await?);
            }
            let stream = stream.as_ref().ok_or("no stream")?;
            match &receiver.delivery {
                Delivery::Poll => poll(&server, stream, &token, &mut acknowledged).await,
                Delivery::Push { .. } => verify(&server, &receiver, stream, &token).await,
            }
        };
        if let Err(err) = round.await {
            tracing::warn!(error = %err, "authd's Shared Signals stream: a round failed; retrying");
            tokio::time::sleep(RETRY).await;
        }
    }
}

/// The receiver's stream with its description, made if there is none, set to deliver as this
/// service wants and to carry the events it acts on.
async fn ensure_stream(
    server: &ResourceServer,
    receiver: &Receiver,
    token: &str,
) -> Result<Value, String> {
    let streams: Value = call(server, reqwest::Method::GET, "/ssf/streams", token, None).await?;
    let existing = streams.as_array().and_then(|streams| {
        streams
            .iter()
            .find(|stream| stream["description"] == receiver.stream_description.as_str())
    });
    let delivery = match &receiver.delivery {
        Delivery::Poll => json!({ "method": POLL }),
        Delivery::Push { endpoint_url } => json!({
            "method": PUSH,
            "endpoint_url": endpoint_url.as_str(),
            "authorization_header": push_authorization(&receiver.client_secret),
        }),
    };
    let wanted = json!({
        "delivery": delivery,
        "events_requested": WANTED,
        "description": receiver.stream_description,
    });
    let stream = match existing {
        Some(existing) => {
            let mut update = wanted;
            update["stream_id"] = existing["stream_id"].clone();
            call(
                server,
                reqwest::Method::PATCH,
                "/ssf/streams",
                token,
                Some(update),
            )
            .await?
        }
        None => {
            call(
                server,
                reqwest::Method::POST,
                "/ssf/streams",
                token,
                Some(wanted),
            )
            .await?
        }
    };
    let enabled = json!({ "stream_id": stream["stream_id"], "status": "enabled" });
    call(
        server,
        reqwest::Method::POST,
        "/ssf/status",
        token,
        Some(enabled),
    )
    .await?;
    tracing::info!(stream_id = %stream["stream_id"], "following authd's Shared Signals stream");
    Ok(stream)
}

/// One long poll: acknowledges what the last one brought once it is applied, takes what
/// waits, and counts as hearing from authd.
async fn poll(
    server: &ResourceServer,
    stream: &Value,
    token: &str,
    acknowledged: &mut Vec<String>,
) -> Result<(), String> {
    let url = stream["delivery"]["endpoint_url"]
        .as_str()
        .ok_or("the stream has no poll URL")?;
    let answer: Value = server
        .http
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "ack": acknowledged, "returnImmediately": false }))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|err| format!("poll: {err}"))?
        .json()
        .await
        .map_err(|err| format!("poll: {err}"))?;
    acknowledged.clear();
    for (jti, set) in answer["sets"].as_object().into_iter().flatten() {
        let Some(set) = set.as_str() else { continue };
        match server.revoked.take(&server.keys, set).await {
            Ok(_) => {}
            Err(err) => tracing::warn!(jti, error = %err, "a SET from authd was refused"),
        }
        acknowledged.push(jti.clone());
    }
    // Every SET authd held for this stream when it answered is now applied (unless it said
    // more wait): this service is current as of that answer.
    if answer["moreAvailable"] != true {
        server.heard(Instant::now());
    }
    Ok(())
}

/// For a push stream: asks for a verification event, whose arrival (at `receive`) counts as
/// hearing from authd; then waits a third of the max lag.
async fn verify(
    server: &ResourceServer,
    receiver: &Receiver,
    stream: &Value,
    token: &str,
) -> Result<(), String> {
    let state = format!("{}", server.started.elapsed().as_millis());
    server.expect_verification(&state, Instant::now());
    let body = json!({ "stream_id": stream["stream_id"], "state": state });
    call(
        server,
        reqwest::Method::POST,
        "/ssf/verify",
        token,
        Some(body),
    )
    .await?;
    tokio::time::sleep(receiver.max_lag / 3).await;
    Ok(())
}

async fn call(
    server: &ResourceServer,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let mut request = server
        .http
        .request(method.clone(), server.settings.endpoint(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .map_err(|err| format!("{method} {path}: {err}"))?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        return Err(format!("{method} {path}: {status} {text}"));
    }
    if status == reqwest::StatusCode::NO_CONTENT {
        return Ok(Value::Null);
    }
    response
        .json()
        .await
        .map_err(|err| format!("{method} {path}: {err}"))
}
