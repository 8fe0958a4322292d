//! The upstreams an operator registers: OpenID Connect ones configured from their discovery
//! document, plain OAuth 2.0 ones from explicit endpoints and claim paths. Client secrets are
//! sealed under the master key, like signing keys and webhook secrets.

use std::sync::Arc;

use serde::Deserialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{http, invalid};
use crate::{
    clock::Clock,
    error::Error,
    keys::MasterKeys,
    store::{
        ClaimPaths, Provisioning, SealedBox, StoreError, UniqueField, UpstreamKind, UpstreamRecord,
        UpstreamStore, Written,
    },
};

/// The registered upstreams: what the operator commands change, and what a login reads.
pub struct Upstreams {
    store: Arc<dyn UpstreamStore>,
    master_keys: Arc<MasterKeys>,
    clock: Arc<dyn Clock>,
    /// authd's public URL: the callbacks are under it.
    public_url: String,
}

/// The longest id: it is part of a URL path and of every federated identity.
const MAX_ID: usize = 32;
/// The algorithms an upstream's ID tokens may be signed with: asymmetric ones only (a shared
/// secret would let the upstream's every client forge tokens for it, RFC 8725 §3.1).
const ASYMMETRIC: [&str; 8] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "EdDSA",
];

/// An upstream as an operator writes it; [`discover`] fills in an OpenID Connect one's
/// endpoints.
#[derive(Debug, Clone)]
pub struct UpstreamDraft {
    pub id: String,
    pub name: String,
    pub kind: UpstreamKind,
    pub issuer: Option<String>,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    pub algorithms: Vec<String>,
    pub iss_parameter: bool,
    pub client_id: String,
    /// `None` on an update: the secret stays.
    pub client_secret: Option<Zeroizing<String>>,
    pub scopes: String,
    pub claims: ClaimPaths,
    pub provisioning: Provisioning,
    pub trust_email: bool,
    pub require_second_factor: bool,
    pub enabled: bool,
}

/// What an OpenID Connect discovery document (Discovery 1.0 §3) says that authd uses.
#[derive(Debug, Deserialize)]
pub struct Discovered {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: String,
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

/// Reads `issuer`'s discovery document, which must name exactly that issuer (§4.3: a document
/// naming another could make authd accept another provider's tokens).
pub async fn discover(issuer: &str) -> Result<Discovered, Error> {
    check_url("issuer", issuer)?;
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let discovered: Discovered = http::json(http::client()?.get(url), "discovery document").await?;
    if discovered.issuer != issuer {
        return Err(invalid(format!(
            "the discovery document names the issuer {}, not {issuer}",
            discovered.issuer
        )));
    }
    Ok(discovered)
}

impl UpstreamDraft {
    /// An upstream of `kind` with nothing configured beyond its defaults: no endpoints, the
    /// scopes OpenID Connect needs (none for plain OAuth 2.0), OpenID Connect's claim names,
    /// just-in-time users, no trust in its addresses, enabled.
    pub fn new(id: String, name: String, kind: UpstreamKind) -> Self {
        Self {
            id,
            name,
            kind,
            issuer: None,
            authorization_endpoint: String::new(),
            token_endpoint: String::new(),
            userinfo_endpoint: None,
            jwks_uri: None,
            algorithms: Vec::new(),
            iss_parameter: false,
            client_id: String::new(),
            client_secret: None,
            scopes: match kind {
                UpstreamKind::Oidc => "openid profile email".to_owned(),
                UpstreamKind::Oauth2 => String::new(),
            },
            claims: ClaimPaths::default(),
            provisioning: Provisioning::Jit,
            trust_email: false,
            require_second_factor: false,
            enabled: true,
        }
    }

    /// An OpenID Connect upstream from its discovery document.
    pub fn from_discovery(id: String, name: String, discovered: Discovered) -> Self {
        Self::new(id, name, UpstreamKind::Oidc).with_discovery(discovered)
    }

    /// This draft as an OpenID Connect upstream whose issuer, endpoints, algorithms and RFC 9207
    /// promise are the discovery document's; every other field stays.
    pub fn with_discovery(self, discovered: Discovered) -> Self {
        let algorithms: Vec<String> = discovered
            .id_token_signing_alg_values_supported
            .into_iter()
            .filter(|alg| ASYMMETRIC.contains(&alg.as_str()))
            .collect();
        Self {
            kind: UpstreamKind::Oidc,
            issuer: Some(discovered.issuer),
            authorization_endpoint: discovered.authorization_endpoint,
            token_endpoint: discovered.token_endpoint,
            userinfo_endpoint: discovered.userinfo_endpoint,
            jwks_uri: Some(discovered.jwks_uri),
            // Core §15.1: RS256 is what every provider must support.
            algorithms: if algorithms.is_empty() {
                vec!["RS256".to_owned()]
            } else {
                algorithms
            },
            iss_parameter: discovered.authorization_response_iss_parameter_supported,
            ..self
        }
    }

    /// The record to store: this draft with its sealed secret (and the sealing key's id).
    fn into_record(
        self,
        (client_secret, master_key_id): (SealedBox, String),
        created_at: OffsetDateTime,
        revision: i64,
    ) -> UpstreamRecord {
        UpstreamRecord {
            id: self.id,
            name: self.name,
            kind: self.kind,
            issuer: self.issuer,
            authorization_endpoint: self.authorization_endpoint,
            token_endpoint: self.token_endpoint,
            userinfo_endpoint: self.userinfo_endpoint,
            jwks_uri: self.jwks_uri,
            algorithms: self.algorithms,
            iss_parameter: self.iss_parameter,
            client_id: self.client_id,
            client_secret,
            master_key_id,
            scopes: self.scopes,
            claims: self.claims,
            provisioning: self.provisioning,
            trust_email: self.trust_email,
            require_second_factor: self.require_second_factor,
            enabled: self.enabled,
            created_at,
            revision,
        }
    }

    fn validate(&self) -> Result<(), Error> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= MAX_ID
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(field(
                "id",
                "must be 1 to 32 lowercase letters, digits or -",
            ));
        }
        if self.name.trim().is_empty() || self.name.len() > 64 {
            return Err(field("name", "must be 1 to 64 characters"));
        }
        if self.client_id.is_empty() {
            return Err(field("client_id", "is required"));
        }
        check_url("authorization_endpoint", &self.authorization_endpoint)?;
        check_url("token_endpoint", &self.token_endpoint)?;
        if let Some(url) = &self.userinfo_endpoint {
            check_url("userinfo_endpoint", url)?;
        }
        match self.kind {
            UpstreamKind::Oidc => {
                let (Some(_), Some(jwks_uri)) = (&self.issuer, &self.jwks_uri) else {
                    return Err(field(
                        "issuer",
                        "and jwks_uri are required for OpenID Connect",
                    ));
                };
                check_url("jwks_uri", jwks_uri)?;
                if !self.scopes.split(' ').any(|scope| scope == "openid") {
                    return Err(field("scopes", "must include openid"));
                }
                if self.algorithms.is_empty()
                    || !self
                        .algorithms
                        .iter()
                        .all(|alg| ASYMMETRIC.contains(&alg.as_str()))
                {
                    return Err(field(
                        "algorithms",
                        "must be asymmetric JWS algorithms (RS256, ES256, EdDSA, …)",
                    ));
                }
            }
            UpstreamKind::Oauth2 => {
                if self.userinfo_endpoint.is_none() {
                    return Err(field(
                        "userinfo_endpoint",
                        "is required for a plain OAuth 2.0 upstream: it says who the user is",
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Upstreams {
    pub fn new(
        store: Arc<dyn UpstreamStore>,
        master_keys: Arc<MasterKeys>,
        clock: Arc<dyn Clock>,
        public_url: String,
    ) -> Self {
        Self {
            store,
            master_keys,
            clock,
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The redirect URI to register at upstream `id`: one per upstream, so that a response
    /// can only be taken for the upstream it was sent to (RFC 9700 §4.4.2.2, mix-up).
    pub fn redirect_uri(&self, id: &str) -> String {
        format!("{}/ui/login/upstream/{id}/callback", self.public_url)
    }

    /// The enabled upstreams, for the login page's buttons.
    pub async fn enabled(&self) -> Result<Vec<UpstreamRecord>, Error> {
        let mut upstreams = self.store.list_upstreams().await?;
        upstreams.retain(|upstream| upstream.enabled);
        Ok(upstreams)
    }

    /// An enabled upstream.
    pub(super) async fn enabled_one(&self, id: &str) -> Result<UpstreamRecord, Error> {
        self.store
            .find_upstream(id)
            .await?
            .filter(|upstream| upstream.enabled)
            .ok_or(Error::NotFound("identity provider"))
    }

    /// Registers an upstream; its client secret is sealed before it is stored.
    pub async fn create(&self, draft: UpstreamDraft) -> Result<UpstreamRecord, Error> {
        draft.validate()?;
        let secret = draft
            .client_secret
            .as_ref()
            .filter(|secret| !secret.is_empty())
            .ok_or_else(|| field("client_secret", "is required"))?;
        let sealed = self.seal(&draft.id, secret)?;
        let record = draft.into_record(sealed, self.clock.now(), 1);
        self.store
            .insert_upstream(&record)
            .await
            .map_err(|err| match err {
                StoreError::Conflict(UniqueField::UpstreamId) => Error::Taken("upstream id"),
                other => other.into(),
            })?;
        tracing::info!(upstream = %record.id, kind = record.kind.as_str(), "upstream registered");
        Ok(record)
    }

    pub async fn find(&self, id: &str) -> Result<Option<UpstreamRecord>, Error> {
        Ok(self.store.find_upstream(id).await?)
    }

    pub async fn list(&self) -> Result<Vec<UpstreamRecord>, Error> {
        Ok(self.store.list_upstreams().await?)
    }

    /// Replaces every field of upstream `draft.id` but its secret, unless the draft has one,
    /// if its revision is still `expected` (any, without one).
    pub async fn update(
        &self,
        draft: UpstreamDraft,
        expected: Option<i64>,
    ) -> Result<Written<UpstreamRecord>, Error> {
        draft.validate()?;
        let Some(stored) = self.store.find_upstream(&draft.id).await? else {
            return Ok(Written::Missing);
        };
        let sealed = match draft
            .client_secret
            .as_ref()
            .filter(|secret| !secret.is_empty())
        {
            Some(secret) => self.seal(&draft.id, secret)?,
            None => (stored.client_secret, stored.master_key_id),
        };
        let record = draft.into_record(sealed, stored.created_at, stored.revision);
        Ok(self.store.replace_upstream(&record, expected).await?)
    }

    /// `secret` sealed under the current master key (upstream `id` as associated data), and that
    /// key's id.
    fn seal(&self, id: &str, secret: &str) -> Result<(SealedBox, String), Error> {
        let current = self.master_keys.current();
        let sealed = current
            .seal(secret.as_bytes(), id.as_bytes())
            .map_err(|_| Error::Internal("could not seal a client secret".to_owned()))?;
        Ok((sealed, current.id()))
    }

    /// Deletes an upstream and every identity linked through it (their users stay).
    pub async fn delete(&self, id: &str) -> Result<bool, Error> {
        let deleted = self.store.delete_upstream(id).await?;
        if deleted {
            tracing::info!(upstream = id, "upstream deleted");
        }
        Ok(deleted)
    }

    /// Re-seals every client secret sealed under an older master key with the current one.
    pub async fn rewrap(&self) -> Result<usize, Error> {
        let current_id = self.master_keys.current().id();
        let mut resealed = 0;
        for upstream in self.store.list_upstreams().await? {
            if upstream.master_key_id == current_id {
                continue;
            }
            let secret = self.client_secret(&upstream)?;
            let (sealed, _) = self.seal(&upstream.id, &secret)?;
            if self
                .store
                .reseal_upstream(&upstream.id, &upstream.master_key_id, &sealed, &current_id)
                .await?
            {
                resealed += 1;
            }
        }
        Ok(resealed)
    }

    /// The upstream's client secret, opened.
    pub(super) fn client_secret(
        &self,
        upstream: &UpstreamRecord,
    ) -> Result<Zeroizing<String>, Error> {
        let master = self
            .master_keys
            .find(&upstream.master_key_id)
            .ok_or_else(|| {
                Error::Internal(format!(
                    "upstream {} is sealed under master key {}, which this replica does not have",
                    upstream.id, upstream.master_key_id
                ))
            })?;
        let bytes = master
            .open(&upstream.client_secret, upstream.id.as_bytes())
            .map_err(|_| {
                Error::Internal(format!("upstream {}'s secret does not open", upstream.id))
            })?;
        String::from_utf8(bytes.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| Error::Internal(format!("upstream {}'s secret is not text", upstream.id)))
    }
}

/// A stored upstream as a draft to change; its secret stays unless the draft is given one.
impl From<&UpstreamRecord> for UpstreamDraft {
    fn from(upstream: &UpstreamRecord) -> Self {
        Self {
            id: upstream.id.clone(),
            name: upstream.name.clone(),
            kind: upstream.kind,
            issuer: upstream.issuer.clone(),
            authorization_endpoint: upstream.authorization_endpoint.clone(),
            token_endpoint: upstream.token_endpoint.clone(),
            userinfo_endpoint: upstream.userinfo_endpoint.clone(),
            jwks_uri: upstream.jwks_uri.clone(),
            algorithms: upstream.algorithms.clone(),
            iss_parameter: upstream.iss_parameter,
            client_id: upstream.client_id.clone(),
            client_secret: None,
            scopes: upstream.scopes.clone(),
            claims: upstream.claims.clone(),
            provisioning: upstream.provisioning,
            trust_email: upstream.trust_email,
            require_second_factor: upstream.require_second_factor,
            enabled: upstream.enabled,
        }
    }
}

/// https, or http to a loopback address (a provider on the same machine, tests); no fragment.
fn check_url(name: &'static str, value: &str) -> Result<(), Error> {
    let Ok(url) = url::Url::parse(value) else {
        return Err(field(name, "must be an absolute URL"));
    };
    let loopback = match url.host() {
        Some(url::Host::Domain(host)) => host == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !scheme_ok || url.fragment().is_some() || url.host().is_none() {
        return Err(field(
            name,
            "must be an https URL (http only on a loopback address) without a fragment",
        ));
    }
    Ok(())
}

fn field(field: &'static str, message: &str) -> Error {
    Error::InvalidField {
        field,
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discovered() -> Discovered {
        Discovered {
            issuer: "https://sso.example".to_owned(),
            authorization_endpoint: "https://sso.example/authorize".to_owned(),
            token_endpoint: "https://sso.example/token".to_owned(),
            userinfo_endpoint: None,
            jwks_uri: "https://sso.example/jwks".to_owned(),
            id_token_signing_alg_values_supported: vec!["HS256".to_owned(), "ES256".to_owned()],
            authorization_response_iss_parameter_supported: true,
        }
    }

    fn draft() -> UpstreamDraft {
        UpstreamDraft {
            client_id: "authd".to_owned(),
            ..UpstreamDraft::from_discovery("corp".to_owned(), "Corp".to_owned(), discovered())
        }
    }

    #[test]
    fn discovery_keeps_only_asymmetric_algorithms_and_the_iss_promise() {
        let draft = draft();
        assert_eq!(draft.algorithms, ["ES256"]);
        assert!(draft.iss_parameter);
        assert!(draft.validate().is_ok());
    }

    #[test]
    fn ids_urls_scopes_and_algorithms_are_checked() {
        let refused = |edit: &dyn Fn(&mut UpstreamDraft)| {
            let mut draft = draft();
            edit(&mut draft);
            draft.validate().is_err()
        };
        assert!(refused(&|d| d.id = "Corp".to_owned()));
        assert!(refused(&|d| d.id = "a/b".to_owned()));
        assert!(refused(&|d| d.id = "x".repeat(33)));
        assert!(refused(
            &|d| d.token_endpoint = "http://sso.example/token".to_owned()
        ));
        assert!(refused(
            &|d| d.authorization_endpoint = "https://sso.example/a#f".to_owned()
        ));
        assert!(refused(&|d| d.scopes = "profile email".to_owned()));
        assert!(refused(&|d| d.algorithms = vec!["HS256".to_owned()]));
        assert!(refused(&|d| d.client_id = String::new()));
        assert!(!refused(
            &|d| d.token_endpoint = "http://127.0.0.1:9/token".to_owned()
        ));
        assert!(!refused(
            &|d| d.token_endpoint = "http://localhost:9/token".to_owned()
        ));
        // Plain OAuth 2.0 needs the userinfo endpoint, and no ID token settings.
        assert!(refused(&|d| d.kind = UpstreamKind::Oauth2));
        assert!(!refused(&|d| {
            d.kind = UpstreamKind::Oauth2;
            d.userinfo_endpoint = Some("https://api.example/user".to_owned());
        }));
    }
}
