//! The user directory as administrators see it: every account, disabled ones included, in
//! pages, and conditional changes.

use uuid::Uuid;

use super::{Postgres, storable, unavailable, users::unique_violation, users::user_from_row};
use crate::store::{StoreError, UserChange, UserQuery, UserRecord, Written};

const COLUMNS: &str = "id, username, email, password_hash, created_at, last_login_at, \
                       pop_public_key, email_verified_at, disabled_at, revision, external_id";

#[tracing::instrument(
    name = "postgres users.find_any",
    skip_all,
    fields(otel.kind = "client", db.system.name = "postgresql")
)]
pub(super) async fn find_any(pg: &Postgres, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
    let (client, statement) = pg
        .prepared(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .await?;
    let row = client
        .query_opt(&statement, &[&id])
        .await
        .map_err(|err| unavailable(&err))?;
    row.as_ref().map(user_from_row).transpose()
}

/// The conditions of `query` as SQL parameters: `$1` prefix pattern, `$2` username, `$3`
/// address, `$4` external id (each `NULL` when not asked for); `None` if a value cannot be
/// stored at all (so nothing matches).
fn conditions(query: &UserQuery) -> Option<[Option<String>; 4]> {
    let texts = [
        query.prefix.as_deref(),
        query.username.as_deref(),
        query.email.as_deref(),
        query.external_id.as_deref(),
    ];
    if texts.iter().flatten().any(|text| !storable(text)) {
        return None;
    }
    // LIKE's own characters in a prefix are literal: escaped, so `a_%` finds only `a_%…`.
    let pattern = query.prefix.as_deref().map(|prefix| {
        let escaped = prefix
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("{escaped}%")
    });
    Some([
        pattern,
        query.username.as_deref().map(str::to_lowercase),
        query.email.as_deref().map(str::to_lowercase),
        query.external_id.clone(),
    ])
}

const WHERE: &str = "($1::text IS NULL OR lower(username) LIKE $1 OR lower(email) LIKE $1)
               AND ($2::text IS NULL OR lower(username) = $2)
               AND ($3::text IS NULL OR lower(email) = $3)
               AND ($4::text IS NULL OR external_id = $4)";

#[tracing::instrument(
    name = "postgres users.list_users",
    skip_all,
    fields(otel.kind = "client", db.system.name = "postgresql")
)]
pub(super) async fn list_users(
    pg: &Postgres,
    query: &UserQuery,
) -> Result<Vec<UserRecord>, StoreError> {
    let Some([pattern, username, email, external_id]) = conditions(query) else {
        return Ok(Vec::new());
    };
    let (client, statement) = pg
        .prepared(&format!(
            "SELECT {COLUMNS} FROM users
             WHERE {WHERE} AND ($5::uuid IS NULL OR id > $5)
             ORDER BY id LIMIT $6 OFFSET $7"
        ))
        .await?;
    let rows = client
        .query(
            &statement,
            &[
                &pattern,
                &username,
                &email,
                &external_id,
                &query.after,
                &i64::from(query.limit),
                &i64::from(query.offset),
            ],
        )
        .await
        .map_err(|err| unavailable(&err))?;
    rows.iter().map(user_from_row).collect()
}

#[tracing::instrument(
    name = "postgres users.count_users",
    skip_all,
    fields(otel.kind = "client", db.system.name = "postgresql")
)]
pub(super) async fn count_users(pg: &Postgres, query: &UserQuery) -> Result<u64, StoreError> {
    let Some([pattern, username, email, external_id]) = conditions(query) else {
        return Ok(0);
    };
    let (client, statement) = pg
        .prepared(&format!("SELECT count(*) FROM users WHERE {WHERE}"))
        .await?;
    let row = client
        .query_one(&statement, &[&pattern, &username, &email, &external_id])
        .await
        .map_err(|err| unavailable(&err))?;
    let count: i64 = row
        .try_get(0)
        .map_err(|err| StoreError::Corrupt(format!("count: {err}")))?;
    Ok(u64::try_from(count).unwrap_or_default())
}

#[tracing::instrument(
    name = "postgres users.change_user",
    skip_all,
    fields(otel.kind = "client", db.system.name = "postgresql")
)]
pub(super) async fn change_user(
    pg: &Postgres,
    user_id: Uuid,
    change: &UserChange,
    expected: Option<i64>,
) -> Result<Written<UserRecord>, StoreError> {
    if !storable(&change.username) || !storable(&change.email) {
        return Ok(Written::Missing);
    }
    let client = pg.client().await?;
    let row = client
        .query_opt(
            &format!(
                "UPDATE users SET username = $2, email = $3, email_verified_at = $4,
                                  disabled_at = $5, external_id = $7
                 WHERE id = $1 AND ($6::bigint IS NULL OR revision = $6)
                 RETURNING {COLUMNS}"
            ),
            &[
                &user_id,
                &change.username,
                &change.email,
                &change.email_verified_at,
                &change.disabled_at,
                &expected,
                &change.external_id,
            ],
        )
        .await
        .map_err(|err| unique_violation(&err))?;
    if let Some(row) = row {
        return Ok(Written::Done(user_from_row(&row)?));
    }
    super::missing_or_stale(&client, "SELECT 1 FROM users WHERE id = $1", &user_id).await
}
