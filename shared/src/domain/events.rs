//! Domain events: what the outbox carries to the event bus. Each is written in the
//! transaction that makes the change it reports (ARCHITECTURE.md, "Outbox").

use serde::Serialize;

use super::entities::CloseReason;
use super::ids::{CharacterId, ChatId, MemberId, OperatorId, PaymentRef};
use super::money::Credits;
use super::payment::RefundReason;
use super::tier::Tier;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum DomainEvent {
    PaymentSucceeded {
        reference: PaymentRef,
        member_id: MemberId,
        /// KES cents.
        amount: i64,
        currency: String,
        credits: i64,
        bonus_credits: i64,
        /// The member's tier after the credit.
        tier: Tier,
    },
    ChatClosed {
        chat_id: ChatId,
        member_id: MemberId,
        character_id: CharacterId,
        close_reason: CloseReason,
        operator_id: Option<OperatorId>,
    },
    RefundProcessed {
        refund_id: String,
        member_id: MemberId,
        amount: Credits,
        reason: RefundReason,
    },
    MemberDeleted {
        member_id: MemberId,
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
            chat_id: ChatId::new("ch_1"),
            member_id: MemberId::new("m_1"),
            character_id: CharacterId::new("c_1"),
            close_reason: CloseReason::InactivityTimeout,
            operator_id: None,
        };
        assert_eq!(e.detail_type(), "chat.closed");
        let v = serde_json::to_value(&e).expect("serialises");
        assert_eq!(v["close_reason"], "inactivity_timeout");
        assert!(v["operator_id"].is_null());
        let r = DomainEvent::RefundProcessed {
            refund_id: "r_1".into(),
            member_id: MemberId::new("m_1"),
            amount: Credits::from_hundredths(250),
            reason: RefundReason::SystemError,
        };
        let v = serde_json::to_value(&r).expect("serialises");
        assert_eq!((v["amount"].as_str(), v["reason"].as_str()), (Some("2.50"), Some("system_error")));
    }
}
