//! The dashboard's counters, none of them written by a send:
//!
//! * every message carries a GSI4 entry `MSGS_<SIDE>#<shard 0..15>` /
//!   `<created_at>#<message id>` (keys only: 1 WRU, in the transaction that writes
//!   it); the stats job counts the new entries of each shard since its cursor and
//!   adds them to the days they fall on (`STATSDAY#<date>#M` / `MSG#<side>#<shard>`),
//!   with the cursor, in one transaction conditioned on the cursor it read;
//! * a credited payment adds to `STATSDAY#<date>#<shard 0..3>` / `PAY` and a
//!   registration to `.../NEW`, in their own transactions;
//! * members in all: `MEMBERCOUNT#<shard 0..3>` / `COUNT` (+1 registration, -1 deletion);
//! * the point-in-time block (`STATS` / `NOW`), rewritten by the job each minute.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use chrono::{DateTime, NaiveDate, Utc};

use super::attr::{key, n, s, ts, Item, Reader};
use super::tx::{put, shard_of, tx_update, update};
use super::{Store, StoreError, TransactFailure};
use crate::domain::assignment::business_day;
use crate::domain::stats::{Day, MAX_DAYS_PER_RUN, MAX_ENTRIES_PER_RUN, MESSAGE_SHARDS, SETTLE, SIDES};
use crate::domain::Sender;

/// Day counters of payments and registrations, and the member total, are spread
/// over this many partitions.
pub(crate) const COUNTER_SHARDS: u32 = 4;

/// The GSI4 partition of a message's entry: its side and shard.
pub(crate) fn message_list_pk(sender: Sender, shard: u32) -> String {
    format!("MSGS_{}#{shard}", sender.as_str().to_uppercase())
}

/// A message's GSI4 keys: `(GSI4PK, GSI4SK)`.
pub(crate) fn message_list_keys(sender: Sender, id: &str, at: DateTime<Utc>) -> (String, String) {
    let shard = shard_of(id, MESSAGE_SHARDS);
    (message_list_pk(sender, shard), format!("{}#{id}", at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
}

fn day_pk(date: NaiveDate, shard: u32) -> String {
    format!("STATSDAY#{date}#{shard}")
}

fn messages_pk(date: NaiveDate) -> String {
    format!("STATSDAY#{date}#M")
}

fn cursor_key(sender: Sender, shard: u32) -> Item {
    key(format!("STATSCURSOR#{}#{shard}", sender.as_str()), "CURSOR")
}

/// The day counter a credited payment adds to, in the credit's transaction.
pub(crate) fn payment_counter(
    table: &str,
    reference: &str,
    amount_cents: i64,
    at: DateTime<Utc>,
) -> Result<TransactWriteItem, StoreError> {
    let pk = day_pk(business_day(at), shard_of(reference, COUNTER_SHARDS));
    let u = update(table, key(pk, "PAY"))
        .update_expression("ADD payments :one, revenue_cents :amount")
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":amount", n(amount_cents));
    tx_update(u)
}

/// The day counter and the member total a registration adds to.
pub(crate) fn registration_counters(
    table: &str,
    member_id: &str,
    at: DateTime<Utc>,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let shard = shard_of(member_id, COUNTER_SHARDS);
    let day = update(table, key(day_pk(business_day(at), shard), "NEW"))
        .update_expression("ADD new_members :one")
        .expression_attribute_values(":one", n(1));
    Ok(vec![tx_update(day)?, member_total(table, member_id, 1)?])
}

/// The member total's change (+1 a registration, -1 a deletion).
pub(crate) fn member_total(table: &str, member_id: &str, delta: i64) -> Result<TransactWriteItem, StoreError> {
    let u = update(table, key(format!("MEMBERCOUNT#{}", shard_of(member_id, COUNTER_SHARDS)), "COUNT"))
        .update_expression("ADD members :d")
        .expression_attribute_values(":d", n(delta));
    tx_update(u)
}

/// The point-in-time block the job writes: open and escalated chats, the queue
/// by band.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct NowBlock {
    pub active_chats: u64,
    pub escalated_chats: u64,
    pub waiting: BTreeMap<String, u64>,
    pub at: Option<DateTime<Utc>>,
}

impl Store {
    /// Counts the message entries of one side's shard written since its cursor and
    /// older than `now - SETTLE`, adds them to their days and moves the cursor, in
    /// one transaction conditioned on the cursor read (a concurrent run counts
    /// nothing twice: the loser's transaction fails and it stops).
    pub async fn count_messages(&self, sender: Sender, shard: u32, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let cursor_item = self.get_decoded(cursor_key(sender, shard), |i| Ok(i.clone())).await?;
        let start = cursor_item.as_ref().and_then(|c| {
            let r = Reader(c);
            let (pk, sk, gsk) = (r.opt_str("last_pk")?, r.opt_str("last_sk")?, r.opt_str("last_gsi4sk")?);
            let mut k = key(pk, sk);
            k.insert("GSI4PK".into(), s(message_list_pk(sender, shard)));
            k.insert("GSI4SK".into(), s(gsk));
            Some(k)
        });
        let read_gsk = cursor_item.as_ref().and_then(|c| Reader(c).opt_str("last_gsi4sk"));
        let bound = format!("{}#~", (now - SETTLE).to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        // A run with a later clock already counted up to here: nothing is due yet
        // (and DynamoDB refuses a start key beyond the key condition).
        if read_gsk.as_ref().is_some_and(|g| *g > bound) {
            return Ok(0);
        }
        let mut per_day: BTreeMap<NaiveDate, u64> = BTreeMap::new();
        let mut last: Option<(String, String, String)> = None;
        let mut next = start;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("GSI4")
                .key_condition_expression("GSI4PK = :pk AND GSI4SK <= :bound")
                .expression_attribute_values(":pk", s(message_list_pk(sender, shard)))
                .expression_attribute_values(":bound", s(&bound))
                .set_exclusive_start_key(next.take())
                .send()
                .await
                .map_err(StoreError::sdk)?;
            let mut full = false;
            for item in out.items.unwrap_or_default() {
                let r = Reader(&item);
                let gsk = r.str("GSI4SK")?;
                let at = gsk
                    .split('#')
                    .next()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .ok_or_else(|| StoreError::Corrupt(format!("message entry {gsk}")))?;
                let day = business_day(at.with_timezone(&Utc));
                if !per_day.contains_key(&day) && per_day.len() >= MAX_DAYS_PER_RUN {
                    // The transaction is full: the rest waits for the next run.
                    full = true;
                    break;
                }
                *per_day.entry(day).or_default() += 1;
                last = Some((r.str("PK")?, r.str("SK")?, gsk));
            }
            match out.last_evaluated_key {
                Some(k) if !full && per_day.values().sum::<u64>() < MAX_ENTRIES_PER_RUN => next = Some(k),
                _ => break,
            }
        }
        let Some((pk, sk, gsk)) = last else { return Ok(0) };
        let mut cursor = cursor_key(sender, shard);
        cursor.insert("last_pk".into(), s(pk));
        cursor.insert("last_sk".into(), s(sk));
        cursor.insert("last_gsi4sk".into(), s(gsk));
        cursor.insert("at".into(), ts(now));
        let mut put_cursor = Put::builder()
            .table_name(&self.table)
            .set_item(Some(cursor))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        put_cursor = match &read_gsk {
            Some(g) => {
                put_cursor.condition_expression("last_gsi4sk = :read").expression_attribute_values(":read", s(g))
            }
            None => put_cursor.condition_expression("attribute_not_exists(last_gsi4sk)"),
        };
        let mut items = vec![TransactWriteItem::builder().put(put_cursor.build().map_err(StoreError::dynamo)?).build()];
        for (day, count) in &per_day {
            let u = update(&self.table, key(messages_pk(*day), format!("MSG#{}#{shard}", sender.as_str())))
                .update_expression("ADD messages :n")
                .expression_attribute_values(":n", n(*count));
            items.push(tx_update(u)?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(per_day.values().sum()),
            Err(TransactFailure::ConditionFailed(_)) => Ok(0),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// The days' figures from their counters (eventually consistent reads).
    pub async fn stats_days(&self, days: &[NaiveDate]) -> Result<Vec<Day>, StoreError> {
        let mut keys = Vec::new();
        for d in days {
            for shard in 0..COUNTER_SHARDS {
                keys.push(key(day_pk(*d, shard), "PAY"));
                keys.push(key(day_pk(*d, shard), "NEW"));
            }
            for side in SIDES {
                for shard in 0..MESSAGE_SHARDS {
                    keys.push(key(messages_pk(*d), format!("MSG#{}#{shard}", side.as_str())));
                }
            }
        }
        let mut by_day: BTreeMap<NaiveDate, Day> = days.iter().map(|d| (*d, Day::empty(*d))).collect();
        for item in self.batch_get(keys, false).await? {
            let r = Reader(&item);
            let pk = r.str("PK")?;
            let sk = r.str("SK")?;
            let date = pk
                .split('#')
                .nth(1)
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .ok_or_else(|| StoreError::Corrupt(format!("stats key {pk}")))?;
            let Some(day) = by_day.get_mut(&date) else { continue };
            let count = |name: &str| u64::try_from(r.opt_i64(name).unwrap_or(0)).unwrap_or(0);
            match sk.as_str() {
                "PAY" => {
                    day.payments += count("payments");
                    day.revenue_cents += r.opt_i64("revenue_cents").unwrap_or(0);
                }
                "NEW" => day.new_members += count("new_members"),
                s if s.starts_with("MSG#member#") => day.messages.member += count("messages"),
                s if s.starts_with("MSG#character#") => day.messages.character += count("messages"),
                _ => {}
            }
        }
        Ok(by_day.into_values().collect())
    }

    /// Members in all (registrations less deletions).
    pub async fn member_total(&self) -> Result<i64, StoreError> {
        let keys = (0..COUNTER_SHARDS).map(|shard| key(format!("MEMBERCOUNT#{shard}"), "COUNT")).collect();
        Ok(self.batch_get(keys, false).await?.iter().map(|i| Reader(i).opt_i64("members").unwrap_or(0)).sum())
    }

    pub async fn put_now_block(&self, block: &NowBlock) -> Result<(), StoreError> {
        let mut item = key("STATS", "NOW");
        item.insert("active_chats".into(), n(block.active_chats));
        item.insert("escalated_chats".into(), n(block.escalated_chats));
        for (band, count) in &block.waiting {
            item.insert(format!("waiting_{band}"), n(*count));
        }
        if let Some(at) = block.at {
            item.insert("at".into(), ts(at));
        }
        self.transact(vec![put(&self.table, item)?]).await.map_err(TransactFailure::into_store)
    }

    pub async fn now_block(&self, bands: &[&str]) -> Result<NowBlock, StoreError> {
        let Some(item) = self.get_decoded(key("STATS", "NOW"), |i| Ok(i.clone())).await? else {
            return Ok(NowBlock { waiting: bands.iter().map(|b| (b.to_string(), 0)).collect(), ..NowBlock::default() });
        };
        let r = Reader(&item);
        let count = |name: &str| u64::try_from(r.opt_i64(name).unwrap_or(0)).unwrap_or(0);
        Ok(NowBlock {
            active_chats: count("active_chats"),
            escalated_chats: count("escalated_chats"),
            waiting: bands.iter().map(|b| (b.to_string(), count(&format!("waiting_{b}")))).collect(),
            at: r.opt_time("at"),
        })
    }

    /// Open chats (every shard of the open-chats listing, counted) and escalated
    /// ones (the escalations list): the job's point-in-time counts.
    pub async fn count_open_and_escalated(&self) -> Result<(u64, u64), StoreError> {
        let mut open = 0u64;
        for shard in 0..super::chats::OPEN_CHAT_SHARDS {
            open += self.count_index("GSI3", &super::chats::open_chats_shard_pk(shard)).await?;
        }
        let escalated = self.count_index("GSI5", super::assignments::ESCALATIONS).await?;
        Ok((open, escalated))
    }

    async fn count_index(&self, index: &str, pk: &str) -> Result<u64, StoreError> {
        let mut total = 0u64;
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(format!("{index}PK = :pk"))
                .expression_attribute_values(":pk", s(pk))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(StoreError::sdk)?;
            total += u64::try_from(out.count).unwrap_or(0);
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(total),
            }
        }
    }
}
