//! What the domain needs from storage, as traits, with Postgres/Redis and in-memory implementations.
//!
//! `serve` wires `postgres` + `redis`; `dev` wires `memory`. Both pass the same contract tests.

pub mod memory;
pub mod postgres;
pub mod redis;
pub mod tls;

use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use jsonwebtoken::Algorithm;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::keys::{PublicJwk, SealedBox};

/// Locks ignoring poison: every critical section behind these locks leaves the data consistent.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint refused the write; nothing was written.
    #[error("{0} already exists")]
    Conflict(UniqueField),
    /// The backing service did not answer (connection refused, pool timeout, server error).
    #[error("{service}: {message}")]
    Unavailable {
        service: &'static str,
        message: String,
    },
    /// Stored data that cannot be read back as written: a bug or tampering.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueField {
    Username,
    Email,
    /// A passkey's credential id, registered already (to this account or another).
    PasskeyCredential,
}

impl std::fmt::Display for UniqueField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UniqueField::Username => "username",
            UniqueField::Email => "email",
            UniqueField::PasskeyCredential => "passkey credential",
        })
    }
}

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    /// Argon2id PHC string; `None` for a passkey-only account, which no password opens.
    pub password_hash: Option<String>,
    pub created_at: OffsetDateTime,
    pub last_login_at: Option<OffsetDateTime>,
    /// The RSA public key (SubjectPublicKeyInfo PEM) for the signed-nonce scheme, if registered.
    pub pop_public_key: Option<String>,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts atomically; a taken username or email (case-insensitive) is `Conflict`.
    async fn insert_user(&self, user: &UserRecord) -> Result<(), StoreError>;
    /// Looks a user up by username, case-insensitively.
    async fn find_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError>;
    async fn find_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError>;
    /// Looks a user up by email, case-insensitively.
    async fn find_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError>;
    async fn record_login(&self, user_id: Uuid, at: OffsetDateTime) -> Result<(), StoreError>;
    /// Sets (or replaces) the user's proof-of-possession public key; false if no such user.
    async fn set_pop_public_key(&self, user_id: Uuid, pem: &str) -> Result<bool, StoreError>;
    /// Deletes the user with everything that is theirs (sessions, consents, profile); false if
    /// no such user.
    async fn delete_user(&self, user_id: Uuid) -> Result<bool, StoreError>;
    /// Sets the password hash, or with `None` makes the account passkey-only: only while the
    /// user has a passkey (checked in the same statement). False if nothing changed.
    async fn set_password_hash(
        &self,
        user_id: Uuid,
        password_hash: Option<&str>,
    ) -> Result<bool, StoreError>;
}

/// A registered passkey (a WebAuthn credential).
#[derive(Debug, Clone)]
pub struct PasskeyRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub credential_id: Vec<u8>,
    /// What its owner called it ("laptop", "phone").
    pub name: String,
    /// webauthn-rs's `Passkey` as JSON: public key, signature counter, backup flags. Public
    /// material only: the private key never leaves the authenticator.
    pub credential: serde_json::Value,
    pub sign_count: u32,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// Inserts, unless the user has `limit` passkeys already (false then). A credential id
    /// registered before, to anyone, is `Conflict(PasskeyCredential)`.
    async fn insert_passkey(&self, passkey: &PasskeyRecord, limit: u64)
    -> Result<bool, StoreError>;
    /// The user's passkeys, oldest first.
    async fn passkeys(&self, user_id: Uuid) -> Result<Vec<PasskeyRecord>, StoreError>;
    async fn find_passkey(&self, credential_id: &[u8])
    -> Result<Option<PasskeyRecord>, StoreError>;
    /// Records a use: the credential's new state, if its counter is still `previous_count`
    /// (compare and swap). False otherwise: another use of the same counter value got there
    /// first, which a single authenticator never does.
    async fn record_passkey_use(
        &self,
        id: Uuid,
        previous_count: u32,
        credential: &serde_json::Value,
        sign_count: u32,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Removes one of the user's passkeys, unless it is the last one of a passkey-only account
    /// (which would lock the user out). False if nothing was removed.
    async fn remove_passkey(&self, user_id: Uuid, id: Uuid) -> Result<bool, StoreError>;
}

/// A user's TOTP authenticator as stored: its secret sealed under a master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRecord {
    pub user_id: Uuid,
    pub sealed_secret: crate::keys::SealedBox,
    pub master_key_id: String,
    pub created_at: OffsetDateTime,
    /// `None` while the user has not yet shown a first code.
    pub confirmed_at: Option<OffsetDateTime>,
    pub last_used_step: u64,
}

/// Second factors (TOTP and its recovery codes).
#[async_trait]
pub trait SecondFactorStore: Send + Sync {
    async fn totp(&self, user_id: Uuid) -> Result<Option<TotpRecord>, StoreError>;
    /// Starts an enrolment: replaces an unconfirmed authenticator, never a confirmed one
    /// (false then: nothing changed).
    async fn begin_totp(&self, record: &TotpRecord) -> Result<bool, StoreError>;
    /// Confirms the unconfirmed authenticator with the step of its first code, and stores its
    /// recovery codes (hashed), at once. False if there was none to confirm.
    async fn confirm_totp(
        &self,
        user_id: Uuid,
        step: u64,
        recovery_code_hashes: &[[u8; 32]],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Spends `step` of a confirmed authenticator: true only if it is later than every step
    /// spent before (RFC 6238 §5.2), so of two logins with one code exactly one passes.
    async fn spend_totp_step(&self, user_id: Uuid, step: u64) -> Result<bool, StoreError>;
    /// Spends a recovery code: true only the first time.
    async fn spend_recovery_code(
        &self,
        user_id: Uuid,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// How many recovery codes are left unspent.
    async fn recovery_codes_left(&self, user_id: Uuid) -> Result<u64, StoreError>;
    /// Removes the authenticator and its recovery codes; whether there was one.
    async fn remove_totp(&self, user_id: Uuid) -> Result<bool, StoreError>;
    /// Every authenticator whose secret is sealed under another master key than `key_id`.
    async fn totp_sealed_elsewhere(&self, key_id: &str) -> Result<Vec<TotpRecord>, StoreError>;
    /// Replaces a secret's sealing, if it is still sealed as `previous` says (a concurrent
    /// re-enrolment wins); whether it was replaced.
    async fn reseal_totp(
        &self,
        previous: &TotpRecord,
        sealed: &crate::keys::SealedBox,
        key_id: &str,
    ) -> Result<bool, StoreError>;
}

/// The small per-user document behind `/api/profile`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub display_name: Option<String>,
    pub phone: Option<String>,
    /// When it was last saved (OpenID Connect's `updated_at`): set by the store, not written.
    pub updated_at: Option<OffsetDateTime>,
}

#[async_trait]
pub trait ProfileStore: Send + Sync {
    async fn profile(&self, user_id: Uuid) -> Result<Option<Profile>, StoreError>;
    /// Replaces the whole document.
    async fn put_profile(
        &self,
        user_id: Uuid,
        profile: &Profile,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
}

/// Short-lived proof state shared by replicas (Redis): proof-of-possession nonces, the DPoP
/// replay guard and DPoP server nonces. Keys are chosen by the caller; every entry expires.
#[async_trait]
pub trait ProofStateStore: Send + Sync {
    /// Stores `value` under `key` for `ttl`.
    async fn put(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError>;
    /// Reads `key`; with `consume`, atomically deletes it too (GETDEL), so of concurrent
    /// readers exactly one gets the value.
    async fn get(&self, key: &str, consume: bool) -> Result<Option<String>, StoreError>;
    /// Records `key` for `ttl` unless it is already recorded; true if this call recorded it.
    async fn insert_new(&self, key: &str, ttl: Duration) -> Result<bool, StoreError>;
}

/// A signing key as stored: the private half only as ciphertext.
#[derive(Debug, Clone)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub algorithm: Algorithm,
    pub public_jwk: PublicJwk,
    pub sealed: SealedBox,
    pub master_key_id: String,
    pub created_at: OffsetDateTime,
    pub not_before: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub retire_at: OffsetDateTime,
    pub purpose: KeyPurpose,
}

/// What a stored key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// Signs access tokens in its window, and is in the JWKS while it verifies.
    Signing,
    /// Signs only the expired-token test mode's tokens (`AUTHD_EXPIRED_TOKENS`): expired from
    /// the start, never in the JWKS, never signing anything else. One at most.
    ExpiredTest,
}

impl KeyPurpose {
    /// As stored in `signing_keys.purpose`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signing => "signing",
            Self::ExpiredTest => "expired_test",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        [Self::Signing, Self::ExpiredTest]
            .into_iter()
            .find(|purpose| purpose.as_str() == stored)
    }
}

/// Decides, from the keys stored when the lock is held, whether a new key is still needed.
pub type KeyNeed = dyn Fn(&[SigningKeyRecord]) -> bool + Send + Sync;

/// How a new key ends the others: they sign no later than `signing_ends` and verify no later
/// than `retire_at`. A key that would only have started signing after `signing_ends` never
/// signed anything, and is deleted.
#[derive(Debug, Clone, Copy)]
pub struct Supersede {
    pub signing_ends: OffsetDateTime,
    pub retire_at: OffsetDateTime,
}

#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    async fn list_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Inserts `key` only if `needed` still holds, deciding under a lock shared by every replica,
    /// so replicas starting together add one key between them. Returns whether it was inserted.
    async fn insert_key_if(
        &self,
        key: &SigningKeyRecord,
        needed: &KeyNeed,
        supersede: Option<Supersede>,
    ) -> Result<bool, StoreError>;
    /// Replaces a key's ciphertext if it is still sealed under `previous_master_key_id`
    /// (so two concurrent rewraps cannot undo each other). Returns whether it did.
    async fn replace_sealed(
        &self,
        key: &SigningKeyRecord,
        previous_master_key_id: &str,
    ) -> Result<bool, StoreError>;
}

/// The channel every replica publishes its changes on and follows
/// ([`crate::invalidation`]).
#[async_trait]
pub trait EventBus: Send + Sync {
    async fn publish(&self, event: &crate::invalidation::Event) -> Result<(), StoreError>;
    /// Every event published from now on, in the order the channel received them, until the
    /// subscription drops (the stream ends). Messages that are not events are skipped.
    async fn subscribe(
        &self,
    ) -> Result<futures_util::stream::BoxStream<'static, crate::invalidation::Event>, StoreError>;
}

crate::metrics::closed_labels! {
    /// How a password check ended: the `auth_logs.outcome` column and the `outcome` label of
    /// `authd_logins_total`.
    pub enum AuthOutcome {
        Success => "success",
        UnknownUser => "unknown_user",
        WrongPassword => "wrong_password",
    }
}

#[derive(Debug, Clone)]
pub struct AuthLogEntry {
    pub request_ip: IpAddr,
    pub request_timestamp: OffsetDateTime,
    pub user_id: Option<Uuid>,
    pub outcome: AuthOutcome,
    pub user_agent: Option<String>,
}

#[async_trait]
pub trait AuthLogStore: Send + Sync {
    /// Appends `entries`, all or none.
    async fn append(&self, entries: &[AuthLogEntry]) -> Result<(), StoreError>;
}

/// The verdict of one sliding-window check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    /// Over the limit; the oldest counted request leaves the window after `retry_after`.
    Limited {
        retry_after: Duration,
    },
}

/// Whether a rate-limit decision counts the request it decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tally {
    /// Admitted requests are counted (a request limit).
    Count,
    /// Nothing is counted: only whether `limit` is already reached (failures are counted apart).
    Peek,
}

#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// Allowed if fewer than `limit` hits for `key` fall within `window` before `now`; with
    /// [`Tally::Count`], an allowed request is counted too.
    async fn hit(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
        now: OffsetDateTime,
        tally: Tally,
    ) -> Result<RateDecision, StoreError>;
}

/// What a revocation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationKind {
    /// One access token, by its `jti`.
    Token,
    /// A session (refresh-token family), by the `sid` its access tokens carry.
    Session,
}

impl RevocationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationKind::Token => "jti",
            RevocationKind::Session => "sid",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub kind: RevocationKind,
    pub id: String,
    /// After this the revoked thing is dead anyway, and the revocation can be forgotten.
    pub expires_at: OffsetDateTime,
}

/// The durable revocation list (Postgres): the truth, consulted when the shared cache cannot be.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    async fn revoke(&self, revocation: &Revocation, now: OffsetDateTime) -> Result<(), StoreError>;
    /// Whether the token `jti`, or the session `sid` it belongs to, is revoked.
    async fn is_revoked(&self, jti: &str, sid: Option<&str>) -> Result<bool, StoreError>;
    /// Every revocation that has not expired by `now`, to repopulate the shared cache.
    async fn unexpired(&self, now: OffsetDateTime) -> Result<Vec<Revocation>, StoreError>;
}

/// What one round trip to the shared cache says about a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenStatus {
    pub revoked: bool,
    /// False when the cache lost its data (restart, flush) and must not be trusted for
    /// revocations until it is reloaded from the durable list.
    pub revocations_loaded: bool,
}

/// The shared revocation mirror (Redis), asked when a replica's memory is not current.
///
/// It holds no verified tokens: a verified-token cache anyone with Redis write access could
/// fill would let them plant claims for a token authd never signed. Each replica keeps its own.
#[async_trait]
pub trait TokenStateCache: Send + Sync {
    /// One round trip: revocation of `jti` and `sid`, and whether the list is loaded.
    async fn status(&self, jti: &str, sid: Option<&str>) -> Result<TokenStatus, StoreError>;
    /// Records a revocation for `ttl`.
    async fn revoke(&self, revocation: &Revocation, ttl: Duration) -> Result<(), StoreError>;
    /// Replaces the revocation list with `revocations` and marks it loaded.
    async fn load_revocations(
        &self,
        revocations: &[Revocation],
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
}

/// A session: the family of refresh tokens descended from one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub scope: String,
    pub created_at: OffsetDateTime,
    /// The DPoP key thumbprint its refresh tokens are bound to (RFC 9449 §5), if any.
    pub dpop_jkt: Option<String>,
    /// The client the session was granted to by the code flow; `None` for the password grant
    /// and the web UI's own sessions.
    pub client_id: Option<String>,
    /// The login the session continues: a web UI session's own, or the one a code-flow
    /// session's code came from. `None` for the password grant and `/auth`.
    pub login: Option<crate::oidc::Login>,
    /// The resources (RFC 8707) the session was granted for: its access tokens' `aud`. Empty
    /// for `AUTHD_AUDIENCE`.
    pub resources: Vec<String>,
}

impl SessionRecord {
    /// Whether a refresh presented with `dpop_jkt` (the proof's key, if any) may continue this
    /// session: always for an unbound session, only with its own key for a bound one.
    pub fn accepts_key(&self, dpop_jkt: Option<&str>) -> bool {
        self.dpop_jkt.is_none() || self.dpop_jkt.as_deref() == dpop_jkt
    }

    /// Whether a refresh by `client_id` (the authenticated client, if any) may continue this
    /// session: always for a session no client was granted, only by its own client otherwise.
    pub fn accepts_client(&self, client_id: Option<&str>) -> bool {
        self.client_id.is_none() || self.client_id.as_deref() == client_id
    }
}

/// A live session as its user sees it in a list: when it began, when its refresh token last
/// turned over, and when the current one expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    pub session: SessionRecord,
    /// When the live refresh token was issued: the login, or the latest refresh.
    pub refreshed_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// One refresh token as stored: only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub id: Uuid,
    pub token_hash: [u8; 32],
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// It was live: it is now used, and `next` replaces it in the same session.
    Rotated(SessionRecord),
    /// It had been used before: the whole session is now revoked.
    Reused(SessionRecord),
    /// It is live, but its session is bound to another DPoP key than the one presented:
    /// nothing changed, so a thief without the key cannot spend the owner's token.
    WrongKey,
    /// It is live, but its session was granted to another client than the one that presented
    /// it (or to a client, and none authenticated): nothing changed.
    WrongClient,
    /// Unknown, expired, or already revoked.
    Invalid,
    /// Live, but its session is older than the absolute session lifetime: nothing changed,
    /// and the user must sign in again (ASVS 3.3.2).
    Ended,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn start_session(
        &self,
        session: &SessionRecord,
        first: &RefreshTokenRecord,
    ) -> Result<(), StoreError>;
    /// Atomically: if `presented` is live, mark it used and add `next` to its session; if it was
    /// used already, revoke the session and all its tokens. Of concurrent calls with one token,
    /// exactly one rotates. A live token of a DPoP-bound session rotates only when `dpop_jkt`
    /// is the session's key, and one of a session granted to a client only when `client_id`
    /// is that client.
    /// A session lives at most `session_lifetime` from its start, however often it is
    /// refreshed: `next` expires by then.
    async fn rotate(
        &self,
        presented: &[u8; 32],
        dpop_jkt: Option<&str>,
        client_id: Option<&str>,
        next: &RefreshTokenRecord,
        session_lifetime: time::Duration,
        now: OffsetDateTime,
    ) -> Result<Rotation, StoreError>;
    /// The session of a live (unused, unexpired, unrevoked) refresh token, and when it expires.
    async fn find_live(
        &self,
        presented: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<(SessionRecord, OffsetDateTime)>, StoreError>;
    /// Session `session_id` of `user_id`, if it exists and is not revoked.
    async fn find_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// Revokes the session `presented` belongs to, returning it if there was one to revoke.
    async fn revoke_session(
        &self,
        presented: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// The user's sessions that hold a live refresh token, newest first.
    async fn live_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionSummary>, StoreError>;
    /// Revokes every live session `user_id` granted `client_id`, returning them.
    async fn revoke_client_sessions(
        &self,
        user_id: Uuid,
        client_id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError>;
    /// Revokes session `session_id` if it is `user_id`'s and not yet revoked, returning it.
    async fn revoke_session_by_id(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError>;
}

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
    pub grant_types: Vec<String>,
    pub auth_method: ClientAuthMethod,
    /// The client's public JWK set (JSON), for `private_key_jwt`.
    pub jwks: Option<String>,
    /// Where RP-initiated logout may return the browser.
    pub post_logout_redirect_uris: Vec<String>,
    /// Authorization requests must be pushed first (RFC 9126 §6).
    pub require_par: bool,
    pub created_at: OffsetDateTime,
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

    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|allowed| allowed == grant_type)
    }
}

#[async_trait]
pub trait ClientStore: Send + Sync {
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError>;
    async fn find_client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError>;
    /// Every client, oldest first.
    async fn list_clients(&self) -> Result<Vec<ClientRecord>, StoreError>;
    /// Replaces the client's registration (not its id or creation time); false if unknown.
    async fn update_client(&self, client: &ClientRecord) -> Result<bool, StoreError>;
    /// Deletes the client with its consents and sessions; false if unknown.
    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError>;
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

/// What one cleanup pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanupReport {
    pub refresh_tokens: u64,
    pub sessions: u64,
    pub revocations: u64,
    pub signing_keys: u64,
    pub auth_logs: u64,
}

/// Deletes what can no longer matter. Used-but-unexpired refresh tokens stay: reuse detection
/// needs them.
#[async_trait]
pub trait Housekeeping: Send + Sync {
    /// `None` when another replica holds the cleanup lock (it is doing the work). Keys retired
    /// before `retired_keys_before` go, except the expired-token test key while
    /// `keep_expired_test_key` (the test mode is on and signs with it).
    async fn clean(
        &self,
        now: OffsetDateTime,
        retired_keys_before: OffsetDateTime,
        keep_expired_test_key: bool,
        auth_logs_before: OffsetDateTime,
    ) -> Result<Option<CleanupReport>, StoreError>;
}

/// A dependency whose reachability decides readiness.
#[async_trait]
pub trait Probe: Send + Sync {
    fn name(&self) -> &'static str;
    async fn ping(&self) -> Result<(), StoreError>;
    /// The state of the dependency's connection pool, for metrics.
    fn pool_status(&self) -> Option<PoolStatus> {
        None
    }
}

/// A connection pool's state: its bound, open and idle connections, and callers waiting now;
/// and since start, how many connections were handed out, the time callers spent waiting for
/// them, and how many could not be had (pool timeout, connection refused).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolStatus {
    pub max_size: usize,
    pub size: usize,
    pub available: usize,
    pub waiting: usize,
    pub acquired: u64,
    pub wait_seconds: f64,
    pub failed: u64,
}

/// Counts kept beside a pool as callers take connections from it.
#[derive(Debug, Default)]
pub struct PoolCounters {
    acquired: AtomicU64,
    wait_micros: AtomicU64,
    failed: AtomicU64,
}

impl PoolCounters {
    /// Records one attempt to take a connection, begun at `started`.
    pub fn record<T, E>(&self, started: Instant, result: &Result<T, E>) {
        let waited = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.wait_micros.fetch_add(waited, Ordering::Relaxed);
        let counter = if result.is_ok() {
            &self.acquired
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Both pools are deadpool's (one version, one `Status` type).
    pub fn status(&self, pool: deadpool_postgres::Status) -> PoolStatus {
        PoolStatus {
            max_size: pool.max_size,
            size: pool.size,
            available: pool.available,
            waiting: pool.waiting,
            acquired: self.acquired.load(Ordering::Relaxed),
            wait_seconds: Duration::from_micros(self.wait_micros.load(Ordering::Relaxed))
                .as_secs_f64(),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}

/// Everything authd stores, behind traits.
#[derive(Clone)]
pub struct Stores {
    pub users: Arc<dyn UserStore>,
    pub signing_keys: Arc<dyn SigningKeyStore>,
    pub auth_logs: Arc<dyn AuthLogStore>,
    pub rate_limits: Arc<dyn RateLimitStore>,
    pub revocations: Arc<dyn RevocationStore>,
    pub token_cache: Arc<dyn TokenStateCache>,
    pub sessions: Arc<dyn SessionStore>,
    pub clients: Arc<dyn ClientStore>,
    pub consents: Arc<dyn ConsentStore>,
    pub profiles: Arc<dyn ProfileStore>,
    pub second_factors: Arc<dyn SecondFactorStore>,
    pub passkeys: Arc<dyn PasskeyStore>,
    pub proof_state: Arc<dyn ProofStateStore>,
    pub events: Arc<dyn EventBus>,
    pub housekeeping: Arc<dyn Housekeeping>,
    pub probes: Vec<Arc<dyn Probe>>,
}
