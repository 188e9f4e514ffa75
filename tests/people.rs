//! The back office's people side against the local stack: an operator's
//! suspension (chats requeued, by the request or by its job), reactivation and
//! deletion (409 while holding chats, then every token dead); a member's ban
//! (sessions, the restricted token, more open chats than one transaction holds,
//! devices refused, IPs flagged) and unban; reports from an operator to a ban;
//! erasure and export by an admin; the operator's daily figures.
//!
//! Members here sign up from loopback addresses of their own (127.x.y.z), so the
//! IPs a ban marks are theirs alone and never flag another test's members.

use std::net::{IpAddr, Ipv4Addr};

use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use fantooo::domain::admin::{AdminRole, Permissions};
use fantooo::domain::ids::{CharacterId, ChatId, MemberId, OperatorId};
use fantooo::domain::{Chat, ChatStatus, CloseReason, Credits};
use fantooo::services::closing::{self, Budget};
use fantooo::App;
use fantooo_tests::staff::{self, Staff};
use fantooo_tests::{call, seed, unique_username, Record, Stack, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Mutex;

/// Tests here claim chats from the shared queue and run the shared job list: one at a time.
static TURN: Mutex<()> = Mutex::const_new(());

/// A client whose requests come from a loopback address of its own.
fn client_from(ip: Ipv4Addr) -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder().local_address(IpAddr::V4(ip)).build()?)
}

fn fresh_ip() -> Ipv4Addr {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(7);
    let n = (n / 1000) as u32;
    Ipv4Addr::new(127, 10 + (n % 200) as u8, ((n >> 8) % 250) as u8 + 1, ((n >> 16) % 250) as u8 + 2)
}

/// Registers a member from `http` with an optional `X-Device-Id`.
async fn register(stack: &Stack, http: &reqwest::Client, device: Option<&str>) -> Result<(StatusCode, Value, String)> {
    let username = unique_username("ppl");
    let mut req = http.post(stack.url("/auth/register")).json(&json!({
        "username": username, "password": "pass-word-1", "age": 30, "gender": "male",
        "looking_for": "female", "location": "Nairobi"
    }));
    if let Some(d) = device {
        req = req.header("x-device-id", d);
    }
    let (status, body) = Stack::answer(req.send().await?).await?;
    Ok((status, body, username))
}

async fn login(
    stack: &Stack,
    http: &reqwest::Client,
    username: &str,
    device: Option<&str>,
) -> Result<(StatusCode, Value)> {
    let mut req = http.post(stack.url("/auth/login")).json(&json!({ "username": username, "password": "pass-word-1" }));
    if let Some(d) = device {
        req = req.header("x-device-id", d);
    }
    Stack::answer(req.send().await?).await
}

async fn api(stack: &Stack, method: &str, path: &str, token: &str, body: Option<Value>) -> Result<(StatusCode, Value)> {
    call(&stack.http, &stack.api, method, path, Some(token), body).await
}

/// `n` waiting chats of a fresh member, claimed by `operator` (as a pass would).
async fn held_chats(app: &App, operator: &OperatorId, n: usize, at: DateTime<Utc>) -> Result<Vec<ChatId>> {
    let member = seed::member(&app.store, at).await?;
    let mut chats = Vec::new();
    for i in 0..n {
        let mut chat = Chat::new(member.clone(), CharacterId::new(format!("c_demo{:02}", i % 12 + 1)), at);
        chat.awaiting_reply_since = Some(at);
        let (chat, _) = app.store.create_or_get_chat(&chat).await?.context("member active")?;
        app.store.enqueue(&chat, Credits::ZERO, at).await?;
        chats.push(chat.id);
    }
    let entries = app.store.waiting_entries().await?;
    for chat in &chats {
        let entry = entries.iter().find(|e| e.chat_id == *chat).context("queued")?;
        let outcome = app.store.claim(entry, operator, at).await?;
        anyhow::ensure!(outcome == fantooo::store::ClaimOutcome::Claimed, "claim {chat}: {outcome:?}");
    }
    Ok(chats)
}

/// Runs the pending-jobs schedule until `done` holds (other tests' jobs may be
/// leased or stamped at pinned times, so "no job left" is not the test).
async fn run_jobs_until<F, Fut>(app: &App, done: F) -> Result<closing::JobsReport>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let mut total = closing::JobsReport::default();
    for _ in 0..40 {
        let r = closing::run_jobs(app, Utc::now() + Duration::seconds(10), Budget::default()).await?;
        total.chats_closed += r.chats_closed;
        total.chats_requeued += r.chats_requeued;
        total.jobs_finished += r.jobs_finished;
        if done().await? {
            return Ok(total);
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    anyhow::bail!("the jobs did not get there after 40 runs: {total:?}")
}

/// Every chat of the member, as stored now.
async fn member_chats(app: &App, id: &MemberId) -> Result<Vec<Chat>> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = app.store.member_chats_oldest_first(id, cursor.as_deref(), 50).await?;
        all.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(all),
        }
    }
}

async fn audit_actions(stack: &Stack, root: &Staff, target: &str) -> Result<Vec<String>> {
    let (status, page) = api(stack, "GET", "/admin/audit?limit=50", &root.token, None).await?;
    anyhow::ensure!(status == StatusCode::OK, "audit: {status}");
    Ok(page["items"]
        .as_array()
        .context("items")?
        .iter()
        .filter(|e| e["target"] == target)
        .filter_map(|e| e["action"].as_str().map(String::from))
        .collect())
}

#[tokio::test]
async fn an_operator_is_suspended_with_chats_requeued_then_reactivated_then_deleted() -> Result<()> {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await?;
    let app = stack.app().await?;
    let root = staff::admin(&stack, AdminRole::SuperAdmin, None).await?;
    let op = staff::operator(&stack, &root).await?;
    let op_id = OperatorId::new(op.id.as_str());
    let (status, _) =
        api(&stack, "POST", "/operator/availability", &op.token, Some(json!({ "available": true }))).await?;
    assert_eq!(status, StatusCode::OK);
    let now = Utc::now();
    let chats = held_chats(&app, &op_id, 2, now).await?;
    let path = format!("/admin/operators/{}", op.id);

    // Holding chats: not deleted.
    let (status, b) = api(&stack, "DELETE", &path, &root.token, None).await?;
    assert_eq!((status, b["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("active_chats")), "{b}");

    // Suspended: offline at once, chats back in the queue at the top, told.
    let body = json!({ "reason": "retraining on tone", "days": 3 });
    let (status, b) = api(&stack, "POST", &format!("{path}/suspend"), &root.token, Some(body)).await?;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!((b["is_suspended"].as_bool(), b["is_available"].as_bool()), (Some(true), Some(false)));
    assert_eq!((b["active_chats"].as_u64(), b["suspension_reason"].as_str()), (Some(0), Some("retraining on tone")));
    let until: DateTime<Utc> = b["suspended_until"].as_str().context("until")?.parse()?;
    assert!((until - (Utc::now() + Duration::days(3))).num_seconds().abs() < 60, "{until}");
    let entries = app.store.waiting_entries().await?;
    for chat in &chats {
        let c = app.store.get_chat(chat).await?.context("chat")?;
        assert_eq!(c.operator_id, None, "{chat} taken from the suspended operator");
        let entry = entries.iter().find(|e| e.chat_id == *chat).context("requeued")?;
        assert!(entry.boosted, "{chat} waits at the top");
    }
    let (status, b) =
        api(&stack, "POST", "/operator/availability", &op.token, Some(json!({ "available": true }))).await?;
    assert_eq!((status, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("suspended")), "{b}");
    let (status, notes) = api(&stack, "GET", "/operator/notifications", &op.token, None).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(notes["items"].as_array().context("items")?.iter().any(|n| n["kind"] == "suspended"), "{notes}");
    let report = closing::run_jobs(&app, Utc::now() + Duration::seconds(10), Budget::default()).await?;
    assert_eq!(report.chats_requeued, 0, "the request requeued everything; its job found nothing left");
    assert_eq!(app.store.get_operator(&op_id).await?.context("op")?.active_chats, 0);

    // Reactivated early: online again; then offline, and deleted.
    let (status, b) = api(&stack, "POST", &format!("{path}/reactivate"), &root.token, None).await?;
    assert_eq!((status, b["is_suspended"].as_bool()), (StatusCode::OK, Some(false)), "{b}");
    let (status, b) = api(&stack, "POST", &format!("{path}/reactivate"), &root.token, None).await?;
    assert_eq!((status, b["is_suspended"].as_bool()), (StatusCode::OK, Some(false)), "again: no change");
    let (status, _) =
        api(&stack, "POST", "/operator/availability", &op.token, Some(json!({ "available": true }))).await?;
    assert_eq!(status, StatusCode::OK);
    let (status, _) =
        api(&stack, "POST", "/operator/availability", &op.token, Some(json!({ "available": false }))).await?;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api(&stack, "DELETE", &path, &root.token, None).await?;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Gone: the live token, the refresh token and the login all fail with 401.
    let (status, _) = api(&stack, "GET", "/operator/assignments", &op.token, None).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the live token");
    let refresh = json!({ "refresh_token": op.refresh_token });
    let (status, _) = call(&stack.http, &stack.api, "POST", "/auth/refresh", None, Some(refresh)).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the refresh token");
    let creds = json!({ "email": op.email, "password": staff::PASSWORD });
    let (status, _) = call(&stack.http, &stack.api, "POST", "/operator/login", None, Some(creds)).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the login");
    let (status, _) = api(&stack, "DELETE", &path, &root.token, None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleted once");
    let kept = app.store.get_operator(&op_id).await?.context("soft delete keeps the item")?;
    assert!(kept.deleted_at.is_some() && !kept.is_available);
    let (status, former) = api(&stack, "GET", "/admin/operators?status=deleted&limit=50", &root.token, None).await?;
    assert_eq!(status, StatusCode::OK);
    let mut found = former["items"].as_array().context("items")?.iter().any(|o| o["id"] == op.id.as_str());
    let mut cursor = former["next_cursor"].as_str().map(String::from);
    while !found && cursor.is_some() {
        let p = format!("/admin/operators?status=deleted&limit=50&cursor={}", cursor.unwrap_or_default());
        let (_, page) = api(&stack, "GET", &p, &root.token, None).await?;
        found = page["items"].as_array().context("items")?.iter().any(|o| o["id"] == op.id.as_str());
        cursor = page["next_cursor"].as_str().map(String::from);
    }
    assert!(found, "listed among the former operators");
    let actions = audit_actions(&stack, &root, &format!("operator:{}", op.id)).await?;
    assert_eq!(
        actions,
        vec!["operator.delete", "operator.reactivate", "operator.suspend", "operator.create"],
        "newest first; the second reactivation changed nothing"
    );
    Ok(())
}

#[tokio::test]
async fn a_suspension_that_stops_after_its_transaction_is_finished_by_its_job() -> Result<()> {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await?;
    let app = stack.app().await?;
    let root = staff::admin(&stack, AdminRole::SuperAdmin, None).await?;
    let op = staff::operator(&stack, &root).await?;
    let op_id = OperatorId::new(op.id.as_str());
    app.store.set_availability(&op_id, true, Utc::now()).await?;
    let now = Utc::now();
    let chats = held_chats(&app, &op_id, 3, now).await?;
    // The suspension's transaction alone, as a request that died right after it.
    let suspension = fantooo::store::Suspension {
        operator_id: &op_id,
        until: now + Duration::days(7),
        reason: "crash test",
        first_only: false,
        notice: "suspended",
        admin_notice: "suspended",
        audit: None,
    };
    assert!(app.store.suspend_operator(&suspension, now).await?);
    assert_eq!(app.store.get_operator(&op_id).await?.context("op")?.active_chats, 3, "still held");
    let released = || async { Ok(app.store.get_operator(&op_id).await?.context("op")?.active_chats == 0) };
    // The request never ran its follow-up: only the job can have given them back.
    run_jobs_until(&app, released).await?;
    for chat in &chats {
        assert_eq!(app.store.get_chat(chat).await?.context("chat")?.operator_id, None);
    }
    Ok(())
}

#[tokio::test]
async fn a_ban_ends_every_session_closes_every_chat_refuses_the_device_flags_the_ip_and_unban_restores() -> Result<()> {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await?;
    let app = stack.app().await?;
    let root = staff::admin(&stack, AdminRole::SuperAdmin, None).await?;
    let moderator = staff::admin(&stack, AdminRole::Moderator, None).await?;
    let home_ip = fresh_ip();
    let home = client_from(home_ip)?;
    let device = format!("dev-{}", unique_username("d"));
    let (status, reg, username) = register(&stack, &home, Some(&device)).await?;
    assert_eq!(status, StatusCode::CREATED, "{reg}");
    let id = MemberId::new(reg["user"]["id"].as_str().context("id")?);
    let token = reg["token"].as_str().context("token")?.to_string();
    let refresh = reg["refresh_token"].as_str().context("refresh")?.to_string();

    // One real chat, and more open chats than one transaction holds (100 items).
    let (status, chat) = api(&stack, "POST", "/chats", &token, Some(json!({ "profile_id": "c_demo01" }))).await?;
    assert!(status.is_success(), "{chat}");
    let real_chat = chat["id"].as_str().context("chat id")?.to_string();
    let now = Utc::now();
    // One chat per character: 110 characters of their own (a chat needs a live one).
    for _ in 0..110 {
        let character = seed::character(&app.store, "Ban").await?;
        let c = Chat::new(id.clone(), character, now);
        app.store.create_or_get_chat(&c).await?.context("member active")?;
    }

    // The member page before: devices and IPs seen, no ban.
    let (status, file) = api(&stack, "GET", &format!("/admin/members/{id}"), &moderator.token, None).await?;
    assert_eq!(status, StatusCode::OK, "{file}");
    assert_eq!((file["status"].as_str(), file["ban"].clone()), (Some("active"), Value::Null));
    assert_eq!(file["ips"][0]["value"].as_str(), Some(home_ip.to_string().as_str()), "{file}");
    assert_eq!(file["devices"].as_array().map(Vec::len), Some(1));
    assert_eq!(file["age_verification"][0]["stated_age"], 30);
    let (status, found) =
        api(&stack, "GET", &format!("/admin/members?q={}", username.to_uppercase()), &moderator.token, None).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(found["items"].as_array().context("items")?.iter().any(|m| m["id"] == id.as_str()), "{found}");

    // Banned (by a moderator: ban_members).
    let ban = format!("/admin/members/{id}/ban");
    let (status, b) = api(&stack, "POST", &ban, &moderator.token, Some(json!({ "reason": "abuse" }))).await?;
    assert_eq!((status, b["closing_chats"].as_u64()), (StatusCode::OK, Some(111)), "{b}");
    let (status, b) = api(&stack, "POST", &ban, &moderator.token, Some(json!({ "reason": "abuse" }))).await?;
    assert_eq!((status, b["closing_chats"].as_u64()), (StatusCode::OK, Some(0)), "again: no change");
    let (status, b) = api(&stack, "GET", "/me", &token, None).await?;
    assert_eq!((status, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("banned")), "the live token");
    let (status, _) =
        call(&stack.http, &stack.api, "POST", "/auth/refresh", None, Some(json!({ "refresh_token": refresh }))).await?;
    assert!(status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED, "refresh: {status}");
    let (status, b) = login(&stack, &home, &username, None).await?;
    assert_eq!((status, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("banned")), "{b}");
    let restricted = b["restricted_token"].as_str().context("restricted token")?.to_string();
    let (status, _) = api(&stack, "GET", "/me/export", &restricted, None).await?;
    assert_eq!(status, StatusCode::OK, "the restricted token exports");
    let (status, _) = api(&stack, "GET", "/chats", &restricted, None).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "and does nothing else");

    // The close job closes all 111 chats (five pages of 25 and more).
    // (Another test's run may close some: the chats' state is the test, not a report.)
    let all_closed = || async { Ok(member_chats(&app, &id).await?.iter().all(|c| c.status == ChatStatus::Closed)) };
    run_jobs_until(&app, all_closed).await?;
    let chats = member_chats(&app, &id).await?;
    assert_eq!(chats.len(), 111);
    assert!(chats.iter().all(|c| c.close_reason == Some(CloseReason::MemberBanned)), "closed for the ban");

    // The banned device opens no account, from anywhere; counted on the ban.
    let elsewhere = client_from(fresh_ip())?;
    let (status, b, _) = register(&stack, &elsewhere, Some(&device)).await?;
    assert_eq!((status, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("banned")), "{b}");
    // The banned member's IP alone is let in, and flags the new account.
    let (status, reg2, _) = register(&stack, &home, None).await?;
    assert_eq!(status, StatusCode::CREATED, "{reg2}");
    let other = reg2["user"]["id"].as_str().context("id")?.to_string();
    let (_, file) = api(&stack, "GET", &format!("/admin/members/{id}"), &root.token, None).await?;
    assert_eq!((file["status"].as_str(), file["ban"]["circumvention_attempts"].as_u64()), (Some("banned"), Some(1)));
    assert_eq!((file["ban"]["reason"].as_str(), file["ban"]["devices"].as_u64()), (Some("abuse"), Some(1)));
    let (_, flagged) = api(&stack, "GET", &format!("/admin/members/{other}"), &root.token, None).await?;
    let signal = &flagged["circumvention"][0];
    assert_eq!((signal["kind"].as_str(), signal["banned_member_id"].as_str()), (Some("shared_ip"), Some(id.as_str())));
    let (_, notes) = api(&stack, "GET", "/admin/notifications?limit=50", &moderator.token, None).await?;
    let kinds: Vec<&str> =
        notes["items"].as_array().context("items")?.iter().filter_map(|n| n["kind"].as_str()).collect();
    assert!(kinds.contains(&"circumvention"), "ban_members sees circumvention: {kinds:?}");

    // Unbanned: login works again, the device is no longer refused, and a closed
    // chat reopens on the member's next message.
    let unban = format!("/admin/members/{id}/unban");
    let (status, b) = api(&stack, "POST", &unban, &moderator.token, None).await?;
    assert_eq!((status, b["status"].as_str()), (StatusCode::OK, Some("active")), "{b}");
    let (status, b) = api(&stack, "POST", &unban, &moderator.token, None).await?;
    assert_eq!((status, b["status"].as_str()), (StatusCode::OK, Some("active")), "again: no change");
    let (status, session) = login(&stack, &home, &username, Some(&device)).await?;
    assert_eq!(status, StatusCode::OK, "{session}");
    let fresh = session["token"].as_str().context("token")?.to_string();
    let (status, sent) =
        api(&stack, "POST", &format!("/chats/{real_chat}/messages"), &fresh, Some(json!({ "content": "back" })))
            .await?;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let (status, _, _) = register(&stack, &elsewhere, Some(&device)).await?;
    assert_eq!(status, StatusCode::CREATED, "the device is free again");
    let (_, file) = api(&stack, "GET", &format!("/admin/members/{id}"), &root.token, None).await?;
    assert!(file["ban"]["lifted_at"].is_string(), "the ban stays as history: {file}");
    let actions = audit_actions(&stack, &root, &format!("member:{id}")).await?;
    assert_eq!(actions, vec!["member.unban", "member.ban"]);
    Ok(())
}

#[tokio::test]
async fn a_report_goes_from_an_operator_to_a_moderator_and_a_ban() -> Result<()> {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await?;
    let app = stack.app().await?;
    let root = staff::admin(&stack, AdminRole::SuperAdmin, None).await?;
    let moderator = staff::admin(&stack, AdminRole::Moderator, None).await?;
    let only_moderates = Permissions::parse(&["moderate_chats"]).map_err(anyhow::Error::msg)?;
    let reviewer = staff::admin(&stack, AdminRole::Moderator, Some(only_moderates)).await?;
    let op = staff::operator(&stack, &root).await?;
    let op_id = OperatorId::new(op.id.as_str());
    app.store.set_availability(&op_id, true, Utc::now()).await?;
    let chats = held_chats(&app, &op_id, 2, Utc::now()).await?;
    let member = app.store.get_chat(&chats[0]).await?.context("chat")?.member_id;

    let report_path = |c: &str| format!("/operator/chats/{c}/report");
    let (status, b) =
        api(&stack, "POST", &report_path(&chats[0]), &op.token, Some(json!({ "reason": "rude" }))).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (status, _) =
        api(&stack, "POST", &report_path("ch_m_nobody~c_demo01"), &op.token, Some(json!({ "reason": "spam" }))).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "only a chat the operator holds");
    let body = json!({ "reason": "harassment", "details": "threatening language" });
    let (status, report) = api(&stack, "POST", &report_path(&chats[0]), &op.token, Some(body)).await?;
    assert_eq!(status, StatusCode::CREATED, "{report}");
    assert_eq!((report["status"].as_str(), report["member_id"].as_str()), (Some("open"), Some(member.as_str())));
    let report_id = report["id"].as_str().context("id")?.to_string();

    // Moderators see it, and were told.
    let (status, open) = api(&stack, "GET", "/admin/reports?limit=50", &reviewer.token, None).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(open["items"].as_array().context("items")?.iter().any(|r| r["id"] == report_id.as_str()), "{open}");
    let (_, notes) = api(&stack, "GET", "/admin/notifications?limit=50", &reviewer.token, None).await?;
    assert!(notes["items"].as_array().context("items")?.iter().any(|n| n["kind"] == "report_opened"));

    // A ban from a report needs ban_members too: refused, nothing changed.
    let resolve = format!("/admin/reports/{report_id}/resolve");
    let (status, b) = api(&stack, "POST", &resolve, &reviewer.token, Some(json!({ "action": "banned" }))).await?;
    assert_eq!((status, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    assert_eq!(app.store.get_member(&member).await?.context("member")?.status.as_str(), "active");
    let (status, b) =
        api(&stack, "POST", &resolve, &moderator.token, Some(json!({ "action": "banned", "note": "clear" }))).await?;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!((b["status"].as_str(), b["resolution"]["action"].as_str()), (Some("resolved"), Some("banned")));
    assert_eq!(app.store.get_member(&member).await?.context("member")?.status.as_str(), "banned");
    let (status, b) = api(&stack, "POST", &resolve, &moderator.token, Some(json!({ "action": "none" }))).await?;
    assert_eq!((status, b["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("report_resolved")));
    let (_, resolved) = api(&stack, "GET", "/admin/reports?status=resolved&limit=50", &reviewer.token, None).await?;
    assert!(resolved["items"].as_array().context("items")?.iter().any(|r| r["id"] == report_id.as_str()));
    let (status, _) = api(&stack, "GET", "/admin/reports?status=closed", &reviewer.token, None).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // A warning tells the member.
    let other_chats = held_chats(&app, &op_id, 1, Utc::now()).await?;
    let warned_member = app.store.get_chat(&other_chats[0]).await?.context("chat")?.member_id;
    let (_, r2) =
        api(&stack, "POST", &report_path(&other_chats[0]), &op.token, Some(json!({ "reason": "spam" }))).await?;
    let r2 = r2["id"].as_str().context("id")?.to_string();
    let (status, _) = api(
        &stack,
        "POST",
        &format!("/admin/reports/{r2}/resolve"),
        &reviewer.token,
        Some(json!({ "action": "warned" })),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    let notes = app.store.member_notifications(&warned_member, None, 10).await?;
    assert!(notes.items.iter().any(|n| n.kind == "warning"), "the member is warned");
    let banned_chat_closed =
        || async { Ok(app.store.get_chat(&chats[0]).await?.context("chat")?.status == ChatStatus::Closed) };
    run_jobs_until(&app, banned_chat_closed).await?;
    stack.store.retire_operator(&op_id).await?;
    Ok(())
}

#[tokio::test]
async fn an_admin_with_delete_data_exports_and_erases_a_member_as_the_member_would() -> Result<()> {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await?;
    let root = staff::admin(&stack, AdminRole::SuperAdmin, None).await?;
    let admin = staff::admin(&stack, AdminRole::Admin, None).await?;
    let m = stack.register("erase").await?;
    stack.grant(&m, 4).await?;
    let path = format!("/admin/members/{}", m.id);
    let (status, _) = api(&stack, "GET", &format!("{path}/export"), &admin.token, None).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "delete_data is the super admin's");
    let (status, export) = api(&stack, "GET", &format!("{path}/export"), &root.token, None).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(export["profile"]["id"], m.id.as_str());
    let (status, b) =
        api(&stack, "DELETE", &path, &root.token, Some(json!({ "reason": "member asked by email" }))).await?;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!((b["deleted"].as_bool(), b["unused_credits"].as_str()), (Some(true), Some("4.00")));
    let (status, _) = stack.get(&m, "/me").await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the member's token dies with the account");
    let (status, _) = api(&stack, "DELETE", &path, &root.token, None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "erased once");
    let actions = audit_actions(&stack, &root, &format!("member:{}", m.id)).await?;
    assert_eq!(actions, vec!["member.delete", "member.export"]);
    Ok(())
}

#[tokio::test]
async fn an_operator_reads_their_figures_by_day() -> Result<()> {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await?;
    let root = staff::admin(&stack, AdminRole::SuperAdmin, None).await?;
    let op = staff::operator(&stack, &root).await?;
    let (status, _) =
        api(&stack, "POST", "/operator/availability", &op.token, Some(json!({ "available": true }))).await?;
    assert_eq!(status, StatusCode::OK);
    // Replies since today's snapshot (going online wrote it): 4 replies, 80 s in all.
    let rec = Record::Operator(&op.id);
    stack.set_attr(rec, "replies", AttributeValue::N("4".into())).await?;
    stack.set_attr(rec, "total_response_secs", AttributeValue::N("80".into())).await?;
    let (status, stats) = api(&stack, "GET", "/operator/stats?days=3", &op.token, None).await?;
    assert_eq!(status, StatusCode::OK, "{stats}");
    let days = stats["days"].as_array().context("days")?;
    assert_eq!(days.len(), 3);
    let today = fantooo::domain::assignment::business_day(Utc::now()).to_string();
    assert_eq!(days[2]["date"].as_str(), Some(today.as_str()));
    assert_eq!((days[2]["messages"].as_u64(), days[2]["avg_response_s"].as_f64()), (Some(4), Some(20.0)));
    assert_eq!((days[0]["messages"].as_u64(), days[0]["avg_response_s"].clone()), (Some(0), Value::Null));
    assert!(stats["quality_score"].is_number() && stats["suspended_until"].is_null());
    let (status, _) = api(&stack, "GET", "/operator/stats", &op.token, None).await?;
    assert_eq!(status, StatusCode::OK);
    for bad in ["0", "91", "x"] {
        let (status, _) = api(&stack, "GET", &format!("/operator/stats?days={bad}"), &op.token, None).await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "days={bad}");
    }
    let (status, _) =
        api(&stack, "POST", "/operator/availability", &op.token, Some(json!({ "available": false }))).await?;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}

/// Deleting an operator races claims of chats for them: either the deletion wins
/// (no chat is ever held by the deleted operator) or a claim does (409, the chats
/// stay held by a live operator). Never a deleted operator holding a chat.
#[tokio::test]
async fn deleting_an_operator_races_claims_and_never_leaves_a_chat_with_a_deleted_operator() -> Result<()> {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await?;
    let app = stack.app().await?;
    let root = staff::admin(&stack, AdminRole::SuperAdmin, None).await?;
    let mut outcomes = (0, 0);
    for round in 0..fantooo_tests::rounds(3) {
        let op = staff::operator(&stack, &root).await?;
        let op_id = OperatorId::new(op.id.as_str());
        let now = Utc::now();
        app.store.set_availability(&op_id, true, now).await?;
        let member = seed::member(&app.store, now).await?;
        let mut chats = Vec::new();
        for i in 0..3 {
            let mut chat = Chat::new(member.clone(), CharacterId::new(format!("c_demo{:02}", i + 1)), now);
            chat.awaiting_reply_since = Some(now);
            let (chat, _) = app.store.create_or_get_chat(&chat).await?.context("member active")?;
            app.store.enqueue(&chat, Credits::ZERO, now).await?;
            chats.push(chat.id);
        }
        let entries: Vec<_> =
            app.store.waiting_entries().await?.into_iter().filter(|e| chats.contains(&e.chat_id)).collect();
        // The claims start a little later each round, so either side wins some rounds.
        let delay = std::time::Duration::from_millis((round as u64 * 7) % 50);
        let claims = async {
            tokio::time::sleep(delay).await;
            futures::future::join_all(entries.iter().map(|e| app.store.claim(e, &op_id, now))).await
        };
        let path = format!("/admin/operators/{}", op.id);
        let (claimed, deleted) = tokio::join!(claims, api(&stack, "DELETE", &path, &root.token, None));
        let (status, body) = deleted?;
        let held = claimed.into_iter().filter(|c| matches!(c, Ok(fantooo::store::ClaimOutcome::Claimed))).count();
        let record = app.store.get_operator(&op_id).await?.context("operator")?;
        let mut holding = 0;
        for chat in &chats {
            if app.store.get_chat(chat).await?.context("chat")?.operator_id.as_ref() == Some(&op_id) {
                holding += 1;
            }
        }
        match status {
            StatusCode::NO_CONTENT => {
                outcomes.0 += 1;
                assert_eq!((holding, record.active_chats), (0, 0), "round {round}: deleted, yet holding");
                assert!(record.deleted_at.is_some());
            }
            StatusCode::CONFLICT => {
                outcomes.1 += 1;
                assert!(record.deleted_at.is_none(), "round {round}: refused, yet deleted");
                assert!(held > 0 && holding == held, "round {round}: {held} claimed, {holding} held");
                assert_eq!(record.active_chats as usize, holding);
            }
            other => anyhow::bail!("round {round}: DELETE answered {other} {body}"),
        }
        for chat in &chats {
            stack.store.drop_queue_entry(chat).await?;
        }
        stack.store.retire_operator(&op_id).await?;
    }
    eprintln!("delete vs claims: {} deletions won, {} claims won", outcomes.0, outcomes.1);
    Ok(())
}

/// Two banned members on one device: each ban owns its refusal, so lifting one
/// leaves the other's in force, and lifting both frees the device.
#[tokio::test]
async fn two_bans_on_one_device_are_lifted_one_at_a_time() -> Result<()> {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await?;
    let root = staff::admin(&stack, AdminRole::SuperAdmin, None).await?;
    let device = format!("shared-{}", unique_username("d"));
    let http = client_from(fresh_ip())?;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (status, reg, _) = register(&stack, &http, Some(&device)).await?;
        assert_eq!(status, StatusCode::CREATED, "{reg}");
        ids.push(reg["user"]["id"].as_str().context("id")?.to_string());
    }
    for id in &ids {
        let (status, b) =
            api(&stack, "POST", &format!("/admin/members/{id}/ban"), &root.token, Some(json!({ "reason": "ring" })))
                .await?;
        assert_eq!(status, StatusCode::OK, "{b}");
    }
    let elsewhere = client_from(fresh_ip())?;
    let (status, _) = api(&stack, "POST", &format!("/admin/members/{}/unban", ids[0]), &root.token, None).await?;
    assert_eq!(status, StatusCode::OK);
    let (status, b, _) = register(&stack, &elsewhere, Some(&device)).await?;
    assert_eq!((status, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("banned")), "the other ban holds");
    let (status, _) = api(&stack, "POST", &format!("/admin/members/{}/unban", ids[1]), &root.token, None).await?;
    assert_eq!(status, StatusCode::OK);
    let (status, b, _) = register(&stack, &elsewhere, Some(&device)).await?;
    assert_eq!(status, StatusCode::CREATED, "no ban left on the device: {b}");
    Ok(())
}

/// Erasing a banned member erases where they were seen from and the IPs their ban
/// marked, and keeps the hashed devices on the ban record: the device stays refused.
#[tokio::test]
async fn a_banned_members_erasure_keeps_the_hashed_devices_refused_and_forgets_the_ips() -> Result<()> {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await?;
    let app = stack.app().await?;
    let root = staff::admin(&stack, AdminRole::SuperAdmin, None).await?;
    let device = format!("erased-{}", unique_username("d"));
    let ip = fresh_ip();
    let (status, reg, _) = register(&stack, &client_from(ip)?, Some(&device)).await?;
    assert_eq!(status, StatusCode::CREATED, "{reg}");
    let id = reg["user"]["id"].as_str().context("id")?.to_string();
    let path = format!("/admin/members/{id}");
    let (status, _) =
        api(&stack, "POST", &format!("{path}/ban"), &root.token, Some(json!({ "reason": "fraud" }))).await?;
    assert_eq!(status, StatusCode::OK);
    let (status, b) = api(&stack, "DELETE", &path, &root.token, None).await?;
    assert_eq!((status, b["deleted"].as_bool()), (StatusCode::OK, Some(true)), "a banned member is erased too");
    let member = MemberId::new(id.as_str());
    let forgotten = || async {
        let file = app.store.member_file(&member).await?;
        Ok(file.devices.is_empty()
            && file.ips.is_empty()
            && app.store.banned_member_at_ip(&ip.to_string(), Utc::now()).await?.is_none())
    };
    run_jobs_until(&app, forgotten).await?;
    let (status, file) = api(&stack, "GET", &path, &root.token, None).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((file["status"].as_str(), file["ban"]["devices"].as_u64()), (Some("deleted"), Some(1)), "{file}");
    let (status, b, _) = register(&stack, &client_from(fresh_ip())?, Some(&device)).await?;
    assert_eq!((status, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("banned")), "still refused");
    // The IP no longer flags anyone.
    let (status, reg2, _) = register(&stack, &client_from(ip)?, None).await?;
    assert_eq!(status, StatusCode::CREATED);
    let (_, other) = api(
        &stack,
        "GET",
        &format!("/admin/members/{}", reg2["user"]["id"].as_str().context("id")?),
        &root.token,
        None,
    )
    .await?;
    assert_eq!(other["circumvention"], json!([]), "{other}");
    Ok(())
}
