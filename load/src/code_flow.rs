//! The authorization code flow as a signed-in browser and a confidential client run it: the
//! client pushes the request (PAR, RFC 9126), the browser opens the authorization endpoint with
//! its `/ui` session and is sent back with a code at once (consent was given while preparing),
//! and the client redeems the code with its PKCE verifier. One flow is three requests; its
//! outcome is the first failure, or the token endpoint's answer.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::{Client, Response, StatusCode, header};
use sha2::{Digest, Sha256};

use crate::report::Outcome;

/// A client registered for the code flow, `ID:SECRET`, and its redirect URI.
pub struct FlowClient {
    pub id: String,
    pub secret: String,
    pub redirect_uri: String,
    /// What each flow asks for; `None` for the client's registered scope.
    pub scope: Option<String>,
}

/// A browser's `/ui` session: the cookies to send.
pub struct BrowserSession(String);

/// Logs `username` in on `/ui/login` as a browser does (the form's CSRF token and cookie).
pub async fn sign_in(
    client: &Client,
    base: &str,
    username: &str,
    password: &str,
) -> Result<BrowserSession, String> {
    let form = client
        .get(format!("{base}/ui/login"))
        .send()
        .await
        .map_err(|err| err.to_string())?;
    let mut cookies = cookies_of(&form, "");
    let page = form.text().await.map_err(|err| err.to_string())?;
    let csrf = input_value(&page, "csrf").ok_or("no CSRF token on /ui/login")?;
    let answer = client
        .post(format!("{base}/ui/login"))
        .header(header::COOKIE, &cookies)
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .map_err(|err| err.to_string())?;
    if answer.status() != StatusCode::SEE_OTHER {
        return Err(format!("UI login of {username}: {}", answer.status()));
    }
    cookies = cookies_of(&answer, &cookies);
    Ok(BrowserSession(cookies))
}

/// Gives the client the user's consent, through the consent page, so flows need no page.
pub async fn consent(
    client: &Client,
    base: &str,
    session: &BrowserSession,
    flow_client: &FlowClient,
) -> Result<(), String> {
    let (_, challenge) = pkce();
    let request_uri = push(client, base, flow_client, &challenge)
        .await
        .map_err(|outcome| format!("PAR: {outcome:?}"))?;
    let page = authorize(client, base, session, flow_client, &request_uri)
        .await
        .map_err(|outcome| format!("authorization: {outcome:?}"))?;
    if page.status() != StatusCode::OK {
        return Err(format!(
            "expected the consent page, got {}: is the client registered for the code flow?",
            page.status()
        ));
    }
    let body = page.text().await.map_err(|err| err.to_string())?;
    let csrf = input_value(&body, "csrf").ok_or("no CSRF token on the consent page")?;
    let request = input_value(&body, "request").ok_or("no request on the consent page")?;
    let answer = client
        .post(format!("{base}/oauth/authorize/consent"))
        .header(header::COOKIE, &session.0)
        .form(&[
            ("csrf", csrf.as_str()),
            ("request", request.as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await
        .map_err(|err| err.to_string())?;
    code_of(&answer, flow_client).map(drop)
}

/// One whole flow: PAR, authorization, token.
pub async fn flow(
    client: &Client,
    base: &str,
    session: &BrowserSession,
    flow_client: &FlowClient,
) -> Outcome {
    let (verifier, challenge) = pkce();
    let request_uri = match push(client, base, flow_client, &challenge).await {
        Ok(request_uri) => request_uri,
        Err(outcome) => return outcome,
    };
    let answer = match authorize(client, base, session, flow_client, &request_uri).await {
        Ok(answer) => answer,
        Err(failure) => return failure,
    };
    let Ok(code) = code_of(&answer, flow_client) else {
        return Outcome::Answered(answer.status().as_u16());
    };
    let token = client
        .post(format!("{base}/oauth/token"))
        .basic_auth(&flow_client.id, Some(&flow_client.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", flow_client.redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await;
    match token {
        Ok(response) => {
            let status = response.status().as_u16();
            let _ = response.bytes().await;
            Outcome::Answered(status)
        }
        Err(err) => failed(&err),
    }
}

/// Pushes a request: its `request_uri`, or the outcome that ends the flow.
async fn push(
    client: &Client,
    base: &str,
    flow_client: &FlowClient,
    challenge: &str,
) -> Result<String, Outcome> {
    let mut form = vec![
        ("response_type", "code"),
        ("redirect_uri", flow_client.redirect_uri.as_str()),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("state", "load"),
    ];
    if let Some(scope) = &flow_client.scope {
        form.push(("scope", scope));
    }
    let response = client
        .post(format!("{base}/oauth/par"))
        .basic_auth(&flow_client.id, Some(&flow_client.secret))
        .form(&form)
        .send()
        .await
        .map_err(|err| failed(&err))?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|_| Outcome::Answered(status.as_u16()))?;
    match body["request_uri"].as_str() {
        Some(uri) if status == StatusCode::CREATED => Ok(uri.to_owned()),
        _ => Err(Outcome::Answered(status.as_u16())),
    }
}

async fn authorize(
    client: &Client,
    base: &str,
    session: &BrowserSession,
    flow_client: &FlowClient,
    request_uri: &str,
) -> Result<Response, Outcome> {
    client
        .get(format!("{base}/oauth/authorize"))
        .query(&[
            ("client_id", flow_client.id.as_str()),
            ("request_uri", request_uri),
        ])
        .header(header::COOKIE, &session.0)
        .send()
        .await
        .map_err(|err| failed(&err))
}

/// The code in a redirect to the client, if that is where `answer` sends the browser.
fn code_of(answer: &Response, flow_client: &FlowClient) -> Result<String, String> {
    let location = answer
        .headers()
        .get(header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| {
            format!(
                "authorization answered {} without a redirect",
                answer.status()
            )
        })?;
    if !location.starts_with(&flow_client.redirect_uri) {
        return Err(format!("authorization sent the browser to {location}"));
    }
    let url = reqwest::Url::parse(location).map_err(|err| err.to_string())?;
    url.query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, code)| code.into_owned())
        .ok_or_else(|| format!("no code in {location}"))
}

/// A PKCE verifier (two random UUIDs: 64 unreserved characters) and its S256 challenge.
fn pkce() -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// `previous` cookies updated by `response`'s `Set-Cookie`s, as one `Cookie` header.
fn cookies_of(response: &Response, previous: &str) -> String {
    let mut jar: Vec<(String, String)> = previous
        .split("; ")
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    for line in response.headers().get_all(header::SET_COOKIE) {
        let Some((name, value)) = line
            .to_str()
            .ok()
            .and_then(|line| line.split(';').next())
            .and_then(|pair| pair.split_once('='))
        else {
            continue;
        };
        jar.retain(|(kept, _)| kept != name);
        if !value.is_empty() {
            jar.push((name.to_owned(), value.to_owned()));
        }
    }
    jar.iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The `value` of the form input named `name` in `page`.
fn input_value(page: &str, name: &str) -> Option<String> {
    let start = page.find(&format!("name=\"{name}\""))?;
    let rest = &page[start..];
    let value = rest.find("value=\"")? + "value=\"".len();
    let end = rest[value..].find('"')?;
    Some(rest[value..value + end].to_owned())
}

fn failed(err: &reqwest::Error) -> Outcome {
    if err.is_timeout() {
        Outcome::Failed("timeout")
    } else if err.is_connect() {
        Outcome::Failed("connect")
    } else {
        Outcome::Failed("transport")
    }
}
