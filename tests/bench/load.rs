//! Load benchmark for send-message through the local API (see docs/benchmarks.md).
//! Run by `local/bench` against a release build and a fresh emulator without faults:
//! DynamoDB round trips per send, send p50/p99 at 16 clients over 2,000 sends across
//! 200 members, and the emulator's own TransactWriteItems p50 at the same concurrency:
//! the latency the emulator itself measures (lock wait + moto) for the sends' own
//! transactions during the same load.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use fantooo::domain::ids::ChatId;
use fantooo_tests::{Member, Stack, StatusCode, NOON_EAT};
use futures::future::join_all;
use serde_json::json;

const MEMBERS: usize = 200;
const SENDS: usize = 2000;
const CLIENTS: usize = 16;
const ROUND_TRIP_SAMPLE: usize = 40;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

async fn dynamo_calls(stack: &Stack) -> Result<u64> {
    let stats = stack.emulator_stats().await?;
    let calls = stats["calls"].as_object().context("calls")?;
    Ok(calls.iter().filter(|(k, _)| k.starts_with("DynamoDB")).filter_map(|(_, v)| v.as_u64()).sum())
}

/// Milliseconds the emulator spent inside moto on DynamoDB calls, and waiting for its lock.
async fn emulator_time(stack: &Stack) -> Result<(f64, f64)> {
    let stats = stack.emulator_stats().await?;
    let busy = stats["busy_ms"].as_object().context("busy_ms")?.values().filter_map(|v| v.as_f64()).sum();
    Ok((busy, stats["lock_wait_ms"].as_f64().unwrap_or(0.0)))
}

async fn setup(stack: &Arc<Stack>) -> Result<Vec<(Member, ChatId)>> {
    let mut out = Vec::with_capacity(MEMBERS);
    for chunk in 0..MEMBERS / 20 {
        let batch = (0..20).map(|i| {
            let stack = stack.clone();
            async move {
                let m = stack.register("bench").await?;
                let character = format!("c_demo{:02}", (chunk * 20 + i) % 12 + 1);
                let chat = stack.open_chat(&m, &character).await?;
                stack.grant(&m, 1000).await?;
                anyhow::Ok((m, chat))
            }
        });
        for r in join_all(batch).await {
            out.push(r?);
        }
    }
    Ok(out)
}

async fn round_trips(stack: &Stack, members: &[(Member, ChatId)]) -> Result<f64> {
    let before = dynamo_calls(stack).await?;
    for (m, chat) in members.iter().take(ROUND_TRIP_SAMPLE) {
        let (s, b) = stack.send_at(m, chat, "counting round trips", NOON_EAT).await?;
        anyhow::ensure!(s == StatusCode::CREATED, "send answered {s}: {b}");
    }
    let after = dynamo_calls(stack).await?;
    // One GET /_fantooo/faults is not a DynamoDB call, so the delta is the sends' alone.
    Ok((after - before) as f64 / ROUND_TRIP_SAMPLE as f64)
}

async fn load(stack: &Arc<Stack>, members: Arc<Vec<(Member, ChatId)>>) -> Result<(Vec<Duration>, Duration)> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers = (0..CLIENTS).map(|_| {
        let (stack, members, next) = (stack.clone(), members.clone(), next.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= SENDS {
                    return anyhow::Ok(latencies);
                }
                let (m, chat) = &members[n % MEMBERS];
                let t = Instant::now();
                let (s, b) = stack.send_at(m, chat, "load", NOON_EAT).await?;
                anyhow::ensure!(s == StatusCode::CREATED, "send answered {s}: {b}");
                latencies.push(t.elapsed());
            }
        })
    });
    let mut all = Vec::with_capacity(SENDS);
    for w in join_all(workers).await {
        all.extend(w??);
    }
    let elapsed = started.elapsed();
    all.sort();
    Ok((all, elapsed))
}

/// For context: a small transaction (conditional update + two puts) at the same
/// concurrency, straight from the SDK, with nothing else competing for the emulator.
async fn emulator_baseline(stack: &Arc<Stack>) -> Result<Vec<Duration>> {
    let next = Arc::new(AtomicUsize::new(0));
    let workers = (0..CLIENTS).map(|w| {
        let (stack, next) = (stack.clone(), next.clone());
        tokio::spawn(async move {
            let s = |v: &str| AttributeValue::S(v.to_string());
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= SENDS {
                    return anyhow::Ok(latencies);
                }
                let counter = Update::builder()
                    .table_name(&stack.table)
                    .key("PK", s(&format!("BENCH#{w}")))
                    .key("SK", s("COUNTER"))
                    .update_expression("ADD n :one")
                    .condition_expression("attribute_not_exists(n) OR n >= :zero")
                    .expression_attribute_values(":one", AttributeValue::N("1".into()))
                    .expression_attribute_values(":zero", AttributeValue::N("0".into()))
                    .build()?;
                let put = |sk: String| {
                    Put::builder()
                        .table_name(&stack.table)
                        .item("PK", s(&format!("BENCH#{w}")))
                        .item("SK", s(&sk))
                        .item("content", s("load"))
                        .condition_expression("attribute_not_exists(PK)")
                        .build()
                };
                let t = Instant::now();
                stack
                    .dynamo
                    .transact_write_items()
                    .transact_items(TransactWriteItem::builder().update(counter).build())
                    .transact_items(TransactWriteItem::builder().put(put(format!("MSG#{n}"))?).build())
                    .transact_items(TransactWriteItem::builder().put(put(format!("LEDGER#{n}"))?).build())
                    .send()
                    .await?;
                latencies.push(t.elapsed());
            }
        })
    });
    let mut all = Vec::with_capacity(SENDS);
    for w in join_all(workers).await {
        all.extend(w??);
    }
    all.sort();
    Ok(all)
}

#[tokio::main]
async fn main() -> Result<()> {
    let stack = Arc::new(Stack::connect().await?);
    let stats = stack.emulator_stats().await?;
    anyhow::ensure!(
        stats["conflict_rate"].as_f64() == Some(0.0),
        "benchmark wants an emulator without fault injection"
    );
    eprintln!("setting up {MEMBERS} members with a chat and credits ...");
    let members = Arc::new(setup(&stack).await?);
    for (m, chat) in members.iter() {
        for i in 0..3 {
            stack.send_at(m, chat, &format!("free {i}"), NOON_EAT).await?;
        }
    }
    let per_send = round_trips(&stack, &members).await?;
    eprintln!("load: {SENDS} sends, {CLIENTS} clients ...");
    // The emulator's per-call latencies (lock wait + moto) now cover only the load.
    let reset = stack.http.post(format!("{}/_fantooo/reset-counters", stack.emulator)).send().await?;
    anyhow::ensure!(reset.status().is_success(), "emulator reset answered {}", reset.status());
    let (busy0, wait0) = emulator_time(&stack).await?;
    let (sends, elapsed) = load(&stack, members.clone()).await?;
    let (busy1, wait1) = emulator_time(&stack).await?;
    let during = stack.emulator_stats().await?;
    let in_load = |op: &str, p: &str| during["latency_ms"][format!("DynamoDB_20120810.{op}")][p].as_f64();
    let transact_p50 = in_load("TransactWriteItems", "p50").context("no TransactWriteItems during the load")?;
    let batch_get_p50 = in_load("BatchGetItem", "p50").context("no BatchGetItem during the load")?;
    eprintln!("emulator baseline: {SENDS} TransactWriteItems, {CLIENTS} clients ...");
    let baseline = emulator_baseline(&stack).await?;
    let report = json!({
        "dynamodb_round_trips_per_send": per_send,
        "send_p50_ms": percentile(&sends, 0.50),
        "send_p99_ms": percentile(&sends, 0.99),
        "sends_per_second": SENDS as f64 / elapsed.as_secs_f64(),
        "emulator_transact_p50_ms": transact_p50,
        "emulator_transact_p99_ms": in_load("TransactWriteItems", "p99"),
        "emulator_batch_get_p50_ms": batch_get_p50,
        "ratio_send_p50_to_transact_p50": percentile(&sends, 0.50) / transact_p50,
        "ratio_send_p50_to_its_two_calls_p50": percentile(&sends, 0.50) / (transact_p50 + batch_get_p50),
        "small_transact_alone_p50_ms": percentile(&baseline, 0.50),
        "small_transact_alone_p99_ms": percentile(&baseline, 0.99),
        "emulator_dynamodb_busy_ms_per_send": (busy1 - busy0) / SENDS as f64,
        "emulator_lock_wait_ms_per_send": (wait1 - wait0) / SENDS as f64,
        "clients": CLIENTS, "sends": SENDS, "members": MEMBERS,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
