//! Bans, ban circumvention and reports: the rules of the back office's people side
//! that need no I/O.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::ids::{ChatId, MemberId, OperatorId};

/// How long a member's device and IP sightings are kept (activity items' TTL), and
/// how long a banned member's IPs flag new accounts.
pub const ACTIVITY_TTL: Duration = Duration::days(90);

/// The longest `X-Device-Id` taken; a longer or non-ASCII one is ignored as absent.
pub const MAX_DEVICE_ID: usize = 200;

/// The device id a client sent, if it is one we can use (1-200 visible ASCII).
pub fn device_id(header: Option<&str>) -> Option<&str> {
    let v = header?.trim();
    let usable = !v.is_empty() && v.len() <= MAX_DEVICE_ID && v.bytes().all(|c| c.is_ascii_graphic());
    usable.then_some(v)
}

/// A device id as stored: hashed, so a ban keeps it after the account is erased
/// without keeping what the client sent.
pub fn device_hash(device_id: &str) -> String {
    hex::encode(Sha256::digest(format!("fantooo-device:{device_id}").as_bytes()))
}

/// Where a member was seen from: what registration and login leave behind.
#[derive(Clone, Debug, Default)]
pub struct Sighting {
    pub ip: Option<String>,
    /// Hashed (`device_hash`).
    pub device: Option<String>,
}

impl Sighting {
    pub fn new(ip: &str, device_header: Option<&str>) -> Sighting {
        let ip = (!ip.is_empty() && ip != "unknown" && ip.len() <= 64).then(|| ip.to_string());
        Sighting { ip, device: device_id(device_header).map(device_hash) }
    }
}

/// A member's ban, kept on its own item: it outlives the account (hashed devices).
#[derive(Clone, Debug, Serialize)]
pub struct BanRecord {
    pub reason: String,
    pub banned_by: String,
    pub banned_at: DateTime<Utc>,
    /// Registrations and logins refused because they carried a banned device.
    pub circumvention_attempts: u32,
    /// How many hashed devices the ban refuses (the hashes stay staff-internal).
    pub devices: usize,
    pub lifted_at: Option<DateTime<Utc>>,
    pub lifted_by: Option<String>,
}

/// A staff member's reason (a ban, a suspension) as given: trimmed, 1-500 characters.
pub fn staff_reason(s: &str) -> Result<String, String> {
    super::validation::text(s, 1, super::validation::max::STAFF_REASON)
}

/// The admin notification a login or registration from a banned member's IP raises.
pub fn shared_ip_text(new_member: &MemberId, banned: &MemberId) -> String {
    format!("Member {new_member} signed in from an IP address a banned member ({banned}) used. IPs are shared: review before acting.")
}

/// The admin notification a refused banned device raises.
pub fn banned_device_text(banned: &MemberId, attempts: u32) -> String {
    format!("A registration or login carried a device of banned member {banned} and was refused ({attempts} attempts so far).")
}

macro_rules! words {
    ($name:ident { $($variant:ident => $s:literal),+ $(,)? }) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
        pub enum $name { $(#[serde(rename = $s)] $variant),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => $s),+ } }
            pub fn parse(s: &str) -> Option<Self> { match s { $($s => Some($name::$variant),)+ _ => None } }
            pub fn expected() -> String {
                let all: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                format!("must be one of {}", all.join(", "))
            }
        }
    };
}

words!(ReportReason {
    Harassment => "harassment",
    Threats => "threats",
    Spam => "spam",
    Underage => "underage",
    OffPlatformContact => "off_platform_contact",
    SelfHarm => "self_harm",
    Other => "other",
});

words!(ReportAction { None => "none", Warned => "warned", Banned => "banned" });

words!(ReportStatus { Open => "open", Resolved => "resolved" });

/// An operator's report of a member's behaviour in a chat, for moderators.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub id: String,
    pub chat_id: ChatId,
    pub member_id: MemberId,
    pub operator_id: OperatorId,
    pub reason: ReportReason,
    pub details: Option<String>,
    pub status: ReportStatus,
    pub created_at: DateTime<Utc>,
    pub resolution: Option<Resolution>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Resolution {
    pub action: ReportAction,
    pub note: Option<String>,
    pub resolved_by: String,
    pub resolved_at: DateTime<Utc>,
}

words!(EditorType { Admin => "admin", Operator => "operator" });

/// One edit of a message, as its history keeps it (invariant 7: written in the
/// edit's own transaction, with the editor).
#[derive(Clone, Debug, Serialize)]
pub struct MessageEdit {
    pub original_content: String,
    pub new_content: String,
    /// The editor's admin or operator id.
    pub edited_by: String,
    pub editor_type: EditorType,
    pub reason: String,
    pub edited_at: DateTime<Utc>,
}

/// What the member is told when a moderator warns them (title, text).
pub const WARNING_NOTICE: (&str, &str) = (
    "A warning from our team",
    "A message of yours in a chat broke our community rules. Please keep chats respectful; repeated breaches lead to a ban.",
);

/// The admin notification of a new report.
pub fn report_text(report: &Report) -> String {
    format!(
        "Operator {} reported member {} in chat {}: {}",
        report.operator_id,
        report.member_id,
        report.chat_id,
        report.reason.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_usable_device_id_is_taken_and_it_is_stored_hashed() {
        assert_eq!(device_id(Some("  dev-1 ")), Some("dev-1"));
        assert_eq!(device_id(Some("")), None);
        assert_eq!(device_id(Some("has space")), None);
        assert_eq!(device_id(Some(&"x".repeat(MAX_DEVICE_ID + 1))), None);
        assert_eq!(device_id(None), None);
        let h = device_hash("dev-1");
        assert_eq!(h.len(), 64);
        assert_ne!(h, device_hash("dev-2"));
        assert!(!h.contains("dev-1"));
    }

    #[test]
    fn a_sighting_drops_an_unknown_ip_and_hashes_the_device() {
        let s = Sighting::new("unknown", Some("d"));
        assert_eq!(s.ip, None);
        assert_eq!(s.device, Some(device_hash("d")));
        assert_eq!(Sighting::new("10.0.0.1", None).ip.as_deref(), Some("10.0.0.1"));
    }

    #[test]
    fn report_words_parse_what_they_print() {
        for r in ReportReason::ALL {
            assert_eq!(ReportReason::parse(r.as_str()), Some(*r));
        }
        assert_eq!(ReportAction::parse("banned"), Some(ReportAction::Banned));
        assert_eq!(ReportAction::parse("kicked"), None);
        assert!(ReportAction::expected().contains("none, warned, banned"));
    }

    #[test]
    fn a_ban_needs_a_reason() {
        assert!(staff_reason("  ").is_err());
        assert!(staff_reason(&"r".repeat(super::super::validation::max::STAFF_REASON + 1)).is_err());
        assert_eq!(staff_reason(" spam ").as_deref(), Ok("spam"));
    }
}
