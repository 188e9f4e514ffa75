//! Realtime: what a connected client is told, who may be told it, and the limits
//! of a connection. The frames on the wire are the realtime adapter's
//! (`crate::realtime`); these are the rules (docs/realtime.md).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::ids::{ChatId, MemberId, OperatorId};
use super::principal::{Principal, PrincipalKind};
use super::{Chat, CloseReason, Credits, MessageView, Sender};

/// A ticket is redeemable this long after it is issued, once.
pub const TICKET_TTL: Duration = Duration::seconds(30);
/// At most one typing event per chat and sender in this long; more are dropped.
pub const TYPING_INTERVAL: Duration = Duration::seconds(2);
/// API Gateway ends every WebSocket connection after 2 hours.
pub const CONNECTION_MAX_AGE: Duration = Duration::hours(2);
/// A connection's items outlive the connection's longest life, so a lost
/// `$disconnect` leaves nothing behind once the TTL passes; reads skip what expired.
pub const CONNECTION_TTL: Duration = Duration::minutes(130);
/// API Gateway's idle timeout: a connection without traffic for this long ends.
pub const IDLE_TIMEOUT: Duration = Duration::minutes(10);
/// Live connections one principal may hold (several devices and tabs); a new one
/// beyond it ends the oldest.
pub const MAX_CONNECTIONS: usize = 10;
/// Tickets one principal may ask for in any 60 seconds (each is a write; a client
/// reconnecting with backoff needs a handful).
pub const TICKETS_PER_MINUTE: u32 = 30;
/// API Gateway refuses a frame larger than this, either way.
pub const MAX_FRAME_BYTES: usize = 128 * 1024;

/// How young a connection may be and still not be forgotten when a post to it
/// answers Gone: on AWS a connection is not established until its `$connect`
/// answers, and a push in that window is refused. Its TTL, or a later Gone,
/// cleans it up if it never opens.
pub const GONE_GRACE: Duration = Duration::seconds(30);

/// What a client may ask on its connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// "I am typing in this chat."
    Typing { chat_id: ChatId },
    /// "Are you there?" (answered `Pong`; keeps the connection from going idle).
    Ping,
}

/// Who receives pushes: members and operators (an admin may connect, and is
/// answered `pong`, but no chat event names one).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Recipient {
    Member(MemberId),
    Operator(OperatorId),
}

impl Recipient {
    pub fn principal(&self) -> Principal {
        match self {
            Recipient::Member(id) => Principal::member(id.as_str()),
            Recipient::Operator(id) => Principal::operator(id.as_str()),
        }
    }

    /// The key a principal's connections are kept under (`Principal::scope`).
    pub fn scope(&self) -> String {
        self.principal().scope()
    }
}

/// What a client is told. A member's frames carry member views only.
#[derive(Clone, Debug, PartialEq)]
pub enum Push {
    /// A message in one of the recipient's chats, from either side.
    Message {
        chat_id: ChatId,
        message: MessageView,
    },
    /// A chat is now the operator's.
    ChatAssigned {
        chat_id: ChatId,
    },
    ChatClosed {
        chat_id: ChatId,
        reason: CloseReason,
    },
    /// The other side is typing; `from` is `member` or `character`, never an operator.
    Typing {
        chat_id: ChatId,
        from: Sender,
    },
    /// The member's balance after a charge or a credit.
    Balance {
        balance: Credits,
    },
    /// The answer to a client's `ping`.
    Pong,
}

/// One push to one principal's connections.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub to: Recipient,
    pub push: Push,
}

impl Delivery {
    /// A new message in `chat`: to the member (every device, the sender's own
    /// included) and to the operator holding the chat, if any.
    pub fn message(chat: &Chat, message: &MessageView) -> Vec<Delivery> {
        let push = Push::Message { chat_id: chat.id.clone(), message: message.clone() };
        Self::both_sides(chat, push)
    }

    /// `chat` (as it was before closing) closed for `reason`: to its member and to
    /// the operator who held it.
    pub fn closed(chat: &Chat, reason: CloseReason) -> Vec<Delivery> {
        Self::both_sides(chat, Push::ChatClosed { chat_id: chat.id.clone(), reason })
    }

    /// `chat_id` claimed by `operator`: to that operator only (a member never
    /// learns who writes a character).
    pub fn assigned(chat_id: &ChatId, operator: &OperatorId) -> Delivery {
        Delivery { to: Recipient::Operator(operator.clone()), push: Push::ChatAssigned { chat_id: chat_id.clone() } }
    }

    /// The member's balance changed (a charge, a credit, a refund).
    pub fn balance(member: &MemberId, balance: Credits) -> Delivery {
        Delivery { to: Recipient::Member(member.clone()), push: Push::Balance { balance } }
    }

    fn both_sides(chat: &Chat, push: Push) -> Vec<Delivery> {
        let mut out = vec![Delivery { to: Recipient::Member(chat.member_id.clone()), push: push.clone() }];
        if let Some(op) = &chat.operator_id {
            out.push(Delivery { to: Recipient::Operator(op.clone()), push });
        }
        out
    }
}

/// Who is told that `sender` is typing in `chat`: the member's typing goes to the
/// operator holding the chat; the holding operator's goes to the member, as the
/// character's. Anyone else (a stranger, an operator not holding the chat, an
/// admin), or a closed chat, tells nobody.
pub fn typing_delivery(chat: &Chat, sender: &Principal) -> Option<Delivery> {
    if chat.status == super::ChatStatus::Closed {
        return None;
    }
    let chat_id = chat.id.clone();
    match sender.kind {
        PrincipalKind::Member if chat.member_id.as_str() == sender.id => {
            let op = chat.operator_id.clone()?;
            Some(Delivery { to: Recipient::Operator(op), push: Push::Typing { chat_id, from: Sender::Member } })
        }
        PrincipalKind::Operator if chat.operator_id.as_ref().is_some_and(|o| o.as_str() == sender.id) => {
            Some(Delivery {
                to: Recipient::Member(chat.member_id.clone()),
                push: Push::Typing { chat_id, from: Sender::Character },
            })
        }
        _ => None,
    }
}

/// A live connection as a principal's connection list keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub id: String,
    /// The session (refresh-token family) the ticket was issued in: a logout
    /// ends this session's connections only.
    pub session: Option<String>,
    pub connected_at: DateTime<Utc>,
}

impl Connection {
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.connected_at + CONNECTION_TTL
    }

    pub fn live_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at() > now
    }

    /// Whether a Gone answer means the connection is gone for good (`GONE_GRACE`).
    pub fn gone_for_good(&self, now: DateTime<Utc>) -> bool {
        now - self.connected_at > GONE_GRACE
    }
}

/// Which of a principal's connections a change ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending<'a> {
    /// A logout: that session's connections only.
    Session(&'a str),
    /// A password change keeps the caller's session (`Some`); a ban, a deletion, a
    /// deactivation or a suspension keeps none.
    AllBut(Option<&'a str>),
}

impl Ending<'_> {
    pub fn ends(&self, c: &Connection) -> bool {
        match self {
            Ending::Session(s) => c.session.as_deref() == Some(*s),
            Ending::AllBut(kept) => kept.is_none() || c.session.as_deref() != *kept,
        }
    }
}

/// A principal's connection list with `new` added: expired entries dropped, and
/// the oldest live ones ended while more than `MAX_CONNECTIONS` would remain.
/// Returns the list to keep and the live connections to end.
pub fn admit_connection(
    current: BTreeMap<String, Connection>,
    new: Connection,
    now: DateTime<Utc>,
) -> (BTreeMap<String, Connection>, Vec<Connection>) {
    let mut live: Vec<Connection> = current.into_values().filter(|c| c.live_at(now) && c.id != new.id).collect();
    live.sort_by(|a, b| a.connected_at.cmp(&b.connected_at).then_with(|| a.id.cmp(&b.id)));
    let over = (live.len() + 1).saturating_sub(MAX_CONNECTIONS);
    let evicted: Vec<Connection> = live.drain(..over).collect();
    let mut kept: BTreeMap<String, Connection> = live.into_iter().map(|c| (c.id.clone(), c)).collect();
    kept.insert(new.id.clone(), new);
    (kept, evicted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::CharacterId;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("in range")
    }

    fn conn(id: &str, secs: i64) -> Connection {
        Connection { id: id.into(), session: None, connected_at: at(secs) }
    }

    fn chat(operator: Option<&str>) -> Chat {
        let mut c = Chat::new(MemberId::new("mem_a"), CharacterId::new("chr_b"), at(0));
        c.operator_id = operator.map(OperatorId::new);
        c
    }

    #[test]
    fn a_new_connection_ends_the_oldest_beyond_the_limit_and_drops_expired_ones() {
        let mut current = BTreeMap::new();
        current.insert("gone".to_string(), conn("gone", -CONNECTION_TTL.num_seconds() - 1));
        for i in 0..MAX_CONNECTIONS as i64 {
            current.insert(format!("c{i}"), conn(&format!("c{i}"), i));
        }
        let (kept, evicted) = admit_connection(current, conn("new", 100), at(100));
        assert_eq!(kept.len(), MAX_CONNECTIONS);
        assert!(kept.contains_key("new"));
        assert!(!kept.contains_key("gone"), "an expired entry is dropped, not ended");
        assert_eq!(evicted.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), vec!["c0"]);
    }

    #[test]
    fn a_logout_ends_its_session_a_password_change_all_others_a_ban_all() {
        let mut mine = conn("a", 0);
        mine.session = Some("s1".into());
        let mut other = conn("b", 0);
        other.session = Some("s2".into());
        let legacy = conn("c", 0);
        assert!(Ending::Session("s1").ends(&mine) && !Ending::Session("s1").ends(&other));
        assert!(!Ending::Session("s1").ends(&legacy), "no session: not this one");
        let change = Ending::AllBut(Some("s1"));
        assert!(!change.ends(&mine) && change.ends(&other) && change.ends(&legacy));
        assert!([&mine, &other, &legacy].iter().all(|c| Ending::AllBut(None).ends(c)));
    }

    #[test]
    fn a_connection_outlives_api_gateways_limit_and_a_young_one_survives_gone() {
        assert!(CONNECTION_TTL > CONNECTION_MAX_AGE, "the items outlive the longest connection");
        let c = conn("a", 0);
        assert!(!c.gone_for_good(at(10)), "still inside its $connect, perhaps");
        assert!(c.gone_for_good(at(31)));
    }

    #[test]
    fn under_the_limit_nothing_is_ended() {
        let mut current = BTreeMap::new();
        current.insert("a".to_string(), conn("a", 0));
        let (kept, evicted) = admit_connection(current, conn("b", 1), at(1));
        assert_eq!(kept.keys().map(String::as_str).collect::<Vec<_>>(), vec!["a", "b"]);
        assert!(evicted.is_empty());
    }

    #[test]
    fn typing_goes_to_the_other_side_only() {
        let member = Principal::member("mem_a");
        let holder = Principal::operator("op_1");
        let other = Principal::operator("op_2");
        let held = chat(Some("op_1"));
        let to_op = typing_delivery(&held, &member).expect("the holder is told");
        assert_eq!(to_op.to, Recipient::Operator(OperatorId::new("op_1")));
        assert!(matches!(to_op.push, Push::Typing { from: Sender::Member, .. }));
        let to_member = typing_delivery(&held, &holder).expect("the member is told");
        assert_eq!(to_member.to, Recipient::Member(MemberId::new("mem_a")));
        assert!(matches!(to_member.push, Push::Typing { from: Sender::Character, .. }));
        assert_eq!(typing_delivery(&held, &other), None, "an operator not holding the chat");
        assert_eq!(typing_delivery(&held, &Principal::member("mem_x")), None, "a stranger");
        assert_eq!(typing_delivery(&chat(None), &member), None, "nobody holds it");
        let mut closed = held.clone();
        closed.status = crate::domain::ChatStatus::Closed;
        assert_eq!(typing_delivery(&closed, &member), None);
    }

    #[test]
    fn a_message_reaches_both_sides_and_an_assignment_only_the_operator() {
        let c = chat(Some("op_1"));
        let msg = MessageView {
            id: "m1".into(),
            chat_id: c.id.clone(),
            sender: Sender::Member,
            content: "hi".into(),
            cost: Credits::ZERO,
            free: true,
            created_at: at(0),
            edited: false,
        };
        let to: Vec<_> = Delivery::message(&c, &msg).into_iter().map(|d| d.to).collect();
        assert_eq!(to, vec![Recipient::Member(c.member_id.clone()), Recipient::Operator(OperatorId::new("op_1"))]);
        assert_eq!(Delivery::message(&chat(None), &msg).len(), 1);
        assert_eq!(
            Delivery::assigned(&c.id, &OperatorId::new("op_1")).to,
            Recipient::Operator(OperatorId::new("op_1"))
        );
    }
}
