//! Signs access tokens with the key ring's current key.

use std::sync::Arc;

use jsonwebtoken::Header;
use time::{Duration, OffsetDateTime};

use super::{ACCESS_TOKEN_TYP, AccessClaims, Actor, Audience, Confirmation};
use crate::{
    error::Error,
    keys::{KeyRing, SigningKey},
    store::{ClientRecord, SessionRecord, UserRecord},
};

/// What a token exchange issues, besides the user it is about.
pub struct Exchanged {
    /// The client that made the exchange.
    pub client_id: String,
    pub audience: Audience,
    pub scope: Option<String>,
    /// The subject token's session, if it had one.
    pub sid: Option<String>,
    pub act: Option<Actor>,
    pub dpop_jkt: Option<String>,
    /// The subject token's `exp`.
    pub not_after: i64,
}

#[derive(Debug)]
pub struct IssuedToken {
    pub token: String,
    pub claims: AccessClaims,
    pub algorithm: jsonwebtoken::Algorithm,
    /// Seconds until `exp` (negative for the test mode's expired tokens).
    pub expires_in: i64,
}

/// Whom a token is about and what it grants, before the times and the id are added.
struct Subject {
    sub: String,
    username: Option<String>,
    client_id: Option<String>,
    sid: Option<String>,
    scope: Option<String>,
    /// Thumbprint of the key the token is bound to.
    jkt: Option<String>,
    /// The PoP scheme's first nonce.
    nonce: Option<String>,
    /// `None`: `AUTHD_AUDIENCE`.
    aud: Option<Audience>,
    act: Option<Actor>,
    /// Unix seconds the token may not outlive (the token it was exchanged for).
    not_after: Option<i64>,
    groups: Option<Vec<String>>,
}

impl Subject {
    fn user(user: &UserRecord, session: Option<&SessionRecord>) -> Self {
        Self {
            sub: user.id.to_string(),
            username: Some(user.username.clone()),
            // A session granted to a client by the code flow names it (RFC 9068 §2.2).
            client_id: session.and_then(|session| session.client_id.clone()),
            sid: session.map(|session| session.id.to_string()),
            scope: session
                .map(|session| session.scope.clone())
                .filter(|scope| !scope.is_empty()),
            jkt: None,
            nonce: None,
            // The resources the session was granted for (RFC 8707), if it named any.
            aud: session.and_then(|session| Audience::many(session.resources.clone())),
            act: None,
            not_after: None,
            groups: None,
        }
    }

    fn bound_to(mut self, jkt: Option<&str>) -> Self {
        self.jkt = jkt.map(str::to_owned);
        self
    }
}

#[derive(Debug)]
pub struct TokenIssuer {
    key_ring: Arc<KeyRing>,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl TokenIssuer {
    pub fn new(key_ring: Arc<KeyRing>, issuer: String, audience: String, ttl: Duration) -> Self {
        Self {
            key_ring,
            issuer,
            audience,
            ttl,
        }
    }

    /// A token for `user`, valid from `now` for the configured lifetime.
    pub fn issue(&self, user: &UserRecord, now: OffsetDateTime) -> Result<IssuedToken, Error> {
        self.issue_in_session(user, None, None, now)
    }

    /// A token for `user` within `session`: it carries the session's id (`sid`) and scope, so
    /// revoking the session revokes it. With `dpop_jkt`, it is bound to that DPoP key.
    pub fn issue_in_session(
        &self,
        user: &UserRecord,
        session: Option<&SessionRecord>,
        dpop_jkt: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<IssuedToken, Error> {
        self.issue_with_groups(user, session, dpop_jkt, None, now)
    }

    /// [`Self::issue_in_session`], carrying the names of the user's groups (for a session
    /// granted the `groups` scope).
    pub fn issue_with_groups(
        &self,
        user: &UserRecord,
        session: Option<&SessionRecord>,
        dpop_jkt: Option<&str>,
        groups: Option<Vec<String>>,
        now: OffsetDateTime,
    ) -> Result<IssuedToken, Error> {
        let mut subject = Subject::user(user, session).bound_to(dpop_jkt);
        subject.groups = groups;
        self.sign_current(subject, now)
    }

    /// A token for the PoP scheme: bound to the user's registered key (`jkt`), carrying the
    /// first `nonce` the user signs with it.
    pub fn issue_pop(
        &self,
        user: &UserRecord,
        jkt: &str,
        nonce: String,
        now: OffsetDateTime,
    ) -> Result<IssuedToken, Error> {
        let mut subject = Subject::user(user, None).bound_to(Some(jkt));
        subject.nonce = Some(nonce);
        self.sign_current(subject, now)
    }

    /// A token for a client acting on its own behalf (client credentials grant): the client is
    /// the subject (RFC 9068 §2.2). `audience`: the resources it asked for, if any.
    pub fn issue_for_client(
        &self,
        client: &ClientRecord,
        scope: String,
        audience: Option<Audience>,
        dpop_jkt: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<IssuedToken, Error> {
        let subject = Subject {
            sub: client.client_id.clone(),
            username: None,
            client_id: Some(client.client_id.clone()),
            sid: None,
            scope: Some(scope).filter(|scope| !scope.is_empty()),
            jkt: dpop_jkt.map(str::to_owned),
            nonce: None,
            aud: audience,
            act: None,
            not_after: None,
            groups: None,
        };
        self.sign_current(subject, now)
    }

    /// A token from a token exchange (RFC 8693): `user`'s, issued to `exchange.client_id` for
    /// `exchange.audience`, within the subject token's session and lifetime, so revoking that
    /// session or waiting out that token ends this one too.
    pub fn issue_exchanged(
        &self,
        user: &UserRecord,
        exchange: Exchanged,
        now: OffsetDateTime,
    ) -> Result<IssuedToken, Error> {
        let subject = Subject {
            sub: user.id.to_string(),
            username: Some(user.username.clone()),
            client_id: Some(exchange.client_id),
            sid: exchange.sid,
            scope: exchange.scope.filter(|scope| !scope.is_empty()),
            jkt: exchange.dpop_jkt,
            nonce: None,
            aud: Some(exchange.audience),
            act: exchange.act,
            not_after: Some(exchange.not_after),
            groups: None,
        };
        self.sign_current(subject, now)
    }

    /// The test mode's token: its lifetime ended an hour ago, and it is signed by a key that
    /// expired and is absent from the JWKS, so every verifier must refuse it.
    pub fn issue_expired(
        &self,
        user: &UserRecord,
        now: OffsetDateTime,
    ) -> Result<IssuedToken, Error> {
        let key = self
            .key_ring
            .expired_test_key()
            .ok_or(Error::ExpiredTokensDisabled)?;
        let issued_at = now - Duration::HOUR - self.ttl;
        self.sign(
            &key,
            Subject::user(user, None),
            now,
            issued_at,
            now - Duration::HOUR,
        )
    }

    fn sign_current(&self, subject: Subject, now: OffsetDateTime) -> Result<IssuedToken, Error> {
        let key = self
            .key_ring
            .signing_key(now)
            .ok_or_else(|| Error::Internal("no signing key is active".to_owned()))?;
        let mut expires_at = now + self.ttl;
        if let Some(not_after) = subject.not_after {
            let not_after = OffsetDateTime::from_unix_timestamp(not_after)
                .map_err(|err| Error::Internal(err.to_string()))?;
            expires_at = expires_at.min(not_after);
        }
        self.sign(&key, subject, now, now, expires_at)
    }

    fn sign(
        &self,
        key: &SigningKey,
        subject: Subject,
        now: OffsetDateTime,
        issued_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<IssuedToken, Error> {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: subject.sub,
            aud: subject
                .aud
                .unwrap_or_else(|| Audience::one(self.audience.clone())),
            exp: expires_at.unix_timestamp(),
            iat: issued_at.unix_timestamp(),
            nbf: issued_at.unix_timestamp(),
            jti: AccessClaims::new_jti(),
            username: subject.username,
            client_id: subject.client_id,
            sid: subject.sid,
            scope: subject.scope,
            cnf: subject.jkt.map(|jkt| Confirmation { jkt }),
            nonce: subject.nonce,
            act: subject.act,
            groups: subject.groups,
        };
        let _span = tracing::info_span!("jwt sign", alg = ?key.algorithm, kid = %key.kid).entered();
        let mut header = Header::new(key.algorithm);
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        header.kid = Some(key.kid.clone());
        let token = key
            .sign(&header, &claims)
            .map_err(|err| Error::Internal(err.to_string()))?;
        Ok(IssuedToken {
            token,
            algorithm: key.algorithm,
            expires_in: (expires_at - now).whole_seconds(),
            claims,
        })
    }
}
