//! `ldap_accounts`: local accounts whose password lives in an LDAP directory.

use async_trait::async_trait;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{
    Postgres, unavailable,
    users::{insert_passwordless, unique_violation},
};
use crate::store::{LdapAccount, LdapAccountStore, StoreError, UniqueField, UserRecord};

pub struct PostgresLdapAccounts(pub(super) Postgres);

const COLUMNS: &str = "user_id, entry_id, dn, groups, linked_at, last_login_at";

impl PostgresLdapAccounts {
    async fn find_one(
        &self,
        condition: &str,
        value: &(dyn tokio_postgres::types::ToSql + Sync),
    ) -> Result<Option<LdapAccount>, StoreError> {
        let row = self
            .0
            .client()
            .await?
            .query_opt(
                &format!("SELECT {COLUMNS} FROM ldap_accounts WHERE {condition} = $1"),
                &[value],
            )
            .await
            .map_err(|err| unavailable(&err))?;
        row.as_ref().map(account_from_row).transpose()
    }
}

#[async_trait]
impl LdapAccountStore for PostgresLdapAccounts {
    async fn find_ldap_account(&self, user_id: Uuid) -> Result<Option<LdapAccount>, StoreError> {
        self.find_one("user_id", &user_id).await
    }

    async fn find_ldap_entry(&self, entry_id: &str) -> Result<Option<LdapAccount>, StoreError> {
        self.find_one("entry_id", &entry_id).await
    }

    async fn provision_ldap(
        &self,
        user: &UserRecord,
        account: &LdapAccount,
    ) -> Result<(), StoreError> {
        let mut client = self.0.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|err| unavailable(&err))?;
        insert_passwordless(&tx, user).await?;
        insert_account(&tx, account).await?;
        tx.commit().await.map_err(|err| unavailable(&err))
    }

    async fn adopt_ldap(&self, account: &LdapAccount) -> Result<(), StoreError> {
        let mut client = self.0.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|err| unavailable(&err))?;
        insert_account(&tx, account).await?;
        tx.execute(
            "UPDATE users SET password_hash = NULL WHERE id = $1",
            &[&account.user_id],
        )
        .await
        .map_err(|err| unavailable(&err))?;
        tx.commit().await.map_err(|err| unavailable(&err))
    }

    async fn touch_ldap(&self, account: &LdapAccount) -> Result<(), StoreError> {
        self.0
            .execute(
                "UPDATE ldap_accounts SET dn = $2, groups = $3, last_login_at = $4
                 WHERE user_id = $1",
                &[
                    &account.user_id,
                    &account.dn,
                    &account.groups,
                    &account.last_login_at,
                ],
            )
            .await
            .map(drop)
    }
}

async fn insert_account(
    client: &impl deadpool_postgres::GenericClient,
    account: &LdapAccount,
) -> Result<(), StoreError> {
    client
        .execute(
            &format!("INSERT INTO ldap_accounts ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"),
            &[
                &account.user_id,
                &account.entry_id,
                &account.dn,
                &account.groups,
                &account.linked_at,
                &account.last_login_at,
            ],
        )
        .await
        .map(drop)
        .map_err(|err| match unique_violation(&err) {
            StoreError::Conflict(_) => StoreError::Conflict(UniqueField::LdapEntry),
            other => other,
        })
}

fn account_from_row(row: &Row) -> Result<LdapAccount, StoreError> {
    let corrupt =
        |err: tokio_postgres::Error| StoreError::Corrupt(format!("ldap_accounts row: {err}"));
    Ok(LdapAccount {
        user_id: row.try_get("user_id").map_err(corrupt)?,
        entry_id: row.try_get("entry_id").map_err(corrupt)?,
        dn: row.try_get("dn").map_err(corrupt)?,
        groups: row.try_get("groups").map_err(corrupt)?,
        linked_at: row.try_get("linked_at").map_err(corrupt)?,
        last_login_at: row.try_get("last_login_at").map_err(corrupt)?,
    })
}
