//! Admins, the one-time setup, the count of active super admins, the audit log
//! and each admin's read marks on admin notifications.
//!
//! Each admin is its own partition (`ADMIN#<id>` / `PROFILE`: every admin request
//! reads it), listed through GSI1 `ADMINS`. `ADMINS` holds the setup marker
//! (`SETUP`) and the count of active super admins (`SUPERS`). Every write that can
//! change that count carries a condition on it in the same transaction (invariant
//! 6), and every write to an admin is conditioned on the version it was computed from.

use std::collections::HashSet;

use aws_sdk_dynamodb::types::{ConditionCheck, Delete, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::attr::{b, key, list, n, put_opt, s, ts, Item, Reader};
use super::cursor::{Page, Partition};
use super::notifications::{admin_notification_from, AdminNotification, ADMIN_NOTIFICATIONS};
use super::tx::{put_new, tx_update, update};
use super::{Store, StoreError, TransactFailure};
use crate::domain::admin::{Admin, AuditEntry, Permissions, SessionCut, Totp};
use crate::domain::ids;
use crate::domain::principal::AdminRole;

const ADMINS: &str = "ADMINS";
const SUPERS: &str = "SUPERS";
const SETUP: &str = "SETUP";
const AUDIT: &str = "AUDIT";

/// An admin's partition; its refresh tokens share it (`store::tokens`).
pub(crate) fn admin_pk(id: &str) -> String {
    format!("ADMIN#{id}")
}

fn admin_key(id: &str) -> Item {
    key(admin_pk(id), "PROFILE")
}

fn email_key(email: &str) -> Item {
    key(format!("ADMINEMAIL#{email}"), "ADMINEMAIL")
}

fn read_marks_pk(admin_id: &str) -> String {
    format!("ADMINREAD#{admin_id}")
}

/// What a write to an admin came to.
#[derive(Debug, PartialEq, Eq)]
pub enum AdminWrite {
    Done,
    /// The email belongs to another admin.
    EmailTaken,
    /// It would leave no active super admin.
    LastSuperAdmin,
    /// The admin changed since it was read (or is gone): read again.
    Stale,
    /// The acting admin is no longer an active super admin.
    ActorRevoked,
}

fn admin_item(a: &Admin) -> Item {
    let mut item = admin_key(&a.id);
    item.insert("entity".into(), s("admin"));
    item.insert("GSI1PK".into(), s(ADMINS));
    item.insert(
        "GSI1SK".into(),
        s(format!("{}#{}", a.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true), a.id)),
    );
    item.insert("id".into(), s(&a.id));
    item.insert("name".into(), s(&a.name));
    item.insert("email".into(), s(&a.email));
    item.insert("role".into(), s(a.role.as_str()));
    if let Some(set) = a.custom_permissions {
        item.insert("permissions".into(), list(&set.names()));
    }
    item.insert("active".into(), b(a.active));
    item.insert("password_hash".into(), s(&a.password_hash));
    totp_attrs(&a.totp, &mut item);
    item.insert("created_at".into(), ts(a.created_at));
    item.insert("version".into(), n(a.version));
    if let Some(cut) = &a.sessions_cut {
        item.insert("sessions_cut_at".into(), ts(cut.at));
        put_opt(&mut item, "sessions_kept", &cut.kept);
    }
    item
}

fn totp_attrs(t: &Totp, item: &mut Item) {
    match t {
        Totp::Off => {
            item.insert("totp".into(), s("off"));
        }
        Totp::Pending { secret } => {
            item.insert("totp".into(), s("pending"));
            item.insert("totp_secret".into(), s(hex::encode(secret)));
        }
        Totp::On { secret, last_step } => {
            item.insert("totp".into(), s("on"));
            item.insert("totp_secret".into(), s(hex::encode(secret)));
            item.insert("totp_last_step".into(), n(last_step));
        }
    }
}

fn admin_from(item: &Item) -> Result<Admin, StoreError> {
    let r = Reader(item);
    let custom_permissions = match item.get("permissions") {
        Some(_) => Some(Permissions::parse(&r.strings("permissions")).map_err(StoreError::Corrupt)?),
        None => None,
    };
    let secret = || {
        r.opt_str("totp_secret")
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(|| StoreError::Corrupt("admin totp_secret".into()))
    };
    let totp = match r.opt_str("totp").as_deref() {
        Some("pending") => Totp::Pending { secret: secret()? },
        Some("on") => Totp::On { secret: secret()?, last_step: r.opt_i64("totp_last_step").unwrap_or(0) as u64 },
        _ => Totp::Off,
    };
    Ok(Admin {
        id: r.str("id")?,
        name: r.str("name")?,
        email: r.str("email")?,
        role: r.parse("role", AdminRole::parse)?,
        custom_permissions,
        active: r.bool("active"),
        password_hash: r.str("password_hash")?,
        totp,
        created_at: r.time("created_at")?,
        version: r.opt_i64("version").unwrap_or(0) as u64,
        sessions_cut: r.opt_time("sessions_cut_at").map(|at| SessionCut { at, kept: r.opt_str("sessions_kept") }),
    })
}

fn audit_item(e: &AuditEntry, now: DateTime<Utc>) -> Item {
    let id = ids::new_id("au_");
    let order = format!("{}#{id}", now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let mut item = key(AUDIT, &order);
    item.insert("entity".into(), s("audit"));
    item.insert("id".into(), s(&id));
    item.insert("admin_id".into(), s(&e.actor));
    item.insert("action".into(), s(e.action));
    item.insert("target".into(), s(&e.target));
    item.insert("at".into(), ts(now));
    item.insert("details".into(), s(e.details.to_string()));
    item.insert("GSI1PK".into(), s(format!("AUDITBY#{}", e.actor)));
    item.insert("GSI1SK".into(), s(order));
    item
}

/// The audit entry's put, for the transaction of the admin write it records.
pub(crate) fn audit_put(table: &str, e: &AuditEntry, now: DateTime<Utc>) -> Result<TransactWriteItem, StoreError> {
    put_new(table, audit_item(e, now))
}

impl Store {
    /// An audit entry of its own: for an admin's read of personal data (an export),
    /// which has no write to share a transaction with.
    pub async fn put_audit(&self, e: &AuditEntry, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.transact(vec![audit_put(&self.table, e, now)?]).await.map_err(super::TransactFailure::into_store)
    }
}

/// An audit entry as listed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AuditRecord {
    pub admin_id: String,
    pub action: String,
    pub target: String,
    pub at: DateTime<Utc>,
    pub details: serde_json::Value,
}

fn audit_from(item: &Item) -> Result<AuditRecord, StoreError> {
    let r = Reader(item);
    Ok(AuditRecord {
        admin_id: r.str("admin_id")?,
        action: r.str("action")?,
        target: r.str("target")?,
        at: r.time("at")?,
        details: serde_json::from_str(&r.str("details")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
    })
}

/// `version = :v`: the admin is as it was read.
fn unchanged(table: &str, a: &Admin) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
    update(table, admin_key(&a.id))
        .condition_expression("version = :v")
        .expression_attribute_values(":v", n(a.version))
        .expression_attribute_values(":next", n(a.version + 1))
}

/// The acting admin is still an active super admin (the only holders of
/// `manage_admins`), checked in the same transaction as the change it makes.
fn actor_check(table: &str, actor_id: &str) -> Result<TransactWriteItem, StoreError> {
    let c = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(admin_key(actor_id)))
        .condition_expression("active = :t AND #role = :super")
        .expression_attribute_names("#role", "role")
        .expression_attribute_values(":t", b(true))
        .expression_attribute_values(":super", s(AdminRole::SuperAdmin.as_str()))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(StoreError::dynamo)?;
    Ok(TransactWriteItem::builder().condition_check(c).build())
}

/// Moves the count of active super admins by `delta`; taking one away needs two
/// to be there (`count > 1`), so the last one stays.
fn supers_delta(table: &str, delta: i8) -> Result<Option<TransactWriteItem>, StoreError> {
    let u = match delta {
        0 => return Ok(None),
        d if d > 0 => update(table, key(ADMINS, SUPERS))
            .update_expression("ADD active_count :one")
            .expression_attribute_values(":one", n(1)),
        _ => update(table, key(ADMINS, SUPERS))
            .update_expression("ADD active_count :minus")
            .condition_expression("active_count > :one")
            .expression_attribute_values(":minus", n(-1))
            .expression_attribute_values(":one", n(1)),
    };
    Ok(Some(tx_update(u)?))
}

/// Which action of a cancelled transaction failed, by position.
fn failed_at(old: &[Option<Item>], i: Option<usize>) -> bool {
    i.is_some_and(|i| old.get(i).is_some_and(Option::is_some))
}

impl Store {
    /// Whether the first admin may still be created (no setup happened).
    pub async fn setup_available(&self) -> Result<bool, StoreError> {
        Ok(self.get_decoded(key(ADMINS, SETUP), |_| Ok(())).await?.is_none())
    }

    /// The first super admin, once: the setup marker, the admin, its email, the
    /// audit entry and one more on the super admin count, in one transaction whose
    /// first action fails if setup already happened. `Ok(false)` then.
    pub async fn create_first_admin(&self, a: &Admin, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut marker = key(ADMINS, SETUP);
        marker.insert("admin_id".into(), s(&a.id));
        marker.insert("at".into(), ts(now));
        let mut claim = email_key(&a.email);
        claim.insert("admin_id".into(), s(&a.id));
        let audit = AuditEntry::new(
            &a.id,
            "setup",
            crate::domain::admin::admin_target(&a.id),
            serde_json::json!({ "email": a.email, "role": a.role.as_str() }),
        );
        let mut items = vec![
            put_new(&self.table, marker)?,
            put_new(&self.table, admin_item(a))?,
            put_new(&self.table, claim)?,
            put_new(&self.table, audit_item(&audit, now))?,
        ];
        items.extend(supers_delta(&self.table, 1)?);
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(_)) => Ok(false),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// One admin, strongly consistent: every admin request is authorised against it.
    pub async fn get_admin(&self, id: &str) -> Result<Option<Admin>, StoreError> {
        self.get_decoded(admin_key(id), admin_from).await
    }

    pub async fn admin_by_email(&self, email: &str) -> Result<Option<Admin>, StoreError> {
        let claim = self.get_decoded(email_key(email), |i| Ok(Reader(i).opt_str("admin_id"))).await?;
        match claim.flatten() {
            Some(id) => self.get_admin(&id).await,
            None => Ok(None),
        }
    }

    pub async fn list_admins(&self, cursor: Option<&str>, limit: usize) -> Result<Page<Admin>, StoreError> {
        let page = self.page(Partition::Gsi1(ADMINS), true, cursor, limit).await?;
        page.try_map(admin_from)
    }

    /// A new admin (by a super admin, `actor`), with its email claimed and its audit entry.
    pub async fn create_admin(
        &self,
        actor: &str,
        a: &Admin,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<AdminWrite, StoreError> {
        let mut claim = email_key(&a.email);
        claim.insert("admin_id".into(), s(&a.id));
        let mut items = vec![
            put_new(&self.table, claim)?,
            put_new(&self.table, admin_item(a))?,
            actor_check(&self.table, actor)?,
            put_new(&self.table, audit_item(audit, now))?,
        ];
        items.extend(supers_delta(&self.table, i8::from(a.is_active_super_admin()))?);
        match self.transact(items).await {
            Ok(()) => Ok(AdminWrite::Done),
            Err(TransactFailure::ConditionFailed(old)) if failed_at(&old, Some(0)) => Ok(AdminWrite::EmailTaken),
            Err(TransactFailure::ConditionFailed(old)) if failed_at(&old, Some(2)) => Ok(AdminWrite::ActorRevoked),
            Err(TransactFailure::ConditionFailed(_)) => Ok(AdminWrite::Stale),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// Role, permissions or active flag of `before` become `after`'s; `None` deletes
    /// the admin (and frees its email). The super admin count moves in the same
    /// transaction, never below one. `actor` acts; when it changes itself, the
    /// version condition on its own item stands for the actor check (the service
    /// read that version and saw an active super admin in it).
    pub async fn change_admin(
        &self,
        actor: &str,
        before: &Admin,
        after: Option<&Admin>,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<AdminWrite, StoreError> {
        let mut items = Vec::new();
        match after {
            Some(a) => {
                let mut u = unchanged(&self.table, before)
                    .update_expression(match a.custom_permissions {
                        Some(_) => "SET #role = :role, active = :active, version = :next, #perms = :perms",
                        None => "SET #role = :role, active = :active, version = :next REMOVE #perms",
                    })
                    .expression_attribute_names("#role", "role")
                    .expression_attribute_names("#perms", "permissions")
                    .expression_attribute_values(":role", s(a.role.as_str()))
                    .expression_attribute_values(":active", b(a.active));
                if let Some(set) = a.custom_permissions {
                    u = u.expression_attribute_values(":perms", list(&set.names()));
                }
                items.push(tx_update(u)?);
            }
            None => {
                let d = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(admin_key(&before.id)))
                    .condition_expression("version = :v")
                    .expression_attribute_values(":v", n(before.version))
                    .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                    .build()
                    .map_err(StoreError::dynamo)?;
                items.push(TransactWriteItem::builder().delete(d).build());
                let claim = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(email_key(&before.email)))
                    .build()
                    .map_err(StoreError::dynamo)?;
                items.push(TransactWriteItem::builder().delete(claim).build());
            }
        }
        let actor_at = (actor != before.id).then_some(items.len());
        if actor_at.is_some() {
            items.push(actor_check(&self.table, actor)?);
        }
        items.push(put_new(&self.table, audit_item(audit, now))?);
        let delta = crate::domain::admin::super_admin_delta(before, after);
        let supers_at = (delta != 0).then_some(items.len());
        items.extend(supers_delta(&self.table, delta)?);
        match self.transact(items).await {
            Ok(()) => Ok(AdminWrite::Done),
            Err(TransactFailure::ConditionFailed(old)) if failed_at(&old, Some(0)) => Ok(AdminWrite::Stale),
            Err(TransactFailure::ConditionFailed(old)) if failed_at(&old, actor_at) => Ok(AdminWrite::ActorRevoked),
            Err(TransactFailure::ConditionFailed(old)) if failed_at(&old, supers_at) => Ok(AdminWrite::LastSuperAdmin),
            Err(TransactFailure::ConditionFailed(_)) => Ok(AdminWrite::Stale),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// The admin's own password or second factor, and the cut that ends its other
    /// sessions, conditioned on the version read, with its audit entry.
    pub async fn update_own_admin(
        &self,
        before: &Admin,
        password_hash: Option<&str>,
        totp: Option<&Totp>,
        cut: Option<&SessionCut>,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<AdminWrite, StoreError> {
        let mut sets = vec!["version = :next"];
        let mut removes = Vec::new();
        let mut u = unchanged(&self.table, before);
        if let Some(cut) = cut {
            sets.push("sessions_cut_at = :cut_at");
            u = u.expression_attribute_values(":cut_at", ts(cut.at));
            match &cut.kept {
                Some(kept) => {
                    sets.push("sessions_kept = :kept");
                    u = u.expression_attribute_values(":kept", s(kept));
                }
                None => removes.push("sessions_kept"),
            }
        }
        if let Some(h) = password_hash {
            sets.push("password_hash = :hash");
            u = u.expression_attribute_values(":hash", s(h));
        }
        if let Some(t) = totp {
            let mut attrs = Item::new();
            totp_attrs(t, &mut attrs);
            for name in ["totp", "totp_secret", "totp_last_step"] {
                match attrs.remove(name) {
                    Some(v) => {
                        sets.push(match name {
                            "totp" => "totp = :totp",
                            "totp_secret" => "totp_secret = :totp_secret",
                            _ => "totp_last_step = :totp_last_step",
                        });
                        u = u.expression_attribute_values(format!(":{name}"), v);
                    }
                    None => removes.push(name),
                }
            }
        }
        let mut expr = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let items = vec![tx_update(u.update_expression(expr))?, put_new(&self.table, audit_item(audit, now))?];
        match self.transact(items).await {
            Ok(()) => Ok(AdminWrite::Done),
            Err(TransactFailure::ConditionFailed(_)) => Ok(AdminWrite::Stale),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// Spends a TOTP time step at login: a code is good once (RFC 6238 section 5.2),
    /// so a code seen by someone else cannot be replayed. `Ok(false)` if that step
    /// or a later one was already used, or the second factor changed meanwhile.
    pub async fn use_totp_step(&self, admin_id: &str, step: u64) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(admin_key(admin_id)))
            .update_expression("SET totp_last_step = :step")
            .condition_expression("totp = :on AND totp_last_step < :step")
            .expression_attribute_values(":on", s("on"))
            .expression_attribute_values(":step", n(step))
            .send()
            .await;
        super::tx::applied(result)
    }

    /// The audit log, newest first; one admin's entries when `admin_id` is given.
    pub async fn audit_page(
        &self,
        admin_id: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<AuditRecord>, StoreError> {
        let page = match admin_id {
            Some(id) => self.page(Partition::Gsi1(&format!("AUDITBY#{id}")), false, cursor, limit).await?,
            None => self.page(Partition::Whole(AUDIT), false, cursor, limit).await?,
        };
        page.try_map(audit_from)
    }

    /// Which of `ids` (admin notification ids) `admin_id` has read.
    pub async fn admin_read_marks(&self, admin_id: &str, ids: &[String]) -> Result<HashSet<String>, StoreError> {
        let pk = read_marks_pk(admin_id);
        let keys = ids.iter().map(|id| key(&pk, id.as_str())).collect::<Vec<_>>();
        let items = self.batch_get(keys, false).await?;
        Ok(items.iter().filter_map(|i| Reader(i).opt_str("SK")).collect())
    }

    /// One admin notification by id: its key holds the time it was written, which
    /// the id's ULID carries to the millisecond (`ids::new_id_at`), or, for one
    /// written before ids carried it, to within milliseconds of the same clock. So
    /// a read of the two seconds around that time finds it.
    pub async fn admin_notification(&self, id: &str) -> Result<Option<AdminNotification>, StoreError> {
        let Some(at) = id.strip_prefix("an_").and_then(ids::time_of) else { return Ok(None) };
        let bound = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(ADMIN_NOTIFICATIONS))
            .expression_attribute_values(":from", s(bound(at - chrono::Duration::seconds(1))))
            .expression_attribute_values(":to", s(format!("{}~", bound(at + chrono::Duration::seconds(1)))))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        let suffix = format!("#{id}");
        out.items()
            .iter()
            .find(|i| Reader(i).opt_str("SK").is_some_and(|sk| sk.ends_with(&suffix)))
            .map(admin_notification_from)
            .transpose()
    }

    /// Marks an admin notification read for one admin (idempotent).
    pub async fn mark_admin_notification_read(
        &self,
        admin_id: &str,
        notification_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut mark = key(read_marks_pk(admin_id), notification_id);
        mark.insert("entity".into(), s("admin_read_mark"));
        mark.insert("at".into(), ts(now));
        self.client.put_item().table_name(&self.table).set_item(Some(mark)).send().await.map_err(StoreError::sdk)?;
        Ok(())
    }

    /// Test support: an admin as if created by a super admin, without the setup
    /// (the shared test table never runs it: the setup race has a table of its own).
    /// The super admin count moves with it.
    #[cfg(feature = "test-support")]
    pub async fn stage_admin(&self, a: &Admin, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut claim = email_key(&a.email);
        claim.insert("admin_id".into(), s(&a.id));
        let audit =
            AuditEntry::new(&a.id, "test.stage", crate::domain::admin::admin_target(&a.id), serde_json::json!({}));
        let mut items = vec![
            put_new(&self.table, claim)?,
            put_new(&self.table, admin_item(a))?,
            put_new(&self.table, audit_item(&audit, now))?,
        ];
        items.extend(supers_delta(&self.table, i8::from(a.is_active_super_admin()))?);
        self.transact(items).await.map_err(|e| match e {
            TransactFailure::Store(e) => e,
            TransactFailure::ConditionFailed(_) => StoreError::Corrupt("staged admin exists".into()),
        })
    }

    /// Test support: the count of active super admins as the guard sees it.
    #[cfg(feature = "test-support")]
    pub async fn active_super_admin_count(&self) -> Result<i64, StoreError> {
        Ok(self.get_decoded(key(ADMINS, SUPERS), |i| Reader(i).i64("active_count")).await?.unwrap_or(0))
    }
}
