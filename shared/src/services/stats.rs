//! `GET /admin/stats` (`view_analytics`) and the job that keeps its counters:
//! messages counted in batches from their index entries (no key that every send
//! writes), payments and registrations from their own transactions' counters,
//! operators from their day snapshots, and the point-in-time block each minute.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::domain::assignment::{self, Band};
use crate::domain::ids::OperatorId;
use crate::domain::stats::{self, Day, Messages, MESSAGE_SHARDS, SIDES};
use crate::domain::Operator;
use crate::error::ApiError;
use crate::store::NowBlock;
use crate::App;

/// What one run of the stats job did.
#[derive(Debug, Default, Serialize)]
pub struct StatsReport {
    pub messages_counted: u64,
    /// Shards whose count failed this run (the next run retries them).
    pub shard_errors: u32,
    pub active_chats: u64,
    pub escalated_chats: u64,
    pub waiting: u64,
}

/// The stats job (every minute): counts the messages written since the last run
/// (every side and shard), then rewrites the point-in-time block.
pub async fn aggregate(app: &App, now: DateTime<Utc>) -> Result<StatsReport, ApiError> {
    let mut report = StatsReport::default();
    for side in SIDES {
        for shard in 0..MESSAGE_SHARDS {
            match app.store.count_messages(side, shard, now).await {
                Ok(n) => report.messages_counted += n,
                Err(e) => {
                    report.shard_errors += 1;
                    tracing::warn!(side = side.as_str(), shard, error = %e, "stats: a shard's count failed; the next run retries");
                }
            }
        }
    }
    let (open, escalated) = app.store.count_open_and_escalated().await?;
    let mut waiting: BTreeMap<String, u64> = Band::ALL.iter().map(|b| (b.as_str().to_string(), 0)).collect();
    for e in app.store.waiting_entries().await? {
        *waiting.entry(assignment::band(&e.waiting(), now).as_str().to_string()).or_default() += 1;
    }
    report.active_chats = open.saturating_sub(escalated);
    report.escalated_chats = escalated;
    report.waiting = waiting.values().sum();
    let block = NowBlock { active_chats: report.active_chats, escalated_chats: escalated, waiting, at: Some(now) };
    app.store.put_now_block(&block).await?;
    Ok(report)
}

#[derive(Serialize)]
pub struct MemberFigures {
    pub total: i64,
    pub new: u64,
}

#[derive(Serialize)]
pub struct OperatorFigures {
    pub id: OperatorId,
    pub name: String,
    pub messages: u64,
    pub avg_response_s: Option<f64>,
    pub quality_score: f64,
    pub rating: Option<f64>,
}

#[derive(Serialize)]
pub struct NowFigures {
    pub active_chats: u64,
    pub escalated_chats: u64,
    pub waiting: BTreeMap<String, u64>,
    /// When the job last counted them (within a minute or two of now).
    pub counted_at: Option<DateTime<Utc>>,
}

/// API.md "Stats".
#[derive(Serialize)]
pub struct Stats {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub revenue_cents: i64,
    pub payments: u64,
    pub messages: Messages,
    pub members: MemberFigures,
    pub operators: Vec<OperatorFigures>,
    pub days: Vec<Day>,
    pub now: NowFigures,
}

/// Operators read per batch of their day snapshots.
const OPERATOR_BATCH: usize = 16;

pub async fn get(app: &App, from: Option<&str>, to: Option<&str>, now: DateTime<Utc>) -> Result<Stats, ApiError> {
    let (from, to) = stats::range(from, to, now).map_err(|(field, why)| ApiError::invalid(&field, why))?;
    let days = app.store.stats_days(&stats::days(from, to)).await?;
    let totals = stats::totals(&days);
    let members = MemberFigures { total: app.store.member_total().await?, new: totals.new_members };
    let operators = operator_figures(app, from, to, now).await?;
    let bands: Vec<&str> = Band::ALL.iter().map(|b| b.as_str()).collect();
    let block = app.store.now_block(&bands).await?;
    Ok(Stats {
        from,
        to,
        revenue_cents: totals.revenue_cents,
        payments: totals.payments,
        messages: totals.messages,
        members,
        operators,
        days,
        now: NowFigures {
            active_chats: block.active_chats,
            escalated_chats: block.escalated_chats,
            waiting: block.waiting,
            counted_at: block.at,
        },
    })
}

/// Every current operator's replies and response time in the range (their day
/// snapshots), with their quality score and rating now; most replies first.
async fn operator_figures(
    app: &App,
    from: NaiveDate,
    to: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Vec<OperatorFigures>, ApiError> {
    let mut all: Vec<Operator> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = app.store.list_operators(false, cursor.as_deref(), 100).await?;
        all.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let today = assignment::business_day(now);
    let mut figures = Vec::with_capacity(all.len());
    for batch in all.chunks(OPERATOR_BATCH) {
        let mut set = tokio::task::JoinSet::new();
        for op in batch {
            let (app, id) = (app.clone(), op.id.clone());
            set.spawn(async move { (id.clone(), app.store.operator_days(&id, from).await) });
        }
        let mut snapshots = BTreeMap::new();
        while let Some(done) = set.join_next().await {
            let (id, days) = done.map_err(ApiError::internal)?;
            snapshots.insert(id, days?);
        }
        for op in batch {
            let days = snapshots.remove(&op.id).unwrap_or_default();
            let (messages, avg) = stats::operator_range(&days, (op.replies, op.total_response_secs), today, from, to);
            figures.push(OperatorFigures {
                id: op.id.clone(),
                name: op.name.clone(),
                messages,
                avg_response_s: avg,
                quality_score: (assignment::quality_score(op) * 10.0).round() / 10.0,
                rating: (op.rating_count > 0).then(|| op.rating()),
            });
        }
    }
    figures.sort_by(|a, b| b.messages.cmp(&a.messages).then_with(|| a.id.cmp(&b.id)));
    Ok(figures)
}
