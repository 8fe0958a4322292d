//! Which IP a request comes from: the TCP peer, unless the peer is a trusted proxy.

use std::net::IpAddr;

use ipnet::IpNet;
use poem::{Request, http::HeaderMap};

/// The client IP of `req` (see [`resolve`]).
pub fn client_ip(req: &Request, trusted_proxies: &[IpNet]) -> IpAddr {
    let peer = req.remote_addr().as_socket_addr().map(|addr| addr.ip());
    // Not a TCP peer (a unix socket): every such client looks the same.
    resolve(
        peer.unwrap_or(IpAddr::from([0, 0, 0, 0])),
        req.headers(),
        trusted_proxies,
    )
}

/// The `User-Agent`, bounded, for the audit log.
pub fn user_agent(req: &Request) -> Option<String> {
    req.headers()
        .get(poem::http::header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.chars().take(512).collect())
}

/// `X-Forwarded-For` is read only when the peer is a trusted proxy, and then from the right: each
/// trusted hop is skipped, and the first untrusted address is the client. Anything left of it
/// was written by the client itself and proves nothing.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpNet]) -> IpAddr {
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    let mut client = peer.to_canonical();
    if !trusted(&client) {
        return client;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break; // garbage: the last good hop is as far as the chain can be believed
        };
        client = ip.to_canonical();
        if !trusted(&client) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_with(peer: &str, forwarded: Option<&str>, trusted: &[&str]) -> String {
        let mut headers = HeaderMap::new();
        if let Some(value) = forwarded {
            headers.insert("x-forwarded-for", value.parse().unwrap());
        }
        let trusted: Vec<IpNet> = trusted.iter().map(|c| c.parse().unwrap()).collect();
        resolve(peer.parse().unwrap(), &headers, &trusted).to_string()
    }

    #[test]
    fn an_untrusted_peer_cannot_claim_another_address() {
        assert_eq!(
            resolve_with("203.0.113.9", Some("198.51.100.1"), &[]),
            "203.0.113.9"
        );
    }

    #[test]
    fn a_trusted_proxy_is_believed_from_the_right() {
        let chain = Some("6.6.6.6, 198.51.100.7, 10.0.0.5");
        assert_eq!(
            resolve_with("10.0.0.2", chain, &["10.0.0.0/8"]),
            "198.51.100.7"
        );
    }

    #[test]
    fn garbage_stops_the_walk() {
        let chain = Some("198.51.100.7, not-an-ip");
        assert_eq!(resolve_with("10.0.0.2", chain, &["10.0.0.0/8"]), "10.0.0.2");
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_networks() {
        let chain = Some("198.51.100.7");
        assert_eq!(
            resolve_with("::ffff:10.0.0.2", chain, &["10.0.0.0/8"]),
            "198.51.100.7"
        );
    }
}
