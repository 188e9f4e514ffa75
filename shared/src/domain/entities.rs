//! The platform's records as the code sees them, and the member-facing views of them.
//! A view holds only what a member may see: staff fields cannot leak through it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{CharacterId, ChatId, MemberId, OperatorId};
use super::money::Credits;
use super::pricing::FREE_MESSAGES_PER_CHAT;
use super::tier::Tier;

macro_rules! string_enum {
    ($name:ident { $($variant:ident => $s:literal),+ $(,)? }) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $s)] $variant),+ }
        impl $name {
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => $s),+ } }
            pub fn parse(s: &str) -> Option<Self> { match s { $($s => Some($name::$variant),)+ _ => None } }
        }
    };
}

string_enum!(Gender { Male => "male", Female => "female", Other => "other" });
string_enum!(LookingFor { Male => "male", Female => "female", Both => "both" });
string_enum!(MemberStatus { Active => "active", Banned => "banned", Deleted => "deleted" });
string_enum!(CharacterStatus { Active => "active", Draft => "draft", Deleted => "deleted" });
string_enum!(ChatStatus { Active => "active", Escalated => "escalated", Closed => "closed" });
string_enum!(CloseReason {
    InactivityTimeout => "inactivity_timeout",
    ProfileDeleted => "profile_deleted",
    MemberDeleted => "member_deleted",
    MemberBanned => "member_banned",
    Admin => "admin",
});

impl CloseReason {
    /// What the member is told when a chat closes for this reason (title, text);
    /// `None` when there is nobody to tell (the member's own account is gone or banned).
    pub fn member_notice(self) -> Option<(&'static str, &'static str)> {
        match self {
            CloseReason::InactivityTimeout => {
                Some(("Chat closed", "This chat was closed after 24 hours without messages. Write again to reopen it."))
            }
            CloseReason::ProfileDeleted => {
                Some(("Chat closed", "This chat has been closed as the profile is no longer available"))
            }
            CloseReason::Admin => Some(("Chat closed", "This chat was closed by our team. Write again to reopen it.")),
            CloseReason::MemberDeleted | CloseReason::MemberBanned => None,
        }
    }
}
/// A chat without a message for this long is closed (`inactivity_timeout`).
/// The title an operator's console shows for a notification kind.
pub fn operator_notification_title(kind: &str) -> &'static str {
    match kind {
        "idle_warning" => "A member is waiting for your reply",
        "suspended" => "Your account is suspended",
        "reactivated" => "Your account is active again",
        _ => "Notice",
    }
}

pub const INACTIVE_CLOSE_AFTER: chrono::Duration = chrono::Duration::hours(24);

string_enum!(Sender { Member => "member", Character => "character" });

#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub id: MemberId,
    pub username: String,
    pub password_hash: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub age: u8,
    pub gender: Gender,
    pub looking_for: LookingFor,
    pub location: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub bio: Option<String>,
    pub language: Option<String>,
    pub balance: Credits,
    pub tier: Tier,
    pub messages_sent: u64,
    pub credits_spent: Credits,
    pub kes_paid_cents: i64,
    /// Loyalty rewards spent (see `pricing::quote`); changes only with `messages_sent`.
    pub loyalty_used: u64,
    pub status: MemberStatus,
    pub created_at: DateTime<Utc>,
}

/// `user` in API.md.
#[derive(Clone, Debug, Serialize)]
pub struct MemberView {
    pub id: MemberId,
    pub username: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub age: u8,
    pub gender: Gender,
    pub looking_for: LookingFor,
    pub location: String,
    pub bio: Option<String>,
    pub language: Option<String>,
    pub credits: Credits,
    pub tier: Tier,
    pub created_at: DateTime<Utc>,
}

impl From<&Member> for MemberView {
    fn from(m: &Member) -> Self {
        MemberView {
            id: m.id.clone(),
            username: m.username.clone(),
            display_name: m.display_name.clone(),
            email: m.email.clone(),
            age: m.age,
            gender: m.gender,
            looking_for: m.looking_for,
            location: m.location.clone(),
            bio: m.bio.clone(),
            language: m.language.clone(),
            credits: m.balance,
            tier: m.tier,
            created_at: m.created_at,
        }
    }
}

/// A character profile, including the staff-only fields operators write with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Character {
    pub id: CharacterId,
    pub name: String,
    pub age: u8,
    pub gender: Gender,
    pub location: String,
    pub bio: String,
    pub photos: Vec<String>,
    pub interests: Vec<String>,
    pub occupation: Option<String>,
    pub language: Option<String>,
    /// Staff only: the languages its operators may write in.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Featured (pricing's featured factor), until `featured_until` if set.
    pub is_featured: bool,
    #[serde(default)]
    pub featured_until: Option<DateTime<Utc>>,
    /// Only an active character is public; a draft is being written, a deleted
    /// one is gone from members (its chats closed) but kept for the history.
    #[serde(default = "active")]
    pub status: CharacterStatus,
    pub popularity: i64,
    /// Staff only: flirty | romantic | friendly | intellectual | playful.
    pub response_style: Option<String>,
    /// Staff only.
    pub personality_guidelines: Option<String>,
    /// Staff only.
    pub response_templates: Vec<String>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub deleted_at: Option<DateTime<Utc>>,
}

fn active() -> CharacterStatus {
    CharacterStatus::Active
}

impl Character {
    /// Members see it, open chats with it and write to it.
    pub fn is_public(&self) -> bool {
        self.status == CharacterStatus::Active
    }

    /// Whether the featured factor prices a message at `now`: featured, and the
    /// end date (if any) not reached.
    pub fn featured_at(&self, now: DateTime<Utc>) -> bool {
        self.is_featured && self.featured_until.is_none_or(|until| now < until)
    }
}

/// The member view of a character: `"kind": "character"` and nothing staff-only.
#[derive(Clone, Debug, Serialize)]
pub struct CharacterView {
    pub id: CharacterId,
    pub kind: &'static str,
    pub name: String,
    pub age: u8,
    pub gender: Gender,
    pub location: String,
    pub bio: String,
    pub photos: Vec<String>,
    pub interests: Vec<String>,
    pub occupation: Option<String>,
    pub language: Option<String>,
    pub is_featured: bool,
}

impl CharacterView {
    /// What a member sees of `c` at `now` (featured only until its end date).
    pub fn at(c: &Character, now: DateTime<Utc>) -> Self {
        CharacterView {
            id: c.id.clone(),
            kind: "character",
            name: c.name.clone(),
            age: c.age,
            gender: c.gender,
            location: c.location.clone(),
            bio: c.bio.clone(),
            photos: c.photos.clone(),
            interests: c.interests.clone(),
            occupation: c.occupation.clone(),
            language: c.language.clone(),
            is_featured: c.featured_at(now),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Chat {
    pub id: ChatId,
    pub member_id: MemberId,
    pub character_id: CharacterId,
    pub status: ChatStatus,
    pub close_reason: Option<CloseReason>,
    /// Member messages in this chat (drives the free allowance).
    pub member_messages: u32,
    /// All messages, both sides.
    pub message_count: u32,
    pub paid_messages: u32,
    /// Credits the member's messages in this chat cost (staff only).
    pub credits_spent: Credits,
    pub created_at: DateTime<Utc>,
    pub last_message_at: Option<DateTime<Utc>>,
    /// When the chat was escalated, while it is (staff only).
    pub escalated_at: Option<DateTime<Utc>>,
    /// The operator holding the chat now, if any (staff only).
    pub operator_id: Option<OperatorId>,
    pub last_operator_id: Option<OperatorId>,
    /// Returns to the queue that the operator did not end by answering.
    pub reassign_count: u32,
    /// The oldest member message no operator has answered yet.
    pub awaiting_reply_since: Option<DateTime<Utc>>,
    pub last_member_message_at: Option<DateTime<Utc>>,
    pub last_operator_reply_at: Option<DateTime<Utc>>,
    pub idle_warned: bool,
    /// Operators this chat must not go back to (idle reassignments).
    pub excluded_operators: Vec<OperatorId>,
    /// Sort key of the open assignment record (staff only).
    pub assignment_sk: Option<String>,
    /// When the current (or last) operator claimed the chat.
    pub assigned_at: Option<DateTime<Utc>>,
    /// Priority inputs of the queue entry the last claim consumed (member spend,
    /// character style and languages), written back if the chat is requeued.
    pub prio_spent: Credits,
    pub prio_style: Option<String>,
    pub prio_languages: Vec<String>,
    /// The member's rating of the chat, and the operator it was credited to.
    pub rating: Option<u8>,
    pub rated_operator: Option<OperatorId>,
}

impl Chat {
    /// A new, empty, active chat.
    /// A new, empty, active chat: its id is the pair's (`ids::chat_id`).
    pub fn new(member_id: MemberId, character_id: CharacterId, now: DateTime<Utc>) -> Chat {
        Chat {
            id: super::ids::chat_id(&member_id, &character_id),
            member_id,
            character_id,
            status: ChatStatus::Active,
            close_reason: None,
            member_messages: 0,
            message_count: 0,
            paid_messages: 0,
            credits_spent: Credits::ZERO,
            created_at: now,
            last_message_at: None,
            escalated_at: None,
            operator_id: None,
            last_operator_id: None,
            reassign_count: 0,
            awaiting_reply_since: None,
            last_member_message_at: None,
            last_operator_reply_at: None,
            idle_warned: false,
            excluded_operators: Vec::new(),
            assignment_sk: None,
            assigned_at: None,
            prio_spent: Credits::ZERO,
            prio_style: None,
            prio_languages: Vec::new(),
            rating: None,
            rated_operator: None,
        }
    }

    /// The operator a rating of the chat now belongs to: the one holding it, else
    /// the last one who did.
    pub fn rateable_operator(&self) -> Option<&OperatorId> {
        self.operator_id.as_ref().or(self.last_operator_id.as_ref())
    }

    /// When the chat last saw a message (or was created): what auto-close reads.
    pub fn last_activity(&self) -> DateTime<Utc> {
        self.last_message_at.unwrap_or(self.created_at)
    }

    /// The last activity before which a chat is closed for inactivity at `now`.
    pub fn inactivity_cutoff(now: DateTime<Utc>) -> DateTime<Utc> {
        now - INACTIVE_CLOSE_AFTER
    }

    /// No message for `INACTIVE_CLOSE_AFTER`: auto-close closes it (inactivity_timeout).
    pub fn is_inactive(&self, now: DateTime<Utc>) -> bool {
        self.last_activity() < Chat::inactivity_cutoff(now)
    }

    /// Since when the holder owes the member an answer: the oldest unanswered member
    /// message, or the claim if that came later. An operator who picks up a chat that
    /// waited in the queue gets the full idle allowance, and is not charged the
    /// queue's wait as response time.
    pub fn unanswered_since(&self) -> Option<DateTime<Utc>> {
        let since = self.awaiting_reply_since?;
        Some(self.assigned_at.map_or(since, |claimed| since.max(claimed)))
    }
}

/// What a member message does to the chat's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Open,
    /// Closed: the member writing again reopens it (free messages do not reset).
    Reopen,
}

impl Chat {
    /// Whether a member message is accepted. A closed chat reopens on the member's
    /// next message unless its character was removed (API.md "Member"); a member
    /// who is deleted or banned cannot send at all, which the caller checks first.
    pub fn admit_member_message(&self, character_available: bool) -> Option<Admission> {
        if !character_available {
            return None;
        }
        match (self.status, self.close_reason) {
            (ChatStatus::Active | ChatStatus::Escalated, _) => Some(Admission::Open),
            (ChatStatus::Closed, Some(CloseReason::ProfileDeleted)) => None,
            (ChatStatus::Closed, _) => Some(Admission::Reopen),
        }
    }

    pub fn free_messages_left(&self) -> u32 {
        FREE_MESSAGES_PER_CHAT.saturating_sub(self.member_messages)
    }
}

/// `chat` in API.md: members never see `escalated` or assignment state.
#[derive(Clone, Debug, Serialize)]
pub struct ChatView {
    pub id: ChatId,
    pub profile_id: CharacterId,
    pub status: &'static str,
    pub free_messages_left: u32,
    pub message_count: u32,
    pub created_at: DateTime<Utc>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub close_reason: Option<CloseReason>,
}

impl From<&Chat> for ChatView {
    fn from(c: &Chat) -> Self {
        ChatView {
            id: c.id.clone(),
            profile_id: c.character_id.clone(),
            status: match c.status {
                ChatStatus::Closed => "closed",
                ChatStatus::Active | ChatStatus::Escalated => "active",
            },
            free_messages_left: c.free_messages_left(),
            message_count: c.message_count,
            created_at: c.created_at,
            last_message_at: c.last_message_at,
            close_reason: c.close_reason,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub id: String,
    pub chat_id: ChatId,
    pub sender: Sender,
    pub content: String,
    pub cost: Credits,
    pub free: bool,
    pub created_at: DateTime<Utc>,
    pub edited: bool,
    /// The operator who wrote a character reply (staff only).
    pub handled_by: Option<String>,
}

impl Message {
    /// The chat's next message (position `chat.message_count + 1`) from the member,
    /// at the price quoted for it.
    pub fn from_member(chat: &Chat, content: String, cost: Credits, free: bool, at: DateTime<Utc>) -> Message {
        Message::next(chat, Sender::Member, content, cost, free, None, at)
    }

    /// The chat's next message, written by `operator_id` as the character: never
    /// charged, and who wrote it is kept for staff.
    pub fn from_character(chat: &Chat, content: String, operator_id: &str, at: DateTime<Utc>) -> Message {
        Message::next(chat, Sender::Character, content, Credits::ZERO, true, Some(operator_id.to_string()), at)
    }

    fn next(
        chat: &Chat,
        sender: Sender,
        content: String,
        cost: Credits,
        free: bool,
        handled_by: Option<String>,
        at: DateTime<Utc>,
    ) -> Message {
        Message {
            id: super::ids::message_id(chat.message_count + 1),
            chat_id: chat.id.clone(),
            sender,
            content,
            cost,
            free,
            created_at: at,
            edited: false,
            handled_by,
        }
    }
}

/// `message` in API.md.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageView {
    pub id: String,
    pub chat_id: ChatId,
    pub sender: Sender,
    pub content: String,
    pub cost: Credits,
    pub free: bool,
    pub created_at: DateTime<Utc>,
    pub edited: bool,
}

impl From<&Message> for MessageView {
    fn from(m: &Message) -> Self {
        MessageView {
            id: m.id.clone(),
            chat_id: m.chat_id.clone(),
            sender: m.sender,
            content: m.content.clone(),
            cost: m.cost,
            free: m.free,
            created_at: m.created_at,
            edited: m.edited,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreditPackage {
    pub id: String,
    pub name: String,
    pub credits: i64,
    pub bonus_credits: i64,
    /// KES cents.
    pub price: i64,
    pub currency: String,
    pub badge: Option<String>,
    pub sort: i64,
    pub is_active: bool,
}

/// A member of the chat team. Staff only: nothing here reaches a member.
#[derive(Clone, Debug, PartialEq)]
pub struct Operator {
    pub id: OperatorId,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub languages: Vec<String>,
    /// Response styles this operator writes best.
    pub specializations: Vec<String>,
    pub max_concurrent_chats: u32,
    /// Working hours in Nairobi time, [start, end) hours; `None` is any time.
    pub working_hours: Option<(u8, u8)>,
    pub created_at: DateTime<Utc>,
    pub is_available: bool,
    pub is_suspended: bool,
    pub suspended_until: Option<DateTime<Utc>>,
    /// Why the operator is suspended (an admin's reason, or the quality review's).
    pub suspension_reason: Option<String>,
    /// Soft deletion: the item stays for the performance history; the account is gone.
    pub deleted_at: Option<DateTime<Utc>>,
    pub active_chats: u32,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    pub replies: u32,
    pub total_response_secs: i64,
    pub rating_sum: u32,
    pub rating_count: u32,
    pub idle_incidents: u32,
    pub reassignments: u32,
}

impl Operator {
    /// A new account: offline, no chats, no history.
    pub fn new_account(id: OperatorId, email: String, name: String, password_hash: String, now: DateTime<Utc>) -> Self {
        Operator {
            id,
            email,
            name,
            password_hash,
            languages: vec!["en".into()],
            specializations: Vec::new(),
            max_concurrent_chats: 5,
            working_hours: None,
            created_at: now,
            is_available: false,
            is_suspended: false,
            suspended_until: None,
            suspension_reason: None,
            deleted_at: None,
            active_chats: 0,
            last_heartbeat_at: None,
            replies: 0,
            total_response_secs: 0,
            rating_sum: 0,
            rating_count: 0,
            idle_incidents: 0,
            reassignments: 0,
        }
    }

    pub fn avg_response_secs(&self) -> f64 {
        if self.replies == 0 {
            super::assignment::UNMEASURED_RESPONSE_SECS
        } else {
            self.total_response_secs as f64 / f64::from(self.replies)
        }
    }

    pub fn rating(&self) -> f64 {
        super::assignment::average_rating(self.rating_sum, self.rating_count)
    }

    pub fn is_present(&self, now: DateTime<Utc>) -> bool {
        super::assignment::is_present(self.last_heartbeat_at, now)
    }

    /// The operator as the available-operators listing holds them, with the
    /// response time rounded as the listing stores it.
    pub fn online(&self) -> super::assignment::OnlineOperator {
        super::assignment::OnlineOperator {
            id: self.id.clone(),
            is_suspended: self.is_suspended,
            active_chats: self.active_chats,
            max_concurrent_chats: self.max_concurrent_chats,
            languages: self.languages.clone(),
            specializations: self.specializations.clone(),
            working_hours: self.working_hours,
            last_heartbeat_at: self.last_heartbeat_at,
            response_secs: self.listed_response_secs(),
            rating_sum: self.rating_sum,
            rating_count: self.rating_count,
        }
    }

    /// The response time the listing carries: whole seconds, so the listing is
    /// rewritten only when the figure moves by a second, not on every reply.
    pub fn listed_response_secs(&self) -> u32 {
        self.avg_response_secs().round().clamp(0.0, f64::from(u32::MAX)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_is_inactive_after_a_day_without_messages() {
        let now = Utc::now();
        let mut c = chat(ChatStatus::Active, None);
        c.last_message_at = Some(now - chrono::Duration::hours(23));
        assert!(!c.is_inactive(now));
        c.last_message_at = Some(now - chrono::Duration::hours(24) - chrono::Duration::seconds(1));
        assert!(c.is_inactive(now));
        c.last_message_at = None;
        c.created_at = now - chrono::Duration::hours(25);
        assert!(c.is_inactive(now), "a chat never written to counts from its creation");
    }

    #[test]
    fn a_new_message_takes_the_chats_next_position() {
        let at = Utc::now();
        let c = chat(ChatStatus::Active, None);
        let m = Message::from_member(&c, "hi".into(), Credits::whole(2), false, at);
        assert_eq!(super::super::ids::message_seq(&m.id), Some(3));
        assert_eq!(
            (m.sender, m.cost, m.free, m.handled_by.as_deref()),
            (Sender::Member, Credits::whole(2), false, None)
        );
        let r = Message::from_character(&c, "hello".into(), "op_1", at);
        assert_eq!(super::super::ids::message_seq(&r.id), Some(3));
        assert_eq!((r.sender, r.cost, r.free), (Sender::Character, Credits::ZERO, true));
        assert_eq!(r.handled_by.as_deref(), Some("op_1"));
        assert_eq!((r.chat_id.as_str(), r.created_at, r.edited), ("ch_m_1~c_1", at, false));
    }

    fn chat(status: ChatStatus, reason: Option<CloseReason>) -> Chat {
        Chat {
            status,
            close_reason: reason,
            member_messages: 1,
            message_count: 2,
            operator_id: Some(OperatorId::new("op")),
            ..Chat::new(MemberId::new("m_1"), CharacterId::new("c_1"), Utc::now())
        }
    }

    #[test]
    fn the_answer_is_owed_from_the_later_of_message_and_claim() {
        let base = Utc::now();
        let t = |m: i64| base + chrono::Duration::minutes(m);
        let mut c = chat(ChatStatus::Active, None);
        assert_eq!(c.unanswered_since(), None, "nothing unanswered");
        c.awaiting_reply_since = Some(t(0));
        c.assigned_at = None;
        assert_eq!(c.unanswered_since(), Some(t(0)));
        c.assigned_at = Some(t(-3));
        assert_eq!(c.unanswered_since(), Some(t(0)), "claimed before the message: from the message");
        c.assigned_at = Some(t(7));
        assert_eq!(c.unanswered_since(), Some(t(7)), "waited in the queue: from the claim");
    }

    #[test]
    fn closed_chats_reopen_unless_their_character_was_removed() {
        assert_eq!(chat(ChatStatus::Active, None).admit_member_message(true), Some(Admission::Open));
        assert_eq!(chat(ChatStatus::Escalated, None).admit_member_message(true), Some(Admission::Open));
        for r in [CloseReason::InactivityTimeout, CloseReason::Admin, CloseReason::MemberBanned] {
            assert_eq!(chat(ChatStatus::Closed, Some(r)).admit_member_message(true), Some(Admission::Reopen), "{r:?}");
        }
        assert_eq!(chat(ChatStatus::Closed, Some(CloseReason::ProfileDeleted)).admit_member_message(true), None);
        assert_eq!(chat(ChatStatus::Active, None).admit_member_message(false), None, "character gone");
    }

    #[test]
    fn members_see_escalated_as_active_and_no_operator() {
        let v = serde_json::to_value(ChatView::from(&chat(ChatStatus::Escalated, None))).unwrap();
        assert_eq!(v["status"], "active");
        assert_eq!(v["free_messages_left"], 2);
        assert!(v.get("operator_id").is_none());
    }
}
