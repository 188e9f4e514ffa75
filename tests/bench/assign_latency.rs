//! Enqueue -> assigned latency through the local stack (see docs/benchmarks.md).
//! Run by `local/bench` against a release build of the local API whose SQS consumer
//! is on and whose sweep is off, so every assignment comes through the trigger path:
//! send-message writes the queue entry and the SQS message, the consumer long-polls,
//! runs an assignment pass and claims.
//!
//! 40 present operators (capacity 5 each) wait; 200 members each send a first
//! message to a new chat, spread evenly over 20 s. The latency of a chat is the
//! chat's `assigned_at` minus the stored message's `created_at`: both stamped by the
//! same server clock, so no polling interval blurs them.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use fantooo::domain::ids::{ChatId, OperatorId};
use fantooo::domain::{ids, Operator};
use fantooo_tests::{Member, Stack, StatusCode};
use futures::future::join_all;
use serde_json::json;

const OPERATORS: usize = 40;
const CAPACITY: u32 = 5;
const CHATS: usize = 200;
const SPREAD: Duration = Duration::from_secs(20);

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn present_operators(app: &fantooo::App) -> Result<Vec<OperatorId>> {
    let now = Utc::now();
    let mut out = Vec::with_capacity(OPERATORS);
    for _ in 0..OPERATORS {
        let id = OperatorId::new(ids::new_id("op_bench"));
        let op = Operator {
            max_concurrent_chats: CAPACITY,
            ..Operator::new_account(id.clone(), format!("{id}@bench.local"), "Bench Operator".into(), "!".into(), now)
        };
        anyhow::ensure!(app.store.create_operator(&op, now).await?, "operator {id} exists");
        app.store.set_availability(&id, true, now).await?;
        app.store.heartbeat(&id, now).await?;
        out.push(id);
    }
    Ok(out)
}

async fn members_with_chats(stack: &Arc<Stack>) -> Result<Vec<(Member, ChatId)>> {
    let mut out = Vec::with_capacity(CHATS);
    for chunk in 0..CHATS / 20 {
        let batch = (0..20).map(|i| {
            let stack = stack.clone();
            async move {
                let m = stack.register("assign").await?;
                let chat = stack.open_chat(&m, &format!("c_demo{:02}", (chunk * 20 + i) % 12 + 1)).await?;
                anyhow::Ok((m, chat))
            }
        });
        for r in join_all(batch).await {
            out.push(r?);
        }
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> Result<()> {
    let stack = Arc::new(Stack::connect().await?);
    let app = stack.app().await?;
    eprintln!("setting up {OPERATORS} operators and {CHATS} members with a chat ...");
    let operators = present_operators(&app).await?;
    let members = members_with_chats(&stack).await?;

    // Operators count as present for 60 s after a heartbeat; keep them present.
    let beat = {
        let app = app.clone();
        let operators = operators.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(15)).await;
                for op in &operators {
                    let _ = app.store.heartbeat(op, Utc::now()).await;
                }
            }
        })
    };

    eprintln!("sending {CHATS} first messages over {} s ...", SPREAD.as_secs());
    let gap = SPREAD / CHATS as u32;
    let sends = members.iter().enumerate().map(|(i, (m, chat))| {
        let stack = stack.clone();
        async move {
            tokio::time::sleep(gap * i as u32).await;
            let (s, body) = stack.send_at(m, chat, "hello there", &Utc::now().to_rfc3339()).await?;
            anyhow::ensure!(s == StatusCode::CREATED, "send answered {s}: {body}");
            let created = body["message"]["created_at"].as_str().context("message.created_at")?;
            anyhow::Ok((chat.clone(), DateTime::parse_from_rfc3339(created)?.with_timezone(&Utc)))
        }
    });
    let sent: Vec<(ChatId, DateTime<Utc>)> = join_all(sends).await.into_iter().collect::<Result<_>>()?;

    // Wait for the last assignments to land, then read every chat's assigned_at.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut latencies = Vec::with_capacity(CHATS);
    let mut unassigned = 0;
    for (chat, created) in &sent {
        let at = loop {
            match stack.chat_assigned_at(chat).await? {
                Some(at) => break Some(at),
                None if tokio::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
                None => break None,
            }
        };
        match at {
            Some(at) => latencies.push((at - *created).num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0),
            None => unassigned += 1,
        }
    }
    beat.abort();
    anyhow::ensure!(!latencies.is_empty(), "no chat was assigned: is the local consumer on?");
    latencies.sort_by(f64::total_cmp);
    let report = json!({
        "enqueue_to_assigned_p50_ms": percentile(&latencies, 0.50),
        "enqueue_to_assigned_p95_ms": percentile(&latencies, 0.95),
        "enqueue_to_assigned_p99_ms": percentile(&latencies, 0.99),
        "enqueue_to_assigned_max_ms": latencies[latencies.len() - 1],
        "assigned": latencies.len(),
        "unassigned_after_30s": unassigned,
        "operators": OPERATORS, "capacity_each": CAPACITY, "chats": CHATS,
        "spread_secs": SPREAD.as_secs(),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    anyhow::ensure!(unassigned == 0, "{unassigned} chats were never assigned");
    Ok(())
}
