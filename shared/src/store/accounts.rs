//! Balance changes outside a send (refunds, account deletion), the ledger audit's
//! walk over members, and the data export.

use aws_sdk_dynamodb::types::{Delete, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::attr::{key, n, s, ts, Item, Reader};
use super::jobs::job_item;
use super::ledger::ledger_item;
use super::members::{member_from, member_pk, username_pk};
use super::outbox::outbox_item;
use super::payouts::{payout_item, PayoutSource};
use super::tx::put_new;
use super::{Store, StoreError, TransactFailure};
use crate::domain::events::DomainEvent;
use crate::domain::ids::MemberId;
use crate::domain::jobs::Job;
use crate::domain::payment::deletion_refund_cents;
use crate::domain::{Credits, Member, MemberStatus};

#[derive(Debug)]
pub enum BalanceOutcome {
    Done(Credits),
    MemberChanged(Option<Box<Member>>),
}

/// What deleting an account left to settle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deletion {
    pub unused_credits: Credits,
    pub refund_due_cents: i64,
}

/// The member's balance set to `after`, conditioned on the balance and status as
/// read: every credit outside a send (a refund, a deletion) pins it.
pub(crate) fn pinned_balance(table: &str, member: &Member, after: Credits) -> Result<TransactWriteItem, StoreError> {
    let u = Update::builder()
        .table_name(table)
        .set_key(Some(key(member_pk(&member.id), "PROFILE")))
        .update_expression("SET balance = :after")
        .condition_expression("balance = :before AND #status = :status")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":after", n(after.hundredths()))
        .expression_attribute_values(":before", n(member.balance.hundredths()))
        .expression_attribute_values(":status", s(member.status.as_str()))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(StoreError::dynamo)?;
    Ok(TransactWriteItem::builder().update(u).build())
}

fn member_changed(old: &[Option<Item>]) -> Result<BalanceOutcome, StoreError> {
    let current = old.first().and_then(Option::as_ref).map(member_from).transpose()?;
    Ok(BalanceOutcome::MemberChanged(current.map(Box::new)))
}

impl Store {
    /// Closes an account (active or banned) in one transaction pinned to the member
    /// as read: status `deleted`, no password, the username released and the
    /// profile's personal fields removed; unused credits leave the balance with a
    /// ledger entry and become a KES payout owed; the job that closes the member's
    /// chats and erases their texts is queued; an outbox event tells the rest.
    pub async fn delete_member(
        &self,
        member: &Member,
        reason: Option<&str>,
        audit: Option<&crate::domain::admin::AuditEntry>,
        now: DateTime<Utc>,
    ) -> Result<(BalanceOutcome, Deletion), StoreError> {
        let deletion =
            Deletion { unused_credits: member.balance, refund_due_cents: deletion_refund_cents(member.balance) };
        let scrub = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(member_pk(&member.id), "PROFILE")))
            .update_expression(
                "SET #status = :deleted, balance = :zero, deleted_at = :now, password_hash = :none \
                 REMOVE username, email, display_name, #location, bio, latitude, longitude",
            )
            .condition_expression("balance = :before AND #status = :status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#location", "location")
            .expression_attribute_values(":deleted", s(MemberStatus::Deleted.as_str()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":none", s("!deleted"))
            .expression_attribute_values(":before", n(member.balance.hundredths()))
            .expression_attribute_values(":status", s(member.status.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::dynamo)?;
        let release = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(username_pk(&member.username), "USERNAME")))
            .build()
            .map_err(StoreError::dynamo)?;
        let mut record = key(member_pk(&member.id), "DELETION");
        record.insert("entity".into(), s("deletion"));
        record.insert("member_id".into(), s(&member.id));
        record.insert("unused_credits".into(), n(deletion.unused_credits.hundredths()));
        record.insert("refund_due_cents".into(), n(deletion.refund_due_cents));
        record.insert("reason".into(), s(reason.unwrap_or("")));
        record.insert("created_at".into(), ts(now));
        // One job closes each chat (`member_deleted`) and then erases its texts.
        let erase = Job::EraseMember { member_id: member.id.clone() };
        let mut items = vec![
            TransactWriteItem::builder().update(scrub).build(),
            TransactWriteItem::builder().delete(release).build(),
            put_new(&self.table, record)?,
            put_new(&self.table, job_item(&erase, now))?,
        ];
        if !member.balance.is_zero() {
            let removed = Credits::from_hundredths(-member.balance.hundredths());
            items.push(put_new(
                &self.table,
                ledger_item(&member.id, removed, Credits::ZERO, "account_deletion", &member.id, now),
            )?);
        }
        if deletion.refund_due_cents > 0 {
            let payout =
                payout_item(PayoutSource::AccountDeletion, &member.id, &member.id, deletion.refund_due_cents, now);
            items.push(put_new(&self.table, payout)?);
        }
        let event = DomainEvent::MemberDeleted {
            member_id: member.id.clone(),
            unused_credits: deletion.unused_credits,
            refund_due_cents: deletion.refund_due_cents,
        };
        items.push(put_new(&self.table, outbox_item(&event, now)?)?);
        items.push(super::stats::member_total(&self.table, &member.id, -1)?);
        if let Some(a) = audit {
            items.push(super::admins::audit_put(&self.table, a, now)?);
        }
        match self.transact(items).await {
            Ok(()) => Ok((BalanceOutcome::Done(Credits::ZERO), deletion)),
            Err(TransactFailure::ConditionFailed(old)) => Ok((member_changed(&old)?, deletion)),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// (PK, SK) of every item of a partition whose sort key starts with `prefix`.
    pub(crate) async fn query_keys(&self, pk: &str, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .query_all(pk, prefix)
            .await?
            .iter()
            .filter_map(|i| Some((Reader(i).opt_str("PK")?, Reader(i).opt_str("SK")?)))
            .collect())
    }

    /// One page of a parallel scan over member items: (member id, balance).
    /// Only the daily ledger audit walks the table; no request path scans.
    pub async fn scan_member_balances(
        &self,
        segment: i32,
        total_segments: i32,
        start: Option<Item>,
    ) -> Result<(Vec<(MemberId, Credits)>, Option<Item>), StoreError> {
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .segment(segment)
            .total_segments(total_segments)
            .filter_expression("entity = :member")
            .projection_expression("id, balance")
            .expression_attribute_values(":member", s("member"))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        let members = out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|i| {
                Some((MemberId::new(Reader(i).opt_str("id")?), Credits::from_hundredths(Reader(i).opt_i64("balance")?)))
            })
            .collect();
        Ok((members, out.last_evaluated_key))
    }
}
