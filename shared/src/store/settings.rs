//! Platform settings. The assignment timers and the quality threshold live at
//! `SETTINGS` / `ASSIGNMENT` (read by the jobs once per run); the pricing is
//! written to `PRICING#<shard 0..7>` / `SETTINGS`, one copy per shard, so the
//! send's batch read (every member message) spreads over eight partitions
//! instead of taking one. A missing item or field means the default.

use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};

use super::attr::{key, n, s, Item, Reader};
use super::tx::{put, shard_of};
use super::{Store, StoreError, TransactFailure};
use crate::domain::admin::AuditEntry;
use crate::domain::pricing::{Factor, Pricing};
use crate::domain::settings::Settings;
use crate::domain::Credits;

pub use crate::domain::assignment::AssignmentSettings;

const FIELDS: [&str; 3] = ["idle_warning_minutes", "idle_reassign_minutes", "assignment_hold_minutes"];

/// Copies of the pricing: 2,000 sends a second read one each (1 RRU, consistent),
/// 250 RRU a second per copy at peak.
pub(crate) const PRICING_SHARDS: u32 = 8;

pub(crate) fn pricing_pk(shard: u32) -> String {
    format!("PRICING#{shard}")
}

/// The pricing copy a member's sends read.
pub(crate) fn pricing_key_for(member_id: &str) -> Item {
    key(pricing_pk(shard_of(member_id, PRICING_SHARDS)), "SETTINGS")
}

/// The pricing from one of its copies; defaults for what is missing or unreadable.
pub(crate) fn pricing_from(item: Option<&Item>) -> Pricing {
    let mut p = Pricing::default();
    let Some(item) = item else { return p };
    let r = Reader(item);
    if let Some(h) = r.opt_i64("base_hundredths") {
        p.base = Credits::from_hundredths(h);
    }
    let factor =
        |name: &str, default: Factor| r.opt_str(name).and_then(|t| Factor::parse_decimal(&t).ok()).unwrap_or(default);
    p.featured = factor("featured_multiplier", p.featured);
    p.peak = factor("peak_multiplier", p.peak);
    p.off_peak = factor("off_peak_multiplier", p.off_peak);
    p
}

fn pricing_item(shard: u32, p: &Pricing, version: i64) -> Item {
    let mut item = key(pricing_pk(shard), "SETTINGS");
    item.insert("entity".into(), s("settings"));
    item.insert("base_hundredths".into(), n(p.base.hundredths()));
    item.insert("featured_multiplier".into(), s(p.featured.to_string()));
    item.insert("peak_multiplier".into(), s(p.peak.to_string()));
    item.insert("off_peak_multiplier".into(), s(p.off_peak.to_string()));
    item.insert("version".into(), n(version));
    item
}

/// The settings as read, with the version a change must find unchanged.
#[derive(Clone, Copy, Debug)]
pub struct StoredSettings {
    pub settings: Settings,
    pub version: i64,
}

#[derive(Debug)]
pub enum SettingsWrite {
    Done,
    /// Another change landed since the read: merge again.
    Changed,
}

impl Store {
    async fn assignment_item(&self) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key("SETTINGS", "ASSIGNMENT")))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(out.item)
    }

    fn timers_from(item: Option<&Item>) -> AssignmentSettings {
        let Some(item) = item else { return AssignmentSettings::default() };
        let r = Reader(item);
        AssignmentSettings {
            idle_warning_minutes: r.opt_i64(FIELDS[0]),
            idle_reassign_minutes: r.opt_i64(FIELDS[1]),
            assignment_hold_minutes: r.opt_i64(FIELDS[2]),
        }
    }

    pub async fn assignment_settings(&self) -> Result<AssignmentSettings, StoreError> {
        Ok(Self::timers_from(self.assignment_item().await?.as_ref()))
    }

    /// Every setting (consistent reads of the assignment item and pricing copy 0).
    pub async fn stored_settings(&self) -> Result<StoredSettings, StoreError> {
        let item = self.assignment_item().await?;
        let pricing = self.get_decoded(key(pricing_pk(0), "SETTINGS"), |i| Ok(i.clone())).await?;
        let r = item.as_ref().map(Reader);
        let threshold = r.as_ref().and_then(|r| r.opt_i64("quality_threshold"));
        let version = r.as_ref().and_then(|r| r.opt_i64("version")).unwrap_or(0);
        let settings =
            Settings::from_stored(&Self::timers_from(item.as_ref()), threshold, pricing_from(pricing.as_ref()));
        Ok(StoredSettings { settings, version })
    }

    pub async fn settings(&self) -> Result<Settings, StoreError> {
        Ok(self.stored_settings().await?.settings)
    }

    /// Writes every setting in one transaction, if nothing changed since
    /// `read_version`: the assignment item (next version), each pricing copy, and
    /// the admin's audit entry.
    pub async fn put_settings(
        &self,
        settings: &Settings,
        read_version: i64,
        audit: &AuditEntry,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<SettingsWrite, StoreError> {
        let version = read_version + 1;
        let mut item = key("SETTINGS", "ASSIGNMENT");
        item.insert("entity".into(), s("settings"));
        let timers = settings.stored_timers();
        let values = [timers.idle_warning_minutes, timers.idle_reassign_minutes, timers.assignment_hold_minutes];
        for (name, value) in FIELDS.iter().zip(values) {
            if let Some(v) = value {
                item.insert((*name).into(), n(v));
            }
        }
        item.insert("quality_threshold".into(), n(settings.quality_threshold));
        item.insert("version".into(), n(version));
        let mut first = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        first = if read_version == 0 {
            first.condition_expression("attribute_not_exists(version)")
        } else {
            first.condition_expression("version = :v").expression_attribute_values(":v", n(read_version))
        };
        let first = TransactWriteItem::builder().put(first.build().map_err(StoreError::dynamo)?).build();
        let mut items = vec![first];
        for shard in 0..PRICING_SHARDS {
            items.push(put(&self.table, pricing_item(shard, &settings.pricing, version))?);
        }
        items.push(super::admins::audit_put(&self.table, audit, now)?);
        match self.transact(items).await {
            Ok(()) => Ok(SettingsWrite::Done),
            Err(TransactFailure::ConditionFailed(_)) => Ok(SettingsWrite::Changed),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// Replaces the assignment timers (tests); fields left `None` fall back to
    /// their defaults. The quality threshold and the version are kept.
    pub async fn put_assignment_settings(&self, settings: &AssignmentSettings) -> Result<(), StoreError> {
        let mut set = Vec::new();
        let mut remove = Vec::new();
        let mut u = self.client.update_item().table_name(&self.table).set_key(Some(key("SETTINGS", "ASSIGNMENT")));
        let values = [settings.idle_warning_minutes, settings.idle_reassign_minutes, settings.assignment_hold_minutes];
        for (i, (name, value)) in FIELDS.iter().zip(values).enumerate() {
            match value {
                Some(v) => {
                    set.push(format!("{name} = :v{i}"));
                    u = u.expression_attribute_values(format!(":v{i}"), n(v));
                }
                None => remove.push(name.to_string()),
            }
        }
        let mut expr = String::new();
        if !set.is_empty() {
            expr.push_str(&format!("SET {}", set.join(", ")));
        }
        if !remove.is_empty() {
            expr.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        u.update_expression(expr.trim()).send().await.map_err(StoreError::sdk)?;
        Ok(())
    }
}
