//! A burst of first messages through the local stack, assigned through the SQS
//! trigger path (see docs/benchmarks.md). Run by `local/bench` against a release
//! build of the local API whose consumer is on (five pollers, as Lambda starts
//! with) and whose sweep is off, so every assignment comes from a trigger.
//!
//! 400 present operators (capacity 10 each: room for 4,000) wait; 3,000 chats
//! (250 members x 12 characters) each get their first message as fast as 32
//! clients can send. Goal (issue 11): every chat assigned within 60 s of the last
//! send. Each chat's latency is its `assigned_at` minus its message's
//! `created_at`, both stamped by the server's clock.
//!
//! BURST_CHATS and BURST_OPERATORS scale it down for a quick look.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use fantooo::domain::ids::{CharacterId, ChatId, OperatorId};
use fantooo::domain::principal::Principal;
use fantooo::domain::{ids, Chat, Operator};
use fantooo_tests::{seed, Member, Stack, StatusCode};
use futures::stream::{self, StreamExt};
use serde_json::json;

const CAPACITY: u32 = 10;
const CLIENTS: usize = 32;
const CHARACTERS: usize = 12;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn present_operators(app: &fantooo::App, n: usize) -> Result<Vec<OperatorId>> {
    let now = Utc::now();
    let made = stream::iter(0..n)
        .map(|_| async move {
            let id = OperatorId::new(ids::new_id("op_burst"));
            let op = Operator {
                max_concurrent_chats: CAPACITY,
                ..Operator::new_account(
                    id.clone(),
                    format!("{id}@bench.local"),
                    "Burst Operator".into(),
                    "!".into(),
                    now,
                )
            };
            anyhow::ensure!(app.store.create_operator(&op, now).await?, "operator {id} exists");
            app.store.set_availability(&id, true, now).await?;
            app.store.heartbeat(&id, now).await?;
            anyhow::Ok(id)
        })
        .buffer_unordered(8);
    made.collect::<Vec<_>>().await.into_iter().collect()
}

/// Members (tokens minted directly: registering 250 members would time argon2,
/// not the queue) and their chats, created but not yet written to.
async fn members_with_chats(app: &fantooo::App, chats: usize) -> Result<Vec<(Member, ChatId)>> {
    let now = Utc::now();
    let members = chats.div_ceil(CHARACTERS);
    let made = stream::iter(0..members)
        .map(|_| async move {
            let id = seed::member(&app.store, now).await?;
            let token = app.tokens.issue_access(&Principal::member(id.as_str()), "bench")?;
            let member = Member { id: id.clone(), username: String::new(), token, refresh_token: String::new() };
            let mut out = Vec::with_capacity(CHARACTERS);
            for c in 0..CHARACTERS {
                let chat = Chat::new(id.clone(), CharacterId::new(format!("c_demo{:02}", c + 1)), now);
                let (chat, _) = app.store.create_or_get_chat(&chat).await?.context("chat refused")?;
                out.push((member.clone(), chat.id));
            }
            anyhow::Ok(out)
        })
        .buffer_unordered(8);
    let mut all: Vec<(Member, ChatId)> = Vec::with_capacity(members * CHARACTERS);
    for r in made.collect::<Vec<_>>().await {
        all.extend(r?);
    }
    all.truncate(chats);
    Ok(all)
}

#[tokio::main]
async fn main() -> Result<()> {
    let chats = env_usize("BURST_CHATS", 3_000);
    let operator_count = env_usize("BURST_OPERATORS", 400);
    let stack = Arc::new(Stack::connect().await?);
    let app = stack.app().await?;
    eprintln!("setting up {operator_count} operators and {chats} chats ...");
    let operators = present_operators(&app, operator_count).await?;
    let members = members_with_chats(&app, chats).await?;

    // Operators count as present for 60 s after a heartbeat; keep them present.
    let beat = {
        let app = app.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(20)).await;
                for op in &operators {
                    let _ = app.store.heartbeat(op, Utc::now()).await;
                }
            }
        })
    };

    eprintln!("sending {chats} first messages with {CLIENTS} clients ...");
    let started = Instant::now();
    let sends = stream::iter(members.iter())
        .map(|(m, chat)| {
            let stack = stack.clone();
            async move {
                let (s, body) = stack.send_at(m, chat, "hello there", &Utc::now().to_rfc3339()).await?;
                anyhow::ensure!(s == StatusCode::CREATED, "send answered {s}: {body}");
                let created = body["message"]["created_at"].as_str().context("message.created_at")?;
                anyhow::Ok((chat.clone(), DateTime::parse_from_rfc3339(created)?.with_timezone(&Utc)))
            }
        })
        .buffer_unordered(CLIENTS);
    let sent: Vec<(ChatId, DateTime<Utc>)> = sends.collect::<Vec<_>>().await.into_iter().collect::<Result<_>>()?;
    let send_secs = started.elapsed().as_secs_f64();
    let last_sent = sent.iter().map(|(_, at)| *at).max().context("nothing sent")?;
    let waiting_at_last_send = app.store.waiting_entries().await?.len();

    // Wait (up to 5 minutes) for the queue to empty, then read every chat.
    let deadline = Instant::now() + Duration::from_secs(300);
    while !app.store.waiting_entries().await?.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    beat.abort();
    let mut latencies = Vec::with_capacity(chats);
    let mut last_assigned = last_sent;
    let mut unassigned = 0;
    for (chat, created) in &sent {
        match stack.chat_assigned_at(chat).await? {
            Some(at) => {
                latencies.push((at - *created).num_milliseconds() as f64);
                last_assigned = last_assigned.max(at);
            }
            None => unassigned += 1,
        }
    }
    anyhow::ensure!(!latencies.is_empty(), "no chat was assigned: is the local consumer on?");
    latencies.sort_by(f64::total_cmp);
    let drain = (last_assigned - last_sent).num_milliseconds() as f64 / 1000.0;
    let report = json!({
        "chats": chats, "operators": operator_count, "capacity_each": CAPACITY, "clients": CLIENTS,
        "send_secs": (send_secs * 10.0).round() / 10.0,
        "sends_per_sec": (chats as f64 / send_secs * 10.0).round() / 10.0,
        "waiting_when_the_last_send_answered": waiting_at_last_send,
        "all_assigned_secs_after_last_send": drain,
        "goal_secs": 60,
        "assigned": latencies.len(),
        "unassigned": unassigned,
        "enqueue_to_assigned_p50_ms": percentile(&latencies, 0.50),
        "enqueue_to_assigned_p95_ms": percentile(&latencies, 0.95),
        "enqueue_to_assigned_max_ms": latencies[latencies.len() - 1],
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    anyhow::ensure!(unassigned == 0, "{unassigned} chats were never assigned");
    Ok(())
}
