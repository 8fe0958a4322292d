//! Redirect URIs: which may be registered, and whether a requested one is a registered one.
//!
//! Registered URIs are compared as exact strings (RFC 9700 §2.1), so no pattern or prefix can
//! be stretched to an attacker's page. The one exception is the port of a loopback URI: a
//! native app listens on whatever port the system gives it (RFC 8252 §7.3).

use url::{Host, Url};

/// Why a URI cannot be registered, in words for the registrant.
pub fn registrable(uri: &str) -> Result<(), String> {
    let parsed = Url::parse(uri).map_err(|err| format!("`{uri}` is not an absolute URI: {err}"))?;
    if parsed.fragment().is_some() {
        return Err(format!(
            "`{uri}` has a fragment, which a redirect URI must not have"
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("`{uri}` carries credentials"));
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&parsed) => Ok(()),
        "http" => Err(format!(
            "`{uri}` is plain http: use https, or http on a loopback address for a native app"
        )),
        other => Err(format!("`{uri}` has scheme `{other}`: use https")),
    }
}

/// Whether `requested` is one of `registered`: equal as strings, or a loopback `http` URI that
/// differs from a registered one in its port alone.
pub fn is_registered(registered: &[String], requested: &str) -> bool {
    registered
        .iter()
        .any(|uri| uri == requested || same_but_loopback_port(uri, requested))
}

fn same_but_loopback_port(registered: &str, requested: &str) -> bool {
    let (Ok(mut registered), Ok(mut requested)) = (Url::parse(registered), Url::parse(requested))
    else {
        return false;
    };
    if registered.scheme() != "http" || !is_loopback(&registered) {
        return false;
    }
    // Setting the port cannot fail on an http URL with a host.
    if registered.set_port(None).is_err() || requested.set_port(None).is_err() {
        return false;
    }
    registered == requested && requested.fragment().is_none()
}

/// RFC 8252 §7.3 names the loopback IP literals; `localhost` is also taken, as every native
/// and development setup uses it.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(uris: &[&str]) -> Vec<String> {
        uris.iter().map(|uri| (*uri).to_owned()).collect()
    }

    #[test]
    fn https_and_loopback_http_can_be_registered() {
        assert!(registrable("https://app.example/cb").is_ok());
        assert!(registrable("http://127.0.0.1/cb").is_ok());
        assert!(registrable("http://[::1]:8000/cb").is_ok());
        assert!(registrable("http://localhost:3000/cb").is_ok());
    }

    #[test]
    fn other_uris_cannot() {
        for uri in [
            "http://app.example/cb",
            "https://app.example/cb#frag",
            "javascript:alert(1)",
            "/relative",
            "https://user:pw@app.example/cb",
        ] {
            assert!(registrable(uri).is_err(), "{uri}");
        }
    }

    #[test]
    fn matching_is_exact() {
        let uris = registered(&["https://app.example/cb?a=1"]);
        assert!(is_registered(&uris, "https://app.example/cb?a=1"));
        for other in [
            "https://app.example/cb",
            "https://app.example/cb?a=1&b=2",
            "https://app.example/cb/",
            "https://APP.example/cb?a=1",
            "https://app.example:443/cb?a=1",
            "https://app.example.evil/cb?a=1",
        ] {
            assert!(!is_registered(&uris, other), "{other}");
        }
    }

    #[test]
    fn only_a_loopback_port_may_differ() {
        let uris = registered(&["http://127.0.0.1/cb", "https://app.example/cb"]);
        assert!(is_registered(&uris, "http://127.0.0.1:51234/cb"));
        assert!(!is_registered(&uris, "http://127.0.0.1:51234/other"));
        assert!(!is_registered(&uris, "http://127.0.0.2:51234/cb"));
        assert!(!is_registered(&uris, "https://app.example:8443/cb"));
    }
}
