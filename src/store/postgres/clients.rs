//! `clients` table.

use async_trait::async_trait;

use super::{Postgres, unavailable};
use crate::store::{ClientRecord, ClientStore, StoreError};

pub struct PostgresClients(pub(super) Postgres);

#[async_trait]
impl ClientStore for PostgresClients {
    #[tracing::instrument(
        name = "postgres clients.insert_client",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let client_row = self.0.client().await?;
        client_row
            .execute(
                "INSERT INTO clients (client_id, name, secret_hash, scope, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &client.client_id,
                    &client.name,
                    &client.secret_hash.as_slice(),
                    &client.scope,
                    &client.created_at,
                ],
            )
            .await
            .map(drop)
            .map_err(|err| unavailable(&err))
    }

    #[tracing::instrument(
        name = "postgres clients.find_client",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn find_client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        if !super::storable(client_id) {
            return Ok(None);
        }
        let (client, statement) = self
            .0
            .prepared(
                "SELECT client_id, name, secret_hash, scope, created_at FROM clients
                 WHERE client_id = $1",
            )
            .await?;
        let Some(row) = client
            .query_opt(&statement, &[&client_id])
            .await
            .map_err(|err| unavailable(&err))?
        else {
            return Ok(None);
        };
        let hash: Vec<u8> = row.get("secret_hash");
        Ok(Some(ClientRecord {
            client_id: row.get("client_id"),
            name: row.get("name"),
            secret_hash: hash
                .try_into()
                .map_err(|_| StoreError::Corrupt("clients.secret_hash length".to_owned()))?,
            scope: row.get("scope"),
            created_at: row.get("created_at"),
        }))
    }
}
