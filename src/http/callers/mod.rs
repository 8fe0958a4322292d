//! Who calls: the access token of a protected route and the proof its binding demands
//! (`access`), a client's credentials at the token, PAR and revocation endpoints
//! (`client_auth`), a person's password as a request presents it (`password`), and the
//! caller's address once a route's per-address limit admits it ([`admitted`]).

pub mod access;
pub mod client_auth;
pub mod password;

use std::net::IpAddr;

use poem::Request;

use crate::{error::Error, http::client_ip, rate_limit::RateLimitedRoute, state::AppState};

/// The caller's address, once `route`'s per-address limit lets the request through; refused
/// (429 with `Retry-After`) otherwise.
pub async fn admitted(
    state: &AppState,
    req: &Request,
    route: RateLimitedRoute,
) -> Result<IpAddr, Error> {
    let client_ip = client_ip(req, &state.config.trusted_proxies);
    state.rate_limiter.check(route, client_ip).await?;
    Ok(client_ip)
}
