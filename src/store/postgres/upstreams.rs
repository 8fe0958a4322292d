//! `upstreams` and `federated_identities` tables.

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{
    Postgres, unavailable,
    users::{insert_passwordless, unique_violation},
};
use crate::store::{
    ClaimPaths, FederatedIdentity, Provisioning, SealedBox, StoreError, UpstreamKind,
    UpstreamRecord, UpstreamStore, UserRecord, Written,
};

pub struct PostgresUpstreams(pub(super) Postgres);

const COLUMNS: &str = "id, name, kind, issuer, authorization_endpoint, token_endpoint, \
                       userinfo_endpoint, jwks_uri, algorithms, iss_parameter, client_id, \
                       client_secret, client_secret_nonce, master_key_id, scopes, claims, \
                       provisioning, trust_email, require_second_factor, enabled, created_at, \
                       revision";

const IDENTITY_COLUMNS: &str =
    "upstream_id, subject, user_id, username, email, linked_at, last_login_at";

#[async_trait]
impl UpstreamStore for PostgresUpstreams {
    async fn insert_upstream(&self, upstream: &UpstreamRecord) -> Result<(), StoreError> {
        let claims = claims_json(&upstream.claims)?;
        self.0
            .client()
            .await?
            .execute(
                &format!(
                    "INSERT INTO upstreams ({COLUMNS})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                             $16, $17, $18, $19, $20, $21, 1)"
                ),
                &[
                    &upstream.id,
                    &upstream.name,
                    &upstream.kind.as_str(),
                    &upstream.issuer,
                    &upstream.authorization_endpoint,
                    &upstream.token_endpoint,
                    &upstream.userinfo_endpoint,
                    &upstream.jwks_uri,
                    &upstream.algorithms,
                    &upstream.iss_parameter,
                    &upstream.client_id,
                    &upstream.client_secret.ciphertext,
                    &upstream.client_secret.nonce,
                    &upstream.master_key_id,
                    &upstream.scopes,
                    &claims,
                    &upstream.provisioning.as_str(),
                    &upstream.trust_email,
                    &upstream.require_second_factor,
                    &upstream.enabled,
                    &upstream.created_at,
                ],
            )
            .await
            .map(drop)
            .map_err(|err| unique_violation(&err))
    }

    async fn find_upstream(&self, id: &str) -> Result<Option<UpstreamRecord>, StoreError> {
        let row = self
            .0
            .client()
            .await?
            .query_opt(
                &format!("SELECT {COLUMNS} FROM upstreams WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        row.as_ref().map(upstream_from_row).transpose()
    }

    async fn list_upstreams(&self) -> Result<Vec<UpstreamRecord>, StoreError> {
        let rows = self
            .0
            .client()
            .await?
            .query(&format!("SELECT {COLUMNS} FROM upstreams ORDER BY id"), &[])
            .await
            .map_err(|err| unavailable(&err))?;
        rows.iter().map(upstream_from_row).collect()
    }

    async fn replace_upstream(
        &self,
        upstream: &UpstreamRecord,
        expected: Option<i64>,
    ) -> Result<Written<UpstreamRecord>, StoreError> {
        let claims = claims_json(&upstream.claims)?;
        let client = self.0.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "UPDATE upstreams SET name = $2, kind = $3, issuer = $4,
                         authorization_endpoint = $5, token_endpoint = $6, userinfo_endpoint = $7,
                         jwks_uri = $8, algorithms = $9, iss_parameter = $10, client_id = $11,
                         client_secret = $12, client_secret_nonce = $13, master_key_id = $14,
                         scopes = $15, claims = $16, provisioning = $17, trust_email = $18,
                         require_second_factor = $19, enabled = $20
                     WHERE id = $1 AND ($21::bigint IS NULL OR revision = $21)
                     RETURNING {COLUMNS}"
                ),
                &[
                    &upstream.id,
                    &upstream.name,
                    &upstream.kind.as_str(),
                    &upstream.issuer,
                    &upstream.authorization_endpoint,
                    &upstream.token_endpoint,
                    &upstream.userinfo_endpoint,
                    &upstream.jwks_uri,
                    &upstream.algorithms,
                    &upstream.iss_parameter,
                    &upstream.client_id,
                    &upstream.client_secret.ciphertext,
                    &upstream.client_secret.nonce,
                    &upstream.master_key_id,
                    &upstream.scopes,
                    &claims,
                    &upstream.provisioning.as_str(),
                    &upstream.trust_email,
                    &upstream.require_second_factor,
                    &upstream.enabled,
                    &expected,
                ],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        if let Some(row) = row {
            return Ok(Written::Done(upstream_from_row(&row)?));
        }
        super::missing_or_stale(
            &client,
            "SELECT 1 FROM upstreams WHERE id = $1",
            &upstream.id,
        )
        .await
    }

    async fn reseal_upstream(
        &self,
        id: &str,
        previous_master: &str,
        sealed: &SealedBox,
        master_key_id: &str,
    ) -> Result<bool, StoreError> {
        self.0
            .execute(
                "UPDATE upstreams SET client_secret = $3, client_secret_nonce = $4,
                                      master_key_id = $5
                 WHERE id = $1 AND master_key_id = $2",
                &[
                    &id,
                    &previous_master,
                    &sealed.ciphertext,
                    &sealed.nonce,
                    &master_key_id,
                ],
            )
            .await
            .map(|updated| updated == 1)
    }

    async fn delete_upstream(&self, id: &str) -> Result<bool, StoreError> {
        self.0
            .execute("DELETE FROM upstreams WHERE id = $1", &[&id])
            .await
            .map(|deleted| deleted == 1)
    }

    async fn find_identity(
        &self,
        upstream_id: &str,
        subject: &str,
    ) -> Result<Option<FederatedIdentity>, StoreError> {
        let row = self
            .0
            .client()
            .await?
            .query_opt(
                &format!(
                    "SELECT {IDENTITY_COLUMNS} FROM federated_identities
                     WHERE upstream_id = $1 AND subject = $2"
                ),
                &[&upstream_id, &subject],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        row.as_ref().map(identity_from_row).transpose()
    }

    async fn identities_of(&self, user_id: Uuid) -> Result<Vec<FederatedIdentity>, StoreError> {
        let rows = self
            .0
            .client()
            .await?
            .query(
                &format!(
                    "SELECT {IDENTITY_COLUMNS} FROM federated_identities
                     WHERE user_id = $1 ORDER BY upstream_id"
                ),
                &[&user_id],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        rows.iter().map(identity_from_row).collect()
    }

    async fn link_identity(&self, identity: &FederatedIdentity) -> Result<(), StoreError> {
        let client = self.0.client().await?;
        insert_identity(&client, identity).await
    }

    async fn provision(
        &self,
        user: &UserRecord,
        identity: &FederatedIdentity,
    ) -> Result<(), StoreError> {
        let mut client = self.0.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|err| unavailable(&err))?;
        insert_passwordless(&tx, user).await?;
        insert_identity(&tx, identity).await?;
        tx.commit().await.map_err(|err| unavailable(&err))
    }

    async fn touch_identity(
        &self,
        identity: &FederatedIdentity,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.0
            .execute(
                "UPDATE federated_identities SET username = $3, email = $4, last_login_at = $5
                 WHERE upstream_id = $1 AND subject = $2",
                &[
                    &identity.upstream_id,
                    &identity.subject,
                    &identity.username,
                    &identity.email,
                    &at,
                ],
            )
            .await
            .map(drop)
    }

    async fn unlink_identity(&self, user_id: Uuid, upstream_id: &str) -> Result<bool, StoreError> {
        self.0
            .execute(
                "DELETE FROM federated_identities WHERE user_id = $1 AND upstream_id = $2",
                &[&user_id, &upstream_id],
            )
            .await
            .map(|deleted| deleted == 1)
    }
}

async fn insert_identity(
    client: &impl deadpool_postgres::GenericClient,
    identity: &FederatedIdentity,
) -> Result<(), StoreError> {
    client
        .execute(
            &format!(
                "INSERT INTO federated_identities ({IDENTITY_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ),
            &[
                &identity.upstream_id,
                &identity.subject,
                &identity.user_id,
                &identity.username,
                &identity.email,
                &identity.linked_at,
                &identity.last_login_at,
            ],
        )
        .await
        .map(drop)
        .map_err(|err| unique_violation(&err))
}

fn claims_json(claims: &ClaimPaths) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(claims).map_err(|err| StoreError::Corrupt(format!("claim paths: {err}")))
}

fn upstream_from_row(row: &Row) -> Result<UpstreamRecord, StoreError> {
    let corrupt = |err: tokio_postgres::Error| StoreError::Corrupt(format!("upstreams row: {err}"));
    let kind: String = row.try_get("kind").map_err(corrupt)?;
    let provisioning: String = row.try_get("provisioning").map_err(corrupt)?;
    let claims: serde_json::Value = row.try_get("claims").map_err(corrupt)?;
    Ok(UpstreamRecord {
        id: row.try_get("id").map_err(corrupt)?,
        name: row.try_get("name").map_err(corrupt)?,
        kind: UpstreamKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("upstream kind {kind}")))?,
        issuer: row.try_get("issuer").map_err(corrupt)?,
        authorization_endpoint: row.try_get("authorization_endpoint").map_err(corrupt)?,
        token_endpoint: row.try_get("token_endpoint").map_err(corrupt)?,
        userinfo_endpoint: row.try_get("userinfo_endpoint").map_err(corrupt)?,
        jwks_uri: row.try_get("jwks_uri").map_err(corrupt)?,
        algorithms: row.try_get("algorithms").map_err(corrupt)?,
        iss_parameter: row.try_get("iss_parameter").map_err(corrupt)?,
        client_id: row.try_get("client_id").map_err(corrupt)?,
        client_secret: SealedBox {
            ciphertext: row.try_get("client_secret").map_err(corrupt)?,
            nonce: row.try_get("client_secret_nonce").map_err(corrupt)?,
        },
        master_key_id: row.try_get("master_key_id").map_err(corrupt)?,
        scopes: row.try_get("scopes").map_err(corrupt)?,
        claims: serde_json::from_value(claims)
            .map_err(|err| StoreError::Corrupt(format!("upstream claim paths: {err}")))?,
        provisioning: Provisioning::parse(&provisioning)
            .ok_or_else(|| StoreError::Corrupt(format!("upstream provisioning {provisioning}")))?,
        trust_email: row.try_get("trust_email").map_err(corrupt)?,
        require_second_factor: row.try_get("require_second_factor").map_err(corrupt)?,
        enabled: row.try_get("enabled").map_err(corrupt)?,
        created_at: row.try_get("created_at").map_err(corrupt)?,
        revision: row.try_get("revision").map_err(corrupt)?,
    })
}

fn identity_from_row(row: &Row) -> Result<FederatedIdentity, StoreError> {
    let corrupt = |err: tokio_postgres::Error| {
        StoreError::Corrupt(format!("federated_identities row: {err}"))
    };
    Ok(FederatedIdentity {
        upstream_id: row.try_get("upstream_id").map_err(corrupt)?,
        subject: row.try_get("subject").map_err(corrupt)?,
        user_id: row.try_get("user_id").map_err(corrupt)?,
        username: row.try_get("username").map_err(corrupt)?,
        email: row.try_get("email").map_err(corrupt)?,
        linked_at: row.try_get("linked_at").map_err(corrupt)?,
        last_login_at: row.try_get("last_login_at").map_err(corrupt)?,
    })
}
