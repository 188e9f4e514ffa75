//! Refunds: credits an admin gives back, requested (pending), then approved
//! (credited once) or rejected. `REFUND#<id>` / `REFUND`, listed by status in GSI1
//! (`REFUNDS#<status>` / `<created_at>#<id>`).

use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};

use super::attr::{key, n, s, ts, Item, Reader};
use super::cursor::{Page, Partition};
use super::ledger::ledger_item;
use super::members::member_from;
use super::notifications::member_notification_item;
use super::outbox::outbox_item;
use super::tx::{put_new, tx_update, update};
use super::{Store, StoreError, TransactFailure};
use crate::domain::admin::AuditEntry;
use crate::domain::events::DomainEvent;
use crate::domain::ids::MemberId;
use crate::domain::payment::{RefundReason, RefundRequest, RefundStatus};
use crate::domain::{Credits, Member};

fn refund_key(id: &str) -> Item {
    key(format!("REFUND#{id}"), "REFUND")
}

fn refunds_pk(status: RefundStatus) -> String {
    format!("REFUNDS#{}", status.as_str())
}

fn refund_item(r: &RefundRequest) -> Item {
    let mut item = refund_key(&r.id);
    item.insert("entity".into(), s("refund"));
    item.insert("GSI1PK".into(), s(refunds_pk(r.status)));
    item.insert(
        "GSI1SK".into(),
        s(format!("{}#{}", r.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true), r.id)),
    );
    item.insert("id".into(), s(&r.id));
    item.insert("member_id".into(), s(&r.member_id));
    item.insert("credits".into(), n(r.credits.hundredths()));
    item.insert("reason".into(), s(r.reason.as_str()));
    item.insert("status".into(), s(r.status.as_str()));
    item.insert("requested_by".into(), s(&r.requested_by));
    item.insert("created_at".into(), ts(r.created_at));
    for (name, v) in [("message_id", &r.message_id), ("chat_id", &r.chat_id), ("notes", &r.notes)] {
        if let Some(v) = v {
            item.insert(name.into(), s(v));
        }
    }
    item
}

pub(crate) fn refund_from(item: &Item) -> Result<RefundRequest, StoreError> {
    let r = Reader(item);
    Ok(RefundRequest {
        id: r.str("id")?,
        member_id: MemberId::new(r.str("member_id")?),
        credits: Credits::from_hundredths(r.i64("credits")?),
        reason: r.parse("reason", RefundReason::parse)?,
        status: r.parse("status", RefundStatus::parse)?,
        requested_by: r.str("requested_by")?,
        created_at: r.time("created_at")?,
        message_id: r.opt_str("message_id"),
        chat_id: r.opt_str("chat_id"),
        notes: r.opt_str("notes"),
        decided_by: r.opt_str("decided_by"),
        decided_at: r.opt_time("decided_at"),
        decision_notes: r.opt_str("decision_notes"),
        balance_after: r.opt_i64("balance_after").map(Credits::from_hundredths),
    })
}

/// How a decision on a refund ended.
#[derive(Debug)]
pub enum RefundDecision {
    Done(Box<RefundRequest>),
    /// Approved or rejected already: nothing changed.
    Settled,
    /// The member changed since the read (a send, another credit): read again.
    MemberChanged(Option<Box<Member>>),
    Unknown,
}

impl Store {
    /// A pending refund, with the admin's audit entry.
    pub async fn request_refund(
        &self,
        r: &RefundRequest,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let items = vec![put_new(&self.table, refund_item(r))?, super::admins::audit_put(&self.table, audit, now)?];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TransactFailure::ConditionFailed(_)) => Err(StoreError::Corrupt(format!("refund id {} taken", r.id))),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    pub async fn get_refund(&self, id: &str) -> Result<Option<RefundRequest>, StoreError> {
        self.get_decoded(refund_key(id), refund_from).await
    }

    /// Refunds with a status, newest first.
    pub async fn refunds(
        &self,
        status: RefundStatus,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<RefundRequest>, StoreError> {
        let pk = refunds_pk(status);
        self.page(Partition::Gsi1(&pk), false, cursor, limit).await?.try_map(refund_from)
    }

    /// The decision's change of the refund record: from pending only.
    fn decide(
        &self,
        r: &RefundRequest,
        to: RefundStatus,
        audit: &AuditEntry,
        notes: Option<&str>,
        balance_after: Option<Credits>,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut set = String::from("#status = :to, GSI1PK = :list, decided_by = :admin, decided_at = :now");
        let mut u = update(&self.table, refund_key(&r.id))
            .condition_expression("attribute_exists(PK) AND #status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":list", s(refunds_pk(to)))
            .expression_attribute_values(":admin", s(&audit.actor))
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":pending", s(RefundStatus::Pending.as_str()));
        if let Some(notes) = notes {
            set.push_str(", decision_notes = :notes");
            u = u.expression_attribute_values(":notes", s(notes));
        }
        if let Some(after) = balance_after {
            set.push_str(", balance_after = :after");
            u = u.expression_attribute_values(":after", n(after.hundredths()));
        }
        tx_update(u.update_expression(format!("SET {set}")))
    }

    /// Approves a pending refund: the member credited once, in one transaction
    /// with the record's change (conditioned on it being pending), the balance
    /// (pinned to the member as read), the ledger entry, the member's notification,
    /// the outbox event and the audit entry.
    pub async fn approve_refund(
        &self,
        r: &RefundRequest,
        member: &Member,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<RefundDecision, StoreError> {
        let after = member.balance.checked_add(r.credits).ok_or_else(|| StoreError::Corrupt("overflow".into()))?;
        let text = crate::domain::payment::refund_notice(r.credits);
        let event = DomainEvent::RefundProcessed {
            refund_id: r.id.clone(),
            member_id: member.id.clone(),
            amount: r.credits,
            reason: r.reason,
        };
        let cause = format!("refund:{}", r.reason.as_str());
        let items = vec![
            self.decide(r, RefundStatus::Approved, audit, None, Some(after), now)?,
            super::accounts::pinned_balance(&self.table, member, after)?,
            put_new(&self.table, ledger_item(&member.id, r.credits, after, &cause, &r.id, now))?,
            put_new(
                &self.table,
                member_notification_item(&member.id, "refund", crate::domain::payment::REFUND_TITLE, &text, now),
            )?,
            put_new(&self.table, outbox_item(&event, now)?)?,
            super::admins::audit_put(&self.table, audit, now)?,
        ];
        match self.transact(items).await {
            Ok(()) => {
                Ok(self.get_refund(&r.id).await?.map_or(RefundDecision::Unknown, |r| RefundDecision::Done(Box::new(r))))
            }
            Err(TransactFailure::ConditionFailed(old)) => {
                if old.first().and_then(Option::as_ref).is_some() {
                    return Ok(RefundDecision::Settled);
                }
                let current = old.get(1).and_then(Option::as_ref).map(member_from).transpose()?;
                match current {
                    Some(m) => Ok(RefundDecision::MemberChanged(Some(Box::new(m)))),
                    None => Ok(RefundDecision::Unknown),
                }
            }
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// Rejects a pending refund (nothing credited), with the audit entry.
    pub async fn reject_refund(
        &self,
        r: &RefundRequest,
        notes: Option<&str>,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<RefundDecision, StoreError> {
        let items = vec![
            self.decide(r, RefundStatus::Rejected, audit, notes, None, now)?,
            super::admins::audit_put(&self.table, audit, now)?,
        ];
        match self.transact(items).await {
            Ok(()) => {
                Ok(self.get_refund(&r.id).await?.map_or(RefundDecision::Unknown, |r| RefundDecision::Done(Box::new(r))))
            }
            Err(TransactFailure::ConditionFailed(_)) => Ok(RefundDecision::Settled),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }
}
