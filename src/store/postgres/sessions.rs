//! `refresh_families` and `refresh_tokens`: sessions and their rotating refresh tokens.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use time::OffsetDateTime;
use tokio_postgres::{Row, types::Json};
use uuid::Uuid;

use super::{Postgres, unavailable};
use crate::{
    store::Login,
    store::{
        END_RECORD_GRACE, RefreshTokenRecord, Rotation, SessionRecord, SessionStore,
        SessionSummary, StoreError,
    },
};

pub struct PostgresSessions(pub(super) Postgres);

/// The columns [`session_from_row`] reads, for statements on `refresh_families` alone.
macro_rules! family_columns {
    () => {
        "id AS family_id, user_id, scope, created_at, dpop_jkt, client_id, login, resources,
         parent_id, user_agent, ip"
    };
}

fn session_from_row(row: &Row) -> SessionRecord {
    SessionRecord {
        id: row.get("family_id"),
        user_id: row.get("user_id"),
        scope: row.get("scope"),
        created_at: row.get("created_at"),
        dpop_jkt: row.get("dpop_jkt"),
        client_id: row.get("client_id"),
        // Written by `start_session` from the same type; a row that does not read counts as a
        // session without a login (it then gives no ID token), never as an error.
        login: row
            .try_get::<_, Option<Json<Login>>>("login")
            .ok()
            .flatten()
            .map(|Json(login)| login),
        resources: row.get("resources"),
        parent_id: row.get("parent_id"),
        user_agent: row.get("user_agent"),
        ip: row.get("ip"),
    }
}

async fn insert_token(
    client: &impl GenericClient,
    session: &SessionRecord,
    token: &RefreshTokenRecord,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, issued_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &token.id,
                &session.id,
                &session.user_id,
                &token.token_hash.as_slice(),
                &token.issued_at,
                &token.expires_at,
            ],
        )
        .await
        .map(drop)
        .map_err(|err| unavailable(&err))
}

/// Revokes a session and its tokens; its end is due to be recorded by a sweep unless the
/// revoking replica records it within [`END_RECORD_GRACE`].
async fn revoke_family(
    client: &impl GenericClient,
    family_id: uuid::Uuid,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    client
        .execute(
            "UPDATE refresh_families SET revoked_at = $2, end_record_due = $3
             WHERE id = $1 AND revoked_at IS NULL",
            &[&family_id, &now, &(now + END_RECORD_GRACE)],
        )
        .await
        .map_err(|err| unavailable(&err))?;
    client
        .execute(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
            &[&family_id, &now],
        )
        .await
        .map(drop)
        .map_err(|err| unavailable(&err))
}

/// The presented token and its session, locked until the transaction ends.
const LOCK_PRESENTED: &str = "SELECT t.family_id, t.used_at, t.revoked_at AS token_revoked_at,
        t.expires_at, f.user_id, f.scope, f.created_at, f.dpop_jkt, f.client_id, f.login, f.resources,
        f.parent_id, f.user_agent, f.ip, f.revoked_at AS family_revoked_at
     FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
     WHERE t.token_hash = $1
     FOR UPDATE OF t, f";

/// The presented token's row joined to its session, locked until `tx` ends.
async fn lock_presented(
    tx: &impl GenericClient,
    presented: &[u8; 32],
) -> Result<Option<Row>, StoreError> {
    tx.query_opt(LOCK_PRESENTED, &[&presented.as_slice()])
        .await
        .map_err(|err| unavailable(&err))
}

#[async_trait]
impl SessionStore for PostgresSessions {
    #[tracing::instrument(
        name = "postgres sessions.start_session",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn start_session(
        &self,
        session: &SessionRecord,
        first: &RefreshTokenRecord,
    ) -> Result<(), StoreError> {
        // One statement, so one round trip and atomic: the session and its first token exist
        // together or not at all (the foreign key is checked at the statement's end).
        let (client, statement) = self
            .0
            .prepared(
                "WITH family AS (
                     INSERT INTO refresh_families
                         (id, user_id, scope, created_at, dpop_jkt, client_id, login, resources,
                          parent_id, user_agent, ip)
                     VALUES ($1, $2, $3, $4, $5, $6, $11, $12, $13, $14, $15)
                 )
                 INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, issued_at, expires_at)
                 VALUES ($7, $1, $2, $8, $9, $10)",
            )
            .await?;
        client
            .execute(
                &statement,
                &[
                    &session.id,
                    &session.user_id,
                    &session.scope,
                    &session.created_at,
                    &session.dpop_jkt,
                    &session.client_id,
                    &first.id,
                    &first.token_hash.as_slice(),
                    &first.issued_at,
                    &first.expires_at,
                    &session.login.as_ref().map(Json),
                    &session.resources,
                    &session.parent_id,
                    &session.user_agent,
                    &session.ip,
                ],
            )
            .await
            .map(drop)
            .map_err(|err| unavailable(&err))
    }

    #[tracing::instrument(
        name = "postgres sessions.rotate",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn rotate(
        &self,
        presented: &[u8; 32],
        dpop_jkt: Option<&str>,
        client_id: Option<&str>,
        next: &RefreshTokenRecord,
        session_lifetime: time::Duration,
        now: OffsetDateTime,
    ) -> Result<Rotation, StoreError> {
        let mut client = self.0.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|err| unavailable(&err))?;
        // A concurrent rotation of the same token waits here, then sees it used.
        let Some(row) = lock_presented(&tx, presented).await? else {
            return Ok(Rotation::Invalid);
        };
        let session = session_from_row(&row);
        let used_at: Option<OffsetDateTime> = row.get("used_at");
        let token_revoked: Option<OffsetDateTime> = row.get("token_revoked_at");
        let family_revoked: Option<OffsetDateTime> = row.get("family_revoked_at");
        let expires_at: OffsetDateTime = row.get("expires_at");
        let session_end = session.created_at + session_lifetime;

        let outcome = if token_revoked.is_some() || family_revoked.is_some() || expires_at <= now {
            Rotation::Invalid
        } else if used_at.is_some() {
            revoke_family(&tx, session.id, now).await?;
            Rotation::Reused(session)
        } else if !session.accepts_client(client_id) {
            Rotation::WrongClient
        } else if !session.accepts_key(dpop_jkt) {
            Rotation::WrongKey
        } else if session_end <= now {
            Rotation::Ended
        } else {
            tx.execute(
                "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1",
                &[&presented.as_slice(), &now],
            )
            .await
            .map_err(|err| unavailable(&err))?;
            let next = RefreshTokenRecord {
                expires_at: next.expires_at.min(session_end),
                ..next.clone()
            };
            insert_token(&tx, &session, &next).await?;
            Rotation::Rotated(session)
        };
        tx.commit().await.map_err(|err| unavailable(&err))?;
        Ok(outcome)
    }

    #[tracing::instrument(
        name = "postgres sessions.find_live",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn find_live(
        &self,
        presented: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<(SessionRecord, OffsetDateTime)>, StoreError> {
        // Prepared once per connection: every UI page and authorization request runs it.
        let (client, statement) = self
            .0
            .prepared(
                "SELECT t.family_id, t.expires_at, f.user_id, f.scope, f.created_at, f.dpop_jkt, f.client_id, f.login, f.resources,
                    f.parent_id, f.user_agent, f.ip
                 FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
                 WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.revoked_at IS NULL
                   AND f.revoked_at IS NULL AND t.expires_at > $2",
            )
            .await?;
        let row = client
            .query_opt(&statement, &[&presented.as_slice(), &now])
            .await
            .map_err(|err| unavailable(&err))?;
        Ok(row.map(|row| (session_from_row(&row), row.get("expires_at"))))
    }

    #[tracing::instrument(
        name = "postgres sessions.find_session",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn find_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let (client, statement) = self
            .0
            .prepared(concat!(
                "SELECT ",
                family_columns!(),
                " FROM refresh_families WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL"
            ))
            .await?;
        let row = client
            .query_opt(&statement, &[&session_id, &user_id])
            .await
            .map_err(|err| unavailable(&err))?;
        Ok(row.as_ref().map(session_from_row))
    }

    #[tracing::instrument(
        name = "postgres sessions.revoke_session",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn revoke_session(
        &self,
        presented: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let mut client = self.0.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|err| unavailable(&err))?;
        let Some(row) = lock_presented(&tx, presented).await? else {
            return Ok(None);
        };
        let family_revoked: Option<OffsetDateTime> = row.get("family_revoked_at");
        let session = session_from_row(&row);
        if family_revoked.is_none() {
            revoke_family(&tx, session.id, now).await?;
        }
        tx.commit().await.map_err(|err| unavailable(&err))?;
        Ok(family_revoked.is_none().then_some(session))
    }

    #[tracing::instrument(
        name = "postgres sessions.live_sessions",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn live_sessions(
        &self,
        user_id: uuid::Uuid,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        let client = self.0.client().await?;
        // A live session has exactly one live token (each refresh uses up its predecessor).
        let rows = client
            .query(
                "SELECT f.id AS family_id, f.user_id, f.scope, f.created_at, f.dpop_jkt, f.client_id, f.login, f.resources,
                    f.parent_id, f.user_agent, f.ip,
                        t.issued_at, t.expires_at
                 FROM refresh_families f JOIN refresh_tokens t ON t.family_id = f.id
                 WHERE f.user_id = $1 AND f.revoked_at IS NULL
                   AND t.used_at IS NULL AND t.revoked_at IS NULL AND t.expires_at > $2
                 ORDER BY f.created_at DESC, f.id",
                &[&user_id, &now],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        Ok(rows
            .iter()
            .map(|row| SessionSummary {
                session: session_from_row(row),
                refreshed_at: row.get("issued_at"),
                expires_at: row.get("expires_at"),
            })
            .collect())
    }

    #[tracing::instrument(
        name = "postgres sessions.revoke_client_sessions",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn revoke_client_sessions(
        &self,
        user_id: uuid::Uuid,
        client_id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        self.revoke_where(
            "user_id = $1 AND client_id = $2",
            &[&user_id, &client_id],
            now,
        )
        .await
    }

    #[tracing::instrument(
        name = "postgres sessions.revoke_children",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn revoke_children(
        &self,
        parent_id: uuid::Uuid,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let ended = self
            .revoke_where(
                "parent_id = $1 AND NOT (scope ~ '(^| )offline_access( |$)')",
                &[&parent_id],
                now,
            )
            .await?;
        let client = self.0.client().await?;
        client
            .execute(
                "UPDATE refresh_families SET parent_id = NULL
                 WHERE parent_id = $1 AND revoked_at IS NULL",
                &[&parent_id],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        Ok(ended)
    }

    #[tracing::instrument(
        name = "postgres sessions.adopt_children",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn adopt_children(&self, from: uuid::Uuid, to: uuid::Uuid) -> Result<(), StoreError> {
        let client = self.0.client().await?;
        client
            .execute(
                "UPDATE refresh_families SET parent_id = $2
                 WHERE parent_id = $1 AND revoked_at IS NULL",
                &[&from, &to],
            )
            .await
            .map(drop)
            .map_err(|err| unavailable(&err))
    }

    #[tracing::instrument(
        name = "postgres sessions.revoke_session_by_id",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn revoke_session_by_id(
        &self,
        user_id: uuid::Uuid,
        session_id: uuid::Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let revoked = self
            .revoke_where("id = $1 AND user_id = $2", &[&session_id, &user_id], now)
            .await?;
        Ok(revoked.into_iter().next())
    }

    #[tracing::instrument(
        name = "postgres sessions.claim_unrecorded_ends",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn claim_unrecorded_ends(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        // SKIP LOCKED: replicas sweeping together take different sessions, and none waits.
        let (client, statement) = self
            .0
            .prepared(concat!(
                "UPDATE refresh_families SET end_record_due = $2
                 WHERE id IN (SELECT id FROM refresh_families WHERE end_record_due <= $1
                              ORDER BY end_record_due LIMIT $3 FOR UPDATE SKIP LOCKED)
                 RETURNING ",
                family_columns!()
            ))
            .await?;
        let rows = client
            .query(
                &statement,
                &[&now, &(now + END_RECORD_GRACE), &i64::from(limit)],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        Ok(rows.iter().map(session_from_row).collect())
    }
}

impl PostgresSessions {
    /// Revokes the live sessions `condition` (SQL of authd's own, never input) selects with
    /// `params`, each with its tokens,
    /// returning them. They are locked like a rotation's, so a refresh racing the revocation
    /// either finishes first (and its new token is revoked with the rest) or finds the session
    /// revoked.
    async fn revoke_where(
        &self,
        condition: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let mut client = self.0.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|err| unavailable(&err))?;
        let rows = tx
            .query(
                &format!(
                    concat!(
                        "SELECT ",
                        family_columns!(),
                        " FROM refresh_families WHERE {} AND revoked_at IS NULL FOR UPDATE"
                    ),
                    condition
                ),
                params,
            )
            .await
            .map_err(|err| unavailable(&err))?;
        let sessions: Vec<SessionRecord> = rows.iter().map(session_from_row).collect();
        for session in &sessions {
            revoke_family(&tx, session.id, now).await?;
        }
        tx.commit().await.map_err(|err| unavailable(&err))?;
        Ok(sessions)
    }
}
