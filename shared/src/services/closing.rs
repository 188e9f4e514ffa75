//! Closing chats: the one close every cause goes through, and the jobs that close
//! or erase many items for a cause (a member deleted or banned) in the background.

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::jobs::{Job, INDEX_SETTLE, LEASE};
use crate::domain::payment::PaymentStatus;
use crate::domain::principal::Principal;
use crate::domain::{Chat, ChatStatus, CloseReason};
use crate::error::ApiError;
use crate::store::{CloseOutcome, Unsuccessful};
use crate::App;

/// Reads after a chat changed under a close (a message, a claim, a release).
const CLOSE_ATTEMPTS: usize = 10;

/// Closes a chat for `reason` while `still_due` holds for it as read: ends the
/// assignment, frees the operator's slot, drops the index and queue entries,
/// tells the member and emits `chat.closed`. Idempotent: `Ok(false)` if the chat
/// is already closed, gone, or no longer due.
pub async fn close_chat(
    app: &App,
    chat_id: &str,
    reason: CloseReason,
    now: DateTime<Utc>,
    still_due: impl Fn(&Chat) -> bool,
) -> Result<bool, ApiError> {
    let mut chat = app.store.get_chat(chat_id).await?;
    for _ in 0..CLOSE_ATTEMPTS {
        let Some(current) = chat.take() else { return Ok(false) };
        if current.status == ChatStatus::Closed || !still_due(&current) {
            return Ok(false);
        }
        match app.store.close_chat(&current, reason, now).await? {
            CloseOutcome::Closed => {
                tracing::info!(chat_id, reason = reason.as_str(), "chat closed");
                return Ok(true);
            }
            CloseOutcome::AlreadyClosed => return Ok(false),
            CloseOutcome::Changed(next) => chat = next.map(|c| *c),
        }
    }
    Err(ApiError::Contention)
}

/// How much one run of the job runner may do.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Stop starting new pages after this long (a Lambda has a timeout).
    pub time: StdDuration,
    /// Stop after this many pages in all (tests use it to stop mid-job, as a crash would).
    pub pages: Option<usize>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { time: StdDuration::from_secs(40), pages: None }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct JobsReport {
    pub jobs_finished: usize,
    pub jobs_left: usize,
    pub chats_closed: usize,
    pub messages_erased: usize,
    pub records_erased: usize,
}

/// Chats a job handles per page (and per saved cursor).
const PAGE: usize = 25;

/// Runs waiting jobs, oldest first, each under a lease, saving its cursor after
/// every page so that a crash costs at most one page of (idempotent) rework.
pub async fn run_jobs(app: &App, now: DateTime<Utc>, budget: Budget) -> Result<JobsReport, ApiError> {
    let started = Instant::now();
    let mut pages = 0usize;
    let mut report = JobsReport::default();
    for record in app.store.pending_jobs(20).await? {
        let out_of_budget = |pages: usize| started.elapsed() >= budget.time || budget.pages.is_some_and(|p| pages >= p);
        if out_of_budget(pages) {
            report.jobs_left += 1;
            continue;
        }
        let Some(job) = record.job.clone() else {
            tracing::error!(sk = %record.sk, "job item of an unknown kind left in place");
            report.jobs_left += 1;
            continue;
        };
        let mut lease = now + LEASE;
        if !app.store.lease_job(&record.sk, None, now, lease).await? {
            report.jobs_left += 1;
            continue;
        }
        let mut cursor = record.cursor.clone();
        let mut pass_started = match (&cursor, record.pass_started_at) {
            (Some(_), Some(at)) => at,
            _ => now,
        };
        loop {
            let next = run_page(app, &job, cursor.as_deref(), now, &mut report).await?;
            pages += 1;
            match next {
                Some(c) => {
                    app.store.save_job_progress(&record.sk, Some(&c), pass_started).await?;
                    cursor = Some(c);
                }
                None if pass_started - record.created_at >= INDEX_SETTLE => {
                    finish(app, &job, now).await.map(|n| report.records_erased += n)?;
                    app.store.finish_job(&record.sk).await?;
                    report.jobs_finished += 1;
                    tracing::info!(kind = job.kind(), "job finished");
                    break;
                }
                None => {
                    // The pass began before the index settled: go over it once more.
                    app.store.save_job_progress(&record.sk, None, pass_started).await?;
                    cursor = None;
                    pass_started = now;
                    if now - record.created_at < INDEX_SETTLE {
                        report.jobs_left += 1;
                        break;
                    }
                }
            }
            if out_of_budget(pages) {
                report.jobs_left += 1;
                break;
            }
            // `now` is the run's start (or a pinned clock): the lease runs on from it.
            let renewed = now + chrono::Duration::from_std(started.elapsed()).unwrap_or_default() + LEASE;
            if !app.store.lease_job(&record.sk, Some(lease), now, renewed).await? {
                report.jobs_left += 1;
                break;
            }
            lease = renewed;
        }
    }
    Ok(report)
}

/// One page of the member's chats for `job`; the cursor of the next page, if any.
async fn run_page(
    app: &App,
    job: &Job,
    cursor: Option<&str>,
    now: DateTime<Utc>,
    report: &mut JobsReport,
) -> Result<Option<String>, ApiError> {
    let member_id = job.subject();
    let page = app.store.list_member_chats(member_id, cursor, PAGE).await?;
    for chat in &page.items {
        match job {
            Job::CloseMemberChats { reason, .. } => {
                if chat.status != ChatStatus::Closed && close_chat(app, &chat.id, *reason, now, |_| true).await? {
                    report.chats_closed += 1;
                }
            }
            Job::EraseMember { .. } => report.messages_erased += app.store.erase_member_messages(&chat.id).await?,
        }
    }
    Ok(page.next_cursor)
}

/// What a job does once, after its pass over the chats.
async fn finish(app: &App, job: &Job, now: DateTime<Utc>) -> Result<usize, ApiError> {
    match job {
        Job::CloseMemberChats { .. } => Ok(0),
        Job::EraseMember { member_id } => {
            let scope = Principal::member(member_id.as_str()).scope();
            let erased = app.store.erase_member_records(member_id, &scope).await?;
            end_pending_checkouts(app, member_id, now).await?;
            app.store.pseudonymise_payments(member_id).await?;
            Ok(erased)
        }
    }
}

/// A deleted member's pending checkouts are abandoned. They stay on the reconcile
/// schedule: a payment that completes anyway becomes a payout, never credits.
async fn end_pending_checkouts(app: &App, member_id: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    let mut cursor: Option<String> = None;
    loop {
        let page = app.store.member_payments(member_id, cursor.as_deref(), 50).await?;
        for p in page.items.iter().filter(|p| p.status == PaymentStatus::Pending) {
            let abandoned = Unsuccessful {
                status: PaymentStatus::Abandoned,
                failure_reason: Some("account deleted"),
                review_reason: None,
                needs_review: false,
                next_check_at: p.next_check_at,
                from_verify: false,
            };
            app.store.record_unsuccessful(&p.reference, &abandoned, now).await?;
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(()),
        }
    }
}
