//! One request of each scenario, and the weighted mix.

use std::sync::atomic::{AtomicUsize, Ordering};

use clap::ValueEnum;
use reqwest::{Client, RequestBuilder};

use crate::{code_flow::FlowClient, prepare::Fixture, report::Outcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// `GET /.well-known/jwks.json`
    Jwks,
    /// `GET /me` with a bearer token (the verified-token cache warms after the first call)
    Verify,
    /// Password grant at `/oauth/token` (Argon2 bound)
    Login,
    /// Refresh-token grant, each answer's refresh token used next
    Refresh,
    /// Client-credentials grant (needs `--client`)
    ClientCredentials,
    /// `POST /oauth/introspect` of a user's token (needs `--client`)
    Introspect,
    /// `GET /me` with a DPoP-bound token and a fresh proof each time
    DpopVerify,
    /// The authorization code flow: PAR, the authorization endpoint with a live `/ui` session,
    /// and the token endpoint; one flow counts as one request (needs `--client` registered for
    /// the code flow with `--redirect-uri`)
    CodeFlow,
    /// A weighted mix of the above (`--mix`)
    Mixed,
    /// A plain `GET` of `--path`, nothing prepared: for baselines (any HTTP server)
    Get,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Jwks => "jwks",
            Scenario::Verify => "verify",
            Scenario::Login => "login",
            Scenario::Refresh => "refresh",
            Scenario::ClientCredentials => "client-credentials",
            Scenario::Introspect => "introspect",
            Scenario::DpopVerify => "dpop-verify",
            Scenario::CodeFlow => "code-flow",
            Scenario::Mixed => "mixed",
            Scenario::Get => "get",
        }
    }

    pub fn needs_client(self) -> bool {
        matches!(
            self,
            Scenario::ClientCredentials | Scenario::Introspect | Scenario::CodeFlow
        )
    }
}

/// `verify=80,jwks=10,…` as a sequence to cycle through, each scenario as often as its weight,
/// spread out rather than in runs.
pub fn parse_mix(spec: &str, have_client: bool) -> Result<Vec<Scenario>, String> {
    let mut weighted = Vec::new();
    for part in spec
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        let (name, weight) = part
            .split_once('=')
            .ok_or_else(|| format!("--mix: `{part}` is not name=weight"))?;
        let scenario = Scenario::from_str(name.trim(), true)
            .ok()
            .filter(|scenario| !matches!(scenario, Scenario::Mixed | Scenario::Get))
            .ok_or_else(|| format!("--mix: no scenario `{name}`"))?;
        let weight: usize = weight
            .trim()
            .parse()
            .map_err(|_| format!("--mix: weight of `{name}` is not a whole number"))?;
        if scenario.needs_client() && !have_client {
            eprintln!("authd-load: --mix: skipping {name}, which needs --client");
            continue;
        }
        weighted.push((scenario, weight));
    }
    let total: usize = weighted.iter().map(|(_, weight)| weight).sum();
    if total == 0 || total > 10_000 {
        return Err("--mix: the weights must add up to between 1 and 10000".to_owned());
    }
    // Smooth weighted round robin: every scenario appears as often as its weight, interleaved.
    let mut credit = vec![0i64; weighted.len()];
    let mut sequence = Vec::with_capacity(total);
    for _ in 0..total {
        for (credit, (_, weight)) in credit.iter_mut().zip(&weighted) {
            *credit += *weight as i64;
        }
        let (best, _) = credit
            .iter()
            .enumerate()
            .max_by_key(|(_, credit)| **credit)
            .unwrap_or((0, &0));
        credit[best] -= total as i64;
        sequence.push(weighted[best].0);
    }
    Ok(sequence)
}

/// What every request needs: where to send it, and the prepared data.
pub struct Context {
    pub client: Client,
    pub targets: Vec<String>,
    pub public_url: String,
    pub fixture: Fixture,
    pub oauth_client: Option<(String, String)>,
    /// The client of the code-flow scenario (the `--client`, with `--redirect-uri`).
    pub flow_client: Option<FlowClient>,
    pub sequence: Vec<Scenario>,
    /// The path of the `get` scenario.
    pub path: String,
    pub next_target: AtomicUsize,
}

impl Context {
    /// The next target, round robin.
    fn target(&self) -> &str {
        let n = self.next_target.fetch_add(1, Ordering::Relaxed);
        &self.targets[n % self.targets.len()]
    }

    /// Sends the `n`-th request of the run and says how it ended.
    pub async fn request(&self, n: usize) -> Outcome {
        let scenario = self.sequence[n % self.sequence.len()];
        let fixture = &self.fixture;
        let pick = |items: usize| n % items.max(1);
        let base = self.target();
        let request = match scenario {
            Scenario::Jwks => self.client.get(format!("{base}/.well-known/jwks.json")),
            Scenario::Get => self.client.get(format!("{base}{}", self.path)),
            Scenario::Verify => self
                .client
                .get(format!("{base}/me"))
                .bearer_auth(&fixture.tokens[pick(fixture.tokens.len())]),
            Scenario::Login => {
                let (username, password) = &fixture.credentials[pick(fixture.credentials.len())];
                self.client.post(format!("{base}/oauth/token")).form(&[
                    ("grant_type", "password"),
                    ("username", username),
                    ("password", password),
                ])
            }
            Scenario::Refresh => {
                let Some(token) = self.take_refresh_token() else {
                    return Outcome::Failed("no refresh token free (raise --users)");
                };
                self.client.post(format!("{base}/oauth/token")).form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                ])
            }
            Scenario::ClientCredentials => self.with_client(
                self.client
                    .post(format!("{base}/oauth/token"))
                    .form(&[("grant_type", "client_credentials")]),
            ),
            Scenario::Introspect => self.with_client(
                self.client
                    .post(format!("{base}/oauth/introspect"))
                    .form(&[("token", &fixture.tokens[pick(fixture.tokens.len())])]),
            ),
            Scenario::DpopVerify => {
                let (key, token) = &fixture.dpop_tokens[pick(fixture.dpop_tokens.len())];
                let proof = key.proof("GET", &format!("{}/me", self.public_url), Some(token));
                self.client
                    .get(format!("{base}/me"))
                    .header("authorization", format!("DPoP {token}"))
                    .header("DPoP", proof)
            }
            Scenario::CodeFlow => {
                let (Some(flow_client), Some(session)) = (
                    &self.flow_client,
                    fixture
                        .browser_sessions
                        .get(pick(fixture.browser_sessions.len())),
                ) else {
                    return Outcome::Failed("code-flow needs --client and a prepared session");
                };
                return crate::code_flow::flow(&self.client, base, session, flow_client).await;
            }
            // Expanded into the sequence before the run; never a request of its own.
            Scenario::Mixed => return Outcome::Failed("mixed is not a request"),
        };
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                if scenario == Scenario::Refresh {
                    if let Ok(body) = response.json::<serde_json::Value>().await
                        && let Some(next) = body["refresh_token"].as_str()
                    {
                        self.put_refresh_token(next.to_owned());
                    }
                } else {
                    // Read to the end, so the connection goes back to the pool.
                    let _ = response.bytes().await;
                }
                Outcome::Answered(status)
            }
            Err(err) if err.is_timeout() => Outcome::Failed("timeout"),
            Err(err) if err.is_connect() => Outcome::Failed("connect"),
            Err(_) => Outcome::Failed("transport"),
        }
    }

    fn with_client(&self, request: RequestBuilder) -> RequestBuilder {
        match &self.oauth_client {
            Some((id, secret)) => request.basic_auth(id, Some(secret)),
            None => request,
        }
    }

    fn take_refresh_token(&self) -> Option<String> {
        self.fixture
            .refresh_tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop_front()
    }

    fn put_refresh_token(&self, token: String) {
        self.fixture
            .refresh_tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push_back(token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mix_holds_each_scenario_as_often_as_its_weight_interleaved() {
        let sequence = parse_mix("verify=3, jwks=1", false).unwrap();
        assert_eq!(sequence.len(), 4);
        let count = |wanted| sequence.iter().filter(|s| **s == wanted).count();
        assert_eq!((count(Scenario::Verify), count(Scenario::Jwks)), (3, 1));
        let sequence = parse_mix("verify=1,jwks=1", false).unwrap();
        assert_ne!(sequence[0], sequence[1], "interleaved, not in runs");
    }

    #[test]
    fn a_mix_refuses_what_it_cannot_run_and_skips_what_needs_a_client() {
        assert!(parse_mix("verify=1,nonsense=2", false).is_err());
        assert!(parse_mix("verify", false).is_err());
        assert!(parse_mix("mixed=1", false).is_err());
        assert!(parse_mix("verify=0", false).is_err());
        let sequence = parse_mix("verify=1,introspect=5", false).unwrap();
        assert_eq!(sequence, vec![Scenario::Verify]);
        assert_eq!(parse_mix("introspect=2", true).unwrap().len(), 2);
    }
}
