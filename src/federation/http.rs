//! The one HTTP client authd talks to upstreams with, and reading their JSON answers.

use std::{sync::OnceLock, time::Duration};

use serde::de::DeserializeOwned;

use super::unreachable;
use crate::error::Error;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Per request: a login waits for the upstream no longer than this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Larger than any discovery document, token response or userinfo answer.
const MAX_BODY: usize = 256 * 1024;

/// No redirects: the endpoints are the ones registered, and a 3xx could point authd anywhere.
pub(super) fn client() -> Result<&'static reqwest::Client, Error> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            crate::store::tls::install_provider();
            reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(REQUEST_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("authd/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|err| err.to_string())
        })
        .as_ref()
        .map_err(|err| Error::Internal(format!("the upstream HTTP client: {err}")))
}

/// The JSON body of `request`'s answer, which must be a 200. `what` names it in errors
/// ("the token endpoint"); the errors name neither URLs nor what the answer said beyond an
/// OAuth error code.
pub(super) async fn json<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    what: &str,
) -> Result<T, Error> {
    let mut response = request
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|err| {
            tracing::warn!(error = %crate::events::describe(&err), "{what} could not be reached");
            unreachable(format!(
                "The identity provider's {what} could not be reached."
            ))
        })?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|_| unreachable(format!("The identity provider's {what} stopped answering.")))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(unreachable(format!(
                "The identity provider's {what} answered too much."
            )));
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let code = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|value| value.get("error")?.as_str().map(str::to_owned));
        tracing::warn!(%status, error = ?code, "{what} refused");
        return Err(match code {
            // An OAuth error from the token endpoint: the code was refused.
            Some(code) => super::invalid(format!(
                "The identity provider refused the login ({}).",
                super::printable(&code)
            )),
            None => unreachable(format!("The identity provider's {what} answered {status}.")),
        });
    }
    serde_json::from_slice(&body).map_err(|_| {
        unreachable(format!(
            "The identity provider's {what} did not answer with the JSON expected."
        ))
    })
}
