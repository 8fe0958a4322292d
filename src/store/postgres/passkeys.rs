//! `passkeys`: users' WebAuthn credentials.

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio_postgres::{Row, error::SqlState};
use uuid::Uuid;

use super::{Postgres, unavailable};
use crate::store::{PasskeyRecord, PasskeyStore, StoreError, UniqueField};

pub struct PostgresPasskeys(pub(super) Postgres);

const COLUMNS: &str =
    "id, user_id, credential_id, name, credential, sign_count, created_at, last_used_at";

fn passkey_from_row(row: &Row) -> Result<PasskeyRecord, StoreError> {
    let corrupt = |err: tokio_postgres::Error| StoreError::Corrupt(format!("passkeys row: {err}"));
    Ok(PasskeyRecord {
        id: row.try_get("id").map_err(corrupt)?,
        user_id: row.try_get("user_id").map_err(corrupt)?,
        credential_id: row.try_get("credential_id").map_err(corrupt)?,
        name: row.try_get("name").map_err(corrupt)?,
        credential: row.try_get("credential").map_err(corrupt)?,
        sign_count: u32::try_from(row.try_get::<_, i64>("sign_count").map_err(corrupt)?)
            .map_err(|_| StoreError::Corrupt("passkeys row: sign_count out of range".into()))?,
        created_at: row.try_get("created_at").map_err(corrupt)?,
        last_used_at: row.try_get("last_used_at").map_err(corrupt)?,
    })
}

#[async_trait]
impl PasskeyStore for PostgresPasskeys {
    #[tracing::instrument(
        name = "postgres passkeys.insert_passkey",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn insert_passkey(
        &self,
        passkey: &PasskeyRecord,
        limit: u64,
    ) -> Result<bool, StoreError> {
        let client = self.0.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        client
            .execute(
                "INSERT INTO passkeys (id, user_id, credential_id, name, credential, sign_count,
                                       created_at)
                 SELECT $1, $2, $3, $4, $5, $6, $7
                 WHERE (SELECT count(*) FROM passkeys WHERE user_id = $2) < $8",
                &[
                    &passkey.id,
                    &passkey.user_id,
                    &passkey.credential_id,
                    &passkey.name,
                    &passkey.credential,
                    &i64::from(passkey.sign_count),
                    &passkey.created_at,
                    &limit,
                ],
            )
            .await
            .map(|inserted| inserted == 1)
            .map_err(|err| match err.as_db_error() {
                Some(db) if db.code() == &SqlState::UNIQUE_VIOLATION => {
                    StoreError::Conflict(UniqueField::PasskeyCredential)
                }
                _ => unavailable(&err),
            })
    }

    #[tracing::instrument(
        name = "postgres passkeys.passkeys",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn passkeys(&self, user_id: Uuid) -> Result<Vec<PasskeyRecord>, StoreError> {
        let client = self.0.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id"
                ),
                &[&user_id],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        rows.iter().map(passkey_from_row).collect()
    }

    #[tracing::instrument(
        name = "postgres passkeys.find_passkey",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn find_passkey(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyRecord>, StoreError> {
        let client = self.0.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {COLUMNS} FROM passkeys WHERE credential_id = $1"),
                &[&credential_id],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        row.as_ref().map(passkey_from_row).transpose()
    }

    #[tracing::instrument(
        name = "postgres passkeys.record_passkey_use",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn record_passkey_use(
        &self,
        id: Uuid,
        previous_count: u32,
        credential: &serde_json::Value,
        sign_count: u32,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.0
            .execute(
                "UPDATE passkeys SET credential = $3, sign_count = $4, last_used_at = $5
                 WHERE id = $1 AND sign_count = $2",
                &[
                    &id,
                    &i64::from(previous_count),
                    credential,
                    &i64::from(sign_count),
                    &at,
                ],
            )
            .await
            .map(|updated| updated == 1)
    }

    #[tracing::instrument(
        name = "postgres passkeys.remove_passkey",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn remove_passkey(&self, user_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
        let mut client = self.0.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|err| unavailable(&err))?;
        // The user's row is locked while deciding, as `set_password_hash` locks it when it
        // drops the password: a passkey-only account always keeps one passkey.
        let user = tx
            .query_opt(
                "SELECT password_hash IS NOT NULL AS has_password FROM users
                 WHERE id = $1 FOR UPDATE",
                &[&user_id],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        let Some(user) = user else {
            return Ok(false);
        };
        let has_password: bool = user.get("has_password");
        let removed = tx
            .execute(
                "DELETE FROM passkeys
                 WHERE id = $2 AND user_id = $1
                   AND ($3 OR (SELECT count(*) FROM passkeys WHERE user_id = $1) > 1)",
                &[&user_id, &id, &has_password],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        tx.commit().await.map_err(|err| unavailable(&err))?;
        Ok(removed == 1)
    }
}
