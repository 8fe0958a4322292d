//! `account_links` table, and the changes a link makes when it is used.

use time::OffsetDateTime;
use tokio_postgres::{Row, error::SqlState};

use super::{Postgres, outbox, unavailable};
use crate::store::{AccountLink, LinkChange, LinkPurpose, OutboxMessage, StoreError, UniqueField};

pub(super) async fn create(
    postgres: &Postgres,
    link: &AccountLink,
    mail: &OutboxMessage,
) -> Result<(), StoreError> {
    let mut client = postgres.client().await?;
    let tx = client
        .transaction()
        .await
        .map_err(|err| unavailable(&err))?;
    tx.execute(
        "INSERT INTO account_links (token_hash, purpose, user_id, email, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &link.token_hash.as_slice(),
            &link.purpose.as_str(),
            &link.user_id,
            &link.email,
            &link.created_at,
            &link.expires_at,
        ],
    )
    .await
    .map_err(|err| unavailable(&err))?;
    outbox::insert(&tx, std::slice::from_ref(mail)).await?;
    tx.commit().await.map_err(|err| unavailable(&err))
}

pub(super) async fn find(
    postgres: &Postgres,
    token_hash: &[u8; 32],
    purpose: LinkPurpose,
    now: OffsetDateTime,
) -> Result<Option<AccountLink>, StoreError> {
    let (client, statement) = postgres
        .prepared(
            "SELECT token_hash, purpose, user_id, email, created_at, expires_at
             FROM account_links
             WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .await?;
    let row = client
        .query_opt(
            &statement,
            &[&token_hash.as_slice(), &purpose.as_str(), &now],
        )
        .await
        .map_err(|err| unavailable(&err))?;
    row.as_ref().map(link_from_row).transpose()
}

pub(super) async fn redeem(
    postgres: &Postgres,
    token_hash: &[u8; 32],
    purpose: LinkPurpose,
    change: LinkChange<'_>,
    now: OffsetDateTime,
    notices: &[OutboxMessage],
) -> Result<Option<AccountLink>, StoreError> {
    let mut client = postgres.client().await?;
    let tx = client
        .transaction()
        .await
        .map_err(|err| unavailable(&err))?;
    // Used up first, under the row lock this takes: of two concurrent uses, one finds it used.
    let used = tx
        .query_opt(
            "UPDATE account_links SET used_at = $3
             WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
             RETURNING token_hash, purpose, user_id, email, created_at, expires_at",
            &[&token_hash.as_slice(), &purpose.as_str(), &now],
        )
        .await
        .map_err(|err| unavailable(&err))?;
    let Some(link) = used.as_ref().map(link_from_row).transpose()? else {
        return Ok(None);
    };
    // The user's other links for the same purpose die with this one: an older reset mail
    // does not stay a way in after the password was reset.
    tx.execute(
        "UPDATE account_links SET used_at = $3
         WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
        &[&link.user_id, &purpose.as_str(), &now],
    )
    .await
    .map_err(|err| unavailable(&err))?;
    let changed = match change {
        LinkChange::VerifyEmail => tx
            .execute(
                "UPDATE users SET email_verified_at = coalesce(email_verified_at, $3)
                 WHERE id = $1 AND lower(email) = lower($2)",
                &[&link.user_id, &link.email, &now],
            )
            .await
            .map_err(|err| unavailable(&err))?,
        LinkChange::SetPassword { password_hash } => tx
            .execute(
                "UPDATE users SET password_hash = $2 WHERE id = $1",
                &[&link.user_id, &password_hash],
            )
            .await
            .map_err(|err| unavailable(&err))?,
        LinkChange::ChangeEmail => tx
            .execute(
                "UPDATE users SET email = $2, email_verified_at = $3 WHERE id = $1",
                &[&link.user_id, &link.email, &now],
            )
            .await
            .map_err(|err| match err.as_db_error() {
                Some(db) if db.code() == &SqlState::UNIQUE_VIOLATION => {
                    StoreError::Conflict(UniqueField::Email)
                }
                _ => unavailable(&err),
            })?,
    };
    if changed != 1 {
        // The address was changed since the link was sent (or the user is gone): the link is
        // spent for nothing, and that is committed.
        tx.commit().await.map_err(|err| unavailable(&err))?;
        return Ok(None);
    }
    outbox::insert(&tx, notices).await?;
    tx.commit().await.map_err(|err| unavailable(&err))?;
    Ok(Some(link))
}

fn link_from_row(row: &Row) -> Result<AccountLink, StoreError> {
    let corrupt =
        |err: tokio_postgres::Error| StoreError::Corrupt(format!("account_links row: {err}"));
    let hash: Vec<u8> = row.try_get("token_hash").map_err(corrupt)?;
    let purpose: String = row.try_get("purpose").map_err(corrupt)?;
    Ok(AccountLink {
        token_hash: hash
            .try_into()
            .map_err(|_| StoreError::Corrupt("account_links token_hash length".to_owned()))?,
        purpose: LinkPurpose::parse(&purpose)
            .ok_or_else(|| StoreError::Corrupt(format!("account_links purpose {purpose:?}")))?,
        user_id: row.try_get("user_id").map_err(corrupt)?,
        email: row.try_get("email").map_err(corrupt)?,
        created_at: row.try_get("created_at").map_err(corrupt)?,
        expires_at: row.try_get("expires_at").map_err(corrupt)?,
    })
}
