//! Database outages and per-IP limits, each against an emulator and an API server
//! that the test starts for itself (so it can freeze or kill the database without
//! touching the shared stack), with tight timeouts: a frozen or dead database
//! answers 503 `unavailable` within seconds, and a retry with the same
//! Idempotency-Key after it is back has exactly one effect.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use fantooo::domain::ids::MemberId;
use fantooo::domain::Credits;
use fantooo::store::Store;
use fantooo_tests::StatusCode;
use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// An emulator, its table and queues, and an API server on free ports, stopped on drop.
struct OwnStack {
    emulator: Child,
    server: Child,
    api: String,
    endpoint: String,
    store: Store,
    http: reqwest::Client,
}

impl Drop for OwnStack {
    fn drop(&mut self) {
        let _ = signal(self.emulator.id(), "CONT");
        let _ = self.server.kill();
        let _ = self.emulator.kill();
        let _ = self.server.wait();
        let _ = self.emulator.wait();
    }
}

fn signal(pid: u32, sig: &str) -> Result<()> {
    let ok = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status()?.success();
    anyhow::ensure!(ok, "kill -{sig} {pid} failed");
    Ok(())
}

/// The first line of `child`'s stdout that parses as JSON and has `field`.
fn json_line(child: &mut Child, field: &str) -> Result<Value> {
    let out = child.stdout.take().context("stdout")?;
    for line in BufReader::new(out).lines() {
        if let Ok(v) = serde_json::from_str::<Value>(&line?) {
            if v.get(field).is_some() {
                return Ok(v);
            }
        }
    }
    anyhow::bail!("no line with {field}")
}

impl OwnStack {
    async fn start(name: &str, extra_env: &[(&str, &str)]) -> Result<OwnStack> {
        let py = root().join(".venv/bin/python");
        let mut emulator = Command::new(&py)
            .arg(root().join("local/emulator.py"))
            .args(["--host", "127.0.0.1", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let endpoint = json_line(&mut emulator, "endpoint")?["endpoint"].as_str().context("endpoint")?.to_string();
        let table = format!("fantooo-{name}");
        let resources = fantooo_tests::bootstrap(&endpoint, &table)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut server = fantooo_tests::server_command(&table, &resources, port)?;
        server
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("DB_CONNECT_TIMEOUT_MS", "500")
            .env("DB_ATTEMPT_TIMEOUT_MS", "1000")
            .env("DB_OPERATION_TIMEOUT_MS", "2000")
            .env("REQUEST_TIMEOUT_MS", "6000");
        for (k, v) in extra_env {
            server.env(k, v);
        }
        let server = server.spawn()?;
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(&endpoint).load().await;
        let store = Store::new(aws_sdk_dynamodb::Client::new(&aws), table);
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
        let stack = OwnStack { emulator, server, api: format!("http://127.0.0.1:{port}"), endpoint, store, http };
        fantooo_tests::wait_healthy(&stack.http, &stack.api).await?;
        Ok(stack)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    /// A member with a chat past its three free messages and 5.00 credits: the
    /// member id, their token, and the chat id.
    async fn paying_member(&self, character: &str) -> Result<(MemberId, String, String)> {
        let (member, token) = self.register().await?;
        let open = self.http.post(self.url("/chats")).bearer_auth(&token).json(&json!({ "profile_id": character }));
        let (_, chat) = fantooo_tests::Stack::answer(open.send().await?).await?;
        let chat = chat["id"].as_str().context("chat id")?.to_string();
        for key in ["free-1", "free-2", "free-3"] {
            let (status, body) = self.send(&token, &chat, key).await?;
            anyhow::ensure!(status == StatusCode::CREATED, "free send: {status} {body}");
        }
        self.store.adjust_balance(&member, Credits::whole(5), "test_grant", "test", chrono::Utc::now()).await?;
        Ok((member, token, chat))
    }

    /// A send with an Idempotency-Key, at noon in Nairobi (a 1.00 message to a
    /// character that is not featured).
    async fn send(&self, token: &str, chat: &str, key: &str) -> Result<(StatusCode, Value)> {
        let req = self
            .http
            .post(self.url(&format!("/chats/{chat}/messages")))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .header("x-fantooo-now", fantooo_tests::NOON_EAT)
            .json(&json!({ "content": "are you there?" }));
        fantooo_tests::Stack::answer(req.send().await?).await
    }

    /// Balance, ledger sum and messages sent of a member.
    async fn money(&self, member: &MemberId) -> Result<(Credits, Credits, u64)> {
        let m = self.store.get_member(member).await?.context("member")?;
        let ledger: i64 = self.store.ledger(member).await?.iter().map(|(a, _, _)| a.hundredths()).sum();
        Ok((m.balance, Credits::from_hundredths(ledger), m.messages_sent))
    }

    async fn register(&self) -> Result<(MemberId, String)> {
        let username = fantooo_tests::unique_username("out");
        let body = json!({ "username": username, "password": "pass-word-1", "age": 30, "gender": "male",
            "looking_for": "female", "location": "Nairobi" });
        let res = self.http.post(self.url("/auth/register")).json(&body).send().await?;
        let (status, session) = fantooo_tests::Stack::answer(res).await?;
        anyhow::ensure!(status == StatusCode::CREATED, "register: {status} {session}");
        let id = MemberId::new(session["user"]["id"].as_str().context("id")?);
        Ok((id, session["token"].as_str().context("token")?.into()))
    }
}

#[tokio::test]
async fn a_frozen_database_answers_503_within_seconds_and_the_retried_send_is_charged_once() {
    let stack = OwnStack::start("frozen", &[]).await.unwrap();
    let (member, token, chat) = stack.paying_member("c_demo03").await.unwrap();

    signal(stack.emulator.id(), "STOP").unwrap();
    let started = Instant::now();
    let (status, body) = stack.send(&token, &chat, "paid").await.unwrap();
    let took = started.elapsed();
    signal(stack.emulator.id(), "CONT").unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")),
        "{body}"
    );
    assert!(took < Duration::from_secs(8), "answered in {took:?}");

    let (first, retried) = stack.send(&token, &chat, "paid").await.unwrap();
    assert_eq!((first, retried["message"]["cost"].as_str()), (StatusCode::CREATED, Some("1.00")), "{retried}");
    let (again, replayed) = stack.send(&token, &chat, "paid").await.unwrap();
    assert_eq!((again, &replayed), (StatusCode::CREATED, &retried), "the key replays the one effect");
    let money = stack.money(&member).await.unwrap();
    assert_eq!(money, (Credits::whole(4), Credits::whole(4), 4), "charged once; balance = ledger");
    eprintln!("frozen database: 503 after {took:?}");
}

#[tokio::test]
async fn a_send_that_committed_while_its_answer_was_lost_is_replayed_not_charged_again() {
    let stack = OwnStack::start("late", &[]).await.unwrap();
    let (member, token, chat) = stack.paying_member("c_demo04").await.unwrap();
    let faults = |delay: u64| {
        let url = format!("{}/_fantooo/faults", stack.endpoint);
        stack.http.post(url).json(&json!({ "transact_answer_delay_ms": delay })).send()
    };

    // The transaction commits, its answer comes after every timeout: 503, outcome unknown.
    assert!(faults(2_500).await.unwrap().status().is_success());
    let (status, body) = stack.send(&token, &chat, "late-paid").await.unwrap();
    assert!(faults(0).await.unwrap().status().is_success());
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")),
        "{body}"
    );
    assert_eq!(stack.money(&member).await.unwrap().0, Credits::whole(4), "the write did commit");

    // The client retries with its key: the stored answer, no second charge.
    let (status, replayed) = stack.send(&token, &chat, "late-paid").await.unwrap();
    assert_eq!((status, replayed["message"]["cost"].as_str()), (StatusCode::CREATED, Some("1.00")), "{replayed}");
    let money = stack.money(&member).await.unwrap();
    assert_eq!(money, (Credits::whole(4), Credits::whole(4), 4), "charged once; balance = ledger");
}

#[tokio::test]
async fn a_database_that_is_down_answers_503_not_500() {
    let mut stack = OwnStack::start("down", &[]).await.unwrap();
    let (_, token) = stack.register().await.unwrap();
    stack.emulator.kill().unwrap();
    stack.emulator.wait().unwrap();
    for path in ["/me", "/chats", "/profiles"] {
        let started = Instant::now();
        let res = stack.http.get(stack.url(path)).bearer_auth(&token).send().await.unwrap();
        let (status, body) = fantooo_tests::Stack::answer(res).await.unwrap();
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")),
            "{path}"
        );
        assert!(started.elapsed() < Duration::from_secs(8), "{path}: {:?}", started.elapsed());
    }
}

#[tokio::test]
async fn username_available_is_limited_per_ip() {
    let stack = OwnStack::start("limits", &[("RATE_LIMIT_PER_IP_PER_MINUTE", "300")]).await.unwrap();
    let mut statuses = Vec::new();
    for i in 0..310 {
        // One pinned second: however slow the machine, all 310 fall in one window.
        let url = stack.url(&format!("/auth/username-available?username=probe_{i}"));
        let res = stack.http.get(url).header("x-fantooo-now", fantooo_tests::NOON_EAT).send().await.unwrap();
        let retry_after = res.headers().get("retry-after").is_some();
        statuses.push((res.status(), retry_after));
    }
    let ok = statuses.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let limited = statuses.iter().filter(|(s, r)| *s == StatusCode::TOO_MANY_REQUESTS && *r).count();
    assert_eq!((ok, limited), (300, 10), "300 in any 60 s, then 429 with Retry-After");
}
