//! Confidential clients (RFC 6749 §2.1): registration and authentication by client secret.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{
    clock::Clock,
    error::Error,
    store::{ClientRecord, ClientStore},
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

pub struct Clients {
    store: Arc<dyn ClientStore>,
    clock: Arc<dyn Clock>,
}

impl Clients {
    pub fn new(store: Arc<dyn ClientStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Registers a client allowed `scope`; the secret is returned this once and never stored.
    pub async fn create(
        &self,
        name: &str,
        scope: String,
    ) -> Result<(ClientRecord, ClientSecret), Error> {
        let secret = ClientSecret::generate();
        let client = ClientRecord {
            client_id: format!("client_{}", uuid::Uuid::new_v4().simple()),
            name: name.to_owned(),
            secret_hash: secret.hash(),
            scope,
            created_at: self.clock.now(),
        };
        self.store.insert_client(&client).await?;
        Ok((client, secret))
    }

    /// Checks a client's credentials. The comparison is constant-time, and an unknown client is
    /// compared against a dummy, so neither timing nor answer says which client ids exist.
    pub async fn authenticate(
        &self,
        client_id: &str,
        secret: &ClientSecret,
    ) -> Result<ClientRecord, Error> {
        let client = self.store.find_client(client_id).await?;
        let expected = client.as_ref().map_or([0u8; 32], |c| c.secret_hash);
        let matches: bool = secret.hash().ct_eq(&expected).into();
        match client {
            Some(client) if matches => Ok(client),
            _ => Err(Error::InvalidClient),
        }
    }
}

/// The requested scope if the client may have all of it; the client's whole scope if none was
/// requested (RFC 6749 §3.3 lets the server choose a default).
pub fn grant_scope(client: &ClientRecord, requested: &str) -> Result<String, Error> {
    if requested.is_empty() {
        return Ok(client.scope.clone());
    }
    let allowed: Vec<&str> = client.scope.split(' ').collect();
    match requested.split(' ').find(|scope| !allowed.contains(scope)) {
        Some(denied) => Err(Error::InvalidField {
            field: "scope",
            message: format!("`{denied}` is not granted to this client"),
        }),
        None => Ok(requested.to_owned()),
    }
}
