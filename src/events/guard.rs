//! Where a webhook may be delivered: never to loopback, private, link-local or otherwise
//! internal addresses (unless `AUTHD_WEBHOOK_ALLOW_LOOPBACK`), so a subscription cannot turn
//! authd into a probe of the network it runs in (SSRF). Checked when a subscription is
//! written, and again on every delivery at the addresses the name resolves to then (a name
//! can be made to resolve elsewhere later: DNS rebinding); redirects are not followed.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

#[derive(Debug, Clone, Copy)]
pub struct AddressGuard {
    allow_internal: bool,
}

impl AddressGuard {
    pub fn new(allow_internal: bool) -> Self {
        Self { allow_internal }
    }

    /// Whether a URL may be subscribed: https (http only where internal addresses are
    /// allowed, for local receivers), a host, no credentials, no fragment, and not an
    /// internal address written as one.
    pub fn check_url(&self, url: &url::Url) -> Result<(), &'static str> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_internal => {}
            _ => return Err("must be an https URL"),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials");
        }
        if url.fragment().is_some() {
            return Err("must not have a fragment");
        }
        let internal = match url.host() {
            None => return Err("must name a host"),
            Some(url::Host::Ipv4(ip)) => !self.allows(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => !self.allows(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) => {
                !self.allow_internal
                    && (name.eq_ignore_ascii_case("localhost")
                        || name.to_ascii_lowercase().ends_with(".localhost"))
            }
        };
        if internal {
            return Err("must not point at a loopback, private or link-local address");
        }
        Ok(())
    }

    /// Whether a delivery may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow_internal || is_public(ip)
    }

    /// A resolver for the delivery client that drops every address the guard refuses, and
    /// fails when none is left.
    pub fn resolver(self) -> Arc<impl Resolve + 'static> {
        Arc::new(GuardedResolver(self))
    }

    /// An HTTP client for deliveries this guard watches: its resolver, no redirects followed
    /// (a redirect could lead anywhere), and the given limits per attempt.
    pub fn client(
        self,
        connect: Duration,
        whole: Duration,
    ) -> Result<reqwest::Client, reqwest::Error> {
        reqwest::Client::builder()
            .dns_resolver(self.resolver())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect)
            .timeout(whole)
            .user_agent(concat!("authd/", env!("CARGO_PKG_VERSION")))
            .build()
    }
}

/// Addresses on the public internet: not loopback, private (RFC 1918, RFC 4193), link-local,
/// carrier-grade NAT, documentation, benchmarking, multicast, broadcast or unspecified; an
/// IPv4-mapped IPv6 address is judged as its IPv4 address.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

struct GuardedResolver(AddressGuard);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.0;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| guard.allows(addr.ip()))
                .collect();
            if resolved.is_empty() {
                return Err(format!(
                    "{host} resolves to no address a webhook may be delivered to \
                     (loopback, private and link-local addresses are refused)"
                )
                .into());
            }
            let addrs: Addrs = Box::new(resolved.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(internal.parse().unwrap()), "{internal}");
        }
        for public in ["93.184.216.34", "2606:2800:220:1::1", "1.1.1.1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_are_checked_before_any_delivery() {
        let strict = AddressGuard::new(false);
        let url = |text: &str| url::Url::parse(text).unwrap();
        assert!(
            strict
                .check_url(&url("https://hooks.example.com/a"))
                .is_ok()
        );
        assert!(
            strict
                .check_url(&url("http://hooks.example.com/a"))
                .is_err()
        );
        assert!(strict.check_url(&url("https://127.0.0.1/a")).is_err());
        assert!(strict.check_url(&url("https://[::1]/a")).is_err());
        assert!(strict.check_url(&url("https://localhost/a")).is_err());
        assert!(
            strict
                .check_url(&url("https://u:p@hooks.example.com/"))
                .is_err()
        );
        let local = AddressGuard::new(true);
        assert!(local.check_url(&url("http://127.0.0.1:9000/a")).is_ok());
    }
}
