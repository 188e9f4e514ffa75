//! What each operation costs on DynamoDB, counted by the emulator's meter
//! (local/meter.py over local/capacity.py: item sizes before and after, the
//! transaction doubling, every index written). Run by `local/bench` against a
//! release build with the consumer and schedules off, so every unit counted is the
//! operation's own. Prints one JSON object: per operation, the write units (table
//! and per index), the read units and the dollars per 1M at on-demand list prices,
//! and the DynamoDB cost of 1M member messages under the mix below.

use anyhow::{Context, Result};
use chrono::Utc;
use fantooo::domain::ids::{ChatId, OperatorId};
use fantooo::domain::Operator;
use fantooo_tests::{charge_event, ws, Member, Stack, StatusCode, NOON_EAT};
use serde_json::{json, Map, Value};

/// us-east-1 on-demand list prices, checked 2026-11-30 (docs/benchmarks.md).
const DOLLARS_PER_MILLION_WRU: f64 = 0.625;
const DOLLARS_PER_MILLION_RRU: f64 = 0.125;

/// The rest of the platform, us-east-1 list prices checked 2026-11-30: API Gateway
/// HTTP API, Lambda arm64 (requests and GB-seconds) and SQS requests.
const API_GATEWAY_PER_MILLION: f64 = 1.00;
const LAMBDA_REQUESTS_PER_MILLION: f64 = 0.20;
const LAMBDA_PER_GB_SECOND: f64 = 0.000_013_333_4;
/// infra/template.yaml Globals: MemorySize 256.
const LAMBDA_MEMORY_GB: f64 = 0.25;
/// An assumption, not a measurement: billed milliseconds per invocation (the
/// request path is two DynamoDB round trips). At 256 MB each 10 ms is $0.033 per 1M.
const ASSUMED_BILLED_SECONDS: f64 = 0.05;
const SQS_PER_MILLION: f64 = 0.40;
/// Per member message: HTTP requests (each a Lambda invocation): the send, the
/// reply, heartbeats; and per waiting send, one assignment trigger (SQS send,
/// receive, delete) and one assign-chats invocation (an upper bound: batches share).
const HTTP_PER_MESSAGE: f64 = 1.0 + 1.0 + 2000.0 / 30.0 / 2000.0;
const TRIGGERS_PER_MESSAGE: f64 = 0.1;

/// Per member message: the send itself (90 % to a chat an operator holds, 10 %
/// to a waiting chat), the character's reply, a claim for every waiting send,
/// and heartbeats (2,000 operators every 30 s against 2,000 sends a second).
const MIX: &[(&str, f64)] = &[
    ("send_paid_held", 0.81),
    // One member message in ten is the first of its chat in a new hour.
    ("send_paid_held_new_hour", 0.09),
    ("send_paid_waiting", 0.1),
    ("operator_reply", 1.0),
    ("assignment_claim", 0.1),
    // Each heartbeat counted as one that also refreshes the listing (the worst case).
    ("heartbeat_after_reply", 2000.0 / 30.0 / 2000.0),
];

struct Meter<'a> {
    stack: &'a Stack,
    emulator: String,
}

impl Meter<'_> {
    async fn reset(&self) -> Result<()> {
        self.stack.http.post(format!("{}/_fantooo/reset-counters", self.emulator)).send().await?;
        Ok(())
    }

    /// The units counted since the last reset: (wru total, wru per index, rru, per DynamoDB call).
    async fn read(&self) -> Result<Value> {
        let report: Value =
            self.stack.http.get(format!("{}/_fantooo/capacity", self.emulator)).send().await?.json().await?;
        let ops = report["by_operation"].as_object().context("by_operation")?;
        let (mut wru, mut wru_table, mut rru) = (0.0, 0.0, 0.0);
        let mut by_index = Map::new();
        let mut calls = Map::new();
        let mut partitions = Map::new();
        let mut item_bytes = Map::new();
        for (op, t) in ops {
            for (key, size) in t["item_bytes"].as_object().into_iter().flatten() {
                item_bytes.insert(key.clone(), size.clone());
            }
            for (key, units) in t["partitions"].as_object().into_iter().flatten() {
                let slot = partitions.entry(key.clone()).or_insert_with(|| json!({ "wru": 0.0, "rru": 0.0 }));
                for unit in ["wru", "rru"] {
                    slot[unit] = json!(slot[unit].as_f64().unwrap_or(0.0) + units[unit].as_f64().unwrap_or(0.0));
                }
            }
            wru += t["wru"].as_f64().unwrap_or(0.0);
            wru_table += t["wru_table"].as_f64().unwrap_or(0.0);
            rru += t["rru"].as_f64().unwrap_or(0.0);
            for (index, n) in t["wru_index"].as_object().into_iter().flatten() {
                let sum = by_index.get(index).and_then(Value::as_f64).unwrap_or(0.0) + n.as_f64().unwrap_or(0.0);
                by_index.insert(index.clone(), json!(sum));
            }
            calls.insert(op.clone(), t["calls"].clone());
        }
        let dollars = wru * DOLLARS_PER_MILLION_WRU + rru * DOLLARS_PER_MILLION_RRU;
        Ok(json!({
            "wru": wru, "wru_table": wru_table, "wru_index": by_index, "rru": rru,
            "dollars_per_million": (dollars * 1000.0).round() / 1000.0, "calls": calls,
            "partitions": partitions, "item_bytes": item_bytes,
        }))
    }
}

async fn operator(stack: &Stack, app: &fantooo::App) -> Result<(OperatorId, String)> {
    let now = Utc::now();
    let id = OperatorId::new(fantooo::domain::ids::new_id("op_cap"));
    let email = format!("{id}@bench.local");
    let hash = fantooo::auth::password::hash("operator-pass-1".into()).await?;
    let op = Operator {
        max_concurrent_chats: 50,
        ..Operator::new_account(id.clone(), email.clone(), "Cap".into(), hash, now)
    };
    anyhow::ensure!(app.store.create_operator(&op, now).await?, "operator exists");
    let body = json!({ "email": email, "password": "operator-pass-1" });
    let (s, session) = Stack::answer(stack.http.post(stack.url("/operator/login")).json(&body).send().await?).await?;
    anyhow::ensure!(s == StatusCode::OK, "operator login: {session}");
    let token = session["token"].as_str().context("token")?.to_string();
    let (s, b) = Stack::answer(
        stack
            .http
            .post(stack.url("/operator/availability"))
            .bearer_auth(&token)
            .json(&json!({ "available": true }))
            .send()
            .await?,
    )
    .await?;
    anyhow::ensure!(s == StatusCode::OK, "available: {b}");
    Ok((id, token))
}

/// A member past the free messages of a chat, with credits.
async fn paying(stack: &Stack, character: &str) -> Result<(Member, ChatId)> {
    let m = stack.register("cap").await?;
    let chat = stack.open_chat(&m, character).await?;
    for i in 0..3 {
        let (s, b) = stack.send_at(&m, &chat, &format!("free {i}"), NOON_EAT).await?;
        anyhow::ensure!(s == StatusCode::CREATED, "free send: {b}");
    }
    stack.grant(&m, 100).await?;
    Ok((m, chat))
}

/// A 100-character message, as the goals are stated.
fn text() -> String {
    "x".repeat(100)
}

/// `secs` after NOON_EAT. Every measured message has its own time, as real ones
/// do (two messages at one pinned instant would leave the member's chat list
/// entry where it was, and undercount); those after the claim come an hour later.
fn at(secs: i64) -> String {
    let noon = chrono::DateTime::parse_from_rfc3339(NOON_EAT).expect("NOON_EAT is RFC 3339");
    (noon + chrono::Duration::seconds(secs)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::main]
async fn main() -> Result<()> {
    let stack = Stack::connect().await?;
    let app = stack.app().await?;
    let emulator = std::env::var("AWS_ENDPOINT_URL").context("AWS_ENDPOINT_URL")?;
    let meter = Meter { stack: &stack, emulator };
    let mut results = Map::new();
    let now = || Utc::now();

    // A free send: the chat's first message.
    let m = stack.register("cap").await?;
    // Characters with production-length ids (a 26-character ULID), as members' are:
    // the chat's key repeats both.
    let first = fantooo_tests::seed::character(&stack.store, "Capacity One").await?;
    let second = fantooo_tests::seed::character(&stack.store, "Capacity Two").await?;
    let chat = stack.open_chat(&m, &first).await?;
    // Members and the operator are connected, as in use: each delivery reads
    // their connection lists and finds them (docs/realtime.md).
    let _first_socket = ws::open(&stack, &m.token).await?;
    meter.reset().await?;
    let (s, b) = stack.send_at(&m, &chat, &text(), &at(10)).await?;
    anyhow::ensure!(s == StatusCode::CREATED, "{b}");
    results.insert("send_free".into(), meter.read().await?);

    // A paid send to a waiting chat (it is queued), then one with an Idempotency-Key.
    let (m, chat) = paying(&stack, &second).await?;
    let _paying_socket = ws::open(&stack, &m.token).await?;
    meter.reset().await?;
    let (s, b) = stack.send_at(&m, &chat, &text(), &at(20)).await?;
    anyhow::ensure!(s == StatusCode::CREATED, "{b}");
    results.insert("send_paid_waiting".into(), meter.read().await?);
    meter.reset().await?;
    let (s, b) = stack.send_keyed(&m, &chat, &text(), &at(30), "cap-1").await?;
    anyhow::ensure!(s == StatusCode::CREATED, "{b}");
    results.insert("send_paid_waiting_with_idempotency_key".into(), meter.read().await?);

    // The waiting chats (the two above) claimed for the one available operator: the
    // paid one by the SQS trigger its send wrote (a batch naming it, in a process
    // that has not read the operators yet), the free one by a whole pass (the sweep,
    // or a freed operator's trigger). "assignment_claim" is the trigger's cost.
    let (_op, token) = operator(&stack, &app).await?;
    let _console = ws::open(&stack, &token).await?;
    meter.reset().await?;
    let report = fantooo::services::assignment::assign_batch(&app, std::slice::from_ref(&chat), false, now()).await?;
    anyhow::ensure!(report.assigned == 1, "the trigger claimed nothing: {report:?}");
    let trigger = meter.read().await?;
    results.insert("assignment_claim".into(), json!({ "dollars_per_million": trigger["dollars_per_million"] }));
    results.insert("assignment_trigger".into(), trigger);
    meter.reset().await?;
    let report = fantooo::services::assignment::assign_pass(&app, now()).await?;
    anyhow::ensure!(report.assigned == 1, "the pass claimed nothing: {report:?}");
    results.insert("assignment_pass".into(), meter.read().await?);

    // Paid sends to the chat the operator now holds: the first an hour after the
    // chat's last message (it moves the chat's open-chats entry, which keeps hours),
    // the second in the same hour (the usual case); the operator's reply; a heartbeat.
    for (name, secs) in [("send_paid_held_new_hour", 3600), ("send_paid_held", 3610)] {
        meter.reset().await?;
        let (s, b) = stack.send_at(&m, &chat, &text(), &at(secs)).await?;
        anyhow::ensure!(s == StatusCode::CREATED, "{b}");
        results.insert(name.into(), meter.read().await?);
    }
    // The same with an Idempotency-Key (issue 11's goal: <= 10 WRU).
    meter.reset().await?;
    let (s, b) = stack.send_keyed(&m, &chat, &text(), &at(3615), "cap-2").await?;
    anyhow::ensure!(s == StatusCode::CREATED, "{b}");
    results.insert("send_paid_held_with_idempotency_key".into(), meter.read().await?);
    // At the member's last pinned time: a reply within the hour of the chat's last
    // message, the usual case (the open-chats entry moves once an hour at most).
    let operator_post = |path: String, body: Value, secs: i64| {
        stack.http.post(stack.url(&path)).bearer_auth(&token).header("x-fantooo-now", at(secs)).json(&body).send()
    };
    // The measured day's first heartbeat keeps the day's reply counters (one write
    // a day per operator: `operator_day`); the heartbeats measured below are the usual ones.
    let (s, b) = Stack::answer(operator_post("/operator/heartbeat".into(), json!({}), 3618).await?).await?;
    anyhow::ensure!(s.is_success(), "heartbeat: {b}");
    meter.reset().await?;
    let (s, b) = Stack::answer(
        operator_post(format!("/operator/chats/{chat}/messages"), json!({ "content": text() }), 3620).await?,
    )
    .await?;
    anyhow::ensure!(s == StatusCode::CREATED, "reply: {b}");
    results.insert("operator_reply".into(), meter.read().await?);
    // The first heartbeat after the reply finds the response time moved and
    // rewrites the listing's copy; the next one is the usual heartbeat.
    for (name, secs) in [("heartbeat_after_reply", 3630), ("heartbeat", 3660)] {
        meter.reset().await?;
        let (s, b) = Stack::answer(operator_post("/operator/heartbeat".into(), json!({}), secs).await?).await?;
        anyhow::ensure!(s.is_success(), "heartbeat: {b}");
        results.insert(name.into(), meter.read().await?);
    }
    meter.reset().await?;
    let (s, b) =
        Stack::answer(operator_post(format!("/operator/chats/{chat}/release"), json!({}), 3670).await?).await?;
    anyhow::ensure!(s.is_success(), "release: {b}");
    results.insert("release".into(), meter.read().await?);

    // A checkout, and the webhook that credits it.
    meter.reset().await?;
    let (s, checkout) = stack.post(&m, "/credits/checkout", json!({ "package_id": "pkg_starter" })).await?;
    anyhow::ensure!(s == StatusCode::CREATED, "{checkout}");
    results.insert("checkout".into(), meter.read().await?);
    let reference = checkout["reference"].as_str().context("reference")?;
    meter.reset().await?;
    let (s, b) = stack.webhook(&charge_event("charge.success", reference, "success", 10000, "KES")).await?;
    anyhow::ensure!(s == StatusCode::OK, "{b}");
    results.insert("webhook_credit".into(), meter.read().await?);

    let per_message: f64 = MIX
        .iter()
        .map(|(op, share)| share * results.get(*op).and_then(|r| r["dollars_per_million"].as_f64()).unwrap_or(0.0))
        .sum();
    let mix: Map<String, Value> = MIX.iter().map(|(op, share)| ((*op).to_string(), json!(share))).collect();
    let api_gateway = HTTP_PER_MESSAGE * API_GATEWAY_PER_MILLION;
    let invocations = HTTP_PER_MESSAGE + TRIGGERS_PER_MESSAGE;
    let per_invocation =
        LAMBDA_REQUESTS_PER_MILLION + LAMBDA_MEMORY_GB * ASSUMED_BILLED_SECONDS * LAMBDA_PER_GB_SECOND * 1e6;
    let lambda = invocations * per_invocation;
    let sqs = TRIGGERS_PER_MESSAGE * 3.0 * SQS_PER_MILLION;
    let round = |x: f64| (x * 100.0).round() / 100.0;
    let platform = json!({
        "dynamodb": round(per_message),
        "api_gateway": round(api_gateway),
        "lambda": round(lambda),
        "sqs": round(sqs),
        "total": round(per_message + api_gateway + lambda + sqs),
        "assumptions": {
            "http_requests_per_message": HTTP_PER_MESSAGE,
            "lambda_invocations_per_message": invocations,
            "lambda_memory_gb": LAMBDA_MEMORY_GB,
            "lambda_billed_seconds_assumed": ASSUMED_BILLED_SECONDS,
            "sqs_requests_per_message": TRIGGERS_PER_MESSAGE * 3.0,
        },
    });
    let out = json!({
        "operations": results,
        "prices": { "wru_per_million": DOLLARS_PER_MILLION_WRU, "rru_per_million": DOLLARS_PER_MILLION_RRU, "checked": "2026-11-30" },
        "mix_per_member_message": mix,
        "dynamodb_dollars_per_million_member_messages": round(per_message),
        "platform_dollars_per_million_member_messages": platform,
        "sharded_keys": fantooo::store::SHARDED_KEYS.iter().map(|(k, n)| ((*k).to_string(), json!(n))).collect::<Map<_, _>>(),
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
