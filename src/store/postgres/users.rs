//! `users` table.

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio_postgres::{Row, error::SqlState};
use uuid::Uuid;

use super::{Postgres, unavailable};
use crate::store::{
    AccountLink, LinkChange, LinkPurpose, OutboxMessage, StoreError, UniqueField, UserChange,
    UserQuery, UserRecord, UserStore, Written,
};

pub struct PostgresUsers(pub(super) Postgres);

#[async_trait]
impl UserStore for PostgresUsers {
    #[tracing::instrument(
        name = "postgres users.insert_user",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn insert_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let (client, statement) = self
            .0
            .prepared(
                "INSERT INTO users (id, username, email, password_hash, created_at, pop_public_key,
                                    email_verified_at, external_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .await?;
        client
            .execute(
                &statement,
                &[
                    &user.id,
                    &user.username,
                    &user.email,
                    &user.password_hash,
                    &user.created_at,
                    &user.pop_public_key,
                    &user.email_verified_at,
                    &user.external_id,
                ],
            )
            .await
            .map(drop)
            // The unique indexes decide races between concurrent registrations.
            .map_err(|err| unique_violation(&err))
    }

    #[tracing::instrument(
        name = "postgres users.find_by_username",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn find_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        if !super::storable(username) {
            return Ok(None);
        }
        let (client, statement) = self
            .0
            .prepared(
                "SELECT id, username, email, password_hash, created_at, last_login_at,
                        pop_public_key, email_verified_at, disabled_at, revision, external_id
                 FROM users WHERE disabled_at IS NULL AND lower(username) = lower($1)",
            )
            .await?;
        let row = client
            .query_opt(&statement, &[&username])
            .await
            .map_err(|err| unavailable(&err))?;
        row.as_ref().map(user_from_row).transpose()
    }

    #[tracing::instrument(
        name = "postgres users.find_by_email",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn find_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        if !super::storable(email) {
            return Ok(None);
        }
        let (client, statement) = self
            .0
            .prepared(
                "SELECT id, username, email, password_hash, created_at, last_login_at,
                        pop_public_key, email_verified_at, disabled_at, revision, external_id
                 FROM users WHERE disabled_at IS NULL AND lower(email) = lower($1)",
            )
            .await?;
        let row = client
            .query_opt(&statement, &[&email])
            .await
            .map_err(|err| unavailable(&err))?;
        row.as_ref().map(user_from_row).transpose()
    }

    #[tracing::instrument(
        name = "postgres users.find_by_id",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn find_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        let (client, statement) = self
            .0
            .prepared(
                "SELECT id, username, email, password_hash, created_at, last_login_at,
                        pop_public_key, email_verified_at, disabled_at, revision, external_id
                 FROM users WHERE disabled_at IS NULL AND id = $1",
            )
            .await?;
        let row = client
            .query_opt(&statement, &[&id])
            .await
            .map_err(|err| unavailable(&err))?;
        row.as_ref().map(user_from_row).transpose()
    }

    #[tracing::instrument(
        name = "postgres users.record_login",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn record_login(&self, user_id: Uuid, at: OffsetDateTime) -> Result<(), StoreError> {
        self.0
            .execute(
                "UPDATE users SET last_login_at = $2 WHERE id = $1",
                &[&user_id, &at],
            )
            .await
            .map(drop)
    }

    #[tracing::instrument(
        name = "postgres users.set_pop_public_key",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn set_pop_public_key(&self, user_id: Uuid, pem: &str) -> Result<bool, StoreError> {
        self.0
            .execute(
                "UPDATE users SET pop_public_key = $2 WHERE id = $1",
                &[&user_id, &pem],
            )
            .await
            .map(|updated| updated == 1)
    }

    #[tracing::instrument(
        name = "postgres users.delete_user",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn delete_user(&self, user_id: Uuid) -> Result<bool, StoreError> {
        // Sessions, tokens, consents and the profile go with the row (ON DELETE CASCADE).
        self.0
            .execute("DELETE FROM users WHERE id = $1", &[&user_id])
            .await
            .map(|deleted| deleted == 1)
    }

    #[tracing::instrument(
        name = "postgres users.set_password_hash",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn set_password_hash(
        &self,
        user_id: Uuid,
        password_hash: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut client = self.0.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|err| unavailable(&err))?;
        // Dropping the password needs a passkey left to sign in with. The row is locked first,
        // as `remove_passkey` locks it, and the passkeys are counted after (READ COMMITTED: a
        // new snapshot), so the two cannot leave an account with neither.
        let locked = tx
            .query_opt("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", &[&user_id])
            .await
            .map_err(|err| unavailable(&err))?;
        if locked.is_none() {
            return Ok(false);
        }
        let updated = tx
            .execute(
                "UPDATE users SET password_hash = $2
                 WHERE id = $1
                   AND ($2::text IS NOT NULL
                        OR EXISTS (SELECT 1 FROM passkeys WHERE user_id = $1))",
                &[&user_id, &password_hash],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        tx.commit().await.map_err(|err| unavailable(&err))?;
        Ok(updated == 1)
    }

    #[tracing::instrument(
        name = "postgres users.mark_email_verified",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn mark_email_verified(
        &self,
        user_id: Uuid,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.0
            .execute(
                "UPDATE users SET email_verified_at = coalesce(email_verified_at, $2)
                 WHERE id = $1",
                &[&user_id, &at],
            )
            .await
            .map(|updated| updated == 1)
    }

    async fn find_any(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        super::directory::find_any(&self.0, id).await
    }

    async fn list_users(&self, query: &UserQuery) -> Result<Vec<UserRecord>, StoreError> {
        super::directory::list_users(&self.0, query).await
    }

    async fn count_users(&self, query: &UserQuery) -> Result<u64, StoreError> {
        super::directory::count_users(&self.0, query).await
    }

    async fn change_user(
        &self,
        user_id: Uuid,
        change: &UserChange,
        expected: Option<i64>,
    ) -> Result<Written<UserRecord>, StoreError> {
        super::directory::change_user(&self.0, user_id, change, expected).await
    }

    #[tracing::instrument(
        name = "postgres users.create_link",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn create_link(
        &self,
        link: &AccountLink,
        mail: &OutboxMessage,
    ) -> Result<(), StoreError> {
        super::links::create(&self.0, link, mail).await
    }

    #[tracing::instrument(
        name = "postgres users.find_link",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn find_link(
        &self,
        token_hash: &[u8; 32],
        purpose: LinkPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<AccountLink>, StoreError> {
        super::links::find(&self.0, token_hash, purpose, now).await
    }

    #[tracing::instrument(
        name = "postgres users.redeem_link",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn redeem_link(
        &self,
        token_hash: &[u8; 32],
        purpose: LinkPurpose,
        change: LinkChange<'_>,
        now: OffsetDateTime,
        notices: &[OutboxMessage],
    ) -> Result<Option<AccountLink>, StoreError> {
        super::links::redeem(&self.0, token_hash, purpose, change, now, notices).await
    }
}

pub(super) fn user_from_row(row: &Row) -> Result<UserRecord, StoreError> {
    let corrupt = |err: tokio_postgres::Error| StoreError::Corrupt(format!("users row: {err}"));
    Ok(UserRecord {
        id: row.try_get("id").map_err(corrupt)?,
        username: row.try_get("username").map_err(corrupt)?,
        email: row.try_get("email").map_err(corrupt)?,
        password_hash: row.try_get("password_hash").map_err(corrupt)?,
        created_at: row.try_get("created_at").map_err(corrupt)?,
        last_login_at: row.try_get("last_login_at").map_err(corrupt)?,
        pop_public_key: row.try_get("pop_public_key").map_err(corrupt)?,
        email_verified_at: row.try_get("email_verified_at").map_err(corrupt)?,
        disabled_at: row.try_get("disabled_at").map_err(corrupt)?,
        revision: row.try_get("revision").map_err(corrupt)?,
        external_id: row.try_get("external_id").map_err(corrupt)?,
    })
}

/// Inserts `user` with no password hash, inside a transaction that links it to where its
/// logins are checked (an upstream identity, a directory entry).
pub(super) async fn insert_passwordless(
    tx: &deadpool_postgres::Transaction<'_>,
    user: &UserRecord,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO users (id, username, email, password_hash, created_at,
                            email_verified_at, last_login_at)
         VALUES ($1, $2, $3, NULL, $4, $5, $6)",
        &[
            &user.id,
            &user.username,
            &user.email,
            &user.created_at,
            &user.email_verified_at,
            &user.last_login_at,
        ],
    )
    .await
    .map(drop)
    .map_err(|err| unique_violation(&err))
}

/// A write refused by a unique index names the field; any other failure is unavailability.
pub(super) fn unique_violation(err: &tokio_postgres::Error) -> StoreError {
    match err.as_db_error() {
        Some(db) if db.code() == &SqlState::UNIQUE_VIOLATION => {
            StoreError::Conflict(match db.constraint() {
                Some("users_email_key") => UniqueField::Email,
                Some("groups_name_key") => UniqueField::GroupName,
                Some("upstreams_pkey") => UniqueField::UpstreamId,
                Some(
                    "federated_identities_pkey" | "federated_identities_upstream_id_user_id_key",
                ) => UniqueField::FederatedIdentity,
                _ => UniqueField::Username,
            })
        }
        _ => unavailable(err),
    }
}
