//! Registered clients and the consents users gave them.

use std::num::NonZeroU32;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreError;
use crate::grant_type::GrantType;

/// How a client proves who it is at the token endpoint (RFC 7591 §2,
/// `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientAuthMethod {
    /// The secret in HTTP Basic. authd also takes it in the form: the secret is the same.
    ClientSecretBasic,
    /// The secret in the form. authd also takes it in HTTP Basic.
    ClientSecretPost,
    /// A JWT signed with a key of the client's registered JWK set (RFC 7523 §2.2).
    PrivateKeyJwt,
    /// A public client (a browser or native app): it holds no secret, and PKCE alone ties the
    /// code to it.
    None,
}

impl ClientAuthMethod {
    pub const ALL: [Self; 4] = [
        Self::ClientSecretBasic,
        Self::ClientSecretPost,
        Self::PrivateKeyJwt,
        Self::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|method| method.as_str() == value)
    }

    /// Whether the client holds a secret authd issued.
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }
}

/// Whether a confidential client's authorization requests need PKCE (RFC 9700 §2.1.1).
/// Public and native clients need PKCE whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PkcePolicy {
    /// Every request carries an S256 `code_challenge`.
    Required,
    /// PKCE, or an OpenID Connect request with a `nonce` (RFC 9700 §2.1.1, §4.5.3.2): the ID
    /// token echoes the nonce, which the client checks, so an injected code is caught.
    NonceAllowed,
}

impl PkcePolicy {
    pub const ALL: [Self; 2] = [Self::Required, Self::NonceAllowed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::NonceAllowed => "nonce-allowed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|policy| policy.as_str() == value)
    }
}

/// What kind of software the client is (OpenID Connect Dynamic Registration §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ApplicationType {
    /// Runs on a server or in a browser, reached at https addresses.
    #[default]
    Web,
    /// Runs on the user's device (RFC 8252): returns through a private-use URI scheme, a
    /// claimed https address or a loopback port, and always uses PKCE.
    Native,
}

impl ApplicationType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Native => "native",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Web, Self::Native]
            .into_iter()
            .find(|kind| kind.as_str() == value)
    }
}

/// A registered client (RFC 6749 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    pub client_id: String,
    pub name: String,
    /// SHA-256 of the secret, for the secret methods; `None` otherwise.
    pub secret_hash: Option<[u8; 32]>,
    /// The secret a rotation replaced, while it is still accepted.
    pub previous_secret: Option<PreviousSecret>,
    /// The scopes this client may be granted, space-separated.
    pub scope: String,
    /// Where the authorization endpoint may send codes: compared exactly (RFC 9700 §2.1).
    pub redirect_uris: Vec<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials`.
    pub grant_types: Vec<GrantType>,
    pub auth_method: ClientAuthMethod,
    /// The client's public JWK set (JSON), for `private_key_jwt`.
    pub jwks: Option<String>,
    /// Where RP-initiated logout may return the browser.
    pub post_logout_redirect_uris: Vec<String>,
    /// How the client is told that a session of its ended.
    pub logout: LogoutChannels,
    /// Authorization requests must be pushed first (RFC 9126 §6).
    pub require_par: bool,
    /// Whether requests without PKCE may rely on `nonce`; `None`: the server's default.
    pub pkce: Option<PkcePolicy>,
    /// The browser origins that may call the token, revocation and userinfo endpoints, as
    /// registered; empty: the origins of the redirect URIs (see [`ClientRecord::origins`]).
    pub allowed_origins: Vec<String>,
    /// An operator vouches for the client's name. Clients registered through RFC 7591 are not,
    /// until an operator says so, and the consent page tells the user.
    pub verified: bool,
    pub application_type: ApplicationType,
    /// Requests per second at the endpoints a client authenticates to; `None`: the server's
    /// default.
    pub rate_limit: Option<NonZeroU32>,
    pub created_at: OffsetDateTime,
    /// Bumped by the store on every change: the admin API's `ETag`. An update writes only over
    /// the revision it was made from.
    pub revision: i64,
}

/// Where a client hears that a session of its ended (OpenID Connect Back-Channel Logout 1.0
/// §2.2, Front-Channel Logout 1.0 §2): `None` for a channel it did not register.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogoutChannels {
    /// authd POSTs a logout token here.
    pub backchannel_uri: Option<String>,
    /// The client needs `sid` in its logout tokens (authd always sends it).
    pub backchannel_session_required: bool,
    /// authd's sign-out page loads this in an iframe.
    pub frontchannel_uri: Option<String>,
    /// The client needs `iss` and `sid` in its front-channel URI's query.
    pub frontchannel_session_required: bool,
}

/// A replaced client secret, accepted beside the new one until `expires_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviousSecret {
    /// SHA-256 of the secret.
    pub hash: [u8; 32],
    pub expires_at: OffsetDateTime,
}

impl ClientRecord {
    /// A public client cannot keep a secret (RFC 6749 §2.1).
    pub fn is_public(&self) -> bool {
        self.auth_method == ClientAuthMethod::None
    }

    pub fn allows_grant(&self, grant_type: GrantType) -> bool {
        self.grant_types.contains(&grant_type)
    }

    /// The browser origins this client's scripts call from: the registered ones, or else the
    /// http(s) redirect URIs' origins (a single-page app is served where it is sent back to).
    pub fn origins(&self) -> Vec<String> {
        if !self.allowed_origins.is_empty() {
            return self.allowed_origins.clone();
        }
        let mut origins: Vec<String> = Vec::new();
        for uri in &self.redirect_uris {
            if let Some(origin) = web_origin(uri)
                && !origins.contains(&origin)
            {
                origins.push(origin);
            }
        }
        origins
    }
}

/// The origin of an http(s) URI as browsers send it in `Origin` (a private-use scheme has
/// none).
pub fn web_origin(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization())
}

#[async_trait]
pub trait ClientStore: Send + Sync {
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError>;
    async fn find_client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError>;
    /// Every client, oldest first.
    async fn list_clients(&self) -> Result<Vec<ClientRecord>, StoreError>;
    /// Clients in id order after `after`, at most `limit`.
    async fn list_clients_page(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ClientRecord>, StoreError> {
        let mut clients = self.list_clients().await?;
        clients.retain(|client| after.is_none_or(|after| client.client_id.as_str() > after));
        clients.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        clients.truncate(limit as usize);
        Ok(clients)
    }
    /// Replaces the client's registration (not its id or creation time) if its stored revision
    /// is still `client.revision`; false if unknown or changed since.
    async fn update_client(&self, client: &ClientRecord) -> Result<bool, StoreError>;
    /// Deletes the client with its consents and sessions; false if unknown.
    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError>;
    /// Whether `origin` is one some client may call from ([`ClientRecord::origins`]), for
    /// CORS.
    async fn origin_allowed(&self, origin: &str) -> Result<bool, StoreError> {
        Ok(self
            .list_clients()
            .await?
            .iter()
            .any(|client| client.origins().iter().any(|known| known == origin)))
    }
}

/// What a user allowed a client: the scopes, remembered so the next login does not ask again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub user_id: Uuid,
    pub client_id: String,
    /// Space-separated; may be empty (the client asked for no scope).
    pub scope: String,
    pub granted_at: OffsetDateTime,
}

/// A consent as the user's "Connected applications" list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentSummary {
    pub consent: Consent,
    pub client_name: String,
}

#[async_trait]
pub trait ConsentStore: Send + Sync {
    async fn find_consent(
        &self,
        user_id: Uuid,
        client_id: &str,
    ) -> Result<Option<Consent>, StoreError>;
    /// Records `consent`, replacing an earlier one for the same user and client.
    async fn save_consent(&self, consent: &Consent) -> Result<(), StoreError>;
    /// The user's consents, newest first.
    async fn list_consents(&self, user_id: Uuid) -> Result<Vec<ConsentSummary>, StoreError>;
    /// Forgets the consent; false if there was none.
    async fn delete_consent(&self, user_id: Uuid, client_id: &str) -> Result<bool, StoreError>;
}
