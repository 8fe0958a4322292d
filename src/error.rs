//! The domain's failure kinds. `http::error` is the one place that turns them into responses.

use std::time::Duration;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field failed validation; `field` names it for the client.
    #[error("{field}: {message}")]
    InvalidField {
        field: &'static str,
        message: String,
    },
    #[error("the request is missing credentials: send a JSON body or HTTP Basic")]
    MissingCredentials,
    #[error("username is already taken")]
    UsernameTaken,
    #[error("email is already registered")]
    EmailTaken,
    /// Wrong password or unknown user: deliberately one variant so no caller can tell them apart.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// A TOTP or recovery code that is wrong, expired or already used: one answer for all.
    #[error(
        "the code is not valid: use a current code from your authenticator app, or an unused recovery code"
    )]
    InvalidSecondFactor,
    /// A passkey ceremony that failed: a wrong origin or relying party, a replayed or unknown
    /// challenge, a signature that does not verify, an unknown credential, or a counter that
    /// went backwards (a cloned authenticator). One answer for all; the log says which.
    #[error("the passkey was not accepted: start again, and use a passkey registered here")]
    InvalidPasskey,
    /// The same authenticator credential registered twice (to this account or another).
    #[error("this passkey is registered already")]
    PasskeyTaken,
    /// Passkeys need a relying-party id: a domain name in `AUTHD_PUBLIC_URL`, not an address.
    #[error("passkeys are not available on this server (AUTHD_PUBLIC_URL has no domain name)")]
    PasskeysUnavailable,
    /// A mailed link that is unknown, used, expired, or for an address the account no longer
    /// has: one answer for all.
    #[error(
        "this link is not valid: it was used already, it expired, or it was replaced by a newer one"
    )]
    InvalidLink,
    /// A feature that mails a link, on a server with no mail server (`AUTHD_SMTP_URL`).
    #[error("this server sends no mail, so {0} is not available: ask your administrator")]
    MailUnavailable(&'static str),
    /// A password-only route (the password grant, `/auth`, `/pop/login`) for an account with a
    /// second factor, which those routes cannot carry.
    #[error(
        "this account has a second factor: sign in through the web UI or the authorization code flow"
    )]
    SecondFactorRequired,
    /// No access token was presented (RFC 6750 §3.1: answered without an error code).
    #[error("an access token is required")]
    MissingToken,
    #[error(transparent)]
    InvalidToken(#[from] InvalidToken),
    /// RFC 6749 §5.2 `invalid_grant`: bad password-grant credentials or refresh token.
    #[error("{0}")]
    InvalidGrant(&'static str),
    /// RFC 6749 §5.2 `invalid_client`, and why.
    #[error(transparent)]
    InvalidClient(ClientAuthFailure),
    /// A token presented with the DPoP scheme was refused: challenged with `DPoP`, not `Bearer`
    /// (RFC 9449 §7.1).
    #[error(transparent)]
    InvalidDpopToken(InvalidToken),
    /// A DPoP proof (RFC 9449 §4.3) was missing, malformed, or did not match the request.
    #[error("invalid DPoP proof: {0}")]
    InvalidDpopProof(String),
    /// The DPoP proof lacks a current server nonce (RFC 9449 §8); `nonce` is a fresh one.
    #[error("a DPoP server nonce is required: sign the next proof with the one in DPoP-Nonce")]
    UseDpopNonce { nonce: String },
    /// A signed-nonce proof of possession (PoP scheme) was missing or did not verify.
    #[error("proof of possession failed: {0}")]
    InvalidPopProof(&'static str),
    /// A proof-of-possession public key that cannot be used; the message says why.
    #[error("public_key {0}")]
    InvalidPublicKey(&'static str),
    /// PoP login for a user that has registered no public key.
    #[error("no public key is registered for this user: add one with PUT /me/public-key")]
    PopKeyRequired,
    /// An OAuth request refused with a specific RFC error code (`unauthorized_client`,
    /// `invalid_request_uri`, `invalid_redirect_uri`, `invalid_client_metadata`, ...).
    #[error("{description}")]
    OAuth {
        code: &'static str,
        description: String,
    },
    /// A name another record holds already (a group's, a client's id).
    #[error("{0} is taken")]
    Taken(&'static str),
    /// The administered record named does not exist.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// A conditional write (`If-Match`) whose revision is no longer current: nothing was
    /// written.
    #[error("the {0} was changed since it was read: read it again (its ETag) and retry")]
    PreconditionFailed(&'static str),
    /// A caller who may not do this, whatever their token says (a user outside the admin
    /// group).
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// A valid token without the scope the route needs (RFC 6750 §3.1).
    #[error("the access token lacks the scope this request needs: {0}")]
    InsufficientScope(&'static str),
    #[error("unsupported grant_type: {0}")]
    UnsupportedGrantType(String),
    #[error("too many requests")]
    RateLimited { retry_after: Duration },
    #[error("expired-token test mode is disabled on this server")]
    ExpiredTokensDisabled,
    /// A backing service (Postgres, Redis) could not answer.
    #[error("{service} is unavailable")]
    Unavailable {
        service: &'static str,
        #[source]
        source: StoreError,
    },
    /// A login through an upstream identity provider that cannot go on; the words are safe to
    /// show the person.
    #[error("{message}")]
    Federation {
        failure: FederationFailure,
        message: String,
    },
    /// A bug or a broken invariant; logged with its cause, answered without details.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Whose doing a failed upstream login was, which decides its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FederationFailure {
    /// authd's rules refuse it (an address that is a local account's, no account to sign in
    /// to): 403.
    Refused,
    /// The answer that came back is not acceptable (a forged or stale `state`, a token that
    /// does not verify, an error the upstream reported): 400.
    Invalid,
    /// The upstream (or the directory) could not be reached or answered nonsense: 503.
    Unreachable,
}

/// Why a client's authentication failed, as its `error_description` says it.
///
/// A secret gets one answer whatever went wrong (unknown client, wrong secret, wrong method):
/// telling them apart would let anyone probe which client ids exist. The holder of a signed
/// assertion learns nothing it does not hold already from which rule its assertion broke, and
/// a library's default that authd refuses is found in minutes instead of hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClientAuthFailure {
    #[error("client authentication failed")]
    Failed,
    #[error(
        "client authentication failed: the request carries no client credentials (send \
         client_id, with the secret in HTTP Basic or the form, or a client_assertion)"
    )]
    Missing,
    #[error(
        "client authentication failed: the assertion may be valid for at most 3600 seconds \
         (exp after iat); sign one that expires sooner"
    )]
    AssertionLifetime,
    #[error("client authentication failed: the assertion has expired (exp)")]
    AssertionExpired,
    #[error(
        "client authentication failed: the assertion's aud must be the issuer or the URL of the \
         endpoint it is sent to"
    )]
    AssertionAudience,
    #[error(
        "client authentication failed: the assertion's signature does not verify with the \
         client's registered key"
    )]
    AssertionSignature,
    #[error(
        "client authentication failed: no key the client registered fits the assertion's kid \
         and alg (ES256, PS256, RS256 or EdDSA)"
    )]
    AssertionUnknownKey,
    #[error(
        "client authentication failed: the assertion's jti was used before; sign a new \
         assertion for each request"
    )]
    AssertionReplayed,
    #[error(
        "client authentication failed: the assertion must be a signed JWT whose iss and sub are \
         the client id, with exp and jti"
    )]
    AssertionMalformed,
}

impl Error {
    /// The one `invalid_client` answer for credentials that say nothing more.
    pub const CLIENT_AUTH_FAILED: Self = Self::InvalidClient(ClientAuthFailure::Failed);

    pub fn oauth(code: &'static str, description: impl Into<String>) -> Self {
        Self::OAuth {
            code,
            description: description.into(),
        }
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable { service, .. } => Error::Unavailable {
                service,
                source: err,
            },
            other => Error::Internal(other.to_string()),
        }
    }
}

/// Why an access token was refused (`tokens::TokenVerifier`). Shown to the client as
/// `error_description` (RFC 6750 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidToken {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token is not an access token (typ must be at+jwt)")]
    WrongType,
    #[error("the token uses an unsupported critical header extension")]
    CriticalExtension,
    #[error("the token was not signed by a key of this authority")]
    UnknownKey,
    #[error("the token signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by another authority")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("the token has been revoked")]
    Revoked,
    #[error("the token's user no longer exists")]
    UnknownSubject,
    #[error("the token is bound to a key: present it with the DPoP or PoP scheme and a proof")]
    BoundToKey,
    #[error("the token is not bound to a key: present it as a Bearer token")]
    NotBound,
    #[error("the proof was made with a key other than the one the token is bound to")]
    KeyMismatch,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
