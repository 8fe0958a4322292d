//! `totp_factors` and `recovery_codes`: the second factors of interactive logins.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Postgres, unavailable};
use crate::{
    store::SealedBox,
    store::{SecondFactorStore, StoreError, TotpRecord},
};

pub struct PostgresSecondFactors(pub(super) Postgres);

fn totp_from_row(row: &tokio_postgres::Row) -> TotpRecord {
    TotpRecord {
        user_id: row.get("user_id"),
        sealed_secret: SealedBox {
            ciphertext: row.get("secret_ciphertext"),
            nonce: row.get("secret_nonce"),
        },
        master_key_id: row.get("master_key_id"),
        created_at: row.get("created_at"),
        confirmed_at: row.get("confirmed_at"),
        last_used_step: u64::try_from(row.get::<_, i64>("last_used_step")).unwrap_or(0),
    }
}

/// Steps are Unix time / 30 s: far inside `bigint`.
fn to_db(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

#[async_trait]
impl SecondFactorStore for PostgresSecondFactors {
    #[tracing::instrument(
        name = "postgres second_factors.totp",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn totp(&self, user_id: Uuid) -> Result<Option<TotpRecord>, StoreError> {
        let (client, statement) = self
            .0
            .prepared(
                "SELECT user_id, secret_ciphertext, secret_nonce, master_key_id, created_at,
                        confirmed_at, last_used_step
                 FROM totp_factors WHERE user_id = $1",
            )
            .await?;
        let row = client
            .query_opt(&statement, &[&user_id])
            .await
            .map_err(|err| unavailable(&err))?;
        Ok(row.as_ref().map(totp_from_row))
    }

    #[tracing::instrument(
        name = "postgres second_factors.begin_totp",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn begin_totp(&self, record: &TotpRecord) -> Result<bool, StoreError> {
        // One statement: a confirmed authenticator is never overwritten, even by a race.
        let written = self
            .0
            .execute(
                "INSERT INTO totp_factors
                     (user_id, secret_ciphertext, secret_nonce, master_key_id, created_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (user_id) DO UPDATE SET
                     secret_ciphertext = EXCLUDED.secret_ciphertext,
                     secret_nonce = EXCLUDED.secret_nonce,
                     master_key_id = EXCLUDED.master_key_id,
                     created_at = EXCLUDED.created_at,
                     last_used_step = 0
                 WHERE totp_factors.confirmed_at IS NULL",
                &[
                    &record.user_id,
                    &record.sealed_secret.ciphertext,
                    &record.sealed_secret.nonce,
                    &record.master_key_id,
                    &record.created_at,
                ],
            )
            .await?;
        Ok(written == 1)
    }

    #[tracing::instrument(
        name = "postgres second_factors.confirm_totp",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn confirm_totp(
        &self,
        user_id: Uuid,
        step: u64,
        recovery_code_hashes: &[[u8; 32]],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut client = self.0.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|err| unavailable(&err))?;
        let confirmed = tx
            .execute(
                "UPDATE totp_factors SET confirmed_at = $2, last_used_step = $3
                 WHERE user_id = $1 AND confirmed_at IS NULL",
                &[&user_id, &now, &to_db(step)],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        if confirmed != 1 {
            return Ok(false);
        }
        tx.execute("DELETE FROM recovery_codes WHERE user_id = $1", &[&user_id])
            .await
            .map_err(|err| unavailable(&err))?;
        for hash in recovery_code_hashes {
            tx.execute(
                "INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)",
                &[&user_id, &hash.as_slice()],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        }
        tx.commit().await.map_err(|err| unavailable(&err))?;
        Ok(true)
    }

    #[tracing::instrument(
        name = "postgres second_factors.spend_totp_step",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn spend_totp_step(&self, user_id: Uuid, step: u64) -> Result<bool, StoreError> {
        let spent = self
            .0
            .execute(
                "UPDATE totp_factors SET last_used_step = $2
                 WHERE user_id = $1 AND confirmed_at IS NOT NULL AND last_used_step < $2",
                &[&user_id, &to_db(step)],
            )
            .await?;
        Ok(spent == 1)
    }

    #[tracing::instrument(
        name = "postgres second_factors.spend_recovery_code",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn spend_recovery_code(
        &self,
        user_id: Uuid,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let spent = self
            .0
            .execute(
                "UPDATE recovery_codes SET used_at = $3
                 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
                &[&user_id, &code_hash.as_slice(), &now],
            )
            .await?;
        Ok(spent == 1)
    }

    #[tracing::instrument(
        name = "postgres second_factors.recovery_codes_left",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn recovery_codes_left(&self, user_id: Uuid) -> Result<u64, StoreError> {
        let client = self.0.client().await?;
        let row = client
            .query_one(
                "SELECT count(*) AS left FROM recovery_codes
                 WHERE user_id = $1 AND used_at IS NULL",
                &[&user_id],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        Ok(u64::try_from(row.get::<_, i64>("left")).unwrap_or(0))
    }

    #[tracing::instrument(
        name = "postgres second_factors.remove_totp",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn remove_totp(&self, user_id: Uuid) -> Result<bool, StoreError> {
        let mut client = self.0.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|err| unavailable(&err))?;
        tx.execute("DELETE FROM recovery_codes WHERE user_id = $1", &[&user_id])
            .await
            .map_err(|err| unavailable(&err))?;
        let removed = tx
            .execute("DELETE FROM totp_factors WHERE user_id = $1", &[&user_id])
            .await
            .map_err(|err| unavailable(&err))?;
        tx.commit().await.map_err(|err| unavailable(&err))?;
        Ok(removed == 1)
    }

    #[tracing::instrument(
        name = "postgres second_factors.totp_sealed_elsewhere",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn totp_sealed_elsewhere(&self, key_id: &str) -> Result<Vec<TotpRecord>, StoreError> {
        let client = self.0.client().await?;
        let rows = client
            .query(
                "SELECT user_id, secret_ciphertext, secret_nonce, master_key_id, created_at,
                        confirmed_at, last_used_step
                 FROM totp_factors WHERE master_key_id <> $1",
                &[&key_id],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        Ok(rows.iter().map(totp_from_row).collect())
    }

    #[tracing::instrument(
        name = "postgres second_factors.reseal_totp",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn reseal_totp(
        &self,
        previous: &TotpRecord,
        sealed: &SealedBox,
        key_id: &str,
    ) -> Result<bool, StoreError> {
        let replaced = self
            .0
            .execute(
                "UPDATE totp_factors
                 SET secret_ciphertext = $3, secret_nonce = $4, master_key_id = $5
                 WHERE user_id = $1 AND secret_nonce = $2",
                &[
                    &previous.user_id,
                    &previous.sealed_secret.nonce,
                    &sealed.ciphertext,
                    &sealed.nonce,
                    &key_id,
                ],
            )
            .await?;
        Ok(replaced == 1)
    }
}
