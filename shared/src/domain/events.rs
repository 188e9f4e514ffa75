//! Domain events: what the outbox carries to the event bus. Each is written in the
//! transaction that makes the change it reports (ARCHITECTURE.md, "Outbox").

use serde::Serialize;

use super::entities::CloseReason;
use super::money::Credits;
use super::payment::RefundReason;
use super::tier::Tier;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum DomainEvent {
    PaymentSucceeded {
        reference: String,
        member_id: String,
        /// KES cents.
        amount: i64,
        currency: String,
        credits: i64,
        bonus_credits: i64,
        /// The member's tier after the credit.
        tier: Tier,
    },
    ChatClosed {
        chat_id: String,
        member_id: String,
        character_id: String,
        close_reason: CloseReason,
        operator_id: Option<String>,
    },
    RefundProcessed {
        refund_id: String,
        member_id: String,
        amount: Credits,
        reason: RefundReason,
    },
    MemberDeleted {
        member_id: String,
        unused_credits: Credits,
        refund_due_cents: i64,
    },
}

impl DomainEvent {
    /// EventBridge's `detail-type`.
    pub fn detail_type(&self) -> &'static str {
        match self {
            DomainEvent::PaymentSucceeded { .. } => "payment.succeeded",
            DomainEvent::ChatClosed { .. } => "chat.closed",
            DomainEvent::RefundProcessed { .. } => "refund.processed",
            DomainEvent::MemberDeleted { .. } => "member.deleted",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_their_fields_flat_with_domain_spellings() {
        let e = DomainEvent::ChatClosed {
            chat_id: "ch_1".into(),
            member_id: "m_1".into(),
            character_id: "c_1".into(),
            close_reason: CloseReason::InactivityTimeout,
            operator_id: None,
        };
        assert_eq!(e.detail_type(), "chat.closed");
        let v = serde_json::to_value(&e).expect("serialises");
        assert_eq!(v["close_reason"], "inactivity_timeout");
        assert!(v["operator_id"].is_null());
        let r = DomainEvent::RefundProcessed {
            refund_id: "r_1".into(),
            member_id: "m_1".into(),
            amount: Credits::from_hundredths(250),
            reason: RefundReason::SystemError,
        };
        let v = serde_json::to_value(&r).expect("serialises");
        assert_eq!((v["amount"].as_str(), v["reason"].as_str()), (Some("2.50"), Some("system_error")));
    }
}
