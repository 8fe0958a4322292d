//! `signing_keys` table: public JWKs in the clear, private halves only as ciphertext.

use std::str::FromStr;

use async_trait::async_trait;
use jsonwebtoken::Algorithm;
use tokio_postgres::Row;

use super::{Postgres, unavailable};
use crate::{
    store::SealedBox,
    store::{KeyNeed, KeyPurpose, SigningKeyRecord, SigningKeyStore, StoreError, Supersede},
};

/// Serialises key creation across replicas (transaction-scoped advisory lock).
const KEY_CREATION_LOCK: i64 = 0x6175_7468_645f_6b79; // "authd_ky"

const SELECT_KEYS: &str = "SELECT kid, alg, public_jwk, private_key_ciphertext, private_key_nonce,
        master_key_id, created_at, not_before, expires_at, retire_at, purpose
     FROM signing_keys ORDER BY not_before";

pub struct PostgresSigningKeys(pub(super) Postgres);

#[async_trait]
impl SigningKeyStore for PostgresSigningKeys {
    #[tracing::instrument(
        name = "postgres signing_keys.list_keys",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn list_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let client = self.0.client().await?;
        let rows = client
            .query(SELECT_KEYS, &[])
            .await
            .map_err(|err| unavailable(&err))?;
        rows.iter().map(key_from_row).collect()
    }

    #[tracing::instrument(
        name = "postgres signing_keys.replace_sealed",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn replace_sealed(
        &self,
        key: &SigningKeyRecord,
        previous_master_key_id: &str,
    ) -> Result<bool, StoreError> {
        self.0
            .execute(
                "UPDATE signing_keys
                 SET private_key_ciphertext = $2, private_key_nonce = $3, master_key_id = $4
                 WHERE kid = $1 AND master_key_id = $5",
                &[
                    &key.kid,
                    &key.sealed.ciphertext,
                    &key.sealed.nonce,
                    &key.master_key_id,
                    &previous_master_key_id,
                ],
            )
            .await
            .map(|updated| updated == 1)
    }

    #[tracing::instrument(
        name = "postgres signing_keys.insert_key_if",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn insert_key_if(
        &self,
        key: &SigningKeyRecord,
        needed: &KeyNeed,
        supersede: Option<Supersede>,
    ) -> Result<bool, StoreError> {
        let mut client = self.0.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|err| unavailable(&err))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&KEY_CREATION_LOCK])
            .await
            .map_err(|err| unavailable(&err))?;
        let stored = tx
            .query(SELECT_KEYS, &[])
            .await
            .map_err(|err| unavailable(&err))?
            .iter()
            .map(key_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        if !needed(&stored) {
            return Ok(false); // dropping the transaction rolls back and releases the lock
        }
        let public_jwk = serde_json::to_value(&key.public_jwk)
            .map_err(|err| StoreError::Corrupt(format!("public JWK: {err}")))?;
        tx.execute(
            "INSERT INTO signing_keys (kid, alg, public_jwk, private_key_ciphertext,
                 private_key_nonce, master_key_id, created_at, not_before, expires_at, retire_at,
                 purpose)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &key.kid,
                &format!("{:?}", key.algorithm),
                &public_jwk,
                &key.sealed.ciphertext,
                &key.sealed.nonce,
                &key.master_key_id,
                &key.created_at,
                &key.not_before,
                &key.expires_at,
                &key.retire_at,
                &key.purpose.as_str(),
            ],
        )
        .await
        .map_err(|err| unavailable(&err))?;
        // Only keys that sign are superseded; the test key never does.
        if let Some(Supersede {
            signing_ends,
            retire_at,
        }) = supersede
        {
            tx.execute(
                "DELETE FROM signing_keys
                 WHERE kid <> $1 AND not_before >= $2 AND purpose = 'signing'",
                &[&key.kid, &signing_ends],
            )
            .await
            .map_err(|err| unavailable(&err))?;
            tx.execute(
                "UPDATE signing_keys
                 SET expires_at = LEAST(expires_at, $2),
                     retire_at = GREATEST(LEAST(retire_at, $3), LEAST(expires_at, $2))
                 WHERE kid <> $1 AND purpose = 'signing'",
                &[&key.kid, &signing_ends, &retire_at],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        }
        tx.commit().await.map_err(|err| unavailable(&err))?;
        Ok(true)
    }
}

fn key_from_row(row: &Row) -> Result<SigningKeyRecord, StoreError> {
    let corrupt = |what: &str, err: &dyn std::fmt::Display| {
        StoreError::Corrupt(format!("signing_keys.{what}: {err}"))
    };
    let get = |err: tokio_postgres::Error| corrupt("row", &err);
    let alg: String = row.try_get("alg").map_err(get)?;
    let public_jwk: serde_json::Value = row.try_get("public_jwk").map_err(get)?;
    let purpose: String = row.try_get("purpose").map_err(get)?;
    Ok(SigningKeyRecord {
        kid: row.try_get("kid").map_err(get)?,
        algorithm: Algorithm::from_str(&alg).map_err(|err| corrupt("alg", &err))?,
        public_jwk: serde_json::from_value(public_jwk)
            .map_err(|err| corrupt("public_jwk", &err))?,
        sealed: SealedBox {
            nonce: row.try_get("private_key_nonce").map_err(get)?,
            ciphertext: row.try_get("private_key_ciphertext").map_err(get)?,
        },
        master_key_id: row.try_get("master_key_id").map_err(get)?,
        created_at: row.try_get("created_at").map_err(get)?,
        not_before: row.try_get("not_before").map_err(get)?,
        expires_at: row.try_get("expires_at").map_err(get)?,
        retire_at: row.try_get("retire_at").map_err(get)?,
        purpose: KeyPurpose::parse(&purpose).ok_or_else(|| corrupt("purpose", &purpose))?,
    })
}
