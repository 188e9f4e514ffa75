//! Refresh tokens: stored by hash under their principal, expiring, rotated atomically.

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::attr::{key, n, s, ts};
use super::{Store, StoreError, TransactFailure};
use crate::domain::principal::PrincipalKind;

/// A refresh token as stored: whose, which session (family), and its hash.
#[derive(Clone, Copy, Debug)]
pub struct TokenRef<'a> {
    pub kind: PrincipalKind,
    pub principal_id: &'a str,
    pub family: &'a str,
    pub hash: &'a str,
}

fn owner_pk(kind: PrincipalKind, id: &str) -> String {
    match kind {
        PrincipalKind::Member => super::members::member_pk(id),
        PrincipalKind::Operator => super::operators::operator_pk(id),
        PrincipalKind::Admin => super::admins::admin_pk(id),
    }
}

fn token_sk(hash: &str) -> String {
    format!("REFRESH#{hash}")
}

fn used_sk(hash: &str) -> String {
    format!("REFRESHUSED#{hash}")
}

impl Store {
    fn refresh_put(&self, t: TokenRef<'_>, now: DateTime<Utc>, expires_at: DateTime<Utc>) -> Result<Put, StoreError> {
        let mut item = key(owner_pk(t.kind, t.principal_id), token_sk(t.hash));
        item.insert("family".into(), s(t.family));
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
        t: TokenRef<'_>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let put = self.refresh_put(t, now, expires_at)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(put.item().clone()))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    /// Replaces a live token with the next of its family in one transaction.
    /// `Ok(false)` if the old token is unknown, already used or expired (TTL may not
    /// have removed it yet).
    pub async fn rotate_refresh_token(
        &self,
        old: TokenRef<'_>,
        new: TokenRef<'_>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(owner_pk(old.kind, old.principal_id), token_sk(old.hash))))
            .condition_expression("attribute_exists(PK) AND expires_at > :now")
            .expression_attribute_values(":now", n(now.timestamp()))
            .build()
            .map_err(StoreError::dynamo)?;
        let put = self.refresh_put(new, now, expires_at)?;
        // The used token leaves a tombstone: presented again, it gives its family away.
        let mut used = key(owner_pk(old.kind, old.principal_id), used_sk(old.hash));
        used.insert("family".into(), s(old.family));
        used.insert("rotated_at".into(), n(now.timestamp()));
        used.insert("expires_at".into(), n(expires_at.timestamp()));
        let used = Put::builder().table_name(&self.table).set_item(Some(used)).build().map_err(StoreError::dynamo)?;
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().put(used).build(),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(_)) => Ok(false),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// Deletes a refresh token; `true` if there was one (so a logout with a token
    /// that was not, or no longer, stored ends nothing).
    pub async fn delete_refresh_token(&self, kind: PrincipalKind, id: &str, hash: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(owner_pk(kind, id), token_sk(hash))))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    /// Whether a session (refresh-token family) still holds an unexpired refresh
    /// token: a logout, a revocation (ban, deletion, password change) or its 30
    /// days end it. Read consistently.
    pub async fn session_alive(
        &self,
        kind: PrincipalKind,
        id: &str,
        family: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let tokens = self.query_all(&owner_pk(kind, id), "REFRESH#").await?;
        Ok(tokens.iter().any(|item| {
            let r = super::attr::Reader(item);
            r.opt_str("family").as_deref() == Some(family)
                && r.opt_i64("expires_at").is_some_and(|e| e > now.timestamp())
        }))
    }

    /// Deletes every refresh token of a principal except those of the session
    /// `keep` (a password change keeps the caller's; a ban or deletion keeps none):
    /// the other sessions end at their next refresh. Returns how many went.
    pub async fn revoke_refresh_tokens(
        &self,
        kind: PrincipalKind,
        id: &str,
        keep: Option<&str>,
    ) -> Result<usize, StoreError> {
        let tokens = self.query_all(&owner_pk(kind, id), "REFRESH#").await?;
        let mut revoked = 0;
        for item in &tokens {
            let Some(sk) = item.get("SK").and_then(|v| v.as_s().ok()) else { continue };
            let family = item.get("family").and_then(|v| v.as_s().ok()).map(String::as_str);
            if keep.is_some() && family == keep {
                continue;
            }
            self.delete_refresh_token(kind, id, sk.trim_start_matches("REFRESH#")).await?;
            revoked += 1;
        }
        Ok(revoked)
    }

    /// The family of a token that was already rotated (its tombstone is live), with
    /// when it was rotated: presenting it again means it was copied.
    pub async fn rotated_token_family(
        &self,
        kind: PrincipalKind,
        id: &str,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(String, DateTime<Utc>)>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(owner_pk(kind, id), used_sk(hash))))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        let Some(item) = out.item else { return Ok(None) };
        let r = super::attr::Reader(&item);
        let live = r.opt_i64("expires_at").is_some_and(|e| e > now.timestamp());
        let rotated_at = r.opt_i64("rotated_at").and_then(|t| DateTime::from_timestamp(t, 0)).unwrap_or(now);
        Ok(live.then(|| r.opt_str("family")).flatten().map(|f| (f, rotated_at)))
    }

    /// Revokes every refresh token of one session (family). Returns how many went.
    pub async fn revoke_family(&self, kind: PrincipalKind, id: &str, family: &str) -> Result<usize, StoreError> {
        let tokens = self.query_all(&owner_pk(kind, id), "REFRESH#").await?;
        let mut revoked = 0;
        for item in &tokens {
            let r = super::attr::Reader(item);
            if r.opt_str("family").as_deref() != Some(family) {
                continue;
            }
            let Some(sk) = r.opt_str("SK") else { continue };
            self.delete_refresh_token(kind, id, sk.trim_start_matches("REFRESH#")).await?;
            revoked += 1;
        }
        Ok(revoked)
    }
}
