//! Redirect URIs: which may be registered, and whether a requested one is a registered one.
//!
//! Registered URIs are compared as exact strings (RFC 9700 §2.1), so no pattern or prefix can
//! be stretched to an attacker's page. The one exception is the port of a loopback URI: a
//! native app listens on whatever port the system gives it (RFC 8252 §7.3).
//!
//! A native app (RFC 8252) may also return through a private-use URI scheme (§7.1), named
//! after a domain the app's publisher controls, reversed: `com.example.app:/oauth2redirect`.
//! Schemes a browser itself gives meaning to are never accepted, whatever the app type.

use url::{Host, Url};

use crate::store::ApplicationType;

/// Schemes a browser (or the platform) acts on itself: a "redirect" there runs script, reads
/// a file, or goes somewhere no app controls. None is a reverse domain name, so the rule below
/// already refuses them; they are named so the refusal says why.
const BROWSER_SCHEMES: [&str; 16] = [
    "javascript",
    "data",
    "vbscript",
    "file",
    "blob",
    "about",
    "ws",
    "wss",
    "ftp",
    "mailto",
    "tel",
    "sms",
    "intent",
    "view-source",
    "filesystem",
    "chrome",
];

/// Whether `uri` uses a private-use scheme (not http or https): a native app's.
pub fn is_private_use(uri: &str) -> bool {
    Url::parse(uri).is_ok_and(|url| !matches!(url.scheme(), "http" | "https"))
}

/// Why a URI cannot be registered by a client of `kind`, in words for the registrant.
pub fn registrable_for(uri: &str, kind: ApplicationType) -> Result<(), String> {
    let parsed = plain_absolute(uri)?;
    let scheme = parsed.scheme();
    if matches!(scheme, "http" | "https") {
        return web_scheme(uri, &parsed);
    }
    if BROWSER_SCHEMES.contains(&scheme) {
        return Err(format!(
            "`{uri}` has scheme `{scheme}`, which browsers act on themselves: it cannot be a \
             redirect URI"
        ));
    }
    // RFC 8252 §7.1: a reverse domain name the app's publisher controls.
    let labels: Vec<&str> = scheme.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|label| label.is_empty()) {
        return Err(format!(
            "`{uri}` has scheme `{scheme}`: a native app's private-use scheme must be a domain \
             name it controls, reversed, with at least one period (RFC 8252 §7.1), such as \
             `com.example.app`"
        ));
    }
    match kind {
        ApplicationType::Native => Ok(()),
        ApplicationType::Web => Err(format!(
            "`{uri}` uses a private-use scheme, which only native apps return through: \
             register the client with application_type `native`"
        )),
    }
}

/// Why an http(s) URI cannot be registered, in words for the registrant.
pub fn registrable(uri: &str) -> Result<(), String> {
    web_scheme(uri, &plain_absolute(uri)?)
}

/// `uri` parsed, if it is absolute, without a fragment and without credentials: what every
/// redirect URI must be, whatever its scheme.
fn plain_absolute(uri: &str) -> Result<Url, String> {
    let parsed = Url::parse(uri).map_err(|err| format!("`{uri}` is not an absolute URI: {err}"))?;
    if parsed.fragment().is_some() {
        return Err(format!(
            "`{uri}` has a fragment, which a redirect URI must not have"
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("`{uri}` carries credentials"));
    }
    Ok(parsed)
}

/// https anywhere, http on a loopback address only.
fn web_scheme(uri: &str, parsed: &Url) -> Result<(), String> {
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(parsed) => Ok(()),
        "http" => Err(format!(
            "`{uri}` is plain http: use https, or http on a loopback address for a native app"
        )),
        other => Err(format!("`{uri}` has scheme `{other}`: use https")),
    }
}

/// `origin` as browsers send it (`scheme://host[:port]`, lower case, no default port), if it
/// is an https origin or an http one on a loopback address.
pub fn normalized_origin(origin: &str) -> Result<String, String> {
    let parsed = Url::parse(origin).map_err(|err| format!("`{origin}` is not an origin: {err}"))?;
    let bare = parsed.path() == "/"
        && parsed.query().is_none()
        && parsed.fragment().is_none()
        && parsed.username().is_empty()
        && parsed.password().is_none()
        && !origin.trim_end_matches('/').ends_with('?');
    let secure = parsed.scheme() == "https" || (parsed.scheme() == "http" && is_loopback(&parsed));
    if !bare || !secure || parsed.host().is_none() {
        return Err(format!(
            "`{origin}` is not an https origin (`https://host[:port]`, nothing after it; http \
             only on a loopback address)"
        ));
    }
    Ok(parsed.origin().ascii_serialization())
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
    fn native_apps_return_through_a_reverse_domain_scheme() {
        let native = ApplicationType::Native;
        assert!(registrable_for("com.example.app:/oauth2redirect", native).is_ok());
        assert!(registrable_for("com.example.app://callback", native).is_ok());
        assert!(registrable_for("https://app.example/cb", native).is_ok());
        assert!(registrable_for("http://127.0.0.1/cb", native).is_ok());
        for uri in [
            "javascript:alert(1)",
            "data:text/html,hi",
            "vbscript:msgbox",
            "file:///etc/passwd",
            "blob:https://app.example/1",
            "about:blank",
            "ws://app.example/cb",
            "wss://app.example/cb",
            "myapp:/cb",
            "com.example.app:/cb#frag",
            "http://app.example/cb",
        ] {
            assert!(registrable_for(uri, native).is_err(), "{uri}");
        }
        let web = registrable_for("com.example.app:/cb", ApplicationType::Web);
        assert!(web.unwrap_err().contains("native"));
    }

    #[test]
    fn origins_are_normalized_and_bare() {
        assert_eq!(
            normalized_origin("https://App.Example:443").unwrap(),
            "https://app.example"
        );
        assert_eq!(
            normalized_origin("http://localhost:5173/").unwrap(),
            "http://localhost:5173"
        );
        for origin in [
            "https://app.example/path",
            "http://app.example",
            "https://app.example?x",
            "com.example.app:",
            "*",
        ] {
            assert!(normalized_origin(origin).is_err(), "{origin}");
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
