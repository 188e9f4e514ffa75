//! Routing chats to operators: priority bands with aging, operator scoring with
//! documented weights, and greedy matching with a deterministic tie-break.
//! Pure: the assigner claims each proposed pair with a conditional transaction.

use chrono::{DateTime, Duration, Timelike, Utc};
use chrono_tz::Africa::Nairobi;

use super::ids::{CharacterId, ChatId, MemberId, OperatorId};
use super::money::Credits;

/// Priority bands, highest first (ARCHITECTURE.md "Chats and assignments").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Band {
    Urgent = 0,
    High = 1,
    Normal = 2,
    Low = 3,
}

impl Band {
    pub const ALL: [Band; 4] = [Band::Urgent, Band::High, Band::Normal, Band::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            Band::Urgent => "urgent",
            Band::High => "high",
            Band::Normal => "normal",
            Band::Low => "low",
        }
    }
}

/// A chat waiting for an operator, as its queue entry records it.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueEntry {
    pub chat_id: ChatId,
    pub member_id: MemberId,
    pub character_id: CharacterId,
    pub waiting_since: DateTime<Utc>,
    pub member_credits_spent: Credits,
    pub paid: bool,
    pub reassign_count: u32,
    pub preferred_operator: Option<OperatorId>,
    pub excluded: Vec<OperatorId>,
    pub boosted: bool,
    pub response_style: Option<String>,
    pub languages: Vec<String>,
}

impl QueueEntry {
    /// The entry as the ranking sees it: skills as bits.
    pub fn waiting(&self) -> Waiting {
        Waiting {
            chat_id: self.chat_id.clone(),
            member_id: self.member_id.clone(),
            member_spent: self.member_credits_spent,
            waiting_since: self.waiting_since,
            reassign_count: self.reassign_count,
            paid: self.paid,
            boosted: self.boosted,
            preferred_operator: self.preferred_operator.clone(),
            excluded: self.excluded.clone(),
            style: self.response_style.as_deref().map_or(0, Skills::style),
            languages: Skills::languages(self.languages.iter().map(String::as_str)),
        }
    }
}

/// What a queue entry knows about its chat when it is ranked.
#[derive(Clone, Debug, PartialEq)]
pub struct Waiting {
    pub chat_id: ChatId,
    pub member_id: MemberId,
    /// Lifetime credits the member spent on messages.
    pub member_spent: Credits,
    pub waiting_since: DateTime<Utc>,
    pub reassign_count: u32,
    /// A paid message has been sent in this chat.
    pub paid: bool,
    /// Requeued after a suspension: at least high.
    pub boosted: bool,
    /// The chat's last operator (history with this member and character).
    pub preferred_operator: Option<OperatorId>,
    /// Operators this chat must not go back to (idle reassignment).
    pub excluded: Vec<OperatorId>,
    /// The character's response style, as a bit (see `Skills`).
    pub style: u32,
    /// Member and character languages, as bits.
    pub languages: u32,
}

/// First match wins: urgent (spent > 10,000 credits, or waiting > 5 min); high
/// (> 1,000 credits, > 3 min, or reassigned); normal (a paid message here, or
/// > 1 min); low (the rest).
pub fn band(w: &Waiting, now: DateTime<Utc>) -> Band {
    let waited = now - w.waiting_since;
    if w.member_spent > Credits::whole(10_000) || waited > Duration::minutes(5) {
        Band::Urgent
    } else if w.member_spent > Credits::whole(1_000)
        || waited > Duration::minutes(3)
        || w.reassign_count > 0
        || w.boosted
    {
        Band::High
    } else if w.paid || waited > Duration::minutes(1) {
        Band::Normal
    } else {
        Band::Low
    }
}

/// Order of service: band first, then the longest wait (aging), then chat id so
/// equal inputs always give the same order.
pub fn rank(waiting: &mut [Waiting], now: DateTime<Utc>) {
    waiting
        .sort_by(|a, b| (band(a, now), a.waiting_since, &a.chat_id).cmp(&(band(b, now), b.waiting_since, &b.chat_id)));
}

/// An operator as the matcher sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub id: OperatorId,
    pub active_chats: u32,
    pub max_chats: u32,
    /// Response styles the operator writes best, as bits.
    pub specializations: u32,
    /// Languages, as bits.
    pub languages: u32,
    /// Average seconds to first reply (lower is better).
    pub avg_response_secs: f64,
    /// Average member rating 1-5 (0 when unrated).
    pub rating: f64,
    /// Inside the operator's working hours now.
    pub on_shift: bool,
}

/// The weights of every score factor, in one place (docs/assignment.md).
pub mod weights {
    pub const SPECIALIZATION: f64 = 30.0;
    pub const LANGUAGE: f64 = 20.0;
    pub const HISTORY: f64 = 25.0;
    pub const WORKLOAD: f64 = 15.0;
    pub const RESPONSE_TIME: f64 = 5.0;
    pub const RATING: f64 = 5.0;
    pub const ON_SHIFT: f64 = 10.0;
    /// Response time at which the response score reaches zero.
    pub const SLOW_RESPONSE_SECS: f64 = 300.0;
}

/// The part of an operator's score that does not depend on the chat.
fn base_score(c: &Candidate) -> f64 {
    use weights::*;
    let response = (1.0 - c.avg_response_secs / SLOW_RESPONSE_SECS).clamp(0.0, 1.0);
    let rating = if c.rating > 0.0 { (c.rating - 1.0) / 4.0 } else { 0.5 };
    RESPONSE_TIME * response + RATING * rating + if c.on_shift { ON_SHIFT } else { 0.0 }
}

/// Score of giving `w` to `c` with `active` chats already held. Higher is better.
pub fn score(w: &Waiting, c: &Candidate, active: u32, base: f64) -> f64 {
    use weights::*;
    let mut s = base;
    if w.style & c.specializations != 0 {
        s += SPECIALIZATION;
    }
    if w.languages & c.languages != 0 {
        s += LANGUAGE;
    }
    if w.preferred_operator.as_deref() == Some(c.id.as_str()) {
        s += HISTORY;
    }
    let max = c.max_chats.max(1) as f64;
    s + WORKLOAD * (1.0 - f64::from(active) / max)
}

/// Inside working hours `[start, end)` in Nairobi time; a shift may wrap past
/// midnight (20 -> 4). `None` is any time.
pub fn on_shift(working_hours: Option<(u8, u8)>, now: DateTime<Utc>) -> bool {
    match working_hours {
        None => true,
        Some((start, end)) => {
            let h = now.with_timezone(&Nairobi).hour() as u8;
            if start <= end {
                (start..end).contains(&h)
            } else {
                h >= start || h < end
            }
        }
    }
}

/// Seen within this many seconds of now: only such operators get new chats.
pub const PRESENCE_WINDOW_SECS: i64 = 60;

/// The response time of an operator who has not replied yet.
pub const UNMEASURED_RESPONSE_SECS: f64 = 60.0;

/// Seen within [`PRESENCE_WINDOW_SECS`] of `now`. Symmetric, so a heartbeat
/// stamped by a pinned clock never counts at another time.
pub fn is_present(last_heartbeat_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_heartbeat_at.is_some_and(|t| (now - t).num_seconds().abs() <= PRESENCE_WINDOW_SECS)
}

/// Average member rating 1-5; 0 when unrated.
pub fn average_rating(sum: u32, count: u32) -> f64 {
    if count == 0 {
        0.0
    } else {
        f64::from(sum) / f64::from(count)
    }
}

/// An online operator as the available-operators listing holds them: only what
/// routing reads, so replies and their counters never rewrite the listing.
#[derive(Clone, Debug, PartialEq)]
pub struct OnlineOperator {
    pub id: OperatorId,
    pub is_suspended: bool,
    pub active_chats: u32,
    pub max_concurrent_chats: u32,
    pub languages: Vec<String>,
    pub specializations: Vec<String>,
    pub working_hours: Option<(u8, u8)>,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    /// Average seconds to first reply, whole seconds, as of the last heartbeat.
    pub response_secs: u32,
    pub rating_sum: u32,
    pub rating_count: u32,
}

impl OnlineOperator {
    pub fn is_present(&self, now: DateTime<Utc>) -> bool {
        is_present(self.last_heartbeat_at, now)
    }

    /// May take a new chat now: not suspended, present, and below their maximum.
    pub fn can_take_chat(&self, now: DateTime<Utc>) -> bool {
        !self.is_suspended && self.is_present(now) && self.active_chats < self.max_concurrent_chats
    }
}

impl Candidate {
    /// An operator as the matcher sees them at `now`.
    pub fn of(op: &OnlineOperator, now: DateTime<Utc>) -> Candidate {
        Candidate {
            id: op.id.clone(),
            active_chats: op.active_chats,
            max_chats: op.max_concurrent_chats,
            specializations: Skills::styles(op.specializations.iter().map(String::as_str)),
            languages: Skills::languages(op.languages.iter().map(String::as_str)),
            avg_response_secs: f64::from(op.response_secs),
            rating: average_rating(op.rating_sum, op.rating_count),
            on_shift: on_shift(op.working_hours, now),
        }
    }
}

/// A proposed assignment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    pub chat_id: ChatId,
    pub operator_id: OperatorId,
}

/// Greedy matching: chats in rank order, each to the best-scoring operator with
/// room (ties: fewer active chats, then operator id). Chats with no operator left
/// stay waiting.
pub fn match_chats(waiting: &[Waiting], operators: &[Candidate]) -> Vec<Proposal> {
    let bases: Vec<f64> = operators.iter().map(base_score).collect();
    let mut active: Vec<u32> = operators.iter().map(|c| c.active_chats).collect();
    let mut room: usize = operators.iter().map(|c| c.max_chats.saturating_sub(c.active_chats) as usize).sum();
    let mut out = Vec::new();
    for w in waiting {
        if room == 0 {
            break;
        }
        let mut best: Option<(usize, f64)> = None;
        for (i, c) in operators.iter().enumerate() {
            if active[i] >= c.max_chats || w.excluded.iter().any(|e| c.id == e.as_str()) {
                continue;
            }
            let s = score(w, c, active[i], bases[i]);
            let better = match best {
                None => true,
                Some((j, bs)) => s > bs || (s == bs && (active[i], &c.id) < (active[j], &operators[j].id)),
            };
            if better {
                best = Some((i, s));
            }
        }
        if let Some((i, _)) = best {
            active[i] += 1;
            room -= 1;
            out.push(Proposal { chat_id: w.chat_id.clone(), operator_id: operators[i].id.clone() });
        }
    }
    out
}

/// Most chats one operator may hold at once (an admin's setting).
pub const MAX_CONCURRENT_CHATS: u32 = 20;

/// An operator's capacity as an admin sets it: 1 to `MAX_CONCURRENT_CHATS`.
pub fn operator_capacity(n: u32) -> Result<u32, String> {
    if (1..=MAX_CONCURRENT_CHATS).contains(&n) {
        Ok(n)
    } else {
        Err(format!("must be from 1 to {MAX_CONCURRENT_CHATS}"))
    }
}

/// The response styles an operator can specialise in (and a character can have).
pub const STYLES: [&str; 5] = ["flirty", "romantic", "friendly", "intellectual", "playful"];

/// An operator's languages and specializations as an operator or an admin sets
/// them: 1-10 language tags (`en`, `sw`, `pt-BR`: letters, subtags after `-`), at
/// most 5 known styles; duplicates dropped, order kept. `Err` names the field.
pub fn operator_skills(
    languages: Option<&[String]>,
    specializations: Option<&[String]>,
) -> Result<SkillsChange, (&'static str, String)> {
    fn dedup(list: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for v in list {
            if !out.contains(v) {
                out.push(v.clone());
            }
        }
        out
    }
    let languages = match languages {
        None => None,
        Some(list) => {
            let tag_ok = |t: &str| {
                let mut parts = t.split('-');
                let primary = parts.next().unwrap_or("");
                (2..=3).contains(&primary.len())
                    && primary.bytes().all(|b| b.is_ascii_lowercase())
                    && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
            };
            if list.is_empty() || list.len() > 10 {
                return Err(("languages", "must name 1 to 10 languages".into()));
            }
            if let Some(bad) = list.iter().find(|t| t.len() > 35 || !tag_ok(t)) {
                return Err(("languages", format!("{bad:?} is not a language tag such as en, sw or pt-BR")));
            }
            Some(dedup(list))
        }
    };
    let specializations = match specializations {
        None => None,
        Some(list) => {
            if let Some(bad) = list.iter().find(|s| !STYLES.contains(&s.as_str())) {
                return Err(("specializations", format!("{bad:?} is not one of {}", STYLES.join(", "))));
            }
            Some(dedup(list))
        }
    };
    Ok(SkillsChange { languages, specializations })
}

/// What an operator's skills become; `None` leaves that list as it is.
#[derive(Debug, PartialEq, Eq)]
pub struct SkillsChange {
    pub languages: Option<Vec<String>>,
    pub specializations: Option<Vec<String>>,
}

/// Bits for response styles and languages, so scoring is a mask test.
pub struct Skills;

impl Skills {
    pub fn style(s: &str) -> u32 {
        match s {
            "flirty" => 1,
            "romantic" => 2,
            "friendly" => 4,
            "intellectual" => 8,
            "playful" => 16,
            _ => 0,
        }
    }

    pub fn styles<'a>(list: impl IntoIterator<Item = &'a str>) -> u32 {
        list.into_iter().fold(0, |m, s| m | Self::style(s))
    }

    /// A language tag's primary subtag as a bit (32 common ones; others share bit 31).
    pub fn language(tag: &str) -> u32 {
        const KNOWN: [&str; 31] = [
            "en", "sw", "fr", "ar", "es", "pt", "de", "it", "zh", "hi", "am", "so", "yo", "ha", "ig", "zu", "xh", "lg",
            "rw", "ki", "luo", "kam", "om", "ti", "ru", "tr", "nl", "pl", "ja", "ko", "id",
        ];
        let primary = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
        KNOWN.iter().position(|k| *k == primary).map_or(1 << 31, |i| 1 << i)
    }

    pub fn languages<'a>(list: impl IntoIterator<Item = &'a str>) -> u32 {
        list.into_iter().fold(0, |m, l| m | Self::language(l))
    }
}

/// Operator quality, 0-100: response time (up to -30 at 5 min average), rating (up
/// to -30 at 1 star), idle incidents (-5 each, up to -30), reassignments (-2 each,
/// up to -10). Below the threshold (default 60) the operator is suspended.
pub fn quality_score(op: &super::entities::Operator) -> f64 {
    let response = (op.avg_response_secs() / weights::SLOW_RESPONSE_SECS).min(1.0) * 30.0;
    let rating = if op.rating_count > 0 { (5.0 - op.rating()) / 4.0 * 30.0 } else { 0.0 };
    let idle = (f64::from(op.idle_incidents) * 5.0).min(30.0);
    let reassigned = (f64::from(op.reassignments) * 2.0).min(10.0);
    (100.0 - response - rating - idle - reassigned).clamp(0.0, 100.0)
}

/// The default quality threshold (`system_settings` may set another, 0-100).
pub const QUALITY_THRESHOLD: f64 = 60.0;
/// Points above the threshold within which the operator's console warns them.
pub const SUSPENSION_WARNING_MARGIN: f64 = 10.0;

/// Whether a quality score is close enough to suspension (below `threshold`) to
/// warn the operator.
pub fn near_suspension(score: f64, threshold: i64) -> bool {
    score < threshold as f64 + SUSPENSION_WARNING_MARGIN
}

/// Whether a quality score suspends the operator.
pub fn below_quality_threshold(score: f64, threshold: i64) -> bool {
    score < threshold as f64
}
pub const SUSPENSION_DAYS: i64 = 7;
/// The longest suspension an admin may set; reactivation ends any earlier.
pub const MAX_SUSPENSION_DAYS: i64 = 90;

/// An admin's suspension length: 1-90 days, 7 (the quality review's) by default.
pub fn suspension_days(days: Option<i64>) -> Result<i64, String> {
    match days {
        None => Ok(SUSPENSION_DAYS),
        Some(d) if (1..=MAX_SUSPENSION_DAYS).contains(&d) => Ok(d),
        Some(_) => Err(format!("must be a whole number of days from 1 to {MAX_SUSPENSION_DAYS}")),
    }
}

/// The business day (Nairobi) an instant falls on: how staff figures are grouped.
pub fn business_day(at: DateTime<Utc>) -> chrono::NaiveDate {
    at.with_timezone(&Nairobi).date_naive()
}

/// `GET /operator/stats?days=`: how many days by default, and at most.
pub const STATS_DAYS: i64 = 14;
pub const MAX_STATS_DAYS: i64 = 90;

pub fn stats_days(days: Option<i64>) -> Result<i64, String> {
    match days {
        None => Ok(STATS_DAYS),
        Some(d) if (1..=MAX_STATS_DAYS).contains(&d) => Ok(d),
        Some(_) => Err(format!("must be a whole number from 1 to {MAX_STATS_DAYS}")),
    }
}

/// An operator's reply counters as they stood at the start of a business day
/// (written by the day's first heartbeat or going online).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DaySnapshot {
    pub date: chrono::NaiveDate,
    pub replies: u32,
    pub total_response_secs: i64,
}

/// One day of an operator's figures.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DayFigures {
    pub date: chrono::NaiveDate,
    pub messages: u32,
    /// `null` on a day without replies.
    pub avg_response_s: Option<f64>,
}

/// Each of the `days` business days up to `today`, oldest first: the replies
/// between a day's snapshot and the next one (or the counters now, for the last).
/// Replies need the operator online, and being online writes the day's snapshot,
/// so a day without one had no replies.
pub fn daily_figures(
    snapshots: &[DaySnapshot],
    now: (u32, i64),
    today: chrono::NaiveDate,
    days: i64,
) -> Vec<DayFigures> {
    let mut sorted = snapshots.to_vec();
    sorted.sort_by_key(|s| s.date);
    (0..days)
        .rev()
        .map(|back| today - Duration::days(back))
        .map(|date| {
            let start = sorted.iter().position(|s| s.date == date);
            let (messages, secs) = match start {
                None => (0, 0),
                Some(i) => {
                    let (replies, total) = sorted.get(i + 1).map(|n| (n.replies, n.total_response_secs)).unwrap_or(now);
                    (replies.saturating_sub(sorted[i].replies), (total - sorted[i].total_response_secs).max(0))
                }
            };
            let avg = (messages > 0).then(|| ((secs as f64 / f64::from(messages)) * 10.0).round() / 10.0);
            DayFigures { date, messages, avg_response_s: avg }
        })
        .collect()
}

/// The quality review's reason for a suspension it decides.
pub fn quality_suspension_reason(score: f64, threshold: i64) -> String {
    format!("quality score {score:.0} fell below {threshold}")
}

fn suspension_end(until: DateTime<Utc>) -> impl std::fmt::Display {
    until.format("%Y-%m-%d %H:%M UTC")
}

/// What a suspended operator is told.
pub fn suspension_notice(until: DateTime<Utc>, reason: &str) -> String {
    format!("You are suspended until {} ({reason}). Your chats went back to the queue.", suspension_end(until))
}

/// What admins are told of a suspension.
pub fn suspension_admin_notice(operator_id: &OperatorId, until: DateTime<Utc>, reason: &str) -> String {
    format!("Operator {operator_id} suspended until {}: {reason}", suspension_end(until))
}

/// Counted returns to the queue a chat may have (ARCHITECTURE.md invariant 5): a
/// chat reassigned this many times is escalated instead of a further time.
pub const MAX_REASSIGNMENTS: u32 = 3;

/// Whether `returns` counted returns to the queue are more than a chat may have.
/// Release asks it of the return it is about to make; the assignment pass and the
/// escalate job ask it of a queue entry, whatever path wrote the entry.
pub fn over_reassignment_limit(returns: u32) -> bool {
    returns > MAX_REASSIGNMENTS
}

/// What a counted return (idle timeout, release, suspension) does to a chat that
/// was reassigned `so_far` times before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Return {
    Requeue {
        reassign_count: u32,
    },
    /// The chat keeps its count: this return did not happen as a reassignment.
    Escalate {
        reassign_count: u32,
    },
}

pub fn counted_return(so_far: u32) -> Return {
    let returns = so_far.saturating_add(1);
    if over_reassignment_limit(returns) {
        Return::Escalate { reassign_count: so_far }
    } else {
        Return::Requeue { reassign_count: returns }
    }
}

/// The idle warning the operator and the admins read.
pub fn idle_warning_text(operator_id: &str, chat_id: &str, after: Duration) -> String {
    let minutes = after.num_minutes();
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    format!("Operator {operator_id} has not answered chat {chat_id} for {minutes} {unit}")
}

/// The admins' note on an escalated chat.
pub fn escalation_text(chat_id: &str, reassign_count: u32) -> String {
    format!("Chat {chat_id} escalated after {reassign_count} reassignments")
}

/// An escalation still unresolved this long after it was raised raises one
/// more high-priority notice.
pub const ESCALATION_REMINDER: Duration = Duration::minutes(15);

pub fn escalation_reminder_text(chat_id: &str, escalated_at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (now - escalated_at).num_minutes();
    format!("Chat {chat_id} is still escalated after {minutes} minutes: reassign or close it")
}

/// The assignment timers as stored (minutes); `None` where nothing is set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AssignmentSettings {
    pub idle_warning_minutes: Option<i64>,
    pub idle_reassign_minutes: Option<i64>,
    pub assignment_hold_minutes: Option<i64>,
}

/// Idle and hold thresholds (settings; defaults from the product spec).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    pub idle_warning: Duration,
    pub idle_reassign: Duration,
    pub assignment_hold: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            idle_warning: Duration::minutes(4),
            idle_reassign: Duration::minutes(5),
            assignment_hold: Duration::minutes(10),
        }
    }
}

impl Timers {
    /// The stored settings over the defaults. A set that makes no sense (not
    /// positive, over a day, or a warning not before the reassignment) is ignored
    /// as a whole: the defaults are safe, a typo is not.
    pub fn from_settings(s: &AssignmentSettings) -> Timers {
        Timers::checked(s).unwrap_or_default()
    }

    /// The stored settings over the defaults, if the set makes sense.
    pub fn checked(s: &AssignmentSettings) -> Option<Timers> {
        let d = Timers::default();
        let pick = |v: Option<i64>, default: Duration| v.map_or(default, Duration::minutes);
        let t = Timers {
            idle_warning: pick(s.idle_warning_minutes, d.idle_warning),
            idle_reassign: pick(s.idle_reassign_minutes, d.idle_reassign),
            assignment_hold: pick(s.assignment_hold_minutes, d.assignment_hold),
        };
        let sane = |x: Duration| x > Duration::zero() && x <= Duration::days(1);
        let ok = sane(t.idle_warning) && sane(t.idle_reassign) && sane(t.assignment_hold);
        (ok && t.idle_warning < t.idle_reassign).then_some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn operator() -> super::super::Operator {
        let id = OperatorId::new("op_1");
        super::super::Operator::new_account(id, "a@b.c".into(), "A".into(), "!".into(), now())
    }

    #[test]
    fn presence_is_sixty_seconds_either_side_of_now() {
        for (offset, present) in [(0, true), (60, true), (-60, true), (61, false), (-61, false)] {
            assert_eq!(is_present(Some(now() + Duration::seconds(offset)), now()), present, "{offset} s");
        }
        assert!(!is_present(None, now()), "never seen is absent");
    }

    #[test]
    fn an_online_operator_takes_a_chat_only_present_unsuspended_and_below_their_maximum() {
        let mut op = operator();
        op.last_heartbeat_at = Some(now());
        op.max_concurrent_chats = 2;
        op.active_chats = 1;
        assert!(op.online().can_take_chat(now()));
        op.active_chats = 2;
        assert!(!op.online().can_take_chat(now()), "full");
        op.active_chats = 0;
        op.is_suspended = true;
        assert!(!op.online().can_take_chat(now()), "suspended");
        op.is_suspended = false;
        assert!(!op.online().can_take_chat(now() + Duration::seconds(61)), "not seen for a minute");
    }

    #[test]
    fn the_listing_rounds_response_time_to_whole_seconds_and_the_matcher_reads_it() {
        let mut op = operator();
        assert_eq!(op.listed_response_secs(), 60, "unmeasured");
        (op.replies, op.total_response_secs) = (4, 10);
        assert_eq!(op.listed_response_secs(), 3, "2.5 rounds up");
        (op.replies, op.total_response_secs) = (3, 10);
        assert_eq!(op.listed_response_secs(), 3);
        (op.rating_sum, op.rating_count) = (9, 2);
        let c = Candidate::of(&op.online(), now());
        assert_eq!((c.avg_response_secs, c.rating), (3.0, 4.5));
        assert_eq!(average_rating(0, 0), 0.0, "unrated");
    }

    fn waiting(id: &str, spent: i64, waited_secs: i64) -> Waiting {
        Waiting {
            chat_id: ChatId::new(id),
            member_id: MemberId::new(format!("m_{id}")),
            member_spent: Credits::whole(spent),
            waiting_since: now() - Duration::seconds(waited_secs),
            reassign_count: 0,
            paid: false,
            boosted: false,
            preferred_operator: None,
            excluded: vec![],
            style: Skills::style("romantic"),
            languages: Skills::language("en"),
        }
    }

    #[test]
    fn a_queue_entry_ranks_with_its_skills_as_bits() {
        let entry = QueueEntry {
            chat_id: ChatId::new("ch_1"),
            member_id: MemberId::new("m_1"),
            character_id: CharacterId::new("c_1"),
            waiting_since: now(),
            member_credits_spent: Credits::whole(12),
            paid: true,
            reassign_count: 2,
            preferred_operator: Some(OperatorId::new("op_a")),
            excluded: vec![OperatorId::new("op_b")],
            boosted: true,
            response_style: Some("romantic".into()),
            languages: vec!["en".into(), "sw".into()],
        };
        let w = entry.waiting();
        assert_eq!((w.chat_id.as_str(), w.member_id.as_str()), ("ch_1", "m_1"));
        assert_eq!((w.member_spent, w.reassign_count, w.paid, w.boosted), (Credits::whole(12), 2, true, true));
        assert_eq!(w.style, Skills::style("romantic"));
        assert_eq!(w.languages, Skills::language("en") | Skills::language("sw"));
        assert_eq!((&w.preferred_operator, &w.excluded), (&entry.preferred_operator, &entry.excluded));
        let plain = QueueEntry { response_style: None, languages: vec![], ..entry }.waiting();
        assert_eq!((plain.style, plain.languages), (0, 0));
    }

    fn op(id: &str, active: u32, max: u32) -> Candidate {
        Candidate {
            id: OperatorId::new(id),
            active_chats: active,
            max_chats: max,
            specializations: 0,
            languages: Skills::language("en"),
            avg_response_secs: 60.0,
            rating: 4.0,
            on_shift: true,
        }
    }

    #[test]
    fn bands_follow_the_first_matching_rule() {
        assert_eq!(band(&waiting("a", 10_001, 0), now()), Band::Urgent);
        assert_eq!(band(&waiting("a", 10_000, 0), now()), Band::High, "more than 10,000, not equal");
        assert_eq!(band(&waiting("a", 0, 301), now()), Band::Urgent);
        assert_eq!(band(&waiting("a", 0, 300), now()), Band::High, "exactly 5 min is not more than 5");
        assert_eq!(band(&waiting("a", 1_001, 0), now()), Band::High);
        assert_eq!(band(&waiting("a", 0, 181), now()), Band::High);
        assert_eq!(band(&Waiting { reassign_count: 1, ..waiting("a", 0, 0) }, now()), Band::High);
        assert_eq!(band(&Waiting { paid: true, ..waiting("a", 0, 0) }, now()), Band::Normal);
        assert_eq!(band(&waiting("a", 0, 61), now()), Band::Normal);
        assert_eq!(band(&waiting("a", 0, 60), now()), Band::Low);
    }

    #[test]
    fn ranking_is_band_then_longest_wait_then_id() {
        let mut w =
            vec![waiting("low-new", 0, 5), waiting("low-old", 0, 50), waiting("vip", 20_000, 1), waiting("b", 0, 50)];
        rank(&mut w, now());
        let ids: Vec<&str> = w.iter().map(|x| x.chat_id.as_str()).collect();
        assert_eq!(ids, vec!["vip", "b", "low-old", "low-new"]);
    }

    #[test]
    fn aging_lifts_a_low_chat_above_newer_normal_ones_so_nothing_starves() {
        let old_low = waiting("old", 0, 200);
        let fresh_paid = Waiting { paid: true, ..waiting("paid", 0, 0) };
        let mut w = vec![fresh_paid, old_low];
        rank(&mut w, now());
        assert_eq!(w[0].chat_id, "old", "after 3 min a free chat is high");
    }

    #[test]
    fn matching_respects_capacity_and_exclusions_and_prefers_skill_and_history() {
        let mut a = op("a", 0, 1);
        a.specializations = Skills::style("romantic");
        let b = op("b", 0, 2);
        let w = vec![
            waiting("1", 0, 100),
            Waiting { preferred_operator: Some(OperatorId::new("b")), ..waiting("2", 0, 90) },
            Waiting { excluded: vec![OperatorId::new("b")], ..waiting("3", 0, 80) },
            waiting("4", 0, 70),
        ];
        let p = match_chats(&w, &[a, b]);
        let pairs: Vec<(&str, &str)> = p.iter().map(|x| (x.chat_id.as_str(), x.operator_id.as_str())).collect();
        assert_eq!(pairs, vec![("1", "a"), ("2", "b"), ("4", "b")], "3 is excluded from b and a is full");
    }

    #[test]
    fn equal_scores_break_ties_by_load_then_id() {
        let p = match_chats(&[waiting("1", 0, 10), waiting("2", 0, 5)], &[op("z", 0, 5), op("y", 0, 5)]);
        assert_eq!(p[0].operator_id, "y");
        assert_eq!(p[1].operator_id, "z", "the second chat goes to the less loaded operator");
    }

    #[test]
    fn quality_falls_with_idle_incidents_and_low_ratings() {
        let mut o = super::super::entities::Operator::new_account(
            OperatorId::new("o"),
            "o@x".into(),
            "O".into(),
            String::new(),
            now(),
        );
        o.replies = 10;
        o.total_response_secs = 300;
        let fresh = quality_score(&o);
        assert!(fresh > 90.0, "{fresh}");
        o.idle_incidents = 4;
        o.rating_sum = 12;
        o.rating_count = 6;
        let poor = quality_score(&o);
        assert!(poor < QUALITY_THRESHOLD, "{poor}");
    }

    #[test]
    fn a_shift_from_20_to_4_covers_the_night_in_nairobi_and_not_the_day() {
        // now() is 12:00 UTC, 15:00 in Nairobi (UTC+3).
        let at = |eat_hour: i64| now() + Duration::hours(eat_hour - 15);
        let night = Some((20, 4));
        assert!(on_shift(night, at(20)), "starts at 20:00");
        assert!(on_shift(night, at(23)));
        assert!(on_shift(night, at(24)), "midnight");
        assert!(on_shift(night, at(27)), "03:00");
        assert!(!on_shift(night, at(28)), "ends at 04:00");
        assert!(!on_shift(night, at(15)));
        assert!(!on_shift(night, at(19)));
        assert!(on_shift(Some((8, 17)), at(15)) && !on_shift(Some((8, 17)), at(17)));
        assert!(on_shift(None, at(3)), "no working hours: any time");
    }

    #[test]
    fn a_chat_reassigned_three_times_is_escalated_instead_of_a_fourth_time() {
        assert_eq!(counted_return(0), Return::Requeue { reassign_count: 1 });
        assert_eq!(counted_return(2), Return::Requeue { reassign_count: 3 });
        assert_eq!(counted_return(3), Return::Escalate { reassign_count: 3 });
        assert!(!over_reassignment_limit(3), "an entry of the third reassignment waits for its operator");
        assert!(over_reassignment_limit(4));
    }

    #[test]
    fn the_idle_warning_says_the_threshold_in_force() {
        let t = idle_warning_text("op_1", "ch_1", Duration::minutes(2));
        assert_eq!(t, "Operator op_1 has not answered chat ch_1 for 2 minutes");
        assert!(idle_warning_text("o", "c", Duration::minutes(1)).ends_with("for 1 minute"));
    }

    #[test]
    fn language_bits() {
        assert_eq!(Skills::language("sw-KE"), Skills::language("sw"));
        assert_ne!(Skills::language("en"), Skills::language("sw"));
        assert_eq!(Skills::languages(["en", "sw"]) & Skills::language("sw"), Skills::language("sw"));
    }

    fn settings(w: Option<i64>, r: Option<i64>, h: Option<i64>) -> AssignmentSettings {
        AssignmentSettings { idle_warning_minutes: w, idle_reassign_minutes: r, assignment_hold_minutes: h }
    }

    fn minutes(t: Timers) -> (i64, i64, i64) {
        (t.idle_warning.num_minutes(), t.idle_reassign.num_minutes(), t.assignment_hold.num_minutes())
    }

    #[test]
    fn nothing_stored_means_the_spec_defaults() {
        assert_eq!(minutes(Timers::from_settings(&settings(None, None, None))), (4, 5, 10));
    }

    #[test]
    fn stored_values_override_field_by_field() {
        assert_eq!(minutes(Timers::from_settings(&settings(Some(2), Some(3), None))), (2, 3, 10));
        assert_eq!(minutes(Timers::from_settings(&settings(None, Some(8), Some(15)))), (4, 8, 15));
    }

    #[test]
    fn a_set_that_makes_no_sense_falls_back_whole_to_the_defaults() {
        for bad in [
            settings(Some(5), Some(5), None),       // warning not before reassignment
            settings(Some(6), None, None),          // warning after the default reassignment
            settings(Some(0), Some(3), None),       // not positive
            settings(None, None, Some(-1)),         // not positive
            settings(None, Some(2000), Some(2000)), // over a day
        ] {
            assert_eq!(minutes(Timers::from_settings(&bad)), (4, 5, 10), "{bad:?}");
        }
    }

    #[test]
    fn operator_skills_take_language_tags_and_known_styles() {
        let langs = vec!["en".to_string(), "pt-BR".into(), "en".into()];
        let styles = vec!["flirty".to_string(), "playful".into()];
        let change = operator_skills(Some(&langs), Some(&styles)).unwrap();
        assert_eq!(change.languages, Some(vec!["en".to_string(), "pt-BR".into()]));
        assert_eq!(change.specializations, Some(styles.clone()));
        assert_eq!(operator_skills(Some(&[]), None).unwrap_err().0, "languages");
        assert_eq!(operator_skills(Some(&["English".to_string()]), None).unwrap_err().0, "languages");
        assert_eq!(operator_skills(None, Some(&["spicy".to_string()])).unwrap_err().0, "specializations");
        assert_eq!(
            operator_skills(None, Some(&[])).unwrap(),
            SkillsChange { languages: None, specializations: Some(vec![]) }
        );
    }

    #[test]
    fn an_admin_suspension_lasts_one_to_ninety_days_seven_by_default() {
        assert_eq!(suspension_days(None), Ok(SUSPENSION_DAYS));
        assert_eq!(suspension_days(Some(1)), Ok(1));
        assert_eq!(suspension_days(Some(90)), Ok(90));
        assert!(suspension_days(Some(0)).is_err());
        assert!(suspension_days(Some(91)).is_err());
    }

    #[test]
    fn a_days_figures_are_the_replies_between_its_snapshot_and_the_next() {
        let d = |day: u32| chrono::NaiveDate::from_ymd_opt(2026, 11, day).expect("a date");
        let snaps = [
            DaySnapshot { date: d(27), replies: 10, total_response_secs: 100 },
            DaySnapshot { date: d(29), replies: 14, total_response_secs: 180 },
            DaySnapshot { date: d(30), replies: 20, total_response_secs: 240 },
        ];
        let figures = daily_figures(&snaps, (23, 300), d(30), 4);
        let got: Vec<(u32, Option<f64>)> = figures.iter().map(|f| (f.messages, f.avg_response_s)).collect();
        assert_eq!(got, vec![(4, Some(20.0)), (0, None), (6, Some(10.0)), (3, Some(20.0))]);
        assert_eq!(figures.first().map(|f| f.date), Some(d(27)));
        assert_eq!(stats_days(None), Ok(14));
        assert!(stats_days(Some(91)).is_err() && stats_days(Some(0)).is_err());
    }

    #[test]
    fn the_business_day_turns_at_midnight_in_nairobi() {
        let late_utc = chrono::DateTime::parse_from_rfc3339("2026-11-30T21:30:00Z").expect("time").with_timezone(&Utc);
        assert_eq!(business_day(late_utc).to_string(), "2026-12-01");
    }
}
