//! The routing engine's use cases: an assignment pass (SQS trigger or sweep), the
//! idle watch, escalation, auto-close, operator quality and suspensions.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::assignment::{self, over_reassignment_limit, Candidate, OnlineOperator, Timers, SUSPENSION_DAYS};
use crate::domain::ids::{ChatId, OperatorId};
use crate::domain::realtime::Delivery;
use crate::domain::{Chat, CloseReason};
use crate::error::ApiError;
use crate::services::closing;
use crate::store::{ClaimOutcome, QueueEntry, ReleaseKind, ReleaseOutcome};
use crate::App;

/// Rounds one batch runs while claims are lost (a lost claim frees the chat for
/// another operator).
const ROUNDS: usize = 5;

/// How long a process matches against the operators it last read. A stale list
/// costs at most a claim that the claim's own conditions refuse (offline, full,
/// suspended): it is a cost, never a wrong assignment.
pub const ROSTER_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// Claims in flight at once in one round (a whole pass after a shift starts could
/// otherwise open a connection per operator).
const CLAIMS_IN_FLIGHT: usize = 32;

#[derive(Debug, Default, Serialize)]
pub struct PassReport {
    pub waiting: usize,
    pub assigned: usize,
    pub escalated: usize,
    pub lost_claims: usize,
    /// Chats the last round found no operator for.
    pub unmatched: usize,
}

impl PassReport {
    fn then(self, next: PassReport) -> PassReport {
        PassReport {
            waiting: self.waiting.max(next.waiting),
            assigned: self.assigned + next.assigned,
            escalated: self.escalated + next.escalated,
            lost_claims: self.lost_claims + next.lost_claims,
            unmatched: next.unmatched,
        }
    }
}

/// The available operators as this process last read them, for [`ROSTER_TTL`],
/// with its own claims counted in. Shared by the batches one process runs.
#[derive(Debug, Default)]
pub struct Roster(std::sync::Mutex<Option<Listed>>);

/// One read of the available operators.
#[derive(Clone, Debug)]
struct Listed {
    read_at: std::time::Instant,
    operators: Vec<OnlineOperator>,
}

impl Roster {
    fn guard(&self) -> std::sync::MutexGuard<'_, Option<Listed>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn cached(&self) -> Option<Listed> {
        self.guard().as_ref().filter(|l| l.read_at.elapsed() < ROSTER_TTL).cloned()
    }

    fn keep(&self, listed: &Listed) {
        let mut guard = self.guard();
        if guard.as_ref().is_none_or(|l| l.read_at <= listed.read_at) {
            *guard = Some(listed.clone());
        }
    }

    /// Counts a claim into the list it was matched from. A list read since may
    /// already hold it, and counting it twice would hide room (a chat left
    /// unmatched); leaving it out only costs a claim its condition refuses.
    fn took(&self, operator_id: &OperatorId, matched_from: std::time::Instant) {
        if let Some(listed) = self.guard().as_mut().filter(|l| l.read_at == matched_from) {
            if let Some(op) = listed.operators.iter_mut().find(|o| o.id == *operator_id) {
                op.active_chats += 1;
            }
        }
    }

    /// An operator refused a claim (full, offline or suspended by now): the list
    /// the claim was matched from counts them as full until it is read again (a
    /// list read since knows better).
    fn refused(&self, operator_id: &OperatorId, matched_from: std::time::Instant) {
        if let Some(listed) = self.guard().as_mut().filter(|l| l.read_at == matched_from) {
            if let Some(op) = listed.operators.iter_mut().find(|o| o.id == *operator_id) {
                op.active_chats = op.active_chats.max(op.max_concurrent_chats);
            }
        }
    }
}

/// The operators to match against: the cached list unless `fresh` is asked for
/// or it is older than [`ROSTER_TTL`].
async fn roster(app: &App, fresh: bool) -> Result<Listed, ApiError> {
    if !fresh {
        if let Some(listed) = app.roster.cached() {
            return Ok(listed);
        }
    }
    let read_at = std::time::Instant::now();
    let listed = Listed { read_at, operators: app.store.available_operators().await? };
    app.roster.keep(&listed);
    Ok(listed)
}

/// One SQS batch of triggers. Without a trigger that asks for a whole pass, only
/// the named chats are looked at: their queue entries read by key, matched against
/// the operators this process read under a second ago, claimed. If the list has
/// no room for one of them, others may be waiting longer for the same room: a whole
/// pass over the same list decides, by rank. A trigger that asks for a whole pass (an operator came
/// free, chats went back to the queue) gets one, with the named chats' entries read
/// by key as well (a whole pass reads the shards eventually consistent).
pub async fn assign_batch(
    app: &App,
    named: &[ChatId],
    whole_pass: bool,
    now: DateTime<Utc>,
) -> Result<PassReport, ApiError> {
    if whole_pass {
        return assign_rounds(app, Scope::Everything { also: named, fresh: true }, now).await;
    }
    if named.is_empty() {
        return Ok(PassReport::default());
    }
    let report = assign_rounds(app, Scope::Named(named), now).await?;
    if report.unmatched == 0 {
        return Ok(report);
    }
    // For the ranking, not for news: a slot freed since asks for its own pass.
    let whole = assign_rounds(app, Scope::Everything { also: named, fresh: false }, now).await?;
    Ok(report.then(whole))
}

/// A whole pass: every waiting chat matched to present operators (read afresh),
/// each pair claimed with one conditional transaction. "No operator has room" is
/// not a failure: the queue entry keeps the chat for the next trigger or sweep.
pub async fn assign_pass(app: &App, now: DateTime<Utc>) -> Result<PassReport, ApiError> {
    assign_rounds(app, Scope::Everything { also: &[], fresh: true }, now).await
}

/// Which waiting chats a run looks at.
#[derive(Clone, Copy)]
enum Scope<'a> {
    /// These chats only, against the cached operators.
    Named(&'a [ChatId]),
    /// Every waiting chat (and `also`, read by key), against operators read afresh
    /// when `fresh`, else the cached ones.
    Everything { also: &'a [ChatId], fresh: bool },
}

impl Scope<'_> {
    async fn entries(self, app: &App) -> Result<Vec<QueueEntry>, ApiError> {
        Ok(match self {
            Scope::Named(chats) => app.store.queue_entries(chats).await?,
            Scope::Everything { also, .. } => {
                let mut entries = app.store.queue_entries(also).await?;
                for e in app.store.waiting_entries().await? {
                    if !entries.iter().any(|n| n.chat_id == e.chat_id) {
                        entries.push(e);
                    }
                }
                entries
            }
        })
    }
}

/// Rounds of read, match and claim. Another round runs only when a claim was lost:
/// that chat may go to someone else (an operator who refused counts as full in the
/// list the claim was matched from).
async fn assign_rounds(app: &App, scope: Scope<'_>, now: DateTime<Utc>) -> Result<PassReport, ApiError> {
    let mut report = PassReport::default();
    for round in 0..ROUNDS {
        let entries = scope.entries(app).await?;
        if round == 0 {
            report.waiting = entries.len();
        }
        report.unmatched = 0;
        if entries.is_empty() {
            break;
        }
        // A round after a lost claim reads afresh only where the first did.
        let fresh = matches!(scope, Scope::Everything { fresh: true, .. });
        let listed = roster(app, fresh).await?;
        let claimed = claim_round(app, &entries, &listed, now, &mut report).await?;
        report.unmatched = claimed.waiting - claimed.proposed;
        if claimed.landed == claimed.proposed {
            break;
        }
    }
    Ok(report)
}

struct Round {
    /// Chats that could be matched (the entries less those escalated).
    waiting: usize,
    proposed: usize,
    landed: usize,
}

/// One round of matching `entries` against `operators` and claiming the pairs:
/// claims for different operators run at once, an operator's own one after the
/// other (they would collide on the operator's item).
async fn claim_round(
    app: &App,
    entries: &[QueueEntry],
    listed: &Listed,
    now: DateTime<Utc>,
    report: &mut PassReport,
) -> Result<Round, ApiError> {
    let mut waiting = Vec::with_capacity(entries.len());
    for e in entries {
        if over_reassignment_limit(e.reassign_count) {
            report.escalated += usize::from(escalate_entry(app, e, now).await?);
        } else {
            waiting.push(e.waiting());
        }
    }
    let candidates: Vec<Candidate> =
        listed.operators.iter().filter(|o| o.can_take_chat(now)).map(|o| Candidate::of(o, now)).collect();
    let mut round = Round { waiting: waiting.len(), proposed: 0, landed: 0 };
    if waiting.is_empty() || candidates.is_empty() {
        return Ok(round);
    }
    assignment::rank(&mut waiting, now);
    let by_chat: HashMap<&str, &QueueEntry> = entries.iter().map(|e| (e.chat_id.as_str(), e)).collect();
    let mut by_operator: HashMap<OperatorId, Vec<QueueEntry>> = HashMap::new();
    let proposals = assignment::match_chats(&waiting, &candidates);
    round.proposed = proposals.len();
    for p in proposals {
        if let Some(entry) = by_chat.get(p.chat_id.as_str()) {
            by_operator.entry(p.operator_id).or_default().push((*entry).clone());
        }
    }
    let mut claims = tokio::task::JoinSet::new();
    let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(CLAIMS_IN_FLIGHT));
    for (operator_id, entries) in by_operator {
        let app = app.clone();
        let in_flight = in_flight.clone();
        claims.spawn(async move {
            let _permit = in_flight.acquire_owned().await.ok();
            let mut outcomes = Vec::with_capacity(entries.len());
            for entry in entries {
                let outcome = app.store.claim(&entry, &operator_id, now).await;
                // The operator's next chats are tried only while the operator can take them.
                let stop = matches!(outcome, Ok(ClaimOutcome::OperatorUnavailable) | Err(_));
                outcomes.push((entry, outcome));
                if stop {
                    break;
                }
            }
            (operator_id, outcomes)
        });
    }
    // Every outcome is looked at before an error is answered: the claims that
    // landed are told to their operators whatever failed beside them.
    let mut assigned = Vec::new();
    let mut failed: Option<ApiError> = None;
    while let Some(done) = claims.join_next().await {
        let (operator_id, outcomes) = match done {
            Ok(done) => done,
            Err(e) => {
                failed.get_or_insert(ApiError::Internal(Box::new(e)));
                continue;
            }
        };
        for (entry, outcome) in outcomes {
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) => {
                    failed.get_or_insert(e.into());
                    continue;
                }
            };
            match outcome {
                ClaimOutcome::Claimed => {
                    round.landed += 1;
                    app.roster.took(&operator_id, listed.read_at);
                    assigned.push(Delivery::assigned(&entry.chat_id, &operator_id));
                }
                ClaimOutcome::ChatUnavailable => {
                    report.lost_claims += 1;
                    if let Err(e) = app.store.delete_stale_queue_entry(&entry).await {
                        failed.get_or_insert(e.into());
                    }
                }
                ClaimOutcome::OperatorUnavailable => {
                    report.lost_claims += 1;
                    app.roster.refused(&operator_id, listed.read_at);
                }
                ClaimOutcome::EntryGone => report.lost_claims += 1,
            }
        }
    }
    crate::services::realtime::deliver(app, assigned).await;
    if let Some(e) = failed {
        return Err(e);
    }
    report.assigned += round.landed;
    Ok(round)
}

async fn escalate_entry(app: &App, e: &QueueEntry, now: DateTime<Utc>) -> Result<bool, ApiError> {
    match app.store.get_chat(&e.chat_id).await? {
        Some(chat) => Ok(app.store.escalate_waiting(&chat, now).await?),
        None => {
            app.store.delete_stale_queue_entry(e).await?;
            Ok(false)
        }
    }
}

/// The escalate job: waiting chats that reached the reassignment limit by any
/// path (a release escalates at once; this catches whatever queued one anyway).
/// Then reminds the admins, once, of each escalation still unresolved after
/// `ESCALATION_REMINDER`.
pub async fn escalate_due(app: &App, now: DateTime<Utc>) -> Result<EscalationReport, ApiError> {
    let mut report = EscalationReport::default();
    for e in app.store.waiting_entries().await?.iter().filter(|e| over_reassignment_limit(e.reassign_count)) {
        report.escalated += usize::from(escalate_entry(app, e, now).await?);
    }
    for chat in app.store.unreminded_escalations(now - assignment::ESCALATION_REMINDER).await? {
        let Some(at) = chat.escalated_at else { continue };
        let text = assignment::escalation_reminder_text(&chat.id, at, now);
        report.reminded += usize::from(app.store.remind_escalation(&chat, &text, now).await?);
    }
    Ok(report)
}

#[derive(Debug, Default, Serialize)]
pub struct EscalationReport {
    pub escalated: usize,
    /// Escalations still unresolved after 15 minutes, reminded now.
    pub reminded: usize,
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
    if report.reassigned + report.completed + report.escalated > 0 {
        app.queue.notify_pass().await;
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

/// Suspends an operator whose quality fell below the threshold: 7 days, through
/// the one suspension (`staff::suspend`). Returns whether it happened.
pub async fn review_quality(app: &App, operator_id: &OperatorId, now: DateTime<Utc>) -> Result<bool, ApiError> {
    let Some(op) = app.store.get_operator(operator_id).await? else { return Ok(false) };
    let score = assignment::quality_score(&op);
    if op.is_suspended || op.deleted_at.is_some() {
        return Ok(false);
    }
    let threshold = app.store.settings().await?.quality_threshold;
    if !assignment::below_quality_threshold(score, threshold) {
        return Ok(false);
    }
    let cause = crate::services::staff::SuspensionCause::Quality { score, threshold };
    let suspended = crate::services::staff::suspend(app, operator_id, SUSPENSION_DAYS, &cause, now).await?;
    if suspended {
        tracing::warn!(%operator_id, score, "operator suspended");
    }
    Ok(suspended)
}

/// Gives back to the queue, at the top, every chat the operator has held since
/// before `since` (their suspension): the suspension's own follow-up and its job.
/// A chat claimed after `since` (the operator was reactivated meanwhile) stays.
/// Returns how many went back.
pub async fn requeue_operator_chats(
    app: &App,
    operator_id: &OperatorId,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    let mut requeued = 0;
    for chat in app.store.operator_chats(operator_id).await? {
        if chat.assigned_at.is_some_and(|at| at > since) {
            continue;
        }
        let outcome = app.store.release(&chat, operator_id, ReleaseKind::Suspension, None, now).await?;
        requeued += usize::from(matches!(outcome, ReleaseOutcome::Requeued | ReleaseOutcome::Escalated));
    }
    if requeued > 0 {
        app.queue.notify_pass().await;
    }
    Ok(requeued)
}

/// Reinstates operators whose suspension has ended (they come back offline).
pub async fn end_suspensions(app: &App, now: DateTime<Utc>) -> Result<usize, ApiError> {
    let ended = app.store.suspensions_ended(now).await?;
    let mut n = 0;
    for op in &ended {
        let notice = crate::services::staff::REACTIVATED_NOTICE;
        n += usize::from(app.store.reactivate_operator(&op.id, None, notice, Some(now), now).await?);
    }
    Ok(n)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn operator(id: &str, active: u32) -> OnlineOperator {
        OnlineOperator {
            id: OperatorId::new(id),
            is_suspended: false,
            active_chats: active,
            max_concurrent_chats: 5,
            languages: vec![],
            specializations: vec![],
            working_hours: None,
            last_heartbeat_at: None,
            response_secs: 0,
            rating_sum: 0,
            rating_count: 0,
        }
    }

    fn active(roster: &Roster, id: &str) -> u32 {
        let listed = roster.cached().expect("a cached list");
        listed.operators.iter().find(|o| o.id == *id).expect("listed").active_chats
    }

    #[test]
    fn the_roster_counts_claims_and_refusals_into_the_list_they_were_matched_from() {
        let roster = Roster::default();
        let first = Listed { read_at: Instant::now(), operators: vec![operator("op_a", 1), operator("op_b", 0)] };
        roster.keep(&first);
        roster.took(&OperatorId::new("op_a"), first.read_at);
        assert_eq!(active(&roster, "op_a"), 2, "a claim counts into the list it was matched from");
        roster.refused(&OperatorId::new("op_b"), first.read_at);
        assert_eq!(active(&roster, "op_b"), 5, "a refusal counts the operator as full");

        // A list read since may already hold a claim: counting it again would hide room.
        let second = Listed { read_at: first.read_at + Duration::from_millis(1), operators: vec![operator("op_a", 2)] };
        roster.keep(&second);
        roster.took(&OperatorId::new("op_a"), first.read_at);
        roster.refused(&OperatorId::new("op_a"), first.read_at);
        assert_eq!(active(&roster, "op_a"), 2, "outcomes of an older match leave a newer list alone");
        roster.keep(&first);
        assert_eq!(active(&roster, "op_a"), 2, "an older read never replaces a newer one");
    }
}
