//! Nonces of the signed-nonce scheme, kept in the shared store as `nonce:{nonce}` → the `jti` of
//! the token they were issued with, so any replica can check them and each works once.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use time::{Duration, OffsetDateTime};

use crate::{
    clock::{Clock, remaining},
    error::Error,
    store::ProofStateStore,
};

pub struct PopNonces {
    store: Arc<dyn ProofStateStore>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    /// The seed's mode: one nonce serves every call for the token's whole life.
    reuse: bool,
}

impl PopNonces {
    pub fn new(
        store: Arc<dyn ProofStateStore>,
        clock: Arc<dyn Clock>,
        ttl: Duration,
        reuse: bool,
    ) -> Self {
        Self {
            store,
            clock,
            ttl,
            reuse,
        }
    }

    /// 128 random bits, base64url (the seed used `secrets.token_urlsafe(16)`).
    pub fn generate() -> String {
        let mut bytes = [0u8; 16];
        rand::fill(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Makes `nonce` usable with the token `jti` until the nonce TTL passes (or, when nonces
    /// are reusable, until the token expires). Redis down is an error: never a silent accept.
    pub async fn remember(
        &self,
        nonce: &str,
        jti: &str,
        token_expires_at: OffsetDateTime,
    ) -> Result<(), Error> {
        let now = self.clock.now();
        let lifetime = if self.reuse {
            token_expires_at
        } else {
            token_expires_at.min(now + self.ttl)
        };
        let ttl = remaining(lifetime, now);
        if ttl.is_zero() {
            return Err(Error::InvalidPopProof("the token has expired"));
        }
        self.store.put(&key(nonce), jti, ttl).await?;
        Ok(())
    }

    /// Accepts `nonce` for the token `jti` once (or, when reusable, while it lives).
    pub async fn redeem(&self, nonce: &str, jti: &str) -> Result<(), Error> {
        let bound_to = self.store.get(&key(nonce), !self.reuse).await?;
        match bound_to {
            Some(bound) if bound == jti => Ok(()),
            _ => Err(Error::InvalidPopProof(
                "the nonce is unknown, expired, already used, or belongs to another token",
            )),
        }
    }

    /// After a successful call, the nonce for the next one; `None` when nonces are reusable.
    pub async fn next(
        &self,
        jti: &str,
        token_expires_at: OffsetDateTime,
    ) -> Result<Option<String>, Error> {
        if self.reuse {
            return Ok(None);
        }
        let nonce = Self::generate();
        self.remember(&nonce, jti, token_expires_at).await?;
        Ok(Some(nonce))
    }
}

fn key(nonce: &str) -> String {
    format!("nonce:{nonce}")
}
