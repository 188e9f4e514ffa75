//! Operators: the account, its unique email claim, availability (guarded by a
//! condition, not a read), heartbeats and the counters the quality score uses.

use aws_sdk_dynamodb::types::{Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::attr::{b, key, list, n, s, ts, Item, Reader};
use super::cursor::{Page, Partition};
use super::jobs::job_item;
use super::notifications::{admin_notification_item, operator_notification_item};
use super::tx::{applied, put_if, put_new, shard_of, tx_update, update};
use super::{Store, StoreError, TransactFailure};
use crate::domain::admin::AuditEntry;
use crate::domain::assignment::{OnlineOperator, UNMEASURED_RESPONSE_SECS};
use crate::domain::ids::OperatorId;
use crate::domain::jobs::Job;
use crate::domain::Operator;

/// Shards of the available-operators listing (GSI3 `OPS_AVAILABLE#<shard>`):
/// claims, releases and heartbeats write it, about 400 WCU/s at peak in all.
pub(crate) const AVAILABLE_SHARDS: u32 = 4;

/// GSI3 partition of one shard of the available-operators listing.
fn available_shard_pk(shard: u32) -> String {
    format!("OPS_AVAILABLE#{shard}")
}

/// GSI3 partition of an available operator's listing entry.
pub(crate) fn available_pk(id: &str) -> String {
    available_shard_pk(shard_of(id, AVAILABLE_SHARDS))
}

/// The GSI1 partition operators were listed on before the slim listing. An
/// operator still there is moved by their next heartbeat; the idle watch also
/// reads it, so the chats of one who never heartbeats again are still taken
/// back. Remove once a query of it comes back empty in every stage.
pub(crate) const LEGACY_AVAILABLE: &str = "OPS_AVAILABLE";
/// GSI2 partition listing suspended operators by suspension end.
const SUSPENDED: &str = "OPS_SUSPENDED";

pub(crate) fn operator_pk(id: &str) -> String {
    format!("OPERATOR#{id}")
}

fn operator_item(op: &Operator) -> Item {
    let mut item = key(operator_pk(&op.id), "PROFILE");
    item.insert("entity".into(), s("operator"));
    item.insert("id".into(), s(&op.id));
    item.insert("email".into(), s(&op.email));
    item.insert("name".into(), s(&op.name));
    item.insert("password_hash".into(), s(&op.password_hash));
    item.insert("languages".into(), list(&op.languages));
    item.insert("specializations".into(), list(&op.specializations));
    item.insert("max_concurrent_chats".into(), n(op.max_concurrent_chats));
    if let Some((start, end)) = op.working_hours {
        item.insert("shift_start".into(), n(start));
        item.insert("shift_end".into(), n(end));
    }
    item.insert("created_at".into(), ts(op.created_at));
    item.insert("is_available".into(), b(op.is_available));
    item.insert("is_suspended".into(), b(op.is_suspended));
    if let Some(until) = op.suspended_until {
        item.insert("suspended_until".into(), ts(until));
    }
    super::attr::put_opt(&mut item, "suspension_reason", &op.suspension_reason);
    if let Some(at) = op.deleted_at {
        item.insert("deleted_at".into(), ts(at));
    }
    item.insert("active_chats".into(), n(op.active_chats));
    for (name, v) in [
        ("replies", op.replies),
        ("rating_sum", op.rating_sum),
        ("rating_count", op.rating_count),
        ("idle_incidents", op.idle_incidents),
        ("reassignments", op.reassignments),
    ] {
        item.insert(name.into(), n(v));
    }
    item.insert("total_response_secs".into(), n(op.total_response_secs));
    item
}

fn count(r: &Reader, name: &str) -> u32 {
    u32::try_from(r.opt_i64(name).unwrap_or(0)).unwrap_or(0)
}

fn working_hours(r: &Reader) -> Option<(u8, u8)> {
    match (r.opt_i64("shift_start"), r.opt_i64("shift_end")) {
        (Some(a), Some(e)) => Some((u8::try_from(a).unwrap_or(0), u8::try_from(e).unwrap_or(24))),
        _ => None,
    }
}

/// An entry of the available-operators listing: the operator item's attributes
/// projected into GSI3 (infra/template.yaml names them; nothing else is there).
fn online_from(item: &Item) -> Result<OnlineOperator, StoreError> {
    let r = Reader(item);
    Ok(OnlineOperator {
        id: OperatorId::new(r.str("id")?),
        is_suspended: r.bool("is_suspended"),
        active_chats: count(&r, "active_chats"),
        max_concurrent_chats: count(&r, "max_concurrent_chats"),
        languages: r.strings("languages"),
        specializations: r.strings("specializations"),
        working_hours: working_hours(&r),
        last_heartbeat_at: r.opt_time("last_heartbeat_at"),
        response_secs: r
            .opt_i64("response_secs")
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(UNMEASURED_RESPONSE_SECS as u32),
        rating_sum: count(&r, "rating_sum"),
        rating_count: count(&r, "rating_count"),
    })
}

pub(crate) fn operator_from(item: &Item) -> Result<Operator, StoreError> {
    let r = Reader(item);
    let count = |name: &str| count(&r, name);
    let hours = working_hours(&r);
    Ok(Operator {
        id: OperatorId::new(r.str("id")?),
        email: r.str("email")?,
        name: r.str("name")?,
        password_hash: r.str("password_hash")?,
        languages: r.strings("languages"),
        specializations: r.strings("specializations"),
        max_concurrent_chats: count("max_concurrent_chats"),
        working_hours: hours,
        created_at: r.time("created_at")?,
        is_available: r.bool("is_available"),
        is_suspended: r.bool("is_suspended"),
        suspended_until: r.opt_time("suspended_until"),
        suspension_reason: r.opt_str("suspension_reason"),
        deleted_at: r.opt_time("deleted_at"),
        active_chats: count("active_chats"),
        last_heartbeat_at: r.opt_time("last_heartbeat_at"),
        replies: count("replies"),
        total_response_secs: r.opt_i64("total_response_secs").unwrap_or(0),
        rating_sum: count("rating_sum"),
        rating_count: count("rating_count"),
        idle_incidents: count("idle_incidents"),
        reassignments: count("reassignments"),
    })
}

/// The answer to an availability change.
#[derive(Debug)]
pub enum AvailabilityOutcome {
    Changed(Box<Operator>),
    /// Going offline refused: the operator holds this many active chats.
    HoldsChats(u32),
    Suspended,
    NotFound,
}

/// The operators' directory: one small item per operator, written when an operator
/// is created or renamed, so the back office lists operators without a scan and
/// without an index entry that every reply would rewrite.
const DIRECTORY: &str = "OPERATORS";

fn directory_item(op: &Operator) -> Item {
    let mut item = key(DIRECTORY, format!("OP#{}", op.id));
    item.insert("entity".into(), s("operator_directory"));
    item.insert("operator_id".into(), s(&op.id));
    item.insert("name".into(), s(&op.name));
    item.insert("created_at".into(), ts(op.created_at));
    item
}

/// GSI2 sort key of a suspended operator: when the suspension ends.
fn suspended_sk(id: &str, until: DateTime<Utc>) -> String {
    format!("{}#{id}", until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// A suspension as decided: by an admin (with the audit entry) or by the quality review.
pub struct Suspension<'a> {
    pub operator_id: &'a OperatorId,
    pub until: DateTime<Utc>,
    pub reason: &'a str,
    /// Only suspend one who is not suspended yet (the quality review).
    pub first_only: bool,
    pub notice: &'a str,
    pub admin_notice: &'a str,
    pub audit: Option<&'a AuditEntry>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum OperatorDeletion {
    Deleted,
    HoldsChats(u32),
    /// No such operator, or already deleted.
    Gone,
}

/// What an admin may change on an operator; `None` keeps a field.
#[derive(Debug, Default)]
pub struct OperatorProfileChange {
    pub name: Option<String>,
    pub languages: Option<Vec<String>>,
    pub specializations: Option<Vec<String>>,
    pub max_concurrent_chats: Option<u32>,
}

impl Store {
    /// Creates an operator unless the email is already claimed. `Ok(false)` if it is.
    pub async fn create_operator(&self, op: &Operator, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.create_operator_audited(op, None, now).await
    }

    /// Creates an operator (its email claim, its item, its entry in the operators'
    /// directory and, when an admin creates it, the audit entry) in one transaction.
    /// `Ok(false)` if the email is claimed.
    pub async fn create_operator_audited(
        &self,
        op: &Operator,
        audit: Option<&AuditEntry>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut claim = key(format!("OPEMAIL#{}", op.email), "OPEMAIL");
        claim.insert("operator_id".into(), s(&op.id));
        let mut puts = Vec::new();
        for i in [claim, operator_item(op), directory_item(op)] {
            let p = Put::builder()
                .table_name(&self.table)
                .set_item(Some(i))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map_err(StoreError::dynamo)?;
            puts.push(TransactWriteItem::builder().put(p).build());
        }
        if let Some(a) = audit {
            puts.push(super::admins::audit_put(&self.table, a, now)?);
        }
        match self.transact(puts).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(_)) => Ok(false),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// Every operator (or, with `former`, every deleted one), in id order
    /// (`op_<ulid>`: creation order), with their current items (the directory lists
    /// ids; the items carry the figures).
    pub async fn list_operators(
        &self,
        former: bool,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Operator>, StoreError> {
        let prefix = if former { "FORMER#" } else { "OP#" };
        let page = self.page(Partition::Prefix { pk: DIRECTORY, prefix }, true, cursor, limit).await?;
        let ids: Vec<String> = page.items.iter().filter_map(|i| Reader(i).opt_str("operator_id")).collect();
        let keys = ids.iter().map(|id| key(operator_pk(id), "PROFILE")).collect();
        let mut found: std::collections::HashMap<String, Operator> = std::collections::HashMap::new();
        for item in self.batch_get(keys, false).await? {
            let op = operator_from(&item)?;
            found.insert(op.id.to_string(), op);
        }
        Ok(Page { items: ids.iter().filter_map(|id| found.remove(id)).collect(), next_cursor: page.next_cursor })
    }

    /// An admin's change to an operator's profile (name, skills, capacity), with
    /// its directory entry and audit entry, in one transaction. `Ok(false)` if the
    /// operator is gone.
    pub async fn update_operator_profile(
        &self,
        id: &OperatorId,
        change: &OperatorProfileChange,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut sets = Vec::new();
        let mut u = update(&self.table, key(operator_pk(id), "PROFILE")).condition_expression("attribute_exists(PK)");
        if let Some(name) = &change.name {
            sets.push("#name = :name");
            u = u.expression_attribute_names("#name", "name").expression_attribute_values(":name", s(name));
        }
        if let Some(l) = &change.languages {
            sets.push("languages = :l");
            u = u.expression_attribute_values(":l", list(l));
        }
        if let Some(sp) = &change.specializations {
            sets.push("specializations = :sp");
            u = u.expression_attribute_values(":sp", list(sp));
        }
        if let Some(cap) = change.max_concurrent_chats {
            sets.push("max_concurrent_chats = :cap");
            u = u.expression_attribute_values(":cap", n(cap));
        }
        if sets.is_empty() {
            return Ok(self.get_operator(id).await?.is_some());
        }
        let mut items = vec![tx_update(u.update_expression(format!("SET {}", sets.join(", "))))?];
        if let Some(name) = &change.name {
            let d = update(&self.table, key(DIRECTORY, format!("OP#{id}")))
                .update_expression("SET #name = :name")
                .expression_attribute_names("#name", "name")
                .expression_attribute_values(":name", s(name));
            items.push(tx_update(d)?);
        }
        items.push(super::admins::audit_put(&self.table, audit, now)?);
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(_)) => Ok(false),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    pub async fn get_operator(&self, id: &OperatorId) -> Result<Option<Operator>, StoreError> {
        self.get_decoded(key(operator_pk(id), "PROFILE"), operator_from).await
    }

    pub async fn operator_by_email(&self, email: &str) -> Result<Option<Operator>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("OPEMAIL#{email}"), "OPEMAIL")))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        match out.item.as_ref().and_then(|i| Reader(i).opt_str("operator_id")) {
            Some(id) => self.get_operator(&OperatorId::new(id)).await,
            None => Ok(None),
        }
    }

    /// Online needs "not suspended"; offline needs "no active chats". Both are
    /// conditions on the operator item, so an assignment racing the change is
    /// ordered with it: either the claim lands first and going offline is refused,
    /// or the operator is offline first and the claim fails.
    pub async fn set_availability(
        &self,
        id: &str,
        available: bool,
        now: DateTime<Utc>,
    ) -> Result<AvailabilityOutcome, StoreError> {
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(operator_pk(id), "PROFILE")))
            .expression_attribute_values(":avail", b(available))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let req = if available {
            req.update_expression(
                "SET is_available = :avail, last_heartbeat_at = :now, GSI3PK = :list, GSI3SK = :id REMOVE GSI1PK, GSI1SK",
            )
            .condition_expression("attribute_exists(PK) AND is_suspended = :f AND attribute_not_exists(deleted_at)")
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":list", s(available_pk(id)))
            .expression_attribute_values(":id", s(id))
            .expression_attribute_values(":f", b(false))
        } else {
            req.update_expression("SET is_available = :avail REMOVE GSI3PK, GSI3SK, GSI1PK, GSI1SK")
                .condition_expression("attribute_exists(PK) AND active_chats = :zero")
                .expression_attribute_values(":zero", n(0))
        };
        match req.send().await {
            Ok(out) => match out.attributes.as_ref() {
                Some(item) => {
                    if available {
                        self.snapshot_day(item, now).await?;
                    }
                    self.refresh_listing(item).await?;
                    Ok(AvailabilityOutcome::Changed(Box::new(operator_from(item)?)))
                }
                None => Ok(AvailabilityOutcome::NotFound),
            },
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c)) => {
                    let Some(old) = c.item().map(operator_from).transpose()?.filter(|o| o.deleted_at.is_none()) else {
                        return Ok(AvailabilityOutcome::NotFound);
                    };
                    if available {
                        Ok(AvailabilityOutcome::Suspended)
                    } else {
                        Ok(AvailabilityOutcome::HoldsChats(old.active_chats))
                    }
                }
                _ => Err(StoreError::sdk(e)),
            },
        }
    }

    /// Stamps the operator present, then keeps their listing entry current.
    pub async fn heartbeat(&self, id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(operator_pk(id), "PROFILE")))
            .update_expression("SET last_heartbeat_at = :now")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":now", ts(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        match out.attributes {
            Some(item) => {
                self.snapshot_day(&item, now).await?;
                self.refresh_listing(&item).await
            }
            None => Ok(()),
        }
    }

    /// The first heartbeat (or going online) of a business day keeps the reply
    /// counters as they stand (`DAY#<date>`), so a day's figures are the difference
    /// to the next snapshot: one small write a day per operator, none per reply.
    async fn snapshot_day(&self, item: &Item, now: DateTime<Utc>) -> Result<(), StoreError> {
        let r = Reader(item);
        let day = crate::domain::assignment::business_day(now).to_string();
        if r.opt_str("stats_day").as_deref() == Some(day.as_str()) {
            return Ok(());
        }
        let id = r.str("id")?;
        let mark = update(&self.table, key(operator_pk(&id), "PROFILE"))
            .update_expression("SET stats_day = :d")
            .condition_expression("attribute_exists(PK) AND (attribute_not_exists(stats_day) OR stats_day <> :d)")
            .expression_attribute_values(":d", s(&day));
        let mut snap = key(operator_pk(&id), format!("DAY#{day}"));
        snap.insert("entity".into(), s("operator_day"));
        snap.insert("replies".into(), n(count(&r, "replies")));
        snap.insert("total_response_secs".into(), n(r.opt_i64("total_response_secs").unwrap_or(0)));
        match self.transact(vec![tx_update(mark)?, put_new(&self.table, snap)?]).await {
            Ok(()) | Err(TransactFailure::ConditionFailed(_)) => Ok(()),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// The operator's day snapshots from `from` on, oldest first.
    pub async fn operator_days(
        &self,
        id: &OperatorId,
        from: chrono::NaiveDate,
    ) -> Result<Vec<crate::domain::assignment::DaySnapshot>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(operator_pk(id)))
            .expression_attribute_values(":from", s(format!("DAY#{from}")))
            .expression_attribute_values(":to", s("DAY#~"))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(|i| {
                let r = Reader(i);
                let sk = r.str("SK")?;
                let date = sk
                    .strip_prefix("DAY#")
                    .and_then(|d| d.parse().ok())
                    .ok_or_else(|| StoreError::Corrupt(format!("operator day {sk}")))?;
                Ok(crate::domain::assignment::DaySnapshot {
                    date,
                    replies: count(&r, "replies"),
                    total_response_secs: r.opt_i64("total_response_secs").unwrap_or(0),
                })
            })
            .collect()
    }

    /// The listing's response time follows the reply counters, which replies
    /// write without touching the listing: an online operator's entry is
    /// rewritten here when the whole-second figure has moved (at most once a
    /// heartbeat). An entry still under the old GSI1 key moves to GSI3 here too.
    /// Conditioned on still being online, so it never lists an operator who has
    /// just gone offline or been suspended.
    async fn refresh_listing(&self, item: &Item) -> Result<(), StoreError> {
        let op = operator_from(item)?;
        let r = Reader(item);
        let secs = op.listed_response_secs();
        let listed = r.opt_str("GSI3PK").is_some() && r.opt_str("GSI1PK").is_none();
        if !op.is_available || op.is_suspended || listed && r.opt_i64("response_secs") == Some(i64::from(secs)) {
            return Ok(());
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(operator_pk(&op.id), "PROFILE")))
            .update_expression("SET response_secs = :secs, GSI3PK = :list, GSI3SK = :id REMOVE GSI1PK, GSI1SK")
            .condition_expression("is_available = :t AND is_suspended = :f")
            .expression_attribute_values(":secs", n(secs))
            .expression_attribute_values(":list", s(available_pk(&op.id)))
            .expression_attribute_values(":id", s(op.id.as_str()))
            .expression_attribute_values(":t", b(true))
            .expression_attribute_values(":f", b(false))
            .send()
            .await;
        applied(result).map(|_| ())
    }

    pub async fn set_operator_password(&self, id: &str, hash: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(operator_pk(id), "PROFILE")))
            .update_expression("SET password_hash = :h")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":h", s(hash))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    /// An operator's languages and specializations (either may stay). The slim
    /// listing projects both, so a change reaches the assigner with its next read.
    /// `None` if the operator is gone.
    pub async fn set_operator_skills(
        &self,
        id: &OperatorId,
        languages: Option<&[String]>,
        specializations: Option<&[String]>,
    ) -> Result<Option<Operator>, StoreError> {
        let mut sets = Vec::new();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(operator_pk(id), "PROFILE")))
            .condition_expression("attribute_exists(PK)")
            .return_values(ReturnValue::AllNew);
        if let Some(l) = languages {
            sets.push("languages = :l");
            req = req.expression_attribute_values(":l", list(l));
        }
        if let Some(sp) = specializations {
            sets.push("specializations = :s");
            req = req.expression_attribute_values(":s", list(sp));
        }
        if sets.is_empty() {
            return self.get_operator(id).await;
        }
        let result = req.update_expression(format!("SET {}", sets.join(", "))).send().await;
        match result {
            Ok(out) => out.attributes.as_ref().map(operator_from).transpose(),
            Err(e) if e.as_service_error().is_some_and(super::tx::is_condition_failed) => Ok(None),
            Err(e) => Err(StoreError::sdk(e)),
        }
    }

    /// Operators who are online, from the slim listing (heartbeat freshness and
    /// room are the caller's check: [`OnlineOperator::can_take_chat`]).
    pub async fn available_operators(&self) -> Result<Vec<OnlineOperator>, StoreError> {
        let mut all = Vec::new();
        for shard in 0..AVAILABLE_SHARDS {
            for item in self.index_partition("GSI3", &available_shard_pk(shard)).await? {
                all.push(online_from(&item)?);
            }
        }
        Ok(all)
    }

    /// Every operator the idle watch must look at: the slim listing, and those
    /// still listed the old way (GSI1, whole items) who may hold chats but never
    /// heartbeat again to be moved.
    pub async fn operators_to_watch(&self) -> Result<Vec<OnlineOperator>, StoreError> {
        let mut all = self.available_operators().await?;
        for item in self.index_partition("GSI1", LEGACY_AVAILABLE).await? {
            let op = operator_from(&item)?.online();
            if !all.iter().any(|o| o.id == op.id) {
                all.push(op);
            }
        }
        Ok(all)
    }

    /// Suspends an operator until `until` in one transaction: suspended and offline
    /// at once (out of the available listing, into the expiry listing), the job
    /// that requeues every chat they hold, their notice, the admins' notice and,
    /// when an admin decided it, the audit entry. A deleted operator is not
    /// suspended; with `first_only` (the quality review) neither is one already
    /// suspended. `Ok(false)` when nothing changed.
    pub async fn suspend_operator(&self, susp: &Suspension<'_>, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let id = susp.operator_id;
        let mut cond = "attribute_exists(PK) AND attribute_not_exists(deleted_at)".to_string();
        if susp.first_only {
            cond.push_str(" AND is_suspended = :f");
        }
        let op = update(&self.table, key(operator_pk(id), "PROFILE"))
            .update_expression(
                "SET is_suspended = :t, suspended_until = :until, suspension_reason = :reason, is_available = :f, \
                 GSI2PK = :susp, GSI2SK = :sk REMOVE GSI3PK, GSI3SK, GSI1PK, GSI1SK",
            )
            .condition_expression(cond)
            .expression_attribute_values(":t", b(true))
            .expression_attribute_values(":f", b(false))
            .expression_attribute_values(":until", ts(susp.until))
            .expression_attribute_values(":reason", s(susp.reason))
            .expression_attribute_values(":susp", s(SUSPENDED))
            .expression_attribute_values(":sk", s(suspended_sk(id, susp.until)));
        let job = Job::RequeueOperatorChats { operator_id: id.clone() };
        let mut items = vec![
            tx_update(op)?,
            put_new(&self.table, job_item(&job, now))?,
            put_new(&self.table, operator_notification_item(id, "suspended", susp.notice, now))?,
            put_new(
                &self.table,
                admin_notification_item("operator_suspended", "high", susp.admin_notice, Some(id), now),
            )?,
        ];
        if let Some(a) = susp.audit {
            items.push(super::admins::audit_put(&self.table, a, now)?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(_)) => Ok(false),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// Ends a suspension (an admin's reactivation, or its end date passing): the
    /// operator comes back offline with a clean slate of incidents, is told, and an
    /// admin's decision is audited, in one transaction. `Ok(false)` if the operator
    /// is not suspended (or gone).
    /// The expiry job passes `ended_by` (its clock): a suspension extended since
    /// the expiry listing was read is left alone.
    pub async fn reactivate_operator(
        &self,
        id: &OperatorId,
        audit: Option<&AuditEntry>,
        notice: &str,
        ended_by: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut cond = "attribute_exists(PK) AND is_suspended = :t AND attribute_not_exists(deleted_at)".to_string();
        let mut op = update(&self.table, key(operator_pk(id), "PROFILE"))
            .update_expression(
                "SET is_suspended = :f, idle_incidents = :zero, reassignments = :zero \
                 REMOVE suspended_until, suspension_reason, GSI2PK, GSI2SK",
            )
            .expression_attribute_values(":f", b(false))
            .expression_attribute_values(":t", b(true))
            .expression_attribute_values(":zero", n(0));
        if let Some(by) = ended_by {
            cond.push_str(" AND suspended_until <= :by");
            op = op.expression_attribute_values(":by", ts(by));
        }
        let op = op.condition_expression(cond);
        let mut items =
            vec![tx_update(op)?, put_new(&self.table, operator_notification_item(id, "reactivated", notice, now))?];
        if let Some(a) = audit {
            items.push(super::admins::audit_put(&self.table, a, now)?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(_)) => Ok(false),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// Deletes an operator softly, in one transaction: the item stays (the
    /// performance history and the assignment records name it) marked deleted and
    /// offline; the email claim goes (login fails, the address may be reused); the
    /// directory entry moves to the former operators; the audit entry. Refused while
    /// they hold a chat: the condition on `active_chats` orders it with any claim.
    pub async fn delete_operator(
        &self,
        op: &Operator,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<OperatorDeletion, StoreError> {
        let id = &op.id;
        let mark = update(&self.table, key(operator_pk(id), "PROFILE"))
            .update_expression(
                "SET deleted_at = :now, is_available = :f REMOVE GSI3PK, GSI3SK, GSI1PK, GSI1SK, GSI2PK, GSI2SK",
            )
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(deleted_at) AND active_chats = :zero")
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":f", b(false))
            .expression_attribute_values(":zero", n(0))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let claim = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(format!("OPEMAIL#{}", op.email), "OPEMAIL")))
            .condition_expression("operator_id = :id")
            .expression_attribute_values(":id", s(id))
            .build()
            .map_err(StoreError::dynamo)?;
        let listed = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(DIRECTORY, format!("OP#{id}"))))
            .build()
            .map_err(StoreError::dynamo)?;
        let mut former = directory_item(op);
        former.insert("SK".into(), s(format!("FORMER#{id}")));
        former.insert("deleted_at".into(), ts(now));
        let items = vec![
            tx_update(mark)?,
            TransactWriteItem::builder().delete(claim).build(),
            TransactWriteItem::builder().delete(listed).build(),
            put_if(&self.table, former, "attribute_not_exists(PK)")?,
            super::admins::audit_put(&self.table, audit, now)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(OperatorDeletion::Deleted),
            Err(TransactFailure::ConditionFailed(old)) => {
                let claim_failed = old.get(1).is_some_and(Option::is_some);
                match old.first().and_then(Option::as_ref).map(operator_from).transpose()? {
                    Some(o) if o.deleted_at.is_none() && o.active_chats > 0 => {
                        Ok(OperatorDeletion::HoldsChats(o.active_chats))
                    }
                    _ if claim_failed => {
                        Err(StoreError::Corrupt(format!("operator {id}: the email claim names another operator")))
                    }
                    _ => Ok(OperatorDeletion::Gone),
                }
            }
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// Suspended operators whose suspension has ended by `now`.
    pub async fn suspensions_ended(&self, now: DateTime<Utc>) -> Result<Vec<Operator>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI2")
            .key_condition_expression("GSI2PK = :pk AND GSI2SK <= :now")
            .expression_attribute_values(":pk", s(SUSPENDED))
            .expression_attribute_values(
                ":now",
                s(format!("{}#~", now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))),
            )
            .send()
            .await
            .map_err(StoreError::sdk)?;
        out.items.unwrap_or_default().iter().map(operator_from).collect()
    }
}
