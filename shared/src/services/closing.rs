//! Closing chats: the one close every cause goes through, and the jobs that close
//! or erase many items for a cause (a member deleted or banned) in the background.

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::ids::{ChatId, MemberId};
use crate::domain::jobs::{Job, INDEX_SETTLE, LEASE};
use crate::domain::payment::PaymentStatus;
use crate::domain::principal::Principal;
use crate::domain::realtime::Delivery;
use crate::domain::{Chat, ChatStatus, CloseReason};
use crate::error::ApiError;
use crate::services::realtime;
use crate::store::{CloseOutcome, JobRecord, Unsuccessful};
use crate::App;

/// Reads after a chat changed under a close (a message, a claim, a release).
const CLOSE_ATTEMPTS: usize = 10;

/// Closes a chat for `reason` while `still_due` holds for it as read: ends the
/// assignment, frees the operator's slot (and asks for a whole pass to fill it),
/// drops the index and queue entries, tells the member and emits `chat.closed`. Idempotent: `Ok(false)` if the chat
/// is already closed, gone, or no longer due.
pub async fn close_chat(
    app: &App,
    chat_id: &ChatId,
    reason: CloseReason,
    now: DateTime<Utc>,
    still_due: impl Fn(&Chat) -> bool,
) -> Result<bool, ApiError> {
    close_chat_audited(app, chat_id, reason, now, still_due, None).await
}

/// The same close, with an admin's audit entry in its transaction.
pub async fn close_chat_audited(
    app: &App,
    chat_id: &ChatId,
    reason: CloseReason,
    now: DateTime<Utc>,
    still_due: impl Fn(&Chat) -> bool,
    audit: Option<&crate::domain::admin::AuditEntry>,
) -> Result<bool, ApiError> {
    let mut chat = app.store.get_chat(chat_id).await?;
    for _ in 0..CLOSE_ATTEMPTS {
        let Some(current) = chat.take() else { return Ok(false) };
        if current.status == ChatStatus::Closed || !still_due(&current) {
            return Ok(false);
        }
        match app.store.close_chat(&current, reason, audit, now).await? {
            CloseOutcome::Closed => {
                tracing::info!(%chat_id, reason = reason.as_str(), "chat closed");
                let pass = async {
                    if current.operator_id.is_some() {
                        // The operator has a free slot: waiting chats get a whole pass.
                        app.queue.notify_pass().await;
                    }
                };
                tokio::join!(pass, realtime::deliver(app, Delivery::closed(&current, reason)));
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

impl Budget {
    /// A run that stops after `pages` pages without handing its leases back: what a
    /// runner that crashed mid-job leaves behind.
    pub fn crash_after(pages: usize) -> Budget {
        Budget { pages: Some(pages), ..Budget::default() }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct JobsReport {
    pub jobs_finished: usize,
    pub jobs_left: usize,
    pub jobs_failed: usize,
    pub chats_closed: usize,
    pub chats_requeued: usize,
    pub messages_erased: usize,
    pub records_erased: usize,
}

/// Chats a job handles per page (and per saved cursor).
const PAGE: usize = 25;
/// Failed runs after which a job is parked for an admin.
const MAX_FAILURES: i64 = 5;

/// Runs waiting jobs, oldest first. Each runs under a lease, renewed after every
/// chat, and saves its cursor after every page, so a crash costs at most one page
/// of (idempotent) rework and the next run after the lease resumes it. A job
/// finishes with a pass over the member's chats that changed nothing and began
/// after the index settled. A job that fails is counted and let go, so it never
/// blocks the jobs behind it; after five failures it is parked and admins told.
pub async fn run_jobs(app: &App, now: DateTime<Utc>, budget: Budget) -> Result<JobsReport, ApiError> {
    let mut run = Run { app, now, started: Instant::now(), budget, pages: 0, report: JobsReport::default() };
    for sk in app.store.pending_jobs(20).await? {
        if run.out_of_budget() {
            run.report.jobs_left += 1;
            continue;
        }
        let Some(mut job) = app.store.lease_job(&sk, run.clock(), run.clock() + LEASE).await? else {
            run.report.jobs_left += 1;
            continue;
        };
        match run.job(&mut job).await {
            Ok(true) => run.report.jobs_finished += 1,
            Ok(false) => run.report.jobs_left += 1,
            Err(e) => {
                run.report.jobs_failed += 1;
                let failures = app.store.job_failed(&job.sk, &e.to_string(), MAX_FAILURES, run.clock()).await?;
                tracing::error!(sk = %job.sk, failures, error = %e, "job failed; the next run retries it");
                if failures >= MAX_FAILURES {
                    let msg = format!("Job {} failed {failures} times and is parked: {e}", job.sk);
                    app.store.put_admin_notification("job_parked", "high", &msg, Some(&job.sk), run.clock()).await?;
                }
            }
        }
    }
    Ok(run.report)
}

struct Run<'a> {
    app: &'a App,
    now: DateTime<Utc>,
    started: Instant,
    budget: Budget,
    pages: usize,
    report: JobsReport,
}

impl Run<'_> {
    /// `now` is the run's start (or a pinned clock): time runs on from it.
    fn clock(&self) -> DateTime<Utc> {
        self.now + chrono::Duration::from_std(self.started.elapsed()).unwrap_or_default()
    }

    fn out_of_budget(&self) -> bool {
        self.started.elapsed() >= self.budget.time || self.budget.pages.is_some_and(|p| self.pages >= p)
    }

    /// Works one leased job; `Ok(true)` when it finished, `Ok(false)` when it is left
    /// (lease lost, or the budget ran out) for a later run.
    async fn job(&mut self, job: &mut JobRecord) -> Result<bool, ApiError> {
        let Some(kind) = job.job.clone() else {
            return Err(ApiError::BadRequest(format!("job {} is of an unknown kind", job.sk)));
        };
        loop {
            if job.cursor.is_none() {
                self.settle(job.created_at).await;
                job.pass_started_at = Some(self.clock());
                job.pass_changed = false;
            }
            let Some(next) = self.page(&kind, job).await? else { return Ok(false) };
            job.cursor = next;
            let pass_over = job.cursor.is_none();
            if pass_over && !job.pass_changed {
                finish(self.app, &kind, self.clock()).await.map(|n| self.report.records_erased += n)?;
                if self.app.store.finish_job(job).await? {
                    tracing::info!(kind = kind.kind(), "job finished");
                    return Ok(true);
                }
                return Ok(false);
            }
            if !self.app.store.save_job_progress(job).await? {
                return Ok(false);
            }
            if self.out_of_budget() {
                if self.budget.pages.is_none() {
                    self.app.store.release_job_lease(job).await?;
                }
                return Ok(false);
            }
        }
    }

    /// Waits until the member's chat index has settled after the job was written
    /// (at most `INDEX_SETTLE`, only for a job written moments ago).
    /// Never longer than `INDEX_SETTLE`: a job stamped later than this runner's
    /// clock (clock skew between writers) must not park the runner.
    async fn settle(&self, created_at: DateTime<Utc>) {
        let left = (created_at + INDEX_SETTLE - self.clock()).min(INDEX_SETTLE);
        if let Ok(wait) = left.to_std() {
            tokio::time::sleep(wait).await;
        }
    }

    /// One page of the member's chats, least recent first (an operator's job: all
    /// the chats they hold, at most 20, in one page). `None` if the lease was lost;
    /// otherwise the cursor of the next page (`Some(None)`: the pass is over).
    async fn page(&mut self, kind: &Job, job: &mut JobRecord) -> Result<Option<Option<String>>, ApiError> {
        if let Job::RequeueOperatorChats { operator_id } = kind {
            self.pages += 1;
            let requeued = crate::services::assignment::requeue_operator_chats(
                self.app,
                operator_id,
                job.created_at,
                self.clock(),
            )
            .await?;
            self.report.chats_requeued += requeued;
            job.pass_changed |= requeued > 0;
            if !self.app.store.renew_job_lease(job, self.clock() + LEASE).await? {
                return Ok(None);
            }
            return Ok(Some(None));
        }
        let page = match kind {
            Job::CloseCharacterChats { character_id } => {
                self.app.store.character_chats(character_id, job.cursor.as_deref(), PAGE, true).await?
            }
            _ => {
                let member = MemberId::new(kind.subject());
                self.app.store.member_chats_oldest_first(&member, job.cursor.as_deref(), PAGE).await?
            }
        };
        self.pages += 1;
        for chat in &page.items {
            let changed = match kind {
                Job::CloseMemberChats { reason, .. } => self.close(chat, *reason).await?,
                Job::CloseCharacterChats { .. } => self.close(chat, CloseReason::ProfileDeleted).await?,
                Job::RequeueOperatorChats { .. } => false,
                Job::EraseMember { .. } => {
                    let closed = self.close(chat, CloseReason::MemberDeleted).await?;
                    let erased = self.app.store.erase_member_messages(&chat.id).await?;
                    let notes = self.app.store.erase_assignment_notes(&chat.id).await?
                        + self.app.store.erase_member_edits(&chat.id).await?;
                    self.report.messages_erased += erased;
                    closed || erased + notes > 0
                }
            };
            job.pass_changed |= changed;
            if !self.app.store.renew_job_lease(job, self.clock() + LEASE).await? {
                return Ok(None);
            }
        }
        Ok(Some(page.next_cursor))
    }

    async fn close(&mut self, chat: &Chat, reason: CloseReason) -> Result<bool, ApiError> {
        if chat.status == ChatStatus::Closed {
            return Ok(false);
        }
        let closed = close_chat(self.app, &chat.id, reason, self.clock(), |_| true).await?;
        self.report.chats_closed += usize::from(closed);
        // Not closed here means someone else closed it: the pass still saw an open chat.
        Ok(true)
    }
}

/// What a job does once, after a pass over the chats that changed nothing.
async fn finish(app: &App, job: &Job, now: DateTime<Utc>) -> Result<usize, ApiError> {
    match job {
        Job::CloseMemberChats { .. } | Job::RequeueOperatorChats { .. } | Job::CloseCharacterChats { .. } => Ok(0),
        Job::EraseMember { member_id } => {
            // A banned member's IPs stop flagging others (personal data); the hashed
            // devices stay on the ban record.
            app.store.forget_ban_ips(member_id).await?;
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
async fn end_pending_checkouts(app: &App, member_id: &MemberId, now: DateTime<Utc>) -> Result<(), ApiError> {
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
                only_from: Some(PaymentStatus::Pending),
            };
            app.store.record_unsuccessful(&p.reference, &abandoned, now).await?;
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(()),
        }
    }
}
