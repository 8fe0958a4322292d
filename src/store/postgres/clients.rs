//! `clients` and `consents`.

use std::num::NonZeroU32;

use async_trait::async_trait;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{Postgres, storable, unavailable};
use crate::{
    grant_type::GrantType,
    store::{
        ApplicationType, ClientAuthMethod, ClientRecord, ClientStore, Consent, ConsentStore,
        ConsentSummary, LogoutChannels, PkcePolicy, PreviousSecret, StoreError,
    },
};

pub struct PostgresClients(pub(super) Postgres);

const COLUMNS: &str = "client_id, name, secret_hash, previous_secret_hash,
    previous_secret_expires_at, scope, redirect_uris, grant_types, token_endpoint_auth_method,
    jwks::text AS jwks, post_logout_redirect_uris, require_par, pkce_policy, allowed_origins,
    verified, application_type, rate_limit, created_at, revision, backchannel_logout_uri,
    backchannel_logout_session_required, frontchannel_logout_uri,
    frontchannel_logout_session_required";

fn hash_column(row: &Row, column: &str) -> Result<Option<[u8; 32]>, StoreError> {
    let hash: Option<Vec<u8>> = row.get(column);
    hash.map(|hash| {
        hash.try_into()
            .map_err(|_| StoreError::Corrupt(format!("clients.{column} length")))
    })
    .transpose()
}

/// The limit as the column holds it (`integer`, which every limit worth setting fits).
fn rate_limit_column(client: &ClientRecord) -> Option<i32> {
    client
        .rate_limit
        .map(|limit| i32::try_from(limit.get()).unwrap_or(i32::MAX))
}

fn client_from_row(row: &Row) -> Result<ClientRecord, StoreError> {
    let method: String = row.get("token_endpoint_auth_method");
    let previous_secret = hash_column(row, "previous_secret_hash")?
        .zip(row.get("previous_secret_expires_at"))
        .map(|(hash, expires_at)| PreviousSecret { hash, expires_at });
    Ok(ClientRecord {
        client_id: row.get("client_id"),
        name: row.get("name"),
        secret_hash: hash_column(row, "secret_hash")?,
        previous_secret,
        scope: row.get("scope"),
        redirect_uris: row.get("redirect_uris"),
        grant_types: row
            .get::<_, Vec<String>>("grant_types")
            .iter()
            .map(|grant| {
                GrantType::parse(grant)
                    .ok_or_else(|| StoreError::Corrupt(format!("clients.grant_types {grant}")))
            })
            .collect::<Result<_, _>>()?,
        auth_method: ClientAuthMethod::parse(&method).ok_or_else(|| {
            StoreError::Corrupt(format!("clients.token_endpoint_auth_method {method}"))
        })?,
        jwks: row.get("jwks"),
        post_logout_redirect_uris: row.get("post_logout_redirect_uris"),
        logout: LogoutChannels {
            backchannel_uri: row.get("backchannel_logout_uri"),
            backchannel_session_required: row.get("backchannel_logout_session_required"),
            frontchannel_uri: row.get("frontchannel_logout_uri"),
            frontchannel_session_required: row.get("frontchannel_logout_session_required"),
        },
        require_par: row.get("require_par"),
        pkce: row
            .get::<_, Option<String>>("pkce_policy")
            .map(|policy| {
                PkcePolicy::parse(&policy)
                    .ok_or_else(|| StoreError::Corrupt(format!("clients.pkce_policy {policy}")))
            })
            .transpose()?,
        allowed_origins: row.get("allowed_origins"),
        verified: row.get("verified"),
        application_type: {
            let kind: String = row.get("application_type");
            ApplicationType::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("clients.application_type {kind}")))?
        },
        rate_limit: row
            .get::<_, Option<i32>>("rate_limit")
            .and_then(|limit| u32::try_from(limit).ok())
            .and_then(NonZeroU32::new),
        created_at: row.get("created_at"),
        revision: row.get("revision"),
    })
}

#[async_trait]
impl ClientStore for PostgresClients {
    #[tracing::instrument(
        name = "postgres clients.insert_client",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let connection = self.0.client().await?;
        connection
            .execute(
                "INSERT INTO clients (client_id, name, secret_hash, scope, redirect_uris,
                    grant_types, token_endpoint_auth_method, jwks, post_logout_redirect_uris,
                    require_par, created_at, pkce_policy, allowed_origins, verified,
                    application_type, rate_limit, backchannel_logout_uri,
                    backchannel_logout_session_required, frontchannel_logout_uri,
                    frontchannel_logout_session_required)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::jsonb, $9, $10, $11, $12, $13,
                    $14, $15, $16, $17, $18, $19, $20)",
                &[
                    &client.client_id,
                    &client.name,
                    &client.secret_hash.as_ref().map(<[u8; 32]>::as_slice),
                    &client.scope,
                    &client.redirect_uris,
                    &grant_names(client),
                    &client.auth_method.as_str(),
                    &client.jwks,
                    &client.post_logout_redirect_uris,
                    &client.require_par,
                    &client.created_at,
                    &client.pkce.map(PkcePolicy::as_str),
                    &client.allowed_origins,
                    &client.verified,
                    &client.application_type.as_str(),
                    &rate_limit_column(client),
                    &client.logout.backchannel_uri,
                    &client.logout.backchannel_session_required,
                    &client.logout.frontchannel_uri,
                    &client.logout.frontchannel_session_required,
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
        if !storable(client_id) {
            return Ok(None);
        }
        let (connection, statement) = self
            .0
            .prepared(&format!(
                "SELECT {COLUMNS} FROM clients WHERE client_id = $1"
            ))
            .await?;
        connection
            .query_opt(&statement, &[&client_id])
            .await
            .map_err(|err| unavailable(&err))?
            .as_ref()
            .map(client_from_row)
            .transpose()
    }

    #[tracing::instrument(
        name = "postgres clients.list_clients",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn list_clients_page(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ClientRecord>, StoreError> {
        if after.is_some_and(|after| !storable(after)) {
            return Ok(Vec::new());
        }
        let connection = self.0.client().await?;
        connection
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM clients WHERE ($1::text IS NULL OR client_id > $1)
                     ORDER BY client_id LIMIT $2"
                ),
                &[&after, &i64::from(limit)],
            )
            .await
            .map_err(|err| unavailable(&err))?
            .iter()
            .map(client_from_row)
            .collect()
    }

    async fn list_clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        let connection = self.0.client().await?;
        connection
            .query(
                &format!("SELECT {COLUMNS} FROM clients ORDER BY created_at, client_id"),
                &[],
            )
            .await
            .map_err(|err| unavailable(&err))?
            .iter()
            .map(client_from_row)
            .collect()
    }

    #[tracing::instrument(
        name = "postgres clients.update_client",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn update_client(&self, client: &ClientRecord) -> Result<bool, StoreError> {
        let connection = self.0.client().await?;
        connection
            .execute(
                "UPDATE clients SET name = $2, secret_hash = $3, scope = $4, redirect_uris = $5,
                    grant_types = $6, token_endpoint_auth_method = $7, jwks = $8::text::jsonb,
                    post_logout_redirect_uris = $9, require_par = $10,
                    previous_secret_hash = $11, previous_secret_expires_at = $12,
                    pkce_policy = $13, allowed_origins = $14, verified = $15,
                    application_type = $16, rate_limit = $17, backchannel_logout_uri = $19,
                    backchannel_logout_session_required = $20, frontchannel_logout_uri = $21,
                    frontchannel_logout_session_required = $22
                 WHERE client_id = $1 AND revision = $18",
                &[
                    &client.client_id,
                    &client.name,
                    &client.secret_hash.as_ref().map(<[u8; 32]>::as_slice),
                    &client.scope,
                    &client.redirect_uris,
                    &grant_names(client),
                    &client.auth_method.as_str(),
                    &client.jwks,
                    &client.post_logout_redirect_uris,
                    &client.require_par,
                    &client
                        .previous_secret
                        .as_ref()
                        .map(|previous| previous.hash.as_slice()),
                    &client.previous_secret.map(|previous| previous.expires_at),
                    &client.pkce.map(PkcePolicy::as_str),
                    &client.allowed_origins,
                    &client.verified,
                    &client.application_type.as_str(),
                    &rate_limit_column(client),
                    &client.revision,
                    &client.logout.backchannel_uri,
                    &client.logout.backchannel_session_required,
                    &client.logout.frontchannel_uri,
                    &client.logout.frontchannel_session_required,
                ],
            )
            .await
            .map(|rows| rows == 1)
            .map_err(|err| unavailable(&err))
    }

    #[tracing::instrument(
        name = "postgres clients.delete_client",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        if !storable(client_id) {
            return Ok(false);
        }
        let connection = self.0.client().await?;
        // Consents and the client's sessions (with their refresh tokens) go by cascade.
        connection
            .execute("DELETE FROM clients WHERE client_id = $1", &[&client_id])
            .await
            .map(|rows| rows == 1)
            .map_err(|err| unavailable(&err))
    }
}

pub struct PostgresConsents(pub(super) Postgres);

fn consent_from_row(row: &Row) -> Consent {
    Consent {
        user_id: row.get("user_id"),
        client_id: row.get("client_id"),
        scope: row.get("scope"),
        granted_at: row.get("granted_at"),
    }
}

#[async_trait]
impl ConsentStore for PostgresConsents {
    #[tracing::instrument(
        name = "postgres consents.find_consent",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn find_consent(
        &self,
        user_id: Uuid,
        client_id: &str,
    ) -> Result<Option<Consent>, StoreError> {
        let (connection, statement) = self
            .0
            .prepared(
                "SELECT user_id, client_id, scope, granted_at FROM consents
                 WHERE user_id = $1 AND client_id = $2",
            )
            .await?;
        Ok(connection
            .query_opt(&statement, &[&user_id, &client_id])
            .await
            .map_err(|err| unavailable(&err))?
            .as_ref()
            .map(consent_from_row))
    }

    #[tracing::instrument(
        name = "postgres consents.save_consent",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn save_consent(&self, consent: &Consent) -> Result<(), StoreError> {
        let connection = self.0.client().await?;
        connection
            .execute(
                "INSERT INTO consents (user_id, client_id, scope, granted_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_id, client_id)
                 DO UPDATE SET scope = EXCLUDED.scope, granted_at = EXCLUDED.granted_at",
                &[
                    &consent.user_id,
                    &consent.client_id,
                    &consent.scope,
                    &consent.granted_at,
                ],
            )
            .await
            .map(drop)
            .map_err(|err| unavailable(&err))
    }

    #[tracing::instrument(
        name = "postgres consents.list_consents",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn list_consents(&self, user_id: Uuid) -> Result<Vec<ConsentSummary>, StoreError> {
        let connection = self.0.client().await?;
        let rows = connection
            .query(
                "SELECT c.user_id, c.client_id, c.scope, c.granted_at, k.name
                 FROM consents c JOIN clients k ON k.client_id = c.client_id
                 WHERE c.user_id = $1
                 ORDER BY c.granted_at DESC, c.client_id",
                &[&user_id],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        Ok(rows
            .iter()
            .map(|row| ConsentSummary {
                consent: consent_from_row(row),
                client_name: row.get("name"),
            })
            .collect())
    }

    #[tracing::instrument(
        name = "postgres consents.delete_consent",
        skip_all,
        fields(otel.kind = "client", db.system.name = "postgresql")
    )]
    async fn delete_consent(&self, user_id: Uuid, client_id: &str) -> Result<bool, StoreError> {
        if !storable(client_id) {
            return Ok(false);
        }
        let connection = self.0.client().await?;
        connection
            .execute(
                "DELETE FROM consents WHERE user_id = $1 AND client_id = $2",
                &[&user_id, &client_id],
            )
            .await
            .map(|rows| rows == 1)
            .map_err(|err| unavailable(&err))
    }
}

/// The grant types as the `grant_types` column holds them.
fn grant_names(client: &ClientRecord) -> Vec<&'static str> {
    client
        .grant_types
        .iter()
        .map(|grant| grant.as_str())
        .collect()
}
