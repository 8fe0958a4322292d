//! The trust file (`AUTHD_TRUST_FILE`, TOML): which resources tokens may be issued for and who
//! may ask for each (RFC 8707), which outside issuers' tokens an exchange accepts and how their
//! claims name an authd user, and which clients may delegate or impersonate (RFC 8693). Nothing
//! here is implied: a resource, an issuer or a policy that is not written down does not exist.

use jsonwebtoken::Algorithm;
use serde::Deserialize;

/// The file as written. Unknown keys are refused, so a misspelt setting fails at start instead
/// of silently granting nothing (or more than meant).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustFile {
    #[serde(default, rename = "resource")]
    pub resources: Vec<Resource>,
    #[serde(default, rename = "issuer")]
    pub issuers: Vec<TrustedIssuer>,
    #[serde(default, rename = "exchange")]
    pub exchange: Vec<ExchangePolicy>,
}

/// A target tokens can be issued for: a `resource` (RFC 8707, an absolute URI) or an `audience`
/// (RFC 8693 §2.1, any name). A token issued for it carries `id` in `aud`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    pub id: String,
    /// The clients that may ask for tokens for it.
    #[serde(default)]
    pub clients: Vec<String>,
    /// The client that receives its tokens (the resource server's own client registration):
    /// the one client that may exchange a token issued for this resource.
    #[serde(default)]
    pub served_by: Option<String>,
}

/// An outside issuer whose JWTs an exchange accepts as `subject_token` or `actor_token`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuer {
    /// Its `iss`, compared exactly.
    pub issuer: String,
    /// Where its public keys are (https, or http on a loopback address only).
    pub jwks_uri: String,
    /// The algorithms its tokens may use: asymmetric only (`RS256`, `PS256`, `ES256`, `EdDSA`, …).
    pub algorithms: Vec<Algorithm>,
    /// The `aud` its tokens must carry to be exchanged here.
    pub audience: String,
    /// The claim that names the user (`sub` unless set).
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    /// Which authd user attribute that claim's value must equal.
    pub user_match: UserMatch,
    /// The clients that may present its tokens.
    #[serde(default)]
    pub clients: Vec<String>,
}

/// The authd user attribute an outside token's subject claim is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserMatch {
    Id,
    Username,
    Email,
}

/// What a client may do with the token-exchange grant beyond what a subject token's own
/// `may_act` allows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangePolicy {
    pub client_id: String,
    /// May act for the subject with its own token as `actor_token`, although the subject token
    /// names no `may_act`.
    #[serde(default)]
    pub delegate: bool,
    /// May exchange without an actor token: the new token is the subject's and does not say
    /// that someone else holds it.
    #[serde(default)]
    pub impersonate: bool,
}

fn default_subject_claim() -> String {
    "sub".to_owned()
}

/// Why a trust file was refused.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TrustError(String);

/// Asymmetric signature algorithms: an outside issuer shares no secret with authd, so an HMAC
/// (or `none`) can never verify (RFC 8725 §3.1).
const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

impl TrustFile {
    /// Parses and checks the file's text.
    pub fn parse(text: &str) -> Result<Self, TrustError> {
        let file: Self = toml::from_str(text).map_err(|err| TrustError(err.to_string()))?;
        file.check()?;
        Ok(file)
    }

    fn check(&self) -> Result<(), TrustError> {
        let mut ids = Vec::new();
        for resource in &self.resources {
            let id = resource.id.trim();
            if id.is_empty() || id != resource.id || id.contains(' ') {
                return Err(TrustError(format!(
                    "resource `{}`: an id is one word, no spaces",
                    resource.id
                )));
            }
            // RFC 8707 §2: a resource that looks like a URI must be an absolute one, without
            // a fragment.
            if id.contains("://") {
                let uri = url::Url::parse(id)
                    .map_err(|err| TrustError(format!("resource `{id}`: {err}")))?;
                if uri.fragment().is_some() {
                    return Err(TrustError(format!(
                        "resource `{id}`: a resource URI has no fragment (RFC 8707 §2)"
                    )));
                }
            }
            if ids.contains(&id) {
                return Err(TrustError(format!("resource `{id}` is listed twice")));
            }
            ids.push(id);
        }
        let mut issuers = Vec::new();
        for issuer in &self.issuers {
            let name = &issuer.issuer;
            if issuers.contains(&name) {
                return Err(TrustError(format!("issuer `{name}` is listed twice")));
            }
            issuers.push(name);
            if issuer.algorithms.is_empty() {
                return Err(TrustError(format!("issuer `{name}`: list its algorithms")));
            }
            if let Some(alg) = issuer.algorithms.iter().find(|a| !ASYMMETRIC.contains(a)) {
                return Err(TrustError(format!(
                    "issuer `{name}`: {alg:?} is not an asymmetric algorithm (RFC 8725 §3.1)"
                )));
            }
            if issuer.audience.trim().is_empty() || issuer.subject_claim.trim().is_empty() {
                return Err(TrustError(format!(
                    "issuer `{name}`: audience and subject_claim must not be empty"
                )));
            }
            check_jwks_uri(&issuer.jwks_uri)
                .map_err(|why| TrustError(format!("issuer `{name}`: jwks_uri {why}")))?;
        }
        let mut policies = Vec::new();
        for policy in &self.exchange {
            if policies.contains(&&policy.client_id) {
                return Err(TrustError(format!(
                    "exchange policy for `{}` is listed twice",
                    policy.client_id
                )));
            }
            policies.push(&policy.client_id);
        }
        Ok(())
    }

    /// The resource registered under `id`.
    pub fn resource(&self, id: &str) -> Option<&Resource> {
        self.resources.iter().find(|resource| resource.id == id)
    }

    /// The policy of `client_id`, if the file has one.
    pub fn policy(&self, client_id: &str) -> Option<&ExchangePolicy> {
        self.exchange
            .iter()
            .find(|policy| policy.client_id == client_id)
    }
}

impl Resource {
    pub fn may_be_requested_by(&self, client_id: &str) -> bool {
        self.clients.iter().any(|client| client == client_id)
    }
}

/// Keys are fetched over TLS, except from the machine itself (a sidecar or a test).
fn check_jwks_uri(uri: &str) -> Result<(), &'static str> {
    let url = url::Url::parse(uri).map_err(|_| "is not a URL")?;
    match url.scheme() {
        "https" => Ok(()),
        "http" => match url.host() {
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => Ok(()),
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => Ok(()),
            Some(url::Host::Domain("localhost")) => Ok(()),
            _ => Err("must be https (plain http only on a loopback address)"),
        },
        _ => Err("must be https"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
        [[resource]]
        id = "https://orders.example"
        clients = ["web"]
        served_by = "orders"

        [[issuer]]
        issuer = "https://idp.example"
        jwks_uri = "https://idp.example/jwks"
        algorithms = ["RS256", "ES256"]
        audience = "authd"
        user_match = "email"

        [[exchange]]
        client_id = "orders"
        delegate = true
    "#;

    #[test]
    fn a_complete_file_parses() {
        let file = TrustFile::parse(FILE).unwrap();
        let orders = file.resource("https://orders.example").unwrap();
        assert!(orders.may_be_requested_by("web"));
        assert!(!orders.may_be_requested_by("orders"));
        assert_eq!(file.issuers[0].subject_claim, "sub");
        assert_eq!(file.issuers[0].user_match, UserMatch::Email);
        let policy = file.policy("orders").unwrap();
        assert!(policy.delegate && !policy.impersonate);
        assert!(file.policy("web").is_none());
    }

    #[test]
    fn mistakes_are_refused_with_a_reason() {
        for (text, says) in [
            ("[[resource]]\nid = \"a\"\nclinets = []", "unknown field"),
            ("[[resource]]\nid = \"https://a.example/#x\"", "no fragment"),
            (
                "[[resource]]\nid = \"a\"\n[[resource]]\nid = \"a\"",
                "twice",
            ),
            (
                &FILE.replace("\"RS256\", \"ES256\"", "\"HS256\""),
                "asymmetric",
            ),
            (
                &FILE.replace("https://idp.example/jwks", "http://idp.example/jwks"),
                "loopback",
            ),
            (&FILE.replace("\"email\"", "\"phone\""), "unknown variant"),
        ] {
            let err = TrustFile::parse(text).unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
        let local = FILE.replace("https://idp.example/jwks", "http://127.0.0.1:9/jwks");
        assert!(TrustFile::parse(&local).is_ok());
    }
}
