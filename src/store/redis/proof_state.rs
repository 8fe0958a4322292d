//! Proof state shared by replicas: `nonce:{id}` (proof-of-possession nonces), `dpop:{jti}` (the
//! DPoP replay guard), `dpop-nonce:{nonce}` (DPoP server nonces), `client-assertion:{client}:{jti}`
//! (the `private_key_jwt` replay guard), and the code flow's `authz-request:{id}`,
//! `par:{id}`, `authz-code:{hash}` and `authz-code-used:{hash}`. All expire.

use std::time::Duration;

use async_trait::async_trait;

use super::{Redis, millis, unavailable};
use crate::store::{ProofStateStore, StoreError};

pub struct RedisProofState(pub Redis);

#[async_trait]
impl ProofStateStore for RedisProofState {
    async fn put(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut connection = self.0.connection().await?;
        redis::cmd("SET")
            .arg(self.0.key(key))
            .arg(value)
            .arg("PX")
            .arg(millis(ttl))
            .query_async::<()>(&mut connection)
            .await
            .map_err(|err| unavailable(&err))
    }

    async fn get(&self, key: &str, consume: bool) -> Result<Option<String>, StoreError> {
        let mut connection = self.0.connection().await?;
        redis::cmd(if consume { "GETDEL" } else { "GET" })
            .arg(self.0.key(key))
            .query_async(&mut connection)
            .await
            .map_err(|err| unavailable(&err))
    }

    async fn insert_new(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut connection = self.0.connection().await?;
        // SET NX answers OK when it wrote and nil when the key was there.
        let written: Option<String> = redis::cmd("SET")
            .arg(self.0.key(key))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut connection)
            .await
            .map_err(|err| unavailable(&err))?;
        Ok(written.is_some())
    }
}
