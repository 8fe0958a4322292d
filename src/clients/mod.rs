//! Registered clients (RFC 6749 §2): registration, the command line's edits, and client
//! authentication by secret, by signed assertion (RFC 7523) or, for a public client, by id.

mod assertion;
pub mod redirect_uri;
mod registration;

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use crate::store::{
    ApplicationType, ClientAuthMethod, ClientRecord, LogoutChannels, PkcePolicy,
};
pub use assertion::{ClientAssertions, JWT_BEARER_ASSERTION};
pub use registration::{Checked, Registration};

use crate::{
    clock::Clock,
    error::{ClientAuthFailure, Error},
    rate_limit::ClientRateLimiter,
    store::{ClientStore, PreviousSecret, Written},
};

/// A client secret: 256 random bits, base64url. `Debug` prints `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct ClientSecret(SecretString);

impl ClientSecret {
    fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes).into())
    }

    pub fn presented(raw: String) -> Self {
        Self(raw.into())
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.expose_secret().as_bytes()).into()
    }
}

/// How a request says which client sent it, not yet checked.
#[derive(Debug)]
pub enum ClientCredentials {
    /// `client_secret_basic` or `client_secret_post`.
    Secret {
        client_id: String,
        secret: ClientSecret,
    },
    /// `private_key_jwt`: the client id, if also sent, must be the assertion's subject.
    Assertion {
        client_id: Option<String>,
        assertion: String,
    },
    /// A `client_id` alone: proves nothing, and is accepted only for a public client.
    Public { client_id: String },
}

pub struct Clients {
    store: Arc<dyn ClientStore>,
    clock: Arc<dyn Clock>,
    assertions: Option<ClientAssertions>,
    rate_limits: Option<ClientRateLimiter>,
}

impl Clients {
    pub fn new(store: Arc<dyn ClientStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            assertions: None,
            rate_limits: None,
        }
    }

    /// Also counts each authenticated client's requests against its rate limit.
    pub fn with_rate_limits(mut self, limiter: ClientRateLimiter) -> Self {
        self.rate_limits = Some(limiter);
        self
    }

    /// Also accepts `private_key_jwt` assertions, checked by `assertions`.
    pub fn with_assertions(mut self, assertions: ClientAssertions) -> Self {
        self.assertions = Some(assertions);
        self
    }

    /// Registers a client; a confidential client's secret is returned this once and only its
    /// hash is stored.
    pub async fn create(
        &self,
        registration: Registration,
    ) -> Result<(ClientRecord, Option<ClientSecret>), Error> {
        let checked = registration.check()?;
        let client_id = match &checked.client_id {
            Some(id) if self.store.find_client(id).await?.is_some() => {
                return Err(Error::InvalidField {
                    field: "client_id",
                    message: format!("`{id}` is taken"),
                });
            }
            Some(id) => id.clone(),
            None => format!("client_{}", uuid::Uuid::new_v4().simple()),
        };
        let secret = checked
            .auth_method
            .uses_secret()
            .then(ClientSecret::generate);
        let client = record(
            client_id,
            checked,
            secret.as_ref().map(ClientSecret::hash),
            self.clock.now(),
        );
        self.store.insert_client(&client).await?;
        Ok((client, secret))
    }

    pub async fn find(&self, client_id: &str) -> Result<Option<ClientRecord>, Error> {
        Ok(self.store.find_client(client_id).await?)
    }

    /// A page of clients in id order, after `after`.
    pub async fn page(&self, after: Option<&str>, limit: u32) -> Result<Vec<ClientRecord>, Error> {
        Ok(self.store.list_clients_page(after, limit).await?)
    }

    pub async fn list(&self) -> Result<Vec<ClientRecord>, Error> {
        Ok(self.store.list_clients().await?)
    }

    /// Whether some client's scripts run at `origin` ([`ClientRecord::origins`]).
    pub async fn allows_origin(&self, origin: &str) -> Result<bool, Error> {
        Ok(self.store.origin_allowed(origin).await?)
    }

    /// Replaces a client's registration with `registration`. The secret stays while the client
    /// keeps a secret method; a client cannot become confidential here (it would need a new
    /// secret: create a new client). `None` if there is no such client.
    pub async fn update(
        &self,
        client_id: &str,
        registration: Registration,
    ) -> Result<Option<ClientRecord>, Error> {
        Ok(match self.update_if(client_id, registration, None).await? {
            Written::Done(client) => Some(client),
            Written::Missing | Written::Stale => None,
        })
    }

    /// [`Self::update`], only over revision `expected` (`If-Match`); with `None`, over
    /// whatever revision is current (a write racing it is retried on the newer one).
    pub async fn update_if(
        &self,
        client_id: &str,
        registration: Registration,
        expected: Option<i64>,
    ) -> Result<Written<ClientRecord>, Error> {
        let checked = registration.check()?;
        for _ in 0..3 {
            let Some(existing) = self.store.find_client(client_id).await? else {
                return Ok(Written::Missing);
            };
            if expected.is_some_and(|expected| expected != existing.revision) {
                return Ok(Written::Stale);
            }
            let secret_hash = match (existing.secret_hash, checked.auth_method.uses_secret()) {
                (Some(hash), true) => Some(hash),
                (_, false) => None,
                (None, true) => {
                    return Err(Error::InvalidField {
                        field: "token_endpoint_auth_method",
                        message: "a client without a secret cannot switch to a secret method: \
                                  create a new client"
                            .to_owned(),
                    });
                }
            };
            let mut client = record(
                existing.client_id,
                checked.clone(),
                secret_hash,
                existing.created_at,
            );
            client.previous_secret = existing.previous_secret.filter(|_| secret_hash.is_some());
            client.revision = existing.revision;
            if self.store.update_client(&client).await? {
                client.revision += 1;
                return Ok(Written::Done(client));
            }
            if expected.is_some() {
                return Ok(Written::Stale);
            }
        }
        Ok(Written::Stale)
    }

    /// Gives a confidential client a new secret, returned this once. The secret it replaces
    /// stays accepted for `previous_valid_for` (none: refused at once, as after a leak), so the
    /// client can be redeployed with the new one without an outage; a secret replaced earlier
    /// is forgotten. `None` if there is no such client.
    pub async fn rotate_secret(
        &self,
        client_id: &str,
        previous_valid_for: time::Duration,
    ) -> Result<Option<(ClientRecord, ClientSecret)>, Error> {
        let Some(existing) = self.store.find_client(client_id).await? else {
            return Ok(None);
        };
        let Some(current) = existing
            .secret_hash
            .filter(|_| existing.auth_method.uses_secret())
        else {
            return Err(Error::InvalidField {
                field: "client_id",
                message: format!(
                    "client {client_id} authenticates with {}, not a secret: there is none to \
                     rotate",
                    existing.auth_method.as_str()
                ),
            });
        };
        let secret = ClientSecret::generate();
        let mut client = ClientRecord {
            secret_hash: Some(secret.hash()),
            previous_secret: previous_valid_for.is_positive().then(|| PreviousSecret {
                hash: current,
                expires_at: self.clock.now() + previous_valid_for,
            }),
            ..existing
        };
        if !self.store.update_client(&client).await? {
            return Ok(None);
        }
        client.revision += 1;
        Ok(Some((client, secret)))
    }

    /// Deletes a client, its consents and its sessions; whether it existed.
    pub async fn delete(&self, client_id: &str) -> Result<bool, Error> {
        Ok(self.store.delete_client(client_id).await?)
    }

    /// Checks the credentials a client presented against its registered method. A secret is
    /// compared in constant time, and against a dummy for an unknown client, so neither timing
    /// nor answer says which client ids exist: every secret failure is the same
    /// `invalid_client`. A signed assertion's failure names the rule it broke. Every failure
    /// is logged with why (never the secret or the assertion).
    ///
    /// An authenticated client's request then counts against its rate limit (failed attempts
    /// do not: anyone could otherwise spend a client's quota by sending its id).
    pub async fn authenticate(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<ClientRecord, Error> {
        let client = self.verify_credentials(credentials).await?;
        if let Some(limiter) = &self.rate_limits {
            limiter.check(&client.client_id, client.rate_limit).await?;
        }
        Ok(client)
    }

    async fn verify_credentials(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<ClientRecord, Error> {
        match credentials {
            ClientCredentials::Secret { client_id, secret } => {
                let client = self.store.find_client(client_id).await?;
                let expected = client
                    .as_ref()
                    .and_then(|client| client.secret_hash)
                    .unwrap_or([0u8; 32]);
                // A replaced secret in its grace period matches too. The same dummy stands in
                // when there is none, so both comparisons are always made and timing does not
                // say whether a client has one, or which secret matched.
                let previous = client
                    .as_ref()
                    .and_then(|client| client.previous_secret)
                    .filter(|previous| self.clock.now() < previous.expires_at)
                    .map_or([0u8; 32], |previous| previous.hash);
                let presented = secret.hash();
                let matches: bool =
                    (presented.ct_eq(&expected) | presented.ct_eq(&previous)).into();
                let failed =
                    |reason| refused(client_id, "secret", reason, ClientAuthFailure::Failed);
                match client {
                    // Both secret methods take the secret either way, as before methods were
                    // registered: the secret is the same, only where it travels differs.
                    Some(client) if matches && client.auth_method.uses_secret() => Ok(client),
                    None => Err(failed("unknown client")),
                    Some(client) if !client.auth_method.uses_secret() => {
                        Err(failed("the client does not authenticate with a secret"))
                    }
                    Some(_) => Err(failed("wrong secret")),
                }
            }
            ClientCredentials::Assertion {
                client_id,
                assertion,
            } => {
                let named = client_id.as_deref().unwrap_or_default();
                let assertions = self.assertions.as_ref().ok_or_else(|| {
                    refused(
                        named,
                        "private_key_jwt",
                        "assertions are not accepted here",
                        ClientAuthFailure::Failed,
                    )
                })?;
                let subject = assertion::unverified_subject(assertion).map_err(|failure| {
                    refused(named, "private_key_jwt", "no readable sub", failure)
                })?;
                if client_id.as_ref().is_some_and(|id| *id != subject) {
                    return Err(refused(
                        named,
                        "private_key_jwt",
                        "client_id is not the assertion's sub",
                        ClientAuthFailure::AssertionMalformed,
                    ));
                }
                let client = self
                    .store
                    .find_client(&subject)
                    .await?
                    .filter(|client| client.auth_method == ClientAuthMethod::PrivateKeyJwt)
                    .ok_or_else(|| {
                        refused(
                            &subject,
                            "private_key_jwt",
                            "unknown client, or not a private_key_jwt client",
                            ClientAuthFailure::Failed,
                        )
                    })?;
                assertions
                    .verify(&client, assertion)
                    .await
                    .map_err(|failure| {
                        refused(&subject, "private_key_jwt", &failure.to_string(), failure)
                    })?;
                Ok(client)
            }
            ClientCredentials::Public { client_id } => self
                .store
                .find_client(client_id)
                .await?
                .filter(ClientRecord::is_public)
                .ok_or_else(|| {
                    refused(
                        client_id,
                        "none",
                        "unknown client, or a client with credentials sent none",
                        ClientAuthFailure::Failed,
                    )
                }),
        }
    }
}

/// A request that names no client at all, where one must authenticate: logged, and refused.
pub fn missing_credentials() -> Error {
    tracing::info!(
        reason = "no client credentials",
        "client authentication refused"
    );
    Error::InvalidClient(ClientAuthFailure::Missing)
}

/// A refused client authentication, logged with why.
fn refused(client_id: &str, method: &str, reason: &str, failure: ClientAuthFailure) -> Error {
    tracing::info!(client_id, method, reason, "client authentication refused");
    Error::InvalidClient(failure)
}

fn record(
    client_id: String,
    checked: Checked,
    secret_hash: Option<[u8; 32]>,
    created_at: time::OffsetDateTime,
) -> ClientRecord {
    ClientRecord {
        client_id,
        name: checked.name,
        secret_hash,
        previous_secret: None,
        scope: checked.scope,
        redirect_uris: checked.redirect_uris,
        grant_types: checked.grant_types,
        auth_method: checked.auth_method,
        jwks: checked.jwks,
        post_logout_redirect_uris: checked.post_logout_redirect_uris,
        logout: checked.logout,
        require_par: checked.require_par,
        pkce: checked.pkce,
        allowed_origins: checked.allowed_origins,
        verified: checked.verified,
        application_type: checked.application_type,
        rate_limit: checked.rate_limit,
        created_at,
        revision: 1,
    }
}

/// The requested scope if the client may have all of it; the client's whole scope if none was
/// requested (RFC 6749 §3.3 lets the server choose a default). `open` are scopes any client
/// may ask for without registering them (OpenID Connect's, for a user's consent).
pub fn grant_scope(client: &ClientRecord, requested: &str, open: &[&str]) -> Result<String, Error> {
    if requested.is_empty() {
        return Ok(client.scope.clone());
    }
    let allowed: Vec<&str> = client.scope.split(' ').collect();
    match requested
        .split(' ')
        .find(|scope| !allowed.contains(scope) && !open.contains(scope))
    {
        Some(denied) => Err(Error::InvalidField {
            field: "scope",
            message: format!("`{denied}` is not granted to this client"),
        }),
        None => Ok(requested.to_owned()),
    }
}
