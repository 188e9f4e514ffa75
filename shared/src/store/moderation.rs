//! The back office's people side: member search (an index on the username
//! claims), bans with their hashed devices, where members were seen from
//! (devices and IPs, with a TTL), circumvention signals, and reports.

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use chrono::{DateTime, Utc};

use super::attr::{key, n, s, ts, Item, Reader};
use super::cursor::{decode, encode, Page};
use super::jobs::job_item;
use super::members::{member_from, member_pk};
use super::notifications::{admin_notification_item, member_notification_item};
use super::tx::{applied, put_new, tx_update, update};
use super::{Store, StoreError, TransactFailure};
use crate::domain::admin::AuditEntry;
use crate::domain::ids::{ChatId, MemberId, OperatorId};
use crate::domain::jobs::Job;
use crate::domain::moderation::{
    BanRecord, Report, ReportAction, ReportReason, ReportStatus, Resolution, Sighting, ACTIVITY_TTL,
};
use crate::domain::{CloseReason, Member, MemberStatus};

/// GSI1 partition of every username claim, sorted by username: the back office's
/// prefix search. Written only by registrations and erasures (a few a second).
pub(crate) const MEMBER_NAMES: &str = "MEMBERNAMES";

/// A device a member's ban refuses: `BANNEDDEVICE#<hash>` / `<member id>` (two
/// banned members may share a device; each ban owns its own refusal).
fn banned_device_key(hash: &str, member_id: &str) -> Item {
    key(format!("BANNEDDEVICE#{hash}"), member_id)
}

/// An IP a banned member used: `BANNEDIP#<ip>` / `<member id>`, with the TTL of
/// the sighting (IPs are shared, so it only flags).
fn banned_ip_key(ip: &str, member_id: &str) -> Item {
    key(format!("BANNEDIP#{ip}"), member_id)
}

fn ban_key(member_id: &str) -> Item {
    key(member_pk(member_id), "BAN")
}

fn report_pk(id: &str) -> String {
    format!("REPORT#{id}")
}

/// GSI1 partition of reports by status, newest last (`<created_at>#<id>`).
fn reports_pk(status: ReportStatus) -> String {
    format!("REPORTS#{}", status.as_str())
}

/// A member as the back office's search lists them.
#[derive(Clone, Debug)]
pub struct MemberMatch {
    pub member: Member,
}

/// Everything the back office's member page shows beyond the member item.
#[derive(Clone, Debug, Default)]
pub struct MemberFile {
    pub ban: Option<BanRecord>,
    pub age_checks: Vec<AgeCheck>,
    pub devices: Vec<Seen>,
    pub ips: Vec<Seen>,
    pub signals: Vec<Signal>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct AgeCheck {
    pub stated_age: i64,
    pub method: String,
    pub is_compliant: bool,
    pub created_at: DateTime<Utc>,
}

/// A device (hashed) or an IP a member was seen from.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Seen {
    pub value: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// A circumvention signal on a member: they came from a banned member's IP.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Signal {
    pub kind: String,
    pub banned_member_id: String,
    pub ip: Option<String>,
    pub at: DateTime<Utc>,
}

/// The outcome of a ban or an unban.
#[derive(Debug, PartialEq, Eq)]
pub enum StatusChange {
    Done,
    /// The member was not in the status the change starts from (a no-op for the caller).
    Unchanged(MemberStatus),
    Gone,
    /// The report the ban was to resolve is resolved already: nothing changed.
    ReportClosed,
}

fn ban_from(item: &Item) -> Result<BanRecord, StoreError> {
    let r = Reader(item);
    Ok(BanRecord {
        reason: r.str("reason")?,
        banned_by: r.str("banned_by")?,
        banned_at: r.time("banned_at")?,
        circumvention_attempts: u32::try_from(r.opt_i64("circumvention_attempts").unwrap_or(0)).unwrap_or(0),
        devices: string_set(item, "devices").len(),
        lifted_at: r.opt_time("lifted_at"),
        lifted_by: r.opt_str("lifted_by"),
    })
}

fn string_set(item: &Item, name: &str) -> Vec<String> {
    match item.get(name) {
        Some(AttributeValue::Ss(v)) => v.clone(),
        _ => Vec::new(),
    }
}

fn report_item(r: &Report) -> Item {
    let mut item = key(report_pk(&r.id), "REPORT");
    item.insert("entity".into(), s("report"));
    item.insert("id".into(), s(&r.id));
    item.insert("chat_id".into(), s(&r.chat_id));
    item.insert("member_id".into(), s(&r.member_id));
    item.insert("operator_id".into(), s(&r.operator_id));
    item.insert("reason".into(), s(r.reason.as_str()));
    super::attr::put_opt(&mut item, "details", &r.details);
    item.insert("status".into(), s(r.status.as_str()));
    item.insert("created_at".into(), ts(r.created_at));
    item.insert("GSI1PK".into(), s(reports_pk(r.status)));
    item.insert("GSI1SK".into(), s(format!("{}#{}", r.created_at.to_rfc3339(), r.id)));
    item
}

fn report_from(item: &Item) -> Result<Report, StoreError> {
    let r = Reader(item);
    let resolution = match r.opt_str("action") {
        Some(a) => Some(Resolution {
            action: ReportAction::parse(&a).ok_or_else(|| StoreError::Corrupt(format!("report action {a}")))?,
            note: r.opt_str("note"),
            resolved_by: r.str("resolved_by")?,
            resolved_at: r.time("resolved_at")?,
        }),
        None => None,
    };
    Ok(Report {
        id: r.str("id")?,
        chat_id: ChatId::new(r.str("chat_id")?),
        member_id: MemberId::new(r.str("member_id")?),
        operator_id: OperatorId::new(r.str("operator_id")?),
        reason: r.parse("reason", ReportReason::parse)?,
        details: r.opt_str("details"),
        status: r.parse("status", ReportStatus::parse)?,
        created_at: r.time("created_at")?,
        resolution,
    })
}

/// A ban as decided, for [`Store::ban_member`].
pub struct Ban<'a> {
    pub member_id: &'a MemberId,
    pub reason: &'a str,
    pub banned_by: &'a str,
    /// The member's known devices (hashed): each becomes refused.
    pub devices: &'a [String],
    /// The IPs the member was seen from: each flags new accounts for 90 days.
    pub ips: &'a [String],
    /// A report this ban resolves: it must still be open.
    pub report: Option<&'a str>,
    pub audit: &'a AuditEntry,
}

/// Devices and IPs a ban's own transaction covers (with its 4 or 5 other actions,
/// under DynamoDB's 100); more (rare) are added right after it.
const DEVICES_IN_BAN_TX: usize = 60;
const IPS_IN_BAN_TX: usize = 30;

impl Store {
    /// Members whose username starts with `prefix` (already lowercased), in
    /// username order, from the claims' index: no scan.
    pub async fn search_members(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<MemberMatch>, StoreError> {
        let start =
            cursor.map(|c| decode(c, &["PK", "SK", "GSI1PK", "GSI1SK"], ("GSI1PK", MEMBER_NAMES))).transpose()?;
        // A cursor from another prefix's search would be refused by DynamoDB (the
        // start key must fit the key condition): it is a bad cursor here.
        if let Some(AttributeValue::S(sk)) = start.as_ref().and_then(|k| k.get("GSI1SK")) {
            if !sk.starts_with(prefix) {
                return Err(StoreError::BadCursor);
            }
        }
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI1")
            .limit(limit as i32)
            .expression_attribute_values(":pk", s(MEMBER_NAMES))
            .set_exclusive_start_key(start);
        q = if prefix.is_empty() {
            q.key_condition_expression("GSI1PK = :pk")
        } else {
            q.key_condition_expression("GSI1PK = :pk AND begins_with(GSI1SK, :q)")
                .expression_attribute_values(":q", s(prefix))
        };
        let out = q.send().await.map_err(StoreError::sdk)?;
        let ids: Vec<String> =
            out.items.unwrap_or_default().iter().filter_map(|i| Reader(i).opt_str("member_id")).collect();
        let keys = ids.iter().map(|id| key(member_pk(id), "PROFILE")).collect();
        let mut found = std::collections::HashMap::new();
        for item in self.batch_get(keys, false).await? {
            let m = member_from(&item)?;
            found.insert(m.id.to_string(), m);
        }
        Ok(Page {
            items: ids.iter().filter_map(|id| found.remove(id)).map(|member| MemberMatch { member }).collect(),
            next_cursor: out.last_evaluated_key.as_ref().and_then(encode),
        })
    }

    /// The back office's file on a member: ban record, age checks, devices, IPs and
    /// signals (one query of each kind in the member's partition).
    pub async fn member_file(&self, id: &MemberId) -> Result<MemberFile, StoreError> {
        let pk = member_pk(id);
        let mut file = MemberFile { ban: self.get_decoded(ban_key(id), ban_from).await?, ..MemberFile::default() };
        for item in self.query_all(&pk, "AGE#").await? {
            let r = Reader(&item);
            file.age_checks.push(AgeCheck {
                stated_age: r.i64("stated_age")?,
                method: r.opt_str("method").unwrap_or_default(),
                is_compliant: r.bool("is_compliant"),
                created_at: r.time("created_at")?,
            });
        }
        let seen = |item: &Item| -> Result<Seen, StoreError> {
            let r = Reader(item);
            Ok(Seen { value: r.str("value")?, first_seen: r.time("first_seen")?, last_seen: r.time("last_seen")? })
        };
        let now = Utc::now().timestamp();
        let live = |i: &Item| Reader(i).opt_i64("expires_at").is_none_or(|e| e > now);
        for item in self.query_prefix(&pk, "DEVICE#", false).await?.iter().filter(|i| live(i)) {
            file.devices.push(seen(item)?);
        }
        for item in self.query_prefix(&pk, "IP#", false).await?.iter().filter(|i| live(i)) {
            file.ips.push(seen(item)?);
        }
        for item in self.query_prefix(&pk, "SIGNAL#", false).await? {
            let r = Reader(&item);
            file.signals.push(Signal {
                kind: r.str("kind")?,
                banned_member_id: r.str("banned_member_id")?,
                ip: r.opt_str("ip"),
                at: r.time("at")?,
            });
        }
        file.devices.sort_by_key(|d| std::cmp::Reverse(d.last_seen));
        file.ips.sort_by_key(|d| std::cmp::Reverse(d.last_seen));
        Ok(file)
    }

    /// Records where a member was seen from (registration, login): one item per
    /// device (hashed) and per IP, first and last seen, kept `ACTIVITY_TTL`.
    pub async fn record_sighting(&self, id: &MemberId, seen: &Sighting, now: DateTime<Utc>) -> Result<(), StoreError> {
        let expires = (now + ACTIVITY_TTL).timestamp();
        let entries = [("DEVICE#", seen.device.as_deref()), ("IP#", seen.ip.as_deref())];
        for (prefix, value) in entries {
            let Some(value) = value else { continue };
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(member_pk(id), format!("{prefix}{value}"))))
                .update_expression(
                    "SET entity = :e, #value = :v, last_seen = :now, expires_at = :exp, \
                     first_seen = if_not_exists(first_seen, :now)",
                )
                .expression_attribute_names("#value", "value")
                .expression_attribute_values(":e", s("sighting"))
                .expression_attribute_values(":v", s(value))
                .expression_attribute_values(":now", ts(now))
                .expression_attribute_values(":exp", n(expires))
                .send()
                .await
                .map_err(StoreError::sdk)?;
        }
        Ok(())
    }

    /// A member whose ban refuses this device, if any.
    pub async fn banned_device(&self, hash: &str) -> Result<Option<MemberId>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(format!("BANNEDDEVICE#{hash}")))
            .consistent_read(true)
            .limit(1)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(out.items.unwrap_or_default().first().and_then(|i| Reader(i).opt_str("member_id")).map(MemberId::new))
    }

    /// A banned member who used this IP within the activity TTL, if any.
    pub async fn banned_member_at_ip(&self, ip: &str, now: DateTime<Utc>) -> Result<Option<MemberId>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(format!("BANNEDIP#{ip}")))
            .limit(10)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        let now = now.timestamp();
        Ok(out
            .items
            .unwrap_or_default()
            .iter()
            .find(|i| Reader(i).opt_i64("expires_at").is_some_and(|e| e > now))
            .and_then(|i| Reader(i).opt_str("member_id"))
            .map(MemberId::new))
    }

    /// Counts a refused attempt on the ban record; returns the count so far.
    pub async fn count_circumvention(&self, banned: &MemberId) -> Result<u32, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(ban_key(banned)))
            .update_expression("ADD circumvention_attempts :one")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await;
        match out {
            Ok(o) => Ok(o
                .attributes
                .as_ref()
                .and_then(|a| Reader(a).opt_i64("circumvention_attempts"))
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(0)),
            Err(e) if e.as_service_error().is_some_and(super::tx::is_condition_failed) => Ok(0),
            Err(e) => Err(StoreError::sdk(e)),
        }
    }

    /// Flags a member seen from a banned member's IP, once per banned member, with
    /// the admins' notice in the same transaction. `Ok(false)` if already flagged.
    pub async fn flag_shared_ip(
        &self,
        member: &MemberId,
        banned: &MemberId,
        ip: &str,
        notice: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut signal = key(member_pk(member), format!("SIGNAL#shared_ip#{banned}"));
        signal.insert("entity".into(), s("signal"));
        signal.insert("kind".into(), s("shared_ip"));
        signal.insert("banned_member_id".into(), s(banned));
        signal.insert("ip".into(), s(ip));
        signal.insert("at".into(), ts(now));
        let items = vec![
            put_new(&self.table, signal)?,
            put_new(&self.table, admin_notification_item("circumvention", "normal", notice, Some(member), now))?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(_)) => Ok(false),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// The member's devices (hashed) and IPs as recorded.
    pub async fn member_sightings(&self, id: &MemberId) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let pk = member_pk(id);
        let values = |items: Vec<Item>| items.iter().filter_map(|i| Reader(i).opt_str("value")).collect::<Vec<_>>();
        Ok((values(self.query_all(&pk, "DEVICE#").await?), values(self.query_all(&pk, "IP#").await?)))
    }

    /// Bans an active member in one transaction: status `banned`, the ban record
    /// (reason, who, when, the hashed devices it refuses, the IPs it marks), each
    /// device's refusal and IP's mark, the job that closes the member's open chats
    /// (`member_banned`), the audit entry and, when the ban resolves a report, the
    /// check that the report is still open. `Unchanged` if the member is not
    /// active (banning twice is a no-op); `ReportClosed` if the report was resolved
    /// meanwhile (nothing changed).
    pub async fn ban_member(&self, ban: &Ban<'_>, now: DateTime<Utc>) -> Result<StatusChange, StoreError> {
        let id = ban.member_id;
        let status = update(&self.table, key(member_pk(id), "PROFILE"))
            .update_expression("SET #status = :banned")
            .condition_expression("#status = :active")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":banned", s(MemberStatus::Banned.as_str()))
            .expression_attribute_values(":active", s(MemberStatus::Active.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let (devices, later_devices) = ban.devices.split_at(ban.devices.len().min(DEVICES_IN_BAN_TX));
        let (ips, later_ips) = ban.ips.split_at(ban.ips.len().min(IPS_IN_BAN_TX));
        let mut record = ban_key(id);
        record.insert("entity".into(), s("ban"));
        record.insert("member_id".into(), s(id));
        record.insert("reason".into(), s(ban.reason));
        record.insert("banned_by".into(), s(ban.banned_by));
        record.insert("banned_at".into(), ts(now));
        record.insert("circumvention_attempts".into(), n(0));
        if !ban.devices.is_empty() {
            record.insert("devices".into(), AttributeValue::Ss(ban.devices.to_vec()));
        }
        if !ban.ips.is_empty() {
            record.insert("ips".into(), AttributeValue::Ss(ban.ips.to_vec()));
        }
        let close = Job::CloseMemberChats { member_id: id.clone(), reason: CloseReason::MemberBanned };
        let mut items = vec![
            tx_update(status)?,
            super::tx::put(&self.table, record)?,
            put_new(&self.table, job_item(&close, now))?,
            super::admins::audit_put(&self.table, ban.audit, now)?,
        ];
        for d in devices {
            items.push(super::tx::put(&self.table, device_refusal(d, id, now))?);
        }
        for ip in ips {
            items.push(super::tx::put(&self.table, ip_mark(ip, id, now))?);
        }
        if let Some(report) = ban.report {
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key(report_pk(report), "REPORT")))
                .condition_expression("#status = :open")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":open", s(ReportStatus::Open.as_str()))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .build()
                .map_err(StoreError::dynamo)?;
            items.push(TransactWriteItem::builder().condition_check(check).build());
        }
        match self.transact(items).await {
            Ok(()) => {}
            Err(TransactFailure::ConditionFailed(old)) => {
                if let Some(m) = old.first().and_then(Option::as_ref).map(member_from).transpose()? {
                    return Ok(StatusChange::Unchanged(m.status));
                }
                if ban.report.is_some() && old.last().is_some_and(Option::is_some) {
                    return Ok(StatusChange::ReportClosed);
                }
                return Ok(StatusChange::Gone);
            }
            Err(TransactFailure::Store(e)) => return Err(e),
        }
        let later = later_devices
            .iter()
            .map(|d| device_refusal(d, id, now))
            .chain(later_ips.iter().map(|ip| ip_mark(ip, id, now)));
        for item in later {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .send()
                .await
                .map_err(StoreError::sdk)?;
        }
        Ok(StatusChange::Done)
    }

    /// Adds a device to a live ban (one a refused login of the banned member came
    /// from): the refusal and the record's set, in one transaction conditioned on
    /// the ban not being lifted, so a login racing an unban cannot refuse the
    /// device again afterwards. `Ok(false)` if the ban is gone or lifted.
    pub async fn add_banned_device(&self, id: &MemberId, hash: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let record = update(&self.table, ban_key(id))
            .update_expression("ADD devices :d")
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(lifted_at)")
            .expression_attribute_values(":d", AttributeValue::Ss(vec![hash.to_string()]));
        let items = vec![tx_update(record)?, super::tx::put(&self.table, device_refusal(hash, id, now))?];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(_)) => Ok(false),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// Erasure's part of a ban: the IP marks go (an IP is personal data) and the
    /// record forgets them; the hashed devices and their refusals stay.
    pub async fn forget_ban_ips(&self, id: &MemberId) -> Result<(), StoreError> {
        let Some(record) = self.get_decoded(ban_key(id), |i| Ok(i.clone())).await? else { return Ok(()) };
        for ip in string_set(&record, "ips") {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(banned_ip_key(&ip, id)))
                .send()
                .await
                .map_err(StoreError::sdk)?;
        }
        let forget = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(ban_key(id)))
            .update_expression("REMOVE ips")
            .condition_expression("attribute_exists(PK)")
            .send()
            .await;
        applied(forget).map(|_| ())
    }

    /// Lifts a ban in one transaction: status `active`, the record marked lifted
    /// (it stays as history), the ban's own device refusals and IP marks removed,
    /// the audit entry. `Unchanged` if the member is not banned.
    pub async fn unban_member(
        &self,
        id: &MemberId,
        lifted_by: &str,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<StatusChange, StoreError> {
        let record = self.get_decoded(ban_key(id), |i| Ok(i.clone())).await?;
        let devices = record.as_ref().map(|r| string_set(r, "devices")).unwrap_or_default();
        let ips = record.as_ref().map(|r| string_set(r, "ips")).unwrap_or_default();
        let status = update(&self.table, key(member_pk(id), "PROFILE"))
            .update_expression("SET #status = :active")
            .condition_expression("#status = :banned")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":banned", s(MemberStatus::Banned.as_str()))
            .expression_attribute_values(":active", s(MemberStatus::Active.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let mut items = vec![tx_update(status)?, super::admins::audit_put(&self.table, audit, now)?];
        if record.is_some() {
            let lift = update(&self.table, ban_key(id))
                .update_expression("SET lifted_at = :now, lifted_by = :by REMOVE devices, ips")
                .expression_attribute_values(":now", ts(now))
                .expression_attribute_values(":by", s(lifted_by));
            items.push(tx_update(lift)?);
        }
        let mut keys: Vec<Item> = devices.iter().map(|d| banned_device_key(d, id)).collect();
        keys.extend(ips.iter().map(|ip| banned_ip_key(ip, id)));
        let (in_tx, later) = keys.split_at(keys.len().min(DEVICES_IN_BAN_TX + IPS_IN_BAN_TX));
        for k in in_tx {
            let d = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(k.clone()))
                .build()
                .map_err(StoreError::dynamo)?;
            items.push(TransactWriteItem::builder().delete(d).build());
        }
        match self.transact(items).await {
            Ok(()) => {}
            Err(TransactFailure::ConditionFailed(old)) => {
                return Ok(match old.first().and_then(Option::as_ref).map(member_from).transpose()? {
                    Some(m) => StatusChange::Unchanged(m.status),
                    None => StatusChange::Gone,
                });
            }
            Err(TransactFailure::Store(e)) => return Err(e),
        }
        for k in later {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(k.clone()))
                .send()
                .await
                .map_err(StoreError::sdk)?;
        }
        Ok(StatusChange::Done)
    }

    /// Writes a new report with the admins' notice, in one transaction.
    pub async fn create_report(&self, report: &Report, notice: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let items = vec![
            put_new(&self.table, report_item(report))?,
            put_new(&self.table, admin_notification_item("report_opened", "normal", notice, Some(&report.id), now))?,
        ];
        self.transact(items).await.map_err(TransactFailure::into_store)
    }

    pub async fn get_report(&self, id: &str) -> Result<Option<Report>, StoreError> {
        self.get_decoded(key(report_pk(id), "REPORT"), report_from).await
    }

    /// Reports with `status`, newest first.
    pub async fn reports(
        &self,
        status: ReportStatus,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Report>, StoreError> {
        let pk = reports_pk(status);
        let page = self.page(super::cursor::Partition::Gsi1(&pk), false, cursor, limit).await?;
        page.try_map(report_from)
    }

    /// Resolves an open report (moving it to the resolved list), with the member's
    /// warning when that is the action and the audit entry, in one transaction.
    /// `Ok(false)` if it is not open any more.
    pub async fn resolve_report(
        &self,
        report: &Report,
        resolution: &Resolution,
        warning: Option<(&str, &str)>,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut u = update(&self.table, key(report_pk(&report.id), "REPORT"))
            .update_expression(
                "SET #status = :resolved, #action = :action, resolved_by = :by, resolved_at = :now, \
                 GSI1PK = :list, GSI1SK = :sk",
            )
            .condition_expression("#status = :open")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#action", "action")
            .expression_attribute_values(":resolved", s(ReportStatus::Resolved.as_str()))
            .expression_attribute_values(":open", s(ReportStatus::Open.as_str()))
            .expression_attribute_values(":action", s(resolution.action.as_str()))
            .expression_attribute_values(":by", s(&resolution.resolved_by))
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":list", s(reports_pk(ReportStatus::Resolved)))
            .expression_attribute_values(":sk", s(format!("{}#{}", report.created_at.to_rfc3339(), report.id)));
        if let Some(note) = &resolution.note {
            u = u.update_expression(
                "SET #status = :resolved, #action = :action, resolved_by = :by, resolved_at = :now, \
                 GSI1PK = :list, GSI1SK = :sk, note = :note",
            );
            u = u.expression_attribute_values(":note", s(note));
        }
        let mut items = vec![tx_update(u)?, super::admins::audit_put(&self.table, audit, now)?];
        if let Some((title, text)) = warning {
            items.push(put_new(&self.table, member_notification_item(&report.member_id, "warning", title, text, now))?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(_)) => Ok(false),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }
}

fn device_refusal(hash: &str, member_id: &str, now: DateTime<Utc>) -> Item {
    let mut item = banned_device_key(hash, member_id);
    item.insert("entity".into(), s("banned_device"));
    item.insert("member_id".into(), s(member_id));
    item.insert("at".into(), ts(now));
    item
}

/// An IP a banned member used: flags new accounts for 90 days from the ban.
fn ip_mark(ip: &str, member_id: &str, now: DateTime<Utc>) -> Item {
    let mut item = banned_ip_key(ip, member_id);
    item.insert("entity".into(), s("banned_ip"));
    item.insert("member_id".into(), s(member_id));
    item.insert("expires_at".into(), n((now + ACTIVITY_TTL).timestamp()));
    item
}
