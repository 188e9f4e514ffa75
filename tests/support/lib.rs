//! Test support: a client for the local stack started by `local/test`
//! (API on FANTOOO_API, emulator on AWS_ENDPOINT_URL), and helpers that set up
//! members, chats and credits through the real API and the real store.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use fantooo::domain::ids::{ChatId, MemberId};
use fantooo::domain::Credits;
use fantooo::store::Store;
use serde_json::{json, Value};

pub use fantooo::store::testing::{Partition, Record};
pub use reqwest::StatusCode;

/// A Paystack `charge.*` event for a reference.
pub fn charge_event(event: &str, reference: &str, status: &str, amount: i64, currency: &str) -> Value {
    json!({
        "event": event,
        "data": {
            "id": 4099260516u64, "domain": "test", "status": status, "reference": reference,
            "amount": amount, "currency": currency, "gateway_response": format!("Paystack says {status}"),
            "channel": "card", "customer": { "email": "member@fantooo.com" }
        }
    })
}

/// Rounds of a race test: `FANTOOO_RACE_ROUNDS` (local/soak sets 20), else `ci` (a few).
pub fn rounds(ci: usize) -> usize {
    std::env::var("FANTOOO_RACE_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(ci)
}

/// A time pinned at a Nairobi wall-clock hour today (EAT is UTC+3).
pub fn eat(hour: u32, minute: u32) -> String {
    let utc_hour = (hour + 24 - 3) % 24;
    format!("2026-11-25T{utc_hour:02}:{minute:02}:00Z")
}

pub const NOON_EAT: &str = "2026-11-25T09:00:00Z";

pub struct Stack {
    pub api: String,
    pub emulator: String,
    pub http: reqwest::Client,
    pub store: Store,
    pub dynamo: aws_sdk_dynamodb::Client,
    pub table: String,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A username no other test (or earlier run on the same stack) uses.
pub fn unique_username(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let p: String = prefix.chars().take(8).collect();
    format!("{p}_{:x}{n:x}", nanos % 0xfffff)
}

#[derive(Clone, Debug)]
pub struct Member {
    pub id: MemberId,
    pub username: String,
    pub token: String,
    pub refresh_token: String,
}

impl Stack {
    pub async fn connect() -> Result<Stack> {
        let api = std::env::var("FANTOOO_API").context("FANTOOO_API not set: run the tests with local/test")?;
        let emulator = std::env::var("AWS_ENDPOINT_URL").context("AWS_ENDPOINT_URL not set")?;
        let table = std::env::var("TABLE_NAME").context("TABLE_NAME not set")?;
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        let dynamo = aws_sdk_dynamodb::Client::new(&aws);
        let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
        Ok(Stack { api, emulator, http, store: Store::new(dynamo.clone(), table.clone()), dynamo, table })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.api, path)
    }

    pub async fn register(&self, prefix: &str) -> Result<Member> {
        let username = unique_username(prefix);
        let res = self
            .http
            .post(self.url("/auth/register"))
            .json(&json!({
                "username": username, "password": "pass-word-1", "age": 30, "gender": "male",
                "looking_for": "female", "location": "Nairobi"
            }))
            .send()
            .await?;
        let status = res.status();
        let body: Value = res.json().await?;
        anyhow::ensure!(status == StatusCode::CREATED, "register answered {status}: {body}");
        Ok(Member {
            id: MemberId::new(body["user"]["id"].as_str().context("user.id")?),
            username,
            token: body["token"].as_str().context("token")?.to_string(),
            refresh_token: body["refresh_token"].as_str().context("refresh_token")?.to_string(),
        })
    }

    /// GET with a member's token; returns status and JSON body (Null if none).
    pub async fn get(&self, m: &Member, path: &str) -> Result<(StatusCode, Value)> {
        let res = self.http.get(self.url(path)).bearer_auth(&m.token).send().await?;
        Self::answer(res).await
    }

    pub async fn post(&self, m: &Member, path: &str, body: Value) -> Result<(StatusCode, Value)> {
        let res = self.http.post(self.url(path)).bearer_auth(&m.token).json(&body).send().await?;
        Self::answer(res).await
    }

    pub async fn answer(res: reqwest::Response) -> Result<(StatusCode, Value)> {
        let status = res.status();
        let text = res.text().await?;
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).context(text)? };
        Ok((status, body))
    }

    /// Opens (or finds) the member's chat with a demo character.
    pub async fn open_chat(&self, m: &Member, profile_id: &str) -> Result<ChatId> {
        let (status, body) = self.post(m, "/chats", json!({ "profile_id": profile_id })).await?;
        anyhow::ensure!(status.is_success(), "POST /chats answered {status}: {body}");
        Ok(ChatId::new(body["id"].as_str().context("chat id")?))
    }

    /// Sends a member message at a pinned time.
    pub async fn send_at(&self, m: &Member, chat: &str, content: &str, now: &str) -> Result<(StatusCode, Value)> {
        self.send_message(m, chat, content, now, None).await
    }

    /// Sends a member message at a pinned time with an Idempotency-Key.
    pub async fn send_keyed(
        &self,
        m: &Member,
        chat: &str,
        content: &str,
        now: &str,
        key: &str,
    ) -> Result<(StatusCode, Value)> {
        self.send_message(m, chat, content, now, Some(key)).await
    }

    async fn send_message(
        &self,
        m: &Member,
        chat: &str,
        content: &str,
        now: &str,
        key: Option<&str>,
    ) -> Result<(StatusCode, Value)> {
        let mut req = self
            .http
            .post(self.url(&format!("/chats/{chat}/messages")))
            .bearer_auth(&m.token)
            .header("x-fantooo-now", now);
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        Self::answer(req.json(&json!({ "content": content })).send().await?).await
    }

    /// Tops up a member through the store (payments come in a later issue): one
    /// transaction that moves the balance and writes the ledger entry.
    pub async fn grant(&self, m: &Member, credits: i64) -> Result<()> {
        let now = chrono::Utc::now();
        let after = self.store.adjust_balance(&m.id, Credits::whole(credits), "test_grant", "test", now).await?;
        anyhow::ensure!(after.is_some(), "grant failed");
        Ok(())
    }

    pub async fn balance(&self, m: &Member) -> Result<Credits> {
        let member = self.store.get_member(&m.id).await?.context("member")?;
        Ok(member.balance)
    }

    pub async fn ledger_sum(&self, m: &Member) -> Result<Credits> {
        let entries = self.store.ledger(&m.id).await?;
        Ok(Credits::from_hundredths(entries.iter().map(|(amount, _, _)| amount.hundredths()).sum()))
    }

    /// A chat's item as stored (strongly consistent), every attribute.
    pub async fn raw_chat(
        &self,
        chat: &str,
    ) -> Result<Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(format!("CHAT#{chat}")))
            .key("SK", AttributeValue::S("CHAT".into()))
            .consistent_read(true)
            .send()
            .await?;
        Ok(out.item)
    }

    /// When a chat's current assignment began, if it is held.
    pub async fn chat_assigned_at(&self, chat: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        let Some(item) = self.raw_chat(chat).await? else { return Ok(None) };
        let Some(at) = item.get("assigned_at").and_then(|v| v.as_s().ok()) else { return Ok(None) };
        Ok(Some(chrono::DateTime::parse_from_rfc3339(at)?.with_timezone(&chrono::Utc)))
    }

    /// Counters kept by local/emulator.py (calls per DynamoDB operation, injected faults).
    pub async fn emulator_stats(&self) -> Result<Value> {
        Ok(self.http.get(format!("{}/_fantooo/faults", self.emulator)).send().await?.json().await?)
    }

    /// The same App the Lambdas build, for calling services and jobs directly
    /// (reconcile, audit, outbox sweep, refunds) with an injected clock.
    pub async fn app(&self) -> Result<fantooo::App> {
        Ok(fantooo::App::from_env().await?)
    }

    /// Tells the Paystack stand-in what verify should answer for a reference.
    pub async fn paystack_says(&self, reference: &str, status: &str, amount: i64, currency: &str) -> Result<()> {
        let base = std::env::var("PAYSTACK_BASE_URL").context("PAYSTACK_BASE_URL")?;
        let res = self
            .http
            .put(format!("{base}/_standin/transactions/{reference}"))
            .json(&json!({ "status": status, "amount": amount, "currency": currency, "gateway_response": format!("stand-in {status}") }))
            .send()
            .await?;
        anyhow::ensure!(res.status().is_success(), "stand-in answered {}", res.status());
        Ok(())
    }

    /// How many times the stand-in was asked to verify a reference.
    pub async fn verify_calls(&self, reference: &str) -> Result<u64> {
        let base = std::env::var("PAYSTACK_BASE_URL").context("PAYSTACK_BASE_URL")?;
        let calls: Value = self.http.get(format!("{base}/_standin/calls")).send().await?.json().await?;
        Ok(calls["verify"][reference].as_u64().unwrap_or(0))
    }

    /// Posts a Paystack event, signed with `secret` (the real key unless a test forges it).
    pub async fn webhook_signed(&self, body: &Value, secret: &str) -> Result<(StatusCode, Value)> {
        let raw = serde_json::to_vec(body)?;
        let sig = fantooo::payments::signature::sign(secret, &raw);
        let res = self
            .http
            .post(self.url("/webhooks/paystack"))
            .header("content-type", "application/json")
            .header("x-paystack-signature", sig)
            .body(raw)
            .send()
            .await?;
        Self::answer(res).await
    }

    pub async fn webhook(&self, body: &Value) -> Result<(StatusCode, Value)> {
        let secret = std::env::var("PAYSTACK_SECRET_KEY").context("PAYSTACK_SECRET_KEY")?;
        self.webhook_signed(body, &secret).await
    }

    /// Sets emulator fault rates (see local/emulator.py).
    pub async fn set_faults(&self, faults: Value) -> Result<()> {
        let res = self.http.post(format!("{}/_fantooo/faults", self.emulator)).json(&faults).send().await?;
        anyhow::ensure!(res.status().is_success(), "emulator answered {}", res.status());
        Ok(())
    }

    /// Sets an attribute on a stored item directly (to stage bans, closes, etc.).
    /// Stages one attribute of a record past every rule (`Store::force_attr`).
    pub async fn set_attr(
        &self,
        record: Record<'_>,
        name: &str,
        value: aws_sdk_dynamodb::types::AttributeValue,
    ) -> Result<()> {
        Ok(self.store.force_attr(record, name, value).await?)
    }
}

/// Test-only seeding straight into the table, for what no route creates yet
/// (characters, members with no login) and to stage states (bans).
pub mod seed {
    use anyhow::Result;
    use chrono::{DateTime, Utc};
    use fantooo::domain::ids::{self, CharacterId, MemberId};
    use fantooo::domain::{Character, CharacterStatus, Credits, Gender, LookingFor, Member, MemberStatus, Tier};
    use fantooo::store::{NewMember, Store};

    /// An active member with no password (it cannot log in); returns its id.
    pub async fn member(store: &Store, at: DateTime<Utc>) -> Result<MemberId> {
        let id = MemberId::new(ids::new_id("m_t"));
        let member = Member {
            id: id.clone(),
            username: format!("t{}", id.to_ascii_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "")),
            password_hash: "!".into(),
            display_name: None,
            email: None,
            age: 30,
            gender: Gender::Male,
            looking_for: LookingFor::Female,
            location: "Nairobi".into(),
            latitude: None,
            longitude: None,
            bio: None,
            language: None,
            balance: Credits::ZERO,
            tier: Tier::Free,
            messages_sent: 0,
            credits_spent: Credits::ZERO,
            kes_paid_cents: 0,
            loyalty_used: 0,
            status: MemberStatus::Active,
            created_at: at,
        };
        anyhow::ensure!(store.create_member(&NewMember { member, stated_age: 30 }, at).await?, "member id collided");
        Ok(id)
    }

    /// An active character with three photos; returns its id.
    pub async fn character(store: &Store, name: &str) -> Result<CharacterId> {
        let id = CharacterId::new(ids::new_id("c_t"));
        let c = Character {
            id: id.clone(),
            name: name.into(),
            age: 27,
            gender: Gender::Female,
            location: "Mombasa".into(),
            bio: "A test character.".into(),
            photos: (1..=3).map(|i| format!("https://img.example/{id}/{i}.jpg")).collect(),
            interests: vec!["tests".into()],
            occupation: None,
            language: Some("en".into()),
            languages: Vec::new(),
            is_featured: false,
            featured_until: None,
            status: CharacterStatus::Active,
            popularity: 0,
            response_style: Some("friendly".into()),
            personality_guidelines: None,
            response_templates: Vec::new(),
            created_at: Some(Utc::now()),
            deleted_at: None,
        };
        store.put_character(&c).await?;
        Ok(id)
    }

    /// Bans a member the way the back office will (status only; no route yet).
    pub async fn ban(stack: &super::Stack, member_id: &MemberId) -> Result<()> {
        let v = aws_sdk_dynamodb::types::AttributeValue::S(MemberStatus::Banned.as_str().into());
        stack.set_attr(crate::Record::Member(member_id), "status", v).await
    }
}

/// Staff-only field names that must never appear in a member response.
pub const STAFF_FIELDS: &[&str] = &[
    "operator_id",
    "operator",
    "operator_name",
    "last_operator_id",
    "handled_by",
    "notes",
    "member_notes",
    "character_notes",
    "response_templates",
    "personality_guidelines",
    "response_style",
    "revenue",
    "total_revenue",
    "popularity",
    "password_hash",
    "search_text",
    "assignment",
    "reassign_count",
];

/// Every object key anywhere in a JSON value.
pub fn keys_of(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, inner) in map {
                out.push(k.clone());
                keys_of(inner, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| keys_of(i, out)),
        _ => {}
    }
}

/// An API server of the test's own, on a fresh table and queues of the shared
/// emulator: for a test that needs a state the shared table cannot give it (no
/// setup done yet, exactly the super admins it made). Stopped on drop.
pub struct OwnApi {
    server: std::process::Child,
    pub api: String,
    pub table: String,
    pub http: reqwest::Client,
}

impl Drop for OwnApi {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// The repository's root (for local/ scripts and target/ binaries).
pub fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fresh table and queues named `table` on the emulator at `endpoint`
/// (`local/bootstrap.py`): its output (`assignment_queue_url`, `event_bus_name`, ...).
pub fn bootstrap(endpoint: &str, table: &str) -> Result<Value> {
    let boot = std::process::Command::new(root().join(".venv/bin/python"))
        .arg(root().join("local/bootstrap.py"))
        .args(["--endpoint", endpoint, "--table", table, "--queue-prefix", table])
        .output()?;
    anyhow::ensure!(boot.status.success(), "bootstrap: {}", String::from_utf8_lossy(&boot.stderr));
    let line = String::from_utf8_lossy(&boot.stdout).lines().last().unwrap_or_default().to_string();
    Ok(serde_json::from_str(&line)?)
}

/// The local API server on `table` (as `bootstrap` made it) and `port`, with the
/// consumer and every schedule off and its output discarded; the caller adds what
/// else it needs and spawns it.
pub fn server_command(table: &str, resources: &Value, port: u16) -> Result<std::process::Command> {
    use std::process::Stdio;
    let mut server = std::process::Command::new(root().join("target/debug/fantooo-local"));
    server
        .env("TABLE_NAME", table)
        .env("ASSIGNMENT_QUEUE_URL", resources["assignment_queue_url"].as_str().context("queue")?)
        .env("EVENT_BUS_NAME", resources["event_bus_name"].as_str().context("bus")?)
        .env("MEDIA_BUCKET", resources["media_bucket"].as_str().context("media bucket")?)
        .env("MEDIA_PUBLIC_URL", resources["media_public_url"].as_str().context("media public url")?)
        .env("MEDIA_QUEUE_URL", resources["media_queue_url"].as_str().context("media queue")?)
        .env("FANTOOO_PORT", port.to_string())
        .env("REALTIME_URL", format!("ws://127.0.0.1:{port}/ws"))
        .env("REALTIME_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .env("FANTOOO_LOCAL_CONSUMER", "off")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for job in [
        "OUTBOX",
        "RECONCILE",
        "AUDIT",
        "ASSIGN_SWEEP",
        "IDLE_WATCH",
        "ESCALATE",
        "AUTO_CLOSE",
        "SUSPENSION",
        "PENDING_JOBS",
        "STATS",
    ] {
        server.env(format!("FANTOOO_LOCAL_{job}_SECS"), "86400");
    }
    Ok(server)
}

/// Until `GET /health` at `api` answers, for up to a minute.
pub async fn wait_healthy(http: &reqwest::Client, api: &str) -> Result<()> {
    for _ in 0..600 {
        if http.get(format!("{api}/health")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!("the API server did not start")
}

impl OwnApi {
    pub async fn start(name: &str) -> Result<OwnApi> {
        Self::start_with_env(name, &[]).await
    }

    /// `start` with more environment for the server (its limits, say).
    pub async fn start_with_env(name: &str, env: &[(&str, &str)]) -> Result<OwnApi> {
        let endpoint = std::env::var("AWS_ENDPOINT_URL").context("AWS_ENDPOINT_URL not set")?;
        let table = format!("fantooo-{}", unique_username(name).replace('_', "-"));
        let resources = bootstrap(&endpoint, &table)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut command = server_command(&table, &resources, port)?;
        command.envs(env.iter().copied());
        let server = command.spawn()?;
        let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
        let own = OwnApi { server, api: format!("http://127.0.0.1:{port}"), table, http };
        wait_healthy(&own.http, &own.api).await?;
        Ok(own)
    }

    /// A `Stack` on this server and its own table.
    pub async fn stack(&self) -> Result<Stack> {
        let shared = Stack::connect().await?;
        Ok(Stack {
            api: self.api.clone(),
            emulator: shared.emulator.clone(),
            http: self.http.clone(),
            store: Store::new(shared.dynamo.clone(), self.table.clone()),
            dynamo: shared.dynamo.clone(),
            table: self.table.clone(),
        })
    }
}

/// One request with an optional bearer token and JSON body: (status, JSON or null).
pub async fn call(
    http: &reqwest::Client,
    api: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<(StatusCode, Value)> {
    let method = reqwest::Method::from_bytes(method.as_bytes())?;
    let mut req = http.request(method, format!("{api}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    Stack::answer(req.send().await?).await
}

/// Every item of a list route, following `next_cursor` (pages of 50, at most
/// `max_pages`), with `token`'s bearer auth.
pub async fn all_pages(stack: &Stack, token: &str, path: &str, max_pages: usize) -> Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..max_pages {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit=50&cursor={c}"),
            None => format!("{path}{sep}limit=50"),
        };
        let (status, page) = call(&stack.http, &stack.api, "GET", &url, Some(token), None).await?;
        anyhow::ensure!(status == StatusCode::OK, "{url}: {status} {page}");
        items.extend(page["items"].as_array().context("items")?.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return Ok(items),
        }
    }
    Ok(items)
}

/// Back-office principals for tests on the shared table: admins staged through the
/// store (the shared table never runs the setup), signed in through the API.
pub mod staff {
    use anyhow::{Context, Result};
    use chrono::Utc;
    use fantooo::domain::admin::{Admin, AdminRole, Permissions, Totp};
    use fantooo::domain::ids;
    use serde_json::json;

    use super::{call, unique_username, Stack, StatusCode};

    pub const PASSWORD: &str = "admin-pass-12345";

    /// A signed-in admin.
    #[derive(Clone, Debug)]
    pub struct Staff {
        pub id: String,
        pub email: String,
        pub token: String,
    }

    /// An admin of `role` (with `custom` permissions instead of the role's, if
    /// given), staged through the store and signed in.
    pub async fn admin(stack: &Stack, role: AdminRole, custom: Option<Permissions>) -> Result<Staff> {
        let (id, email) = stage(stack, role, custom).await?;
        let body = json!({ "email": email, "password": PASSWORD });
        let (status, b) = call(&stack.http, &stack.api, "POST", "/admin/login", None, Some(body)).await?;
        anyhow::ensure!(status == StatusCode::OK, "admin login: {status} {b}");
        Ok(Staff { id, email, token: b["token"].as_str().context("token")?.into() })
    }

    /// An admin of `role` written straight into the table (password `PASSWORD`):
    /// (id, email).
    pub async fn stage(stack: &Stack, role: AdminRole, custom: Option<Permissions>) -> Result<(String, String)> {
        let email = format!("{}@staff.test", unique_username(role.as_str()));
        let admin = Admin {
            id: ids::new_id("ad_"),
            name: format!("Staged {}", role.as_str()),
            email: email.clone(),
            role,
            custom_permissions: custom,
            active: true,
            password_hash: fantooo::auth::password::hash(PASSWORD.into()).await?,
            totp: Totp::Off,
            created_at: Utc::now(),
            version: 1,
            sessions_cut: None,
        };
        stack.store.stage_admin(&admin, Utc::now()).await?;
        Ok((admin.id, email))
    }

    /// A signed-in operator: id, access token, refresh token.
    #[derive(Clone, Debug)]
    pub struct Operator {
        pub id: String,
        pub email: String,
        pub token: String,
        pub refresh_token: String,
    }

    /// An operator created by `by`, online, with room for `max` chats.
    pub async fn online_operator(stack: &Stack, by: &Staff, max: u32) -> Result<Operator> {
        let op = operator(stack, by).await?;
        let path = format!("/admin/operators/{}", op.id);
        let body = json!({ "max_concurrent_chats": max });
        let (status, b) = call(&stack.http, &stack.api, "PATCH", &path, Some(&by.token), Some(body)).await?;
        anyhow::ensure!(status == StatusCode::OK, "max chats: {status} {b}");
        let body = json!({ "available": true });
        let (status, b) =
            call(&stack.http, &stack.api, "POST", "/operator/availability", Some(&op.token), Some(body)).await?;
        anyhow::ensure!(status == StatusCode::OK, "online: {status} {b}");
        Ok(op)
    }

    /// A new operator created by `by` through the back office, signed in.
    pub async fn operator(stack: &Stack, by: &Staff) -> Result<Operator> {
        let email = format!("{}@ops.test", unique_username("op"));
        let body = json!({ "name": "Test Operator", "email": email, "password": PASSWORD, "languages": ["en"] });
        let (status, b) =
            call(&stack.http, &stack.api, "POST", "/admin/operators", Some(&by.token), Some(body)).await?;
        anyhow::ensure!(status == StatusCode::CREATED, "create operator: {status} {b}");
        let body = json!({ "email": email, "password": PASSWORD });
        let (status, s) = call(&stack.http, &stack.api, "POST", "/operator/login", None, Some(body)).await?;
        anyhow::ensure!(status == StatusCode::OK, "operator login: {status} {s}");
        Ok(Operator {
            id: b["id"].as_str().context("id")?.into(),
            email,
            token: s["token"].as_str().context("token")?.into(),
            refresh_token: s["refresh_token"].as_str().context("refresh")?.into(),
        })
    }
}

/// A real WebSocket client for the realtime routes (tests/realtime.rs, the
/// capacity and realtime benchmarks).
pub mod ws {
    use std::time::Duration;

    use anyhow::{Context, Result};
    use futures::StreamExt;
    use serde_json::Value;
    use tokio_tungstenite::tungstenite::Message;

    use super::{call, Stack, StatusCode};

    pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

    /// `POST /realtime/ticket` with `token`: `{ticket, url, expires_at}`.
    pub async fn ticket(stack: &Stack, token: &str) -> Result<Value> {
        let (status, body) = call(&stack.http, &stack.api, "POST", "/realtime/ticket", Some(token), None).await?;
        anyhow::ensure!(status == StatusCode::CREATED, "ticket: {status} {body}");
        Ok(body)
    }

    /// Where a ticket connects: `url?ticket=`.
    pub fn url_of(ticket: &Value) -> Result<String> {
        let url = ticket["url"].as_str().context("url")?;
        Ok(format!("{url}?ticket={}", ticket["ticket"].as_str().context("ticket")?))
    }

    /// Opens a socket; `Err(status)` when the upgrade is refused.
    pub async fn dial(url: &str) -> Result<std::result::Result<Ws, u16>> {
        match tokio_tungstenite::connect_async(url).await {
            Ok((ws, _)) => Ok(Ok(ws)),
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Ok(Err(res.status().as_u16())),
            Err(e) => Err(e.into()),
        }
    }

    /// A socket for the holder of `token`.
    pub async fn open(stack: &Stack, token: &str) -> Result<Ws> {
        let t = ticket(stack, token).await?;
        dial(&url_of(&t)?).await?.map_err(|s| anyhow::anyhow!("upgrade refused: {s}"))
    }

    /// The next JSON text frame within `within`; `None` if none came. A socket
    /// that ended is an error.
    pub async fn next_frame(ws: &mut Ws, within: Duration) -> Result<Option<Value>> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, ws.next()).await {
                Err(_) => return Ok(None),
                Ok(Some(Ok(Message::Text(t)))) => return Ok(Some(serde_json::from_str(t.as_str())?)),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)))) => continue,
                Ok(Some(Ok(other))) => anyhow::bail!("socket ended: {other:?}"),
                Ok(Some(Err(e))) => anyhow::bail!("socket failed: {e}"),
                Ok(None) => anyhow::bail!("socket ended"),
            }
        }
    }
}
