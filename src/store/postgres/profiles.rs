//! `profiles` table: the document behind `/api/profile`.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Postgres, unavailable};
use crate::store::{Profile, ProfileStore, StoreError};

pub struct PostgresProfiles(pub(super) Postgres);

#[async_trait]
impl ProfileStore for PostgresProfiles {
    #[tracing::instrument(
        name = "postgres profiles.profile",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn profile(&self, user_id: Uuid) -> Result<Option<Profile>, StoreError> {
        let (client, statement) = self
            .0
            .prepared("SELECT display_name, phone, updated_at FROM profiles WHERE user_id = $1")
            .await?;
        let row = client
            .query_opt(&statement, &[&user_id])
            .await
            .map_err(|err| unavailable(&err))?;
        Ok(row.map(|row| Profile {
            display_name: row.get("display_name"),
            phone: row.get("phone"),
            updated_at: row.get("updated_at"),
        }))
    }

    #[tracing::instrument(
        name = "postgres profiles.put_profile",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn put_profile(
        &self,
        user_id: Uuid,
        profile: &Profile,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (client, statement) = self
            .0
            .prepared(
                "INSERT INTO profiles (user_id, display_name, phone, updated_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_id) DO UPDATE
                 SET display_name = $2, phone = $3, updated_at = $4",
            )
            .await?;
        client
            .execute(
                &statement,
                &[&user_id, &profile.display_name, &profile.phone, &now],
            )
            .await
            .map(drop)
            .map_err(|err| unavailable(&err))
    }
}
