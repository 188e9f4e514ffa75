//! Background jobs: work a cause leaves behind when it touches more items than one
//! transaction or one request may (a member's deletion or ban, an operator's
//! suspension; later a character's removal). The cause commits its own change with
//! the job in one transaction; a scheduled runner does the rest, idempotently,
//! resuming from the job's cursor after a crash.

use chrono::Duration;

use super::entities::CloseReason;
use super::ids::{CharacterId, MemberId, OperatorId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Job {
    /// Close every open chat of a member for `reason` (a ban, from the back office).
    CloseMemberChats { member_id: MemberId, reason: CloseReason },
    /// A deleted member: close each chat (`member_deleted`) and erase what is
    /// readable of them (their messages, copies of their texts, notes about them,
    /// notifications, favorites), end pending checkouts, strip payments of the email.
    EraseMember { member_id: MemberId },
    /// A suspended operator: every chat they held when suspended goes back to the
    /// queue at the top (a suspension the request could not finish, or a crash).
    RequeueOperatorChats { operator_id: OperatorId },
    /// A removed character: close each of its open chats (`profile_deleted`; the
    /// members are told, and the chats never reopen).
    CloseCharacterChats { character_id: CharacterId },
}

impl Job {
    pub fn kind(&self) -> &'static str {
        match self {
            Job::CloseMemberChats { .. } => "close_member_chats",
            Job::EraseMember { .. } => "erase_member",
            Job::RequeueOperatorChats { .. } => "requeue_operator_chats",
            Job::CloseCharacterChats { .. } => "close_character_chats",
        }
    }

    /// Whose items the job works on: a member's, an operator's or a character's id.
    pub fn subject(&self) -> &str {
        match self {
            Job::CloseMemberChats { member_id, .. } | Job::EraseMember { member_id } => member_id,
            Job::RequeueOperatorChats { operator_id } => operator_id,
            Job::CloseCharacterChats { character_id } => character_id,
        }
    }

    pub fn reason(&self) -> Option<CloseReason> {
        match self {
            Job::CloseMemberChats { reason, .. } => Some(*reason),
            Job::CloseCharacterChats { .. } => Some(CloseReason::ProfileDeleted),
            Job::EraseMember { .. } | Job::RequeueOperatorChats { .. } => None,
        }
    }

    /// The job as stored: kind, subject and reason.
    pub fn parse(kind: &str, subject: &str, reason: Option<&str>) -> Option<Job> {
        let member_id = MemberId::new(subject);
        match kind {
            "close_member_chats" => Some(Job::CloseMemberChats { member_id, reason: CloseReason::parse(reason?)? }),
            "erase_member" => Some(Job::EraseMember { member_id }),
            "requeue_operator_chats" => Some(Job::RequeueOperatorChats { operator_id: OperatorId::new(subject) }),
            "close_character_chats" => Some(Job::CloseCharacterChats { character_id: CharacterId::new(subject) }),
            _ => None,
        }
    }
}

/// How long a runner holds a job before another may take it over: a runner that
/// crashed is replaced by the next scheduled run (every minute) after this.
pub const LEASE: Duration = Duration::seconds(30);

/// A job finishes only with a pass that started this long after the job was
/// written: indexes are eventually consistent, so an item written just before
/// the cause may not be listed by a pass that starts at once.
pub const INDEX_SETTLE: Duration = Duration::seconds(5);

/// Text that replaces each message of a deleted member.
pub const ERASED_MESSAGE: &str = "[Message from deleted user]";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_through_their_stored_form() {
        for job in [
            Job::CloseMemberChats { member_id: MemberId::new("m_1"), reason: CloseReason::MemberBanned },
            Job::EraseMember { member_id: MemberId::new("m_2") },
            Job::RequeueOperatorChats { operator_id: OperatorId::new("op_1") },
            Job::CloseCharacterChats { character_id: CharacterId::new("c_1") },
        ] {
            let reason = job.reason().map(CloseReason::as_str);
            assert_eq!(Job::parse(job.kind(), job.subject(), reason), Some(job.clone()));
        }
        assert_eq!(Job::parse("close_member_chats", "m_1", None), None, "a close needs its reason");
        assert_eq!(Job::parse("unknown", "m_1", None), None);
    }
}
