//! Realtime benchmark (docs/benchmarks.md, "Realtime"), run by `local/bench`
//! against a release build of the local API and its gateway emulation:
//!
//! - `load`: 200 connected members and 20 connected operators, each member's chat
//!   held by an operator; 5 sends a second spread over the members for
//!   `RT_SECONDS` (60); send -> delivered latency (from just before the POST to the
//!   frame's arrival) at the member's socket and at the operator's, p50/p95/p99,
//!   and the frames each (paid) send produced.
//! - `serial`: `RT_SERIAL` (200) sends one at a time from connected members: the
//!   send's own latency. `local/bench` runs it against a server with delivery on
//!   and one with `REALTIME_DELIVERY=off`; the difference is what realtime adds.
//!
//! Prints one JSON object.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;
use fantooo::domain::admin::AdminRole;
use fantooo::domain::principal::Principal;
use fantooo_tests::ws::{self, Ws};
use fantooo_tests::{call, staff, Member, Stack, StatusCode};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

const MEMBERS: usize = 200;
const OPERATORS: usize = 20;
const SENDS_PER_SECOND: u64 = 5;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    (sorted[idx] * 10.0).round() / 10.0
}

fn summary(mut ms: Vec<f64>) -> Value {
    ms.sort_by(|a, b| a.total_cmp(b));
    json!({ "n": ms.len(), "p50_ms": percentile(&ms, 0.5), "p95_ms": percentile(&ms, 0.95), "p99_ms": percentile(&ms, 0.99) })
}

/// When each message id's frame reached a socket, and how many frames came.
#[derive(Default)]
struct Arrivals {
    at: HashMap<String, Instant>,
    frames: u64,
}

/// Reads a socket until it ends, noting each message frame's arrival.
fn listen(mut socket: Ws, arrivals: Arc<Mutex<Arrivals>>) {
    tokio::spawn(async move {
        while let Some(Ok(frame)) = socket.next().await {
            let Message::Text(text) = frame else { continue };
            let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else { continue };
            let mut a = arrivals.lock().await;
            a.frames += 1;
            if let Some(id) = v["message"]["id"].as_str() {
                a.at.entry(id.to_string()).or_insert_with(Instant::now);
            }
        }
    });
}

struct Setup {
    members: Vec<(Member, String)>,
    member_side: Arc<Mutex<Arrivals>>,
    operator_side: Arc<Mutex<Arrivals>>,
}

/// Members written straight into the table with a session and a minted token
/// (no password hashing), operators through the back office; every member's chat held by an
/// operator; everyone connected.
async fn setup(stack: &Stack, app: &fantooo::App) -> Result<Setup> {
    let root = staff::admin(stack, AdminRole::Admin, None).await?;
    let mut operators = Vec::new();
    for _ in 0..OPERATORS {
        operators.push(staff::online_operator(stack, &root, (MEMBERS / OPERATORS + 2) as u32).await?);
    }
    let member_side = Arc::new(Mutex::new(Arrivals::default()));
    let operator_side = Arc::new(Mutex::new(Arrivals::default()));
    for op in &operators {
        listen(ws::open(stack, &op.token).await?, operator_side.clone());
    }
    let mut members = Vec::new();
    for i in 0..MEMBERS {
        let id = fantooo_tests::seed::member(&stack.store, Utc::now()).await?;
        // A session of its own (a refresh token of its family), as a login makes:
        // tickets are only issued in live sessions.
        let family = format!("fbench{i}");
        let session = fantooo::store::TokenRef {
            kind: fantooo::domain::principal::PrincipalKind::Member,
            principal_id: id.as_str(),
            family: &family,
            hash: &family,
        };
        app.store.put_refresh_token(session, Utc::now(), Utc::now() + chrono::Duration::days(1)).await?;
        let token = app.tokens.issue_access(&Principal::member(id.as_str()), &family)?;
        let m = Member { id, username: String::new(), token, refresh_token: String::new() };
        stack.grant(&m, 10_000).await?;
        let chat = stack.open_chat(&m, &format!("c_demo0{}", 1 + i % 9)).await?;
        // The chat's free messages: every measured send is a paid one (a message
        // frame to each side and a balance frame to the member).
        for text in ["hello", "are you there?", "hi again"] {
            let (s, b) = stack.post(&m, &format!("/chats/{chat}/messages"), json!({ "content": text })).await?;
            anyhow::ensure!(s == StatusCode::CREATED, "free send: {s} {b}");
        }
        let op = &operators[i % OPERATORS];
        let path = format!("/admin/chats/{chat}/reassign");
        let body = json!({ "operator_id": op.id });
        let (s, b) = call(&stack.http, &stack.api, "POST", &path, Some(&root.token), Some(body)).await?;
        anyhow::ensure!(s == StatusCode::OK, "reassign: {s} {b}");
        listen(ws::open(stack, &m.token).await?, member_side.clone());
        members.push((m, chat.to_string()));
    }
    // Let the setup's own frames land before anything is measured.
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(Setup { members, member_side, operator_side })
}

async fn send(stack: &Stack, m: &Member, chat: &str, text: &str) -> Result<(String, Instant, Duration)> {
    let started = Instant::now();
    let (s, b) = stack.post(m, &format!("/chats/{chat}/messages"), json!({ "content": text })).await?;
    anyhow::ensure!(s == StatusCode::CREATED, "send: {s} {b}");
    Ok((b["message"]["id"].as_str().context("message id")?.to_string(), started, started.elapsed()))
}

async fn load(stack: &Stack, s: &Setup) -> Result<Value> {
    let seconds = env_number("RT_SECONDS", 60);
    let total = (seconds * SENDS_PER_SECOND) as usize;
    let frames_before = (s.member_side.lock().await.frames, s.operator_side.lock().await.frames);
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / SENDS_PER_SECOND));
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..total {
        tick.tick().await;
        let (m, chat) = s.members[i % s.members.len()].clone();
        let stack_api = (stack.http.clone(), stack.api.clone());
        sends.spawn(async move {
            let started = Instant::now();
            let url = format!("{}/chats/{chat}/messages", stack_api.1);
            let res = stack_api.0.post(url).bearer_auth(&m.token).json(&json!({ "content": "load" })).send().await?;
            let (status, b) = Stack::answer(res).await?;
            anyhow::ensure!(status == StatusCode::CREATED, "send: {status} {b}");
            Ok::<_, anyhow::Error>((b["message"]["id"].as_str().context("id")?.to_string(), started))
        });
    }
    let mut sent = Vec::new();
    while let Some(done) = sends.join_next().await {
        sent.push(done??);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (member_side, operator_side) = (s.member_side.lock().await, s.operator_side.lock().await);
    let latency = |a: &Arrivals| -> (Vec<f64>, usize) {
        let mut missing = 0;
        let ms = sent
            .iter()
            .filter_map(|(id, started)| match a.at.get(id) {
                Some(at) => Some(at.saturating_duration_since(*started).as_secs_f64() * 1000.0),
                None => {
                    missing += 1;
                    None
                }
            })
            .collect();
        (ms, missing)
    };
    let (member_ms, member_missing) = latency(&member_side);
    let (operator_ms, operator_missing) = latency(&operator_side);
    let frames = (member_side.frames - frames_before.0) + (operator_side.frames - frames_before.1);
    Ok(json!({
        "members_connected": MEMBERS, "operators_connected": OPERATORS,
        "sends": sent.len(), "sends_per_second": SENDS_PER_SECOND,
        "send_to_member_socket": summary(member_ms), "member_frames_missing": member_missing,
        "send_to_operator_socket": summary(operator_ms), "operator_frames_missing": operator_missing,
        "frames_per_send": (frames as f64 / sent.len() as f64 * 100.0).round() / 100.0,
    }))
}

async fn serial(stack: &Stack, s: &Setup) -> Result<Value> {
    let n = env_number("RT_SERIAL", 200) as usize;
    let mut ms = Vec::with_capacity(n);
    for i in 0..n {
        let (m, chat) = &s.members[i % s.members.len()];
        let (_, _, took) = send(stack, m, chat, "serial").await?;
        ms.push(took.as_secs_f64() * 1000.0);
    }
    Ok(summary(ms))
}

#[tokio::main]
async fn main() -> Result<()> {
    let phases: Vec<String> = std::env::args().skip(1).collect();
    let stack = Stack::connect().await?;
    let app = stack.app().await?;
    let s = setup(&stack, &app).await?;
    let mut out = serde_json::Map::new();
    for phase in &phases {
        let result = match phase.as_str() {
            "load" => load(&stack, &s).await?,
            "serial" => serial(&stack, &s).await?,
            other => anyhow::bail!("unknown phase {other}: load or serial"),
        };
        out.insert(phase.clone(), result);
    }
    println!("{}", serde_json::to_string_pretty(&Value::Object(out))?);
    Ok(())
}
