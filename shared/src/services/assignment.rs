//! The routing engine's use cases: an assignment pass (SQS trigger or sweep), the
//! idle watch, escalation, auto-close, operator quality and suspensions.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::domain::assignment::{
    self, over_reassignment_limit, Candidate, Skills, Waiting, QUALITY_THRESHOLD, SUSPENSION_DAYS,
};
use crate::domain::CloseReason;
use crate::error::ApiError;
use crate::services::closing;
use crate::store::{AssignmentSettings, ClaimOutcome, QueueEntry, ReleaseKind, ReleaseOutcome};
use crate::App;

/// Passes one invocation runs while claims keep landing (a lost claim frees the
/// chat for the next pass).
const PASSES: usize = 5;

#[derive(Debug, Default, Serialize)]
pub struct PassReport {
    pub waiting: usize,
    pub assigned: usize,
    pub escalated: usize,
    pub lost_claims: usize,
}

fn waiting_from(e: &QueueEntry) -> Waiting {
    Waiting {
        chat_id: e.chat_id.clone(),
        member_id: e.member_id.clone(),
        member_spent: e.member_credits_spent,
        waiting_since: e.waiting_since,
        reassign_count: e.reassign_count,
        paid: e.paid,
        boosted: e.boosted,
        preferred_operator: e.preferred_operator.clone(),
        excluded: e.excluded.clone(),
        style: e.response_style.as_deref().map_or(0, Skills::style),
        languages: Skills::languages(e.languages.iter().map(String::as_str)),
    }
}

/// Matches waiting chats to present operators and claims each pair with one
/// conditional transaction. "No operator has room" is not a failure: the queue
/// entry keeps the chat for the next trigger or sweep.
pub async fn assign_pass(app: &App, now: DateTime<Utc>) -> Result<PassReport, ApiError> {
    let mut report = PassReport::default();
    for pass in 0..PASSES {
        let entries = app.store.waiting_entries().await?;
        if pass == 0 {
            report.waiting = entries.len();
        }
        let mut waiting = Vec::with_capacity(entries.len());
        for e in &entries {
            if over_reassignment_limit(e.reassign_count) {
                report.escalated += usize::from(escalate_entry(app, e, now).await?);
            } else {
                waiting.push(waiting_from(e));
            }
        }
        let operators: Vec<Candidate> = app
            .store
            .available_operators()
            .await?
            .iter()
            .filter(|o| !o.is_suspended && o.is_present(now) && o.active_chats < o.max_concurrent_chats)
            .map(|o| Candidate::of(o, now))
            .collect();
        if waiting.is_empty() || operators.is_empty() {
            break;
        }
        assignment::rank(&mut waiting, now);
        let proposals = assignment::match_chats(&waiting, &operators);
        let mut landed = 0;
        let by_chat: HashMap<&str, &QueueEntry> = entries.iter().map(|e| (e.chat_id.as_str(), e)).collect();
        for p in &proposals {
            let Some(entry) = by_chat.get(p.chat_id.as_str()) else { continue };
            match app.store.claim(entry, &p.operator_id, now).await? {
                ClaimOutcome::Claimed => landed += 1,
                ClaimOutcome::ChatUnavailable => {
                    report.lost_claims += 1;
                    app.store.delete_queue_entry(&p.chat_id).await?;
                }
                ClaimOutcome::OperatorUnavailable | ClaimOutcome::EntryGone => report.lost_claims += 1,
            }
        }
        report.assigned += landed;
        if landed == 0 || landed == proposals.len() && proposals.len() == waiting.len() {
            break;
        }
    }
    Ok(report)
}

async fn escalate_entry(app: &App, e: &QueueEntry, now: DateTime<Utc>) -> Result<bool, ApiError> {
    match app.store.get_chat(&e.chat_id).await? {
        Some(chat) => Ok(app.store.escalate_waiting(&chat, now).await?),
        None => {
            app.store.delete_queue_entry(&e.chat_id).await?;
            Ok(false)
        }
    }
}

/// The escalate job: waiting chats that reached the reassignment limit by any
/// path (a release escalates at once; this catches whatever queued one anyway).
pub async fn escalate_due(app: &App, now: DateTime<Utc>) -> Result<usize, ApiError> {
    let mut n = 0;
    for e in app.store.waiting_entries().await?.iter().filter(|e| over_reassignment_limit(e.reassign_count)) {
        n += usize::from(escalate_entry(app, e, now).await?);
    }
    Ok(n)
}

/// Idle and hold thresholds (settings; defaults from the product spec).
#[derive(Clone, Copy, Debug)]
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
    /// as a whole, with a warning in the log: the defaults are safe, a typo is not.
    pub fn from_settings(s: &AssignmentSettings) -> Timers {
        let d = Timers::default();
        let pick = |v: Option<i64>, default: Duration| v.map_or(default, Duration::minutes);
        let t = Timers {
            idle_warning: pick(s.idle_warning_minutes, d.idle_warning),
            idle_reassign: pick(s.idle_reassign_minutes, d.idle_reassign),
            assignment_hold: pick(s.assignment_hold_minutes, d.assignment_hold),
        };
        let sane = |x: Duration| x > Duration::zero() && x <= Duration::days(1);
        if sane(t.idle_warning) && sane(t.idle_reassign) && sane(t.assignment_hold) && t.idle_warning < t.idle_reassign
        {
            t
        } else {
            tracing::warn!(
                ?s,
                "assignment settings ignored: they need 0 < warning < reassign and every value <= 1 day"
            );
            d
        }
    }
}

/// The timers in force: the `SETTINGS` / `ASSIGNMENT` item over the defaults.
pub async fn timers(app: &App) -> Result<Timers, ApiError> {
    Ok(Timers::from_settings(&app.store.assignment_settings().await?))
}

#[derive(Debug, Default, Serialize)]
pub struct IdleReport {
    pub warned: usize,
    pub reassigned: usize,
    pub escalated: usize,
    pub completed: usize,
    pub suspended: usize,
}

/// Every minute: warns at 4 min (settings) of an unanswered member message, reassigns at 5
/// (excluding that operator, recording an idle incident), and ends assignments
/// whose member has been quiet for the hold time after the operator's answer.
pub async fn idle_watch(app: &App, timers: Timers, now: DateTime<Utc>) -> Result<IdleReport, ApiError> {
    let mut report = IdleReport::default();
    for op in app.store.available_operators().await?.iter().filter(|o| o.active_chats > 0) {
        let mut incidents = false;
        for chat in app.store.operator_chats(&op.id).await? {
            match chat.unanswered_since() {
                Some(since) if now - since >= timers.idle_reassign => {
                    match app.store.release(&chat, &op.id, ReleaseKind::Idle, None, now).await? {
                        ReleaseOutcome::Requeued => report.reassigned += 1,
                        ReleaseOutcome::Escalated => report.escalated += 1,
                        _ => {}
                    }
                    incidents = true;
                }
                Some(since) if now - since >= timers.idle_warning && !chat.idle_warned => {
                    report.warned += usize::from(warn_idle(app, &op.id, &chat.id, timers, now).await?);
                }
                None if chat.last_member_message_at.is_none_or(|t| now - t >= timers.assignment_hold) => {
                    let outcome = app.store.release(&chat, &op.id, ReleaseKind::Completed, None, now).await?;
                    report.completed += usize::from(outcome == ReleaseOutcome::Ended);
                }
                _ => {}
            }
        }
        if incidents && review_quality(app, &op.id, now).await? {
            report.suspended += 1;
        }
    }
    if report.reassigned + report.completed > 0 {
        app.queue.notify("pass").await;
    }
    Ok(report)
}

/// The one idle warning of a wait (4 min by default): operator and admins are told.
async fn warn_idle(
    app: &App,
    operator_id: &str,
    chat_id: &str,
    timers: Timers,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    if !app.store.mark_idle_warned(chat_id, operator_id).await? {
        return Ok(false);
    }
    let msg = assignment::idle_warning_text(operator_id, chat_id, timers.idle_warning);
    app.store.put_admin_notification("idle_warning", "normal", &msg, Some(chat_id), now).await?;
    app.store.put_operator_notification(operator_id, "idle_warning", &msg, now).await?;
    Ok(true)
}

/// Suspends an operator whose quality fell below the threshold: 7 days, offline,
/// chats requeued at high priority, admins told. Returns whether it happened.
pub async fn review_quality(app: &App, operator_id: &str, now: DateTime<Utc>) -> Result<bool, ApiError> {
    let Some(op) = app.store.get_operator(operator_id).await? else { return Ok(false) };
    let score = assignment::quality_score(&op);
    if op.is_suspended || score >= QUALITY_THRESHOLD {
        return Ok(false);
    }
    let until = now + Duration::days(SUSPENSION_DAYS);
    app.store.set_suspension(operator_id, Some(until)).await?;
    for chat in app.store.operator_chats(operator_id).await? {
        app.store.release(&chat, operator_id, ReleaseKind::Suspension, None, now).await?;
    }
    let msg = format!("Operator {operator_id} suspended until {until}: quality score {score:.0}");
    app.store.put_admin_notification("operator_suspended", "high", &msg, Some(operator_id), now).await?;
    app.store
        .put_operator_notification(
            operator_id,
            "suspended",
            &format!("You are suspended until {until} (quality {score:.0})."),
            now,
        )
        .await?;
    app.queue.notify("pass").await;
    tracing::warn!(operator_id, score, "operator suspended");
    Ok(true)
}

/// Reinstates operators whose suspension has ended (they come back offline).
pub async fn end_suspensions(app: &App, now: DateTime<Utc>) -> Result<usize, ApiError> {
    let ended = app.store.suspensions_ended(now).await?;
    for op in &ended {
        app.store.set_suspension(&op.id, None).await?;
    }
    Ok(ended.len())
}

/// Hourly: closes chats with no message for 24 h (inactivity_timeout, no refunds),
/// unless a message arrives before the close commits.
pub async fn auto_close(app: &App, now: DateTime<Utc>) -> Result<usize, ApiError> {
    let cutoff = now - Duration::hours(24);
    let mut closed = 0;
    for chat in app.store.chats_inactive_since(cutoff).await? {
        let due = |c: &crate::domain::Chat| c.last_activity() < cutoff;
        closed += usize::from(closing::close_chat(app, &chat.id, CloseReason::InactivityTimeout, now, due).await?);
    }
    Ok(closed)
}

/// What the assigner Lambda reports for an SQS batch.
pub async fn on_triggers(app: &App, bodies: &[(String, String)], now: DateTime<Utc>) -> Result<Vec<String>, ApiError> {
    // Each message is only a trigger; a body that is not JSON is a poison message.
    let poison: Vec<String> = bodies
        .iter()
        .filter(|(_, b)| serde_json::from_str::<serde_json::Value>(b).is_err())
        .map(|(id, _)| id.clone())
        .collect();
    let report = assign_pass(app, now).await?;
    tracing::info!(?report, triggers = bodies.len(), "assignment pass");
    Ok(poison)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
