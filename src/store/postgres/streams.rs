//! `ssf_streams` and `ssf_pending_sets`: Shared Signals event streams and the SETs waiting in
//! poll streams.

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{Postgres, unavailable};
use crate::store::{
    PendingSet, SealedAuthorization, SealedBox, StoreError, StreamDelivery, StreamRecord,
    StreamStatus, StreamStore,
};

pub struct PostgresStreams(pub(super) Postgres);

const COLUMNS: &str = "id, client_id, audience, delivery_method, endpoint_url, \
                       authorization_header, authorization_nonce, master_key_id, \
                       events_requested, status, reason, description, created_at, updated_at";

/// The delivery columns of a record: method, URL, sealed header, its nonce, its master key.
type DeliveryColumns<'a> = (
    &'static str,
    Option<&'a str>,
    Option<&'a [u8]>,
    Option<&'a [u8]>,
    Option<&'a str>,
);

fn delivery_columns(delivery: &StreamDelivery) -> DeliveryColumns<'_> {
    match delivery {
        StreamDelivery::Poll => ("poll", None, None, None, None),
        StreamDelivery::Push {
            endpoint_url,
            authorization,
        } => (
            "push",
            Some(endpoint_url),
            authorization
                .as_ref()
                .map(|a| a.sealed.ciphertext.as_slice()),
            authorization.as_ref().map(|a| a.sealed.nonce.as_slice()),
            authorization.as_ref().map(|a| a.master_key_id.as_str()),
        ),
    }
}

#[async_trait]
impl StreamStore for PostgresStreams {
    async fn insert_stream(&self, stream: &StreamRecord) -> Result<(), StoreError> {
        let (method, url, header, nonce, master) = delivery_columns(&stream.delivery);
        self.0
            .execute(
                "INSERT INTO ssf_streams (id, client_id, audience, delivery_method, endpoint_url,
                     authorization_header, authorization_nonce, master_key_id, events_requested,
                     status, reason, description, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                &[
                    &stream.id,
                    &stream.client_id,
                    &stream.audience,
                    &method,
                    &url,
                    &header,
                    &nonce,
                    &master,
                    &stream.events_requested,
                    &stream.status.as_str(),
                    &stream.reason,
                    &stream.description,
                    &stream.created_at,
                    &stream.updated_at,
                ],
            )
            .await
            .map(drop)
    }

    async fn find_stream(&self, id: Uuid) -> Result<Option<StreamRecord>, StoreError> {
        let row = self
            .0
            .client()
            .await?
            .query_opt(
                &format!("SELECT {COLUMNS} FROM ssf_streams WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        row.as_ref().map(stream_from_row).transpose()
    }

    async fn client_streams(&self, client_id: &str) -> Result<Vec<StreamRecord>, StoreError> {
        self.query(
            &format!(
                "SELECT {COLUMNS} FROM ssf_streams WHERE client_id = $1 ORDER BY created_at, id"
            ),
            &[&client_id],
        )
        .await
    }

    async fn live_streams(&self) -> Result<Vec<StreamRecord>, StoreError> {
        self.query(
            &format!("SELECT {COLUMNS} FROM ssf_streams WHERE status <> 'disabled' ORDER BY id"),
            &[],
        )
        .await
    }

    async fn update_stream(&self, stream: &StreamRecord) -> Result<bool, StoreError> {
        let (method, url, header, nonce, master) = delivery_columns(&stream.delivery);
        self.0
            .execute(
                "UPDATE ssf_streams SET delivery_method = $2, endpoint_url = $3,
                     authorization_header = $4, authorization_nonce = $5, master_key_id = $6,
                     events_requested = $7, status = $8, reason = $9, description = $10,
                     updated_at = $11
                 WHERE id = $1",
                &[
                    &stream.id,
                    &method,
                    &url,
                    &header,
                    &nonce,
                    &master,
                    &stream.events_requested,
                    &stream.status.as_str(),
                    &stream.reason,
                    &stream.description,
                    &stream.updated_at,
                ],
            )
            .await
            .map(|updated| updated == 1)
    }

    async fn delete_stream(&self, id: Uuid) -> Result<bool, StoreError> {
        self.0
            .execute("DELETE FROM ssf_streams WHERE id = $1", &[&id])
            .await
            .map(|deleted| deleted == 1)
    }

    async fn reseal_stream(
        &self,
        id: Uuid,
        previous_master: &str,
        sealed: &SealedAuthorization,
    ) -> Result<bool, StoreError> {
        self.0
            .execute(
                "UPDATE ssf_streams SET authorization_header = $3, authorization_nonce = $4,
                     master_key_id = $5
                 WHERE id = $1 AND master_key_id = $2",
                &[
                    &id,
                    &previous_master,
                    &sealed.sealed.ciphertext,
                    &sealed.sealed.nonce,
                    &sealed.master_key_id,
                ],
            )
            .await
            .map(|updated| updated == 1)
    }

    async fn sealed_streams(&self) -> Result<Vec<StreamRecord>, StoreError> {
        self.query(
            &format!("SELECT {COLUMNS} FROM ssf_streams WHERE master_key_id IS NOT NULL"),
            &[],
        )
        .await
    }

    async fn hold_set(
        &self,
        stream_id: Uuid,
        set: &PendingSet,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        // The stream's row is named in the insert, so a stream deleted meanwhile holds nothing
        // (and the foreign key is never the one to refuse).
        let inserted = self
            .0
            .execute(
                "INSERT INTO ssf_pending_sets (stream_id, jti, claims, queued_at)
                 SELECT id, $2, $3, $4 FROM ssf_streams WHERE id = $1
                 ON CONFLICT DO NOTHING",
                &[&stream_id, &set.jti, &set.claims, &now],
            )
            .await?;
        if inserted == 1 {
            return Ok(true);
        }
        Ok(self.find_stream(stream_id).await?.is_some())
    }

    async fn take_sets(
        &self,
        stream_id: Uuid,
        acknowledged: &[Uuid],
        limit: u32,
    ) -> Result<(Vec<PendingSet>, bool), StoreError> {
        let client = self.0.client().await?;
        if !acknowledged.is_empty() {
            client
                .execute(
                    "DELETE FROM ssf_pending_sets WHERE stream_id = $1 AND jti = ANY($2)",
                    &[&stream_id, &acknowledged],
                )
                .await
                .map_err(|err| unavailable(&err))?;
        }
        let rows = client
            .query(
                "SELECT jti, claims FROM ssf_pending_sets WHERE stream_id = $1
                 ORDER BY jti LIMIT $2",
                &[&stream_id, &(i64::from(limit) + 1)],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        let corrupt = |err: tokio_postgres::Error| {
            StoreError::Corrupt(format!("ssf_pending_sets row: {err}"))
        };
        let mut sets = rows
            .iter()
            .map(|row| {
                Ok(PendingSet {
                    jti: row.try_get("jti").map_err(corrupt)?,
                    claims: row.try_get("claims").map_err(corrupt)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let more = sets.len() > limit as usize;
        sets.truncate(limit as usize);
        Ok((sets, more))
    }

    async fn expire_sets(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        self.0
            .execute(
                "DELETE FROM ssf_pending_sets WHERE queued_at < $1",
                &[&before],
            )
            .await
    }
}

impl PostgresStreams {
    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<StreamRecord>, StoreError> {
        let rows = self
            .0
            .client()
            .await?
            .query(sql, params)
            .await
            .map_err(|err| unavailable(&err))?;
        rows.iter().map(stream_from_row).collect()
    }
}

fn stream_from_row(row: &Row) -> Result<StreamRecord, StoreError> {
    let corrupt =
        |err: tokio_postgres::Error| StoreError::Corrupt(format!("ssf_streams row: {err}"));
    let method: String = row.try_get("delivery_method").map_err(corrupt)?;
    let delivery = match method.as_str() {
        "poll" => StreamDelivery::Poll,
        "push" => {
            let header: Option<Vec<u8>> = row.try_get("authorization_header").map_err(corrupt)?;
            let nonce: Option<Vec<u8>> = row.try_get("authorization_nonce").map_err(corrupt)?;
            let master: Option<String> = row.try_get("master_key_id").map_err(corrupt)?;
            let authorization = match (header, nonce, master) {
                (Some(ciphertext), Some(nonce), Some(master_key_id)) => Some(SealedAuthorization {
                    sealed: SealedBox { ciphertext, nonce },
                    master_key_id,
                }),
                _ => None,
            };
            StreamDelivery::Push {
                endpoint_url: row
                    .try_get::<_, Option<String>>("endpoint_url")
                    .map_err(corrupt)?
                    .ok_or_else(|| StoreError::Corrupt("a push stream without a URL".into()))?,
                authorization,
            }
        }
        other => {
            return Err(StoreError::Corrupt(format!(
                "ssf_streams row: delivery method {other}"
            )));
        }
    };
    let status: String = row.try_get("status").map_err(corrupt)?;
    Ok(StreamRecord {
        id: row.try_get("id").map_err(corrupt)?,
        client_id: row.try_get("client_id").map_err(corrupt)?,
        audience: row.try_get("audience").map_err(corrupt)?,
        delivery,
        events_requested: row.try_get("events_requested").map_err(corrupt)?,
        status: StreamStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("ssf_streams row: status {status}")))?,
        reason: row.try_get("reason").map_err(corrupt)?,
        description: row.try_get("description").map_err(corrupt)?,
        created_at: row.try_get("created_at").map_err(corrupt)?,
        updated_at: row.try_get("updated_at").map_err(corrupt)?,
    })
}
