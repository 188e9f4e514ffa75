//! Payment transactions (checkout's locked snapshot), webhook event records, the
//! reconcile index, and crediting: at most once per reference, whatever arrives.

use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::attr::{b, key, n, s, ts, Item, Reader};
use super::cursor::{Page, Partition};
use super::idempotency::{record_put, DoneRecord};
use super::ledger::ledger_item;
use super::members::{member_from, member_pk};
use super::notifications::{admin_notification_item, member_notification_item};
use super::outbox::outbox_item;
use super::payouts::{payout_item, PayoutSource};
use super::tx::{is_condition_failed, put_new, shard_of};
use super::{Store, StoreError, TransactFailure};
use crate::domain::ids::{MemberId, PaymentRef};
use crate::domain::payment::{PackageSnapshot, Payment, PaymentStatus};
use crate::domain::{Credits, Member};

pub(crate) const RECONCILE_SHARDS: u32 = 4;

/// The guard of "adds credits at most once": neither credited, nor owed as a
/// payout, nor disputed (a disputed charge never credits afterwards, and nothing
/// moves it back to pending or failed).
const SETTLEABLE: &str = "attribute_exists(PK) AND attribute_not_exists(credited_at) \
     AND attribute_not_exists(payout_id) AND attribute_not_exists(disputed_at)";

/// A webhook delivery, by event id (the SHA-256 of its body).
pub(crate) fn webhook_key(event_id: &str) -> Item {
    key(format!("WEBHOOK#{event_id}"), "EVENT")
}

fn payment_pk(reference: &str) -> String {
    format!("PAYMENT#{reference}")
}

fn reconcile_shard(reference: &str) -> u32 {
    shard_of(reference, RECONCILE_SHARDS)
}

fn reconcile_sort(at: DateTime<Utc>, reference: &str) -> String {
    format!("{}#{reference}", at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// The back office's list of payments with a status (GSI4, keys only: the
/// status write moves the entry; `PAYMENTS#<status>` / `<created_at>#<ref>`).
pub(crate) fn status_list(status: PaymentStatus) -> String {
    format!("PAYMENTS#{}", status.as_str())
}

fn payment_item(p: &Payment) -> Item {
    let mut item = key(payment_pk(&p.reference), "PAYMENT");
    item.insert("entity".into(), s("payment"));
    item.insert("GSI1PK".into(), s(format!("MEMBERTX#{}", p.member_id)));
    item.insert("GSI1SK".into(), s(reconcile_sort(p.created_at, &p.reference)));
    item.insert("GSI4PK".into(), s(status_list(p.status)));
    item.insert("GSI4SK".into(), s(reconcile_sort(p.created_at, &p.reference)));
    if let Some(at) = p.next_check_at {
        item.insert("GSI2PK".into(), s(format!("RECONCILE#{}", reconcile_shard(&p.reference))));
        item.insert("GSI2SK".into(), s(reconcile_sort(at, &p.reference)));
        item.insert("next_check_at".into(), ts(at));
    }
    item.insert("reference".into(), s(&p.reference));
    item.insert("member_id".into(), s(&p.member_id));
    item.insert("status".into(), s(p.status.as_str()));
    item.insert("package_id".into(), s(&p.snapshot.package_id));
    item.insert("package_name".into(), s(&p.snapshot.name));
    item.insert("credits".into(), n(p.snapshot.credits));
    item.insert("bonus_credits".into(), n(p.snapshot.bonus_credits));
    item.insert("amount".into(), n(p.snapshot.price));
    item.insert("currency".into(), s(&p.snapshot.currency));
    if let Some(badge) = &p.snapshot.badge {
        item.insert("badge".into(), s(badge));
    }
    item.insert("email".into(), s(&p.email));
    item.insert("created_at".into(), ts(p.created_at));
    item.insert("updated_at".into(), ts(p.created_at));
    item.insert("needs_review".into(), b(false));
    item.insert("webhook_received_count".into(), n(0));
    item.insert("verify_attempts".into(), n(0));
    item
}

pub(crate) fn payment_from(item: &Item) -> Result<Payment, StoreError> {
    let r = Reader(item);
    Ok(Payment {
        reference: PaymentRef::new(r.str("reference")?),
        member_id: MemberId::new(r.str("member_id")?),
        status: r.parse("status", PaymentStatus::parse)?,
        snapshot: PackageSnapshot {
            package_id: r.str("package_id")?,
            name: r.str("package_name")?,
            credits: r.i64("credits")?,
            bonus_credits: r.i64("bonus_credits")?,
            price: r.i64("amount")?,
            currency: r.str("currency")?,
            badge: r.opt_str("badge"),
        },
        // Erasure removes the email from a deleted member's payments.
        email: r.opt_str("email").unwrap_or_default(),
        created_at: r.time("created_at")?,
        credited_at: r.opt_time("credited_at"),
        payout_id: r.opt_str("payout_id"),
        disputed_at: r.opt_time("disputed_at"),
        failure_reason: r.opt_str("failure_reason"),
        review_reason: r.opt_str("review_reason"),
        needs_review: r.bool("needs_review"),
        webhook_received_count: r.opt_i64("webhook_received_count").unwrap_or(0),
        last_webhook_at: r.opt_time("last_webhook_at"),
        verify_attempts: u32::try_from(r.opt_i64("verify_attempts").unwrap_or(0)).unwrap_or(0),
        next_check_at: r.opt_time("next_check_at"),
        reconciled_by: r.opt_str("reconciled_by"),
        reconciled_at: r.opt_time("reconciled_at"),
    })
}

/// How a credit attempt ended.
#[derive(Debug)]
pub enum CreditOutcome {
    /// Credited now; the member's balance after it.
    Credited(Credits),
    /// Some earlier webhook, retry or reconcile run credited it.
    AlreadyCredited,
    /// The member changed since the read: retry from this state.
    MemberChanged(Option<Box<Member>>),
}

/// An unsuccessful outcome to record on a payment that is not credited.
pub struct Unsuccessful<'a> {
    pub status: PaymentStatus,
    pub failure_reason: Option<&'a str>,
    pub review_reason: Option<&'a str>,
    pub needs_review: bool,
    /// When reconcile should look again; `None` takes it off the reconcile index.
    pub next_check_at: Option<DateTime<Utc>>,
    /// This outcome came from a verify call (counts toward the widening schedule).
    pub from_verify: bool,
    /// Record it only while the payment still has this status.
    pub only_from: Option<PaymentStatus>,
}

impl Store {
    /// Stores a new pending payment (and the Idempotency-Key's response, if any).
    /// `Ok(false)`: another request with the same key stored its payment first.
    pub async fn create_payment(
        &self,
        p: &Payment,
        idempotency: Option<DoneRecord<'_>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut items = vec![put_new(&self.table, payment_item(p))?];
        if let Some(record) = idempotency {
            items.push(record_put(&self.table, &record, now)?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(old)) if old.get(1).is_some_and(Option::is_some) => Ok(false),
            Err(TransactFailure::ConditionFailed(_)) => Err(StoreError::Corrupt("payment reference collided".into())),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    pub async fn get_payment(&self, reference: &PaymentRef) -> Result<Option<Payment>, StoreError> {
        self.get_decoded(key(payment_pk(reference), "PAYMENT"), payment_from).await
    }

    /// A member's payments, newest first.
    pub async fn member_payments(
        &self,
        member_id: &MemberId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Payment>, StoreError> {
        let pk = format!("MEMBERTX#{member_id}");
        self.page(Partition::Gsi1(&pk), false, cursor, limit).await?.try_map(payment_from)
    }

    /// Records a webhook delivery (duplicates counted); returns how many times this
    /// exact event has arrived.
    pub async fn record_webhook(
        &self,
        event_id: &str,
        event: &str,
        reference: Option<&str>,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(webhook_key(event_id)))
            .update_expression(
                "SET #entity = :entity, #event = :event, #body = if_not_exists(#body, :body), \
                 first_received_at = if_not_exists(first_received_at, :now), last_webhook_at = :now, #ref = :ref \
                 ADD webhook_received_count :one",
            )
            .expression_attribute_names("#entity", "entity")
            .expression_attribute_names("#event", "event")
            .expression_attribute_names("#body", "body")
            .expression_attribute_names("#ref", "reference")
            .expression_attribute_values(":entity", s("webhook_event"))
            .expression_attribute_values(":event", s(event))
            .expression_attribute_values(":body", s(body))
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":ref", s(reference.unwrap_or("-")))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew);
        let out = req.send().await.map_err(StoreError::sdk)?;
        Ok(out.attributes.as_ref().and_then(|a| Reader(a).opt_i64("webhook_received_count")).unwrap_or(1))
    }

    /// Counts a webhook on its payment; `None` if the reference is unknown.
    pub async fn note_webhook(
        &self,
        reference: &PaymentRef,
        now: DateTime<Utc>,
    ) -> Result<Option<Payment>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(payment_pk(reference), "PAYMENT")))
            .update_expression("SET last_webhook_at = :now ADD webhook_received_count :one")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => out.attributes.as_ref().map(payment_from).transpose(),
            Err(e) if is_condition_failed(&e) => Ok(None),
            Err(e) => Err(StoreError::sdk(e)),
        }
    }

    /// Records a non-success outcome unless the payment is already credited
    /// (`Ok(false)` then). Nothing here is final: a later success still credits.
    pub async fn record_unsuccessful(
        &self,
        reference: &PaymentRef,
        u: &Unsuccessful<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut set = vec!["#status = :status", "GSI4PK = :listed", "needs_review = :review", "updated_at = :now"];
        let mut remove = Vec::new();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(payment_pk(reference), "PAYMENT")))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(u.status.as_str()))
            .expression_attribute_values(":listed", s(status_list(u.status)))
            .expression_attribute_values(":review", b(u.needs_review))
            .expression_attribute_values(":now", ts(now));
        if let Some(r) = u.failure_reason {
            set.push("failure_reason = :failure");
            req = req.expression_attribute_values(":failure", s(r));
        }
        if let Some(r) = u.review_reason {
            set.push("review_reason = :review_reason");
            req = req.expression_attribute_values(":review_reason", s(r));
        }
        match u.next_check_at {
            Some(at) => {
                set.extend(["next_check_at = :next", "GSI2PK = :g2pk", "GSI2SK = :g2sk"]);
                req = req
                    .expression_attribute_values(":next", ts(at))
                    .expression_attribute_values(":g2pk", s(format!("RECONCILE#{}", reconcile_shard(reference))))
                    .expression_attribute_values(":g2sk", s(reconcile_sort(at, reference)));
            }
            None => remove.extend(["next_check_at", "GSI2PK", "GSI2SK"]),
        }
        let mut expr = format!("SET {}", set.join(", "));
        if u.from_verify {
            expr.push_str(" ADD verify_attempts :one");
            req = req.expression_attribute_values(":one", n(1));
        }
        if !remove.is_empty() {
            expr.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        req = match u.only_from {
            Some(from) => req
                .condition_expression(format!("{SETTLEABLE} AND #status = :from"))
                .expression_attribute_values(":from", s(from.as_str())),
            None => req.condition_expression(SETTLEABLE),
        };
        match req.update_expression(expr).send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::sdk(e)),
        }
    }

    /// Credits a payment from its locked snapshot in one transaction conditioned on
    /// "not yet credited": balance += credits + bonus, lifetime KES and tier, ledger
    /// entries (purchase, bonus), the member's notification and the outbox event.
    /// The member's balance and lifetime KES are pinned to the values read.
    pub async fn credit_payment(
        &self,
        p: &Payment,
        member: &Member,
        now: DateTime<Utc>,
    ) -> Result<CreditOutcome, StoreError> {
        let plan = p.credit_plan(member).ok_or_else(|| StoreError::Corrupt("balance overflow".into()))?;
        let payment = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(payment_pk(&p.reference), "PAYMENT")))
            .update_expression(
                "SET #status = :success, GSI4PK = :listed, credited_at = :now, updated_at = :now, needs_review = :f \
                 REMOVE GSI2PK, GSI2SK, next_check_at",
            )
            .condition_expression(SETTLEABLE)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":success", s(PaymentStatus::Success.as_str()))
            .expression_attribute_values(":listed", s(status_list(PaymentStatus::Success)))
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":f", b(false))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::dynamo)?;
        let member_update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(member_pk(&member.id), "PROFILE")))
            .update_expression("SET balance = :after, kes_paid_cents = :kes, tier = :tier")
            // The status pin keeps a deletion that lands between the read and this
            // write from being credited (a deleted member's payment is a payout).
            .condition_expression("balance = :before AND kes_paid_cents = :kes_before AND #status = :status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(member.status.as_str()))
            .expression_attribute_values(":after", n(plan.balance_after.hundredths()))
            .expression_attribute_values(":kes", n(plan.kes_paid_cents))
            .expression_attribute_values(":tier", s(plan.tier.as_str()))
            .expression_attribute_values(":before", n(member.balance.hundredths()))
            .expression_attribute_values(":kes_before", n(member.kes_paid_cents))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::dynamo)?;
        let mut items = vec![
            TransactWriteItem::builder().update(payment).build(),
            TransactWriteItem::builder().update(member_update).build(),
            put_new(
                &self.table,
                ledger_item(&member.id, plan.purchased, plan.balance_after_purchase, "purchase", &p.reference, now),
            )?,
        ];
        if !plan.bonus.is_zero() {
            let bonus = ledger_item(&member.id, plan.bonus, plan.balance_after, "bonus", &p.reference, now);
            items.push(put_new(&self.table, bonus)?);
        }
        let (kind, title, text) = &plan.notice;
        items.push(put_new(&self.table, member_notification_item(&member.id, kind, title, text, now))?);
        items.push(put_new(&self.table, outbox_item(&plan.event, now)?)?);
        // The dashboard's day counter (its own shard: a few credits a second at most).
        items.push(super::stats::payment_counter(&self.table, &p.reference, p.snapshot.price, now)?);
        match self.transact(items).await {
            Ok(()) => Ok(CreditOutcome::Credited(plan.balance_after)),
            Err(TransactFailure::ConditionFailed(old)) => {
                if old.first().is_some_and(Option::is_some) {
                    return Ok(CreditOutcome::AlreadyCredited);
                }
                let current = old.get(1).and_then(Option::as_ref).map(member_from).transpose()?;
                Ok(CreditOutcome::MemberChanged(current.map(Box::new)))
            }
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// Payments whose next check is due, oldest due first, from every shard.
    pub async fn payments_due(&self, now: DateTime<Utc>, per_shard: i32) -> Result<Vec<Payment>, StoreError> {
        let mut due = Vec::new();
        for shard in 0..RECONCILE_SHARDS {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("GSI2")
                .key_condition_expression("GSI2PK = :pk AND GSI2SK <= :now")
                .expression_attribute_values(":pk", s(format!("RECONCILE#{shard}")))
                .expression_attribute_values(
                    ":now",
                    s(format!("{}#~", now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))),
                )
                .limit(per_shard)
                .send()
                .await
                .map_err(StoreError::sdk)?;
            for item in out.items.unwrap_or_default() {
                due.push(payment_from(&item)?);
            }
        }
        Ok(due)
    }

    /// Payments with a status, newest first (GSI4 keys, then the payments by key).
    pub async fn payments_with_status(
        &self,
        status: PaymentStatus,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Payment>, StoreError> {
        let list = status_list(status);
        let keys = self.page(Partition::Gsi4(&list), false, cursor, limit).await?;
        let wanted: Vec<Item> =
            keys.items.iter().map(|k| Ok(key(Reader(k).str("PK")?, "PAYMENT"))).collect::<Result<_, StoreError>>()?;
        let mut by_ref = std::collections::HashMap::new();
        for item in self.batch_get(wanted, false).await? {
            let p = payment_from(&item)?;
            by_ref.insert(p.reference.to_string(), p);
        }
        let mut items = Vec::new();
        for k in &keys.items {
            let pk = Reader(k).str("PK")?;
            let reference = pk.trim_start_matches("PAYMENT#");
            // The index trails the table: a payment whose status moved on is not listed here.
            if let Some(p) = by_ref.remove(reference).filter(|p| p.status == status) {
                items.push(p);
            }
        }
        Ok(Page { items, next_cursor: keys.next_cursor })
    }

    /// Records which admin last ran a manual reconcile of the payment.
    pub async fn mark_reconciled_by(
        &self,
        reference: &PaymentRef,
        admin_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(payment_pk(reference), "PAYMENT")))
            .update_expression("SET reconciled_by = :admin, reconciled_at = :now")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":admin", s(admin_id))
            .expression_attribute_values(":now", ts(now))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    /// A payment that succeeded after its member's account was deleted: nothing is
    /// credited; the KES paid become a payout owed, and the admins are told. Same
    /// guard as crediting, so a reference settles once whatever arrives.
    /// `Ok(false)`: it was already settled.
    pub async fn owe_payment_as_payout(&self, p: &Payment, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let payout = payout_item(PayoutSource::PaymentAfterDeletion, &p.reference, &p.member_id, p.snapshot.price, now);
        let payout_id = Reader(&payout).str("id")?;
        let payment = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(payment_pk(&p.reference), "PAYMENT")))
            .update_expression(
                "SET #status = :success, GSI4PK = :listed, payout_id = :payout, updated_at = :now, needs_review = :f \
                 REMOVE GSI2PK, GSI2SK, next_check_at",
            )
            .condition_expression(SETTLEABLE)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":success", s(PaymentStatus::Success.as_str()))
            .expression_attribute_values(":listed", s(status_list(PaymentStatus::Success)))
            .expression_attribute_values(":payout", s(&payout_id))
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":f", b(false))
            .build()
            .map_err(StoreError::dynamo)?;
        let msg = format!(
            "Payment {} of {} KES cents completed after the member's account was deleted: payout {payout_id} owed",
            p.reference, p.snapshot.price
        );
        let items = vec![
            TransactWriteItem::builder().update(payment).build(),
            put_new(&self.table, payout)?,
            put_new(&self.table, admin_notification_item("payout_owed", "high", &msg, Some(&p.reference), now))?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(_)) => Ok(false),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// Records a Paystack dispute event on a payment: the first marks it
    /// `disputed` (whatever it was; a credited one keeps its credit until an admin
    /// acts) and tells the admins, in one transaction; it never credits again.
    /// `Ok(false)`: the payment was already disputed (the event is only recorded).
    pub async fn mark_disputed(
        &self,
        reference: &PaymentRef,
        event: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let payment = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(payment_pk(reference), "PAYMENT")))
            .update_expression(
                "SET #status = :disputed, GSI4PK = :listed, disputed_at = :now, dispute_event = :event, \
                 needs_review = :t, updated_at = :now REMOVE GSI2PK, GSI2SK, next_check_at",
            )
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(disputed_at)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":disputed", s(PaymentStatus::Disputed.as_str()))
            .expression_attribute_values(":listed", s(status_list(PaymentStatus::Disputed)))
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":event", s(event))
            .expression_attribute_values(":t", b(true))
            .build()
            .map_err(StoreError::dynamo)?;
        let msg = format!("Payment {reference} is disputed ({event}): review it before any refund or credit");
        let items = vec![
            TransactWriteItem::builder().update(payment).build(),
            put_new(&self.table, admin_notification_item("payment_disputed", "high", &msg, Some(reference), now))?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactFailure::ConditionFailed(_)) => Ok(false),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    /// Lets a settled delivery's raw body expire (TTL) after `keep`: the payment
    /// item holds what reconciliation and tax records need, the raw Paystack body
    /// (customer name, email, card digits, IPs) is not kept for ever.
    pub async fn expire_webhook(&self, event_id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(webhook_key(event_id)))
            .update_expression("SET expires_at = :at")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":at", n(at.timestamp()))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }
}
