//! Refresh tokens: stored by hash under their principal, expiring, rotated atomically.

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::attr::{key, n, ts};
use super::{Store, StoreError, TransactFailure};
use crate::domain::principal::PrincipalKind;

fn owner_pk(kind: PrincipalKind, id: &str) -> String {
    match kind {
        PrincipalKind::Member => super::members::member_pk(id),
        PrincipalKind::Operator => super::operators::operator_pk(id),
        PrincipalKind::Admin => format!("ADMIN#{id}"),
    }
}

fn token_sk(hash: &str) -> String {
    format!("REFRESH#{hash}")
}

impl Store {
    fn refresh_put(
        &self,
        kind: PrincipalKind,
        id: &str,
        hash: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Put, StoreError> {
        let mut item = key(owner_pk(kind, id), token_sk(hash));
        item.insert("created_at".into(), ts(now));
        item.insert("expires_at".into(), n(expires_at.timestamp()));
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(StoreError::dynamo)
    }

    pub async fn put_refresh_token(
        &self,
        kind: PrincipalKind,
        id: &str,
        hash: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let put = self.refresh_put(kind, id, hash, now, expires_at)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(put.item().clone()))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(())
    }

    /// Replaces a live token with a new one in one transaction. `Ok(false)` if the
    /// old token is unknown, already used or expired (TTL may not have removed it yet).
    pub async fn rotate_refresh_token(
        &self,
        kind: PrincipalKind,
        id: &str,
        old_hash: &str,
        new_hash: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(owner_pk(kind, id), token_sk(old_hash))))
            .condition_expression("attribute_exists(PK) AND expires_at > :now")
            .expression_attribute_values(":now", n(now.timestamp()))
            .build()
            .map_err(StoreError::dynamo)?;
        let put = self.refresh_put(kind, id, new_hash, now, expires_at)?;
        let items =
            vec![TransactWriteItem::builder().delete(delete).build(), TransactWriteItem::builder().put(put).build()];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(_)) => Ok(false),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    pub async fn delete_refresh_token(&self, kind: PrincipalKind, id: &str, hash: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(owner_pk(kind, id), token_sk(hash))))
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(())
    }

    /// Deletes every refresh token of a principal (password change: other sessions
    /// end when their access token expires). Returns how many there were.
    pub async fn revoke_refresh_tokens(&self, kind: PrincipalKind, id: &str) -> Result<usize, StoreError> {
        let tokens = self.query_all(&owner_pk(kind, id), "REFRESH#").await?;
        for item in &tokens {
            let Some(sk) = item.get("SK").and_then(|v| v.as_s().ok()) else { continue };
            let hash = sk.trim_start_matches("REFRESH#");
            self.delete_refresh_token(kind, id, hash).await?;
        }
        Ok(tokens.len())
    }
}
