//! The routing engine's use cases: an assignment pass (SQS trigger or sweep), the
//! idle watch, escalation, auto-close, operator quality and suspensions.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::domain::assignment::{self, over_reassignment_limit, Candidate, Timers, QUALITY_THRESHOLD, SUSPENSION_DAYS};
use crate::domain::ids::{ChatId, OperatorId};
use crate::domain::{Chat, CloseReason};
use crate::error::ApiError;
use crate::services::closing;
use crate::store::{ClaimOutcome, QueueEntry, ReleaseKind, ReleaseOutcome};
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
                waiting.push(e.waiting());
            }
        }
        let operators: Vec<Candidate> = app
            .store
            .available_operators()
            .await?
            .iter()
            .filter(|o| o.can_take_chat(now))
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

/// The timers in force: the `SETTINGS` / `ASSIGNMENT` item over the defaults.
/// A stored set that makes no sense is ignored whole, with a warning in the log.
pub async fn timers(app: &App) -> Result<Timers, ApiError> {
    let stored = app.store.assignment_settings().await?;
    Ok(Timers::checked(&stored).unwrap_or_else(|| {
        tracing::warn!(
            ?stored,
            "assignment settings ignored: they need 0 < warning < reassign and every value <= 1 day"
        );
        Timers::default()
    }))
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
    for op in app.store.operators_to_watch().await?.iter().filter(|o| o.active_chats > 0) {
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
    operator_id: &OperatorId,
    chat_id: &ChatId,
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
pub async fn review_quality(app: &App, operator_id: &OperatorId, now: DateTime<Utc>) -> Result<bool, ApiError> {
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
    tracing::warn!(%operator_id, score, "operator suspended");
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
    let mut closed = 0;
    for chat_id in app.store.chats_inactive_since(Chat::inactivity_cutoff(now)).await? {
        let due = |c: &Chat| c.is_inactive(now);
        closed += usize::from(closing::close_chat(app, &chat_id, CloseReason::InactivityTimeout, now, due).await?);
    }
    Ok(closed)
}
