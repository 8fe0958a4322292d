//! `revocations` table: the durable revocation list.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use time::OffsetDateTime;

use super::{Postgres, unavailable};
use crate::store::{Revocation, RevocationKind, RevocationStore, StoreError};

pub struct PostgresRevocations(pub(super) Postgres);

#[async_trait]
impl RevocationStore for PostgresRevocations {
    #[tracing::instrument(
        name = "postgres revocations.revoke",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn revoke(&self, revocation: &Revocation, now: OffsetDateTime) -> Result<(), StoreError> {
        let (client, statement) = self
            .0
            .prepared(
                "INSERT INTO revocations (kind, id, expires_at, revoked_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (kind, id) DO NOTHING",
            )
            .await?;
        client
            .execute(
                &statement,
                &[
                    &revocation.kind.as_str(),
                    &revocation.id,
                    &revocation.expires_at,
                    &now,
                ],
            )
            .await
            .map(drop)
            .map_err(|err| unavailable(&err))
    }

    #[tracing::instrument(
        name = "postgres revocations.is_revoked",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn is_revoked(&self, jti: &str, sid: Option<&str>) -> Result<bool, StoreError> {
        let (client, statement) = self
            .0
            .prepared(
                "SELECT EXISTS (SELECT 1 FROM revocations
                 WHERE (kind = 'jti' AND id = $1) OR (kind = 'sid' AND id = $2))",
            )
            .await?;
        client
            .query_one(&statement, &[&jti, &sid])
            .await
            .map(|row| row.get(0))
            .map_err(|err| unavailable(&err))
    }

    #[tracing::instrument(
        name = "postgres revocations.unexpired",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn unexpired(&self, now: OffsetDateTime) -> Result<Vec<Revocation>, StoreError> {
        let mut all = Vec::new();
        self.each_unexpired(now, &mut |revocation| all.push(revocation))
            .await?;
        Ok(all)
    }

    async fn each_unexpired(
        &self,
        now: OffsetDateTime,
        visit: &mut (dyn FnMut(Revocation) + Send),
    ) -> Result<(), StoreError> {
        let client = self.0.client().await?;
        // Streamed: rows are decoded as they arrive, never all buffered at once.
        let rows = client
            .query_raw(
                "SELECT kind, id, expires_at FROM revocations WHERE expires_at > $1",
                [&now],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        let mut rows = std::pin::pin!(rows);
        while let Some(row) = rows.try_next().await.map_err(|err| unavailable(&err))? {
            let kind: &str = row.get(0);
            visit(Revocation {
                kind: match kind {
                    "jti" => RevocationKind::Token,
                    "sid" => RevocationKind::Session,
                    other => {
                        return Err(StoreError::Corrupt(format!("revocation kind {other}")));
                    }
                },
                id: row.get(1),
                expires_at: row.get(2),
            });
        }
        Ok(())
    }
}
