//! One close operation for every cause, the jobs a deletion leaves (closing more
//! chats than one transaction holds, erasure), the rights a ban does not take
//! away, payments after deletion, and the rules that used to live twice
//! (ratings, loyalty, reassignment limit), against the local stack.
//!
//! Tests that run the job runner or claim chats take turns (TURN): the runner
//! takes every waiting job, and one test stops it mid-job on purpose.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use fantooo::domain::ids::{CharacterId, ChatId, MemberId, OperatorId, PaymentRef};
use fantooo::domain::jobs::ERASED_MESSAGE;
use fantooo::domain::{ids, Chat, ChatStatus, CloseReason, Credits, Operator};
use fantooo::services::closing::{self, Budget};
use fantooo::services::operators;
use fantooo::store::OUTBOX_SHARDS;
use fantooo::App;
use fantooo_tests::{charge_event, seed, Member, Stack, StatusCode};
use fantooo_tests::{Partition, Record};
use futures::future::join_all;
use serde_json::{json, Value};
use tokio::sync::Mutex;

static TURN: Mutex<()> = Mutex::const_new(());

type Item = HashMap<String, AttributeValue>;

async fn item(stack: &Stack, record: Record<'_>) -> Option<Item> {
    stack.store.raw_item(record).await.unwrap()
}

/// Every item of a partition (all pages).
async fn partition(stack: &Stack, p: Partition<'_>) -> Vec<Item> {
    stack.store.raw_partition(p).await.unwrap()
}

fn text<'a>(i: &'a Item, name: &str) -> Option<&'a str> {
    i.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// `chat.closed` events waiting in the outbox, per chat (the tests' server never sweeps it).
async fn closed_events(stack: &Stack) -> HashMap<ChatId, usize> {
    let mut counts = HashMap::new();
    for shard in 0..OUTBOX_SHARDS {
        for i in partition(stack, Partition::Outbox(shard)).await {
            if text(&i, "detail_type") != Some("chat.closed") {
                continue;
            }
            let detail: Value = serde_json::from_str(text(&i, "detail").unwrap_or("{}")).unwrap();
            *counts.entry(ChatId::new(detail["chat_id"].as_str().unwrap_or_default())).or_default() += 1;
        }
    }
    counts
}

/// An operator who is online and present at `at`, with a password for the console.
async fn operator(app: &App, cap: u32, at: DateTime<Utc>) -> (OperatorId, String) {
    let id = OperatorId::new(ids::new_id("op_cl"));
    let email = format!("{id}@test.local");
    let hash = fantooo::auth::password::hash("operator-pass-1".into()).await.unwrap();
    let op = Operator {
        max_concurrent_chats: cap,
        ..Operator::new_account(id.clone(), email.clone(), "Closing Tester".into(), hash, at)
    };
    assert!(app.store.create_operator(&op, at).await.unwrap());
    app.store.set_availability(&id, true, at).await.unwrap();
    app.store.heartbeat(&id, at).await.unwrap();
    (id, email)
}

/// Gives the waiting chat to the operator (a claim, as the assigner makes it).
async fn claim(app: &App, chat_id: &ChatId, operator_id: &OperatorId, at: DateTime<Utc>) {
    let entry = app.store.waiting_entries().await.unwrap().into_iter().find(|e| e.chat_id == chat_id).expect("queued");
    let outcome = app.store.claim(&entry, operator_id, at).await.unwrap();
    assert_eq!(outcome, fantooo::store::ClaimOutcome::Claimed);
}

async fn operator_token(stack: &Stack, email: &str) -> String {
    let body = json!({ "email": email, "password": "operator-pass-1" });
    let (s, session) =
        Stack::answer(stack.http.post(stack.url("/operator/login")).json(&body).send().await.unwrap()).await.unwrap();
    assert_eq!(s, StatusCode::OK, "{session}");
    session["token"].as_str().unwrap().to_string()
}

async fn delete_me(stack: &Stack, token: &str) -> (StatusCode, Value) {
    let res = stack.http.delete(stack.url("/me")).bearer_auth(token).send().await.unwrap();
    Stack::answer(res).await.unwrap()
}

async fn member_job(stack: &Stack, member_id: &str) -> Option<Item> {
    partition(stack, Partition::Jobs).await.into_iter().find(|i| text(i, "subject") == Some(member_id))
}

async fn jobs_waiting_for(stack: &Stack, member_id: &str) -> usize {
    partition(stack, Partition::Jobs).await.iter().filter(|i| text(i, "subject") == Some(member_id)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_member_with_105_chats_closes_every_one_through_a_job_that_resumes_after_a_crash() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    let m = stack.register("many").await.unwrap();
    let mut characters = Vec::new();
    for i in 0..105 {
        characters.push(seed::character(&stack.store, &format!("Many {i}")).await.unwrap());
    }
    let mut chats = Vec::new();
    for batch in characters.chunks(8) {
        for chat in join_all(batch.iter().map(|c| stack.open_chat(&m, c))).await {
            chats.push(chat.unwrap());
        }
    }
    // One chat held by an operator, one waiting in the queue.
    let now = Utc::now();
    let (op, email) = operator(&app, 3, now).await;
    for chat in &chats[..2] {
        let (s, b) = stack.send_at(&m, chat, "hello", &now.to_rfc3339()).await.unwrap();
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    claim(&app, &chats[0], &op, now).await;
    let token = operator_token(&stack, &email).await;

    let (s, body) = delete_me(&stack, &m.token).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _) = stack.get(&m, "/me").await.unwrap();
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the token fails once DELETE /me has answered");
    assert_eq!(jobs_waiting_for(&stack, &m.id).await, 1, "one job: close each chat, then erase it");

    // Runners that stop after one page, as a crash would, until the close job is
    // mid-way (older jobs of other tests go first): its lease is still held.
    let t1 = Utc::now() + Duration::minutes(1);
    for _ in 0..30 {
        closing::run_jobs(&app, t1, Budget::crash_after(1)).await.unwrap();
        if member_job(&stack, &m.id).await.is_some_and(|j| j.contains_key("cursor")) {
            break;
        }
    }
    let closed = || async {
        let all = join_all(chats.iter().map(|c| app.store.get_chat(c))).await;
        all.into_iter().filter(|c| c.as_ref().unwrap().as_ref().unwrap().status == ChatStatus::Closed).count()
    };
    let after_crash = closed().await;
    assert!((1..105).contains(&after_crash), "stopped mid-job with {after_crash} of 105 closed");
    closing::run_jobs(&app, t1 + Duration::seconds(10), Budget::default()).await.unwrap();
    assert_eq!(closed().await, after_crash, "nobody takes over a live lease");

    closing::run_jobs(&app, t1 + Duration::seconds(61), Budget::default()).await.unwrap();
    assert_eq!(jobs_waiting_for(&stack, &m.id).await, 0, "the job finished after the lease ran out");
    for chat in &chats {
        let c = app.store.get_chat(chat).await.unwrap().unwrap();
        assert_eq!(
            (c.status, c.close_reason, c.operator_id.as_deref()),
            (ChatStatus::Closed, Some(CloseReason::MemberDeleted), None)
        );
        let raw = item(&stack, Record::Chat(chat)).await.unwrap();
        let listed = ["GSI3PK", "GSI5PK", "GSI2PK"].iter().any(|k| raw.contains_key(*k));
        assert!(!listed, "off the open-chat and operator indexes");
    }
    assert!(!app.store.waiting_entries().await.unwrap().iter().any(|e| chats.contains(&e.chat_id)), "queue entry gone");
    let events = closed_events(&stack).await;
    assert!(chats.iter().all(|c| events.get(c) == Some(&1)), "one chat.closed per chat, none twice");
    let o = app.store.get_operator(&op).await.unwrap().unwrap();
    assert_eq!((o.active_chats, o.idle_incidents, o.reassignments), (0, 0, 0), "slot freed, nothing held against them");
    assert!(app.store.operator_chats(&op).await.unwrap().is_empty());
    let closed = app.store.get_chat(&chats[0]).await.unwrap().unwrap();
    let history = app.store.assignment_history(&closed).await.unwrap();
    assert_eq!(history[0].end_reason.as_deref(), Some("chat_closed"));

    // The operator's console: the chat is no longer theirs, and they may go offline.
    for (method, path, body) in [
        ("POST", format!("/operator/chats/{}/messages", chats[0]), json!({ "content": "still there?" })),
        ("PUT", format!("/operator/chats/{}/notes", chats[0]), json!({ "member_notes": "x" })),
        ("POST", format!("/operator/chats/{}/release", chats[0]), json!({})),
    ] {
        let req = stack.http.request(method.parse().unwrap(), stack.url(&path)).bearer_auth(&token).json(&body);
        let (s, b) = Stack::answer(req.send().await.unwrap()).await.unwrap();
        assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{method} {path}");
    }
    let res =
        stack.http.post(stack.url("/operator/availability")).bearer_auth(&token).json(&json!({ "available": false }));
    assert_eq!(res.send().await.unwrap().status(), StatusCode::OK, "nothing held: going offline is allowed");

    // Idempotent: closing a closed chat changes nothing.
    assert!(closing::close_chat(&app, &chats[0], CloseReason::Admin, t1, |_| true).await.is_ok_and(|closed| !closed));
    assert_eq!(closed_events(&stack).await.get(&chats[0]), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_closes_and_a_release_of_one_held_chat_free_its_operator_exactly_once() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    let rounds = fantooo_tests::rounds(3);
    for round in 0..rounds {
        let t0 = Utc::now() + Duration::days(600 + round as i64);
        let member = seed::member(&stack.store, t0).await.unwrap();
        let (op, _) = operator(&app, 2, t0).await;
        let mut chat = Chat::new(member.clone(), CharacterId::new("c_demo12"), t0);
        chat.awaiting_reply_since = Some(t0);
        let (chat, _) = app.store.create_or_get_chat(&chat).await.unwrap().unwrap();
        app.store.enqueue(&chat, Credits::ZERO, t0).await.unwrap();
        claim(&app, &chat.id, &op, t0).await;
        let held = app.store.get_chat(&chat.id).await.unwrap().unwrap();
        let reasons =
            [CloseReason::MemberDeleted, CloseReason::Admin, CloseReason::MemberBanned, CloseReason::InactivityTimeout];
        let closes = reasons.iter().cycle().take(8).map(|r| closing::close_chat(&app, &chat.id, *r, t0, |_| true));
        let release = app.store.release(&held, &op, fantooo::store::ReleaseKind::Voluntary, None, t0);
        let (closed, released) = tokio::join!(join_all(closes), release);
        let closed: Vec<bool> = closed.into_iter().map(Result::unwrap).collect();
        assert_eq!(closed.iter().filter(|c| **c).count(), 1, "round {round}: one close landed: {closed:?}");
        let o = app.store.get_operator(&op).await.unwrap().unwrap();
        assert_eq!(o.active_chats, 0, "round {round}: the slot was freed once (release {released:?})");
        let c = app.store.get_chat(&chat.id).await.unwrap().unwrap();
        assert_eq!((c.status, c.operator_id), (ChatStatus::Closed, None), "round {round}");
        assert!(!app.store.waiting_entries().await.unwrap().iter().any(|e| e.chat_id == chat.id), "round {round}");
        assert_eq!(closed_events(&stack).await.get(&chat.id), Some(&1), "round {round}");
    }
}

/// The payouts owed to a member, newest first.
async fn owed_payouts(stack: &Stack, member_id: &str) -> Vec<fantooo::store::Payout> {
    let owed = stack.store.payouts(fantooo::store::PayoutStatus::Owed, None, 50).await.unwrap().items;
    owed.into_iter().filter(|p| p.member_id == member_id).collect()
}

/// Registers with every personal field filled.
async fn register_full(stack: &Stack) -> Member {
    let username = fantooo_tests::unique_username("erase");
    let body = json!({
        "username": username, "password": "pass-word-1", "age": 30, "gender": "male", "looking_for": "female",
        "location": "Kisumu", "display_name": "Otieno", "email": format!("{username}@mail.example"),
        "latitude": -0.09, "longitude": 34.77
    });
    let (s, session) =
        Stack::answer(stack.http.post(stack.url("/auth/register")).json(&body).send().await.unwrap()).await.unwrap();
    assert_eq!(s, StatusCode::CREATED, "{session}");
    Member {
        id: MemberId::new(session["user"]["id"].as_str().unwrap()),
        username,
        token: session["token"].as_str().unwrap().into(),
        refresh_token: session["refresh_token"].as_str().unwrap().into(),
    }
}

#[tokio::test]
async fn erasure_leaves_nothing_readable_of_the_member_and_keeps_money_records_pseudonymised() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    let m = register_full(&stack).await;
    let bio = stack.http.patch(stack.url("/me")).bearer_auth(&m.token).json(&json!({ "bio": "I love long walks" }));
    assert_eq!(bio.send().await.unwrap().status(), StatusCode::OK);
    stack.grant(&m, 3).await.unwrap();
    let chat = stack.open_chat(&m, "c_demo03").await.unwrap();
    // A pinned normal-band hour: at the real time the paid fourth message would
    // cost 1.20 at peak (20:00-02:00 Nairobi) or 0.80 off-peak, not 1.00.
    let now = fantooo_tests::NOON_EAT;
    for i in 0..4 {
        let req = stack
            .http
            .post(stack.url(&format!("/chats/{chat}/messages")))
            .bearer_auth(&m.token)
            .header("x-fantooo-now", now)
            .header("Idempotency-Key", format!("erase-{i}"))
            .json(&json!({ "content": format!("my secret number {i}") }));
        let (s, b) = Stack::answer(req.send().await.unwrap()).await.unwrap();
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let (op, _) = operator(&app, 2, Utc::now()).await;
    claim(&app, &chat, &op, Utc::now()).await;
    operators::reply(&app, &op, &chat, "Hi there!".into(), Utc::now()).await.unwrap();
    let put = stack.http.put(stack.url("/favorites/c_demo03")).bearer_auth(&m.token);
    assert_eq!(put.send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let checkout =
        stack.http.post(stack.url("/credits/checkout")).bearer_auth(&m.token).header("Idempotency-Key", "erase-co");
    let (s, pending) =
        Stack::answer(checkout.json(&json!({ "package_id": "pkg_starter" })).send().await.unwrap()).await.unwrap();
    assert_eq!(s, StatusCode::CREATED, "{pending}");
    let reference = PaymentRef::new(pending["reference"].as_str().unwrap());

    let (s, export) = stack.get(&m, "/me/export").await.unwrap();
    assert_eq!(s, StatusCode::OK);
    assert_eq!(export["messages"].as_array().unwrap().len(), 5, "export before erasure covers every message");
    assert_eq!(export["profile"]["email"], format!("{}@mail.example", m.username));

    let (s, deletion) = delete_me(&stack, &m.token).await;
    assert_eq!(s, StatusCode::OK, "{deletion}");
    assert_eq!(
        (deletion["unused_credits"].as_str(), deletion["refund_due_cents"].as_i64()),
        (Some("2.00"), Some(2000))
    );
    let login = json!({ "username": m.username, "password": "pass-word-1" });
    let res = stack.http.post(stack.url("/auth/login")).json(&login).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = stack.http.post(stack.url("/auth/refresh")).json(&json!({ "refresh_token": m.refresh_token }));
    assert_eq!(res.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

    let report = closing::run_jobs(&app, Utc::now() + Duration::minutes(1), Budget::default()).await.unwrap();
    assert_eq!(jobs_waiting_for(&stack, &m.id).await, 0, "{report:?}");

    let profile = item(&stack, Record::Member(&m.id)).await.unwrap();
    for field in ["username", "display_name", "email", "location", "bio", "latitude", "longitude"] {
        assert!(!profile.contains_key(field), "{field} left the profile");
    }
    assert_eq!(text(&profile, "status"), Some("deleted"));
    assert!(item(&stack, Record::Username(&m.username)).await.is_none());
    let messages = partition(&stack, Partition::Chat(&chat)).await;
    let texts: Vec<(&str, &str)> = messages
        .iter()
        .filter(|i| text(i, "entity") == Some("message"))
        .map(|i| (text(i, "sender").unwrap(), text(i, "content").unwrap()))
        .collect();
    assert_eq!(texts.iter().filter(|(s, c)| *s == "member" && *c == ERASED_MESSAGE).count(), 4, "{texts:?}");
    assert!(texts.contains(&("character", "Hi there!")), "the character's replies are not the member's data");
    let scope = format!("member:{}", m.id);
    assert!(
        partition(&stack, Partition::Idempotency(&scope)).await.is_empty(),
        "idempotency records held copies of the texts"
    );
    let member_items = partition(&stack, Partition::Member(&m.id)).await;
    let sk = |i: &Item| text(i, "SK").unwrap_or_default().to_string();
    assert!(!member_items.iter().any(|i| sk(i).starts_with("NOTIF#") || sk(i).starts_with("FAV#")));
    assert!(!member_items.iter().any(|i| i.values().any(|v| v.as_s().is_ok_and(|s| s.contains("secret number")))));

    let payment = stack.store.get_payment(&reference).await.unwrap().unwrap();
    assert_eq!((payment.email.as_str(), payment.status.as_str()), ("", "abandoned"), "pseudonymised; checkout ended");
    assert_eq!(stack.ledger_sum(&m).await.unwrap(), Credits::ZERO, "ledger entries stay and still sum to the balance");
    assert!(member_items.iter().any(|i| sk(i).starts_with("LEDGER#")));
    let owed = owed_payouts(&stack, &m.id).await;
    assert!(owed.iter().any(|p| p.amount_cents == 2000 && p.source == "account_deletion"));

    // The checkout completes anyway: nothing is credited, the KES are owed.
    let event = charge_event("charge.success", &reference, "success", payment.snapshot.price, "KES");
    for _ in 0..2 {
        let (s, _) = stack.webhook(&event).await.unwrap();
        assert_eq!(s, StatusCode::OK);
    }
    let payment = stack.store.get_payment(&reference).await.unwrap().unwrap();
    assert_eq!((payment.status.as_str(), payment.credited_at), ("success", None));
    assert!(payment.payout_id.is_some());
    let member = stack.store.get_member(&m.id).await.unwrap().unwrap();
    assert_eq!((member.balance, stack.ledger_sum(&m).await.unwrap()), (Credits::ZERO, Credits::ZERO));
    let owed: Vec<_> =
        owed_payouts(&stack, &m.id).await.into_iter().filter(|p| p.source == "payment_after_deletion").collect();
    assert_eq!(owed.len(), 1, "two deliveries, one payout");
    assert_eq!(owed[0].amount_cents, payment.snapshot.price);
    let notes = app.store.admin_notifications(200).await.unwrap();
    assert!(notes.iter().any(|n| n.kind == "payout_owed" && n.reference.as_deref() == Some(reference.as_str())));
}

#[tokio::test]
async fn a_banned_member_logs_in_to_a_restricted_token_that_only_exports_and_erases() {
    let stack = Stack::connect().await.unwrap();
    let m = stack.register("banned").await.unwrap();
    let chat = stack.open_chat(&m, "c_demo05").await.unwrap();
    stack.send_at(&m, &chat, "before the ban", &Utc::now().to_rfc3339()).await.unwrap();
    seed::ban(&stack, &m.id).await.unwrap();

    let (s, _) = stack.get(&m, "/me").await.unwrap();
    assert_eq!(s, StatusCode::FORBIDDEN, "the live access token of a banned member");
    let login = json!({ "username": m.username, "password": "pass-word-1" });
    let (s, refused) =
        Stack::answer(stack.http.post(stack.url("/auth/login")).json(&login).send().await.unwrap()).await.unwrap();
    assert_eq!((s, refused["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("banned")));
    let restricted = refused["restricted_token"].as_str().expect("restricted_token").to_string();
    let as_restricted = Member { token: restricted.clone(), ..m.clone() };

    // Lifted for a moment: a login token works again, the restricted one still
    // serves only its two routes (the restriction is the token's, not the ban's).
    let active = aws_sdk_dynamodb::types::AttributeValue::S("active".into());
    stack.set_attr(Record::Member(&m.id), "status", active).await.unwrap();
    let (s, session) =
        Stack::answer(stack.http.post(stack.url("/auth/login")).json(&login).send().await.unwrap()).await.unwrap();
    assert_eq!(s, StatusCode::OK, "{session}");
    let fresh = Member { token: session["token"].as_str().unwrap().into(), ..m.clone() };
    assert_eq!(stack.get(&fresh, "/me").await.unwrap().0, StatusCode::OK);
    for path in ["/me", "/chats", "/notifications", "/credits/transactions"] {
        let (s, b) = stack.get(&as_restricted, path).await.unwrap();
        assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("banned")), "{path}");
    }
    let (s, b) = stack.send_at(&as_restricted, &chat, "let me in", &Utc::now().to_rfc3339()).await.unwrap();
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("banned")));
    let res = stack.http.post(stack.url("/operator/heartbeat")).bearer_auth(&restricted).send().await.unwrap();
    let (s, b) = Stack::answer(res).await.unwrap();
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("banned")), "not a staff token either");
    seed::ban(&stack, &m.id).await.unwrap();

    let (s, export) = stack.get(&as_restricted, "/me/export").await.unwrap();
    assert_eq!(s, StatusCode::OK, "{export}");
    assert_eq!(export["messages"][0]["content"], "before the ban");
    let (s, body) = delete_me(&stack, &restricted).await;
    assert_eq!((s, body["deleted"].as_bool()), (StatusCode::OK, Some(true)), "{body}");
    let (s, _) =
        Stack::answer(stack.http.post(stack.url("/auth/login")).json(&login).send().await.unwrap()).await.unwrap();
    assert_eq!(s, StatusCode::UNAUTHORIZED, "deleted now");
    let (s, _) = stack.get(&as_restricted, "/me/export").await.unwrap();
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_closed_chat_frees_its_operator_and_reopens_on_the_next_message_with_its_free_count_kept() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    let m = stack.register("reopen").await.unwrap();
    let character = seed::character(&stack.store, "Reopen").await.unwrap();
    let chat = stack.open_chat(&m, &character).await.unwrap();
    let now = Utc::now();
    stack.send_at(&m, &chat, "one", &now.to_rfc3339()).await.unwrap();
    let (op, _) = operator(&app, 1, now).await;
    claim(&app, &chat, &op, now).await;

    // Near the reassignment limit when it closes: a reopened chat starts afresh.
    stack.set_attr(Record::Chat(&chat), "reassign_count", AttributeValue::N("3".into())).await.unwrap();
    assert!(closing::close_chat(&app, &chat, CloseReason::Admin, now, |_| true).await.unwrap());
    let o = app.store.get_operator(&op).await.unwrap().unwrap();
    assert_eq!(o.active_chats, 0);
    let (_, notes) = stack.get(&m, "/notifications").await.unwrap();
    assert!(notes["items"].as_array().unwrap().iter().any(|n| n["kind"] == "chat_closed"));
    let (s, b) = stack.send_at(&m, &chat, "two", &now.to_rfc3339()).await.unwrap();
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (_, list) = stack.get(&m, "/chats").await.unwrap();
    let view = list["items"].as_array().unwrap().iter().find(|c| c["id"] == chat.as_str()).unwrap().clone();
    assert_eq!((view["status"].as_str(), view["free_messages_left"].as_u64()), (Some("active"), Some(1)));
    let entry = app.store.waiting_entries().await.unwrap().into_iter().find(|e| e.chat_id == chat);
    assert_eq!(entry.map(|e| e.reassign_count), Some(0), "reopened: queued, its count reset by the close");

    // The character is removed: the chat stays closed, whatever the member sends.
    stack.set_attr(Record::Character(&character), "status", AttributeValue::S("deleted".into())).await.unwrap();
    assert!(closing::close_chat(&app, &chat, CloseReason::ProfileDeleted, now, |_| true).await.unwrap());
    let (s, b) = stack.send_at(&m, &chat, "three", &now.to_rfc3339()).await.unwrap();
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("chat_closed")));
    let (_, notes) = stack.get(&m, "/notifications").await.unwrap();
    assert!(notes["items"][0]["body"].as_str().unwrap().contains("no longer available"));
}

#[tokio::test]
async fn a_close_never_lands_on_a_chat_written_to_since_it_was_read_and_frees_only_its_own_slot() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    let t0 = Utc::now() + Duration::days(500);
    let member = seed::member(&stack.store, t0).await.unwrap();
    let (op, _) = operator(&app, 2, t0).await;
    let mut held = Vec::new();
    for character in ["c_demo07", "c_demo08"] {
        let mut chat = Chat::new(member.clone(), CharacterId::new(character), t0);
        chat.awaiting_reply_since = Some(t0);
        let (chat, _) = app.store.create_or_get_chat(&chat).await.unwrap().unwrap();
        app.store.enqueue(&chat, Credits::ZERO, t0).await.unwrap();
        claim(&app, &chat.id, &op, t0).await;
        held.push(chat.id);
    }
    // Auto-close lists the second chat, then a message arrives before it closes.
    let listed = app.store.get_chat(&held[1]).await.unwrap().unwrap();
    let pk = Record::Chat(&held[1]);
    stack.set_attr(pk, "message_count", AttributeValue::N("1".into())).await.unwrap();
    let written = (t0 + Duration::hours(2)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    stack.set_attr(pk, "last_message_at", AttributeValue::S(written)).await.unwrap();
    let later = t0 + Duration::hours(25);
    let cutoff = later - Duration::hours(24);
    let due = |c: &Chat| c.last_activity() < cutoff;
    assert!(matches!(
        app.store.close_chat(&listed, CloseReason::InactivityTimeout, None, later).await.unwrap(),
        fantooo::store::CloseOutcome::Changed(_)
    ));
    assert!(!closing::close_chat(&app, &held[1], CloseReason::InactivityTimeout, later, due).await.unwrap());
    assert!(closing::close_chat(&app, &held[0], CloseReason::InactivityTimeout, later, due).await.unwrap());
    let (first, second) =
        (app.store.get_chat(&held[0]).await.unwrap().unwrap(), app.store.get_chat(&held[1]).await.unwrap().unwrap());
    assert_eq!((first.status, first.close_reason), (ChatStatus::Closed, Some(CloseReason::InactivityTimeout)));
    assert_eq!((second.status, second.operator_id.as_deref()), (ChatStatus::Active, Some(op.as_str())));
    let o = app.store.get_operator(&op).await.unwrap().unwrap();
    assert_eq!(o.active_chats, 1, "exactly the closed chat's slot was freed");
    closing::close_chat(&app, &held[1], CloseReason::Admin, later, |_| true).await.unwrap();
}

#[tokio::test]
async fn the_escalate_job_escalates_a_waiting_chat_over_the_reassignment_limit() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    let t0 = Utc::now() + Duration::days(520);
    let member = seed::member(&stack.store, t0).await.unwrap();
    let mut chat = Chat::new(member.clone(), CharacterId::new("c_demo09"), t0);
    let (created, _) = app.store.create_or_get_chat(&chat).await.unwrap().unwrap();
    chat = created;
    // A queue entry over the limit, as a path other than release could leave one.
    chat.reassign_count = 4;
    app.store.enqueue(&chat, Credits::ZERO, t0).await.unwrap();
    let job = fantooo::inbound::run(&app, fantooo::inbound::ScheduledJob::Escalate, t0).await.unwrap();
    assert!(job["escalated"].as_u64().is_some_and(|n| n >= 1), "{job}");
    let c = app.store.get_chat(&chat.id).await.unwrap().unwrap();
    assert_eq!(c.status, ChatStatus::Escalated);
    assert!(!app.store.waiting_entries().await.unwrap().iter().any(|e| e.chat_id == chat.id));
}

#[tokio::test]
async fn a_changed_rating_moves_from_the_operator_who_got_it_to_the_current_one() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    let m = stack.register("rate").await.unwrap();
    let chat = stack.open_chat(&m, "c_demo10").await.unwrap();
    let now = Utc::now();
    stack.send_at(&m, &chat, "hi", &now.to_rfc3339()).await.unwrap();
    let (first, _) = operator(&app, 1, now).await;
    let (second, _) = operator(&app, 1, now).await;
    claim(&app, &chat, &first, now).await;
    let path = format!("/chats/{chat}/rating");
    let rate = |r: i64| stack.post(&m, &path, json!({ "rating": r }));
    assert_eq!(rate(5).await.unwrap().0, StatusCode::OK);
    let c = app.store.get_chat(&chat).await.unwrap().unwrap();
    app.store.release(&c, &first, fantooo::store::ReleaseKind::Voluntary, None, now).await.unwrap();
    claim(&app, &chat, &second, now).await;
    assert_eq!(rate(2).await.unwrap().0, StatusCode::OK);
    assert_eq!(rate(3).await.unwrap().0, StatusCode::OK);
    let a = app.store.get_operator(&first).await.unwrap().unwrap();
    let b = app.store.get_operator(&second).await.unwrap().unwrap();
    assert_eq!((a.rating_sum, a.rating_count), (0, 0), "the first operator's 5 was taken back");
    assert_eq!((b.rating_sum, b.rating_count), (3, 1), "the current operator holds the one rating that stands");
    assert!((1.0..=5.0).contains(&b.rating()));
    let c = app.store.get_chat(&chat).await.unwrap().unwrap();
    closing::close_chat(&app, &c.id, CloseReason::Admin, now, |_| true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_ratings_of_one_chat_leave_its_operator_exactly_the_rating_that_stands() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    for round in 0..fantooo_tests::rounds(3) {
        let m = stack.register("rates").await.unwrap();
        let chat = stack.open_chat(&m, "c_demo01").await.unwrap();
        let now = Utc::now();
        stack.send_at(&m, &chat, "hi", &now.to_rfc3339()).await.unwrap();
        let (op, _) = operator(&app, 1, now).await;
        claim(&app, &chat, &op, now).await;
        let path = format!("/chats/{chat}/rating");
        let rates = (0..8).map(|i| stack.post(&m, &path, json!({ "rating": i % 5 + 1 })));
        for r in join_all(rates).await {
            assert_eq!(r.unwrap().0, StatusCode::OK, "round {round}");
        }
        let c = app.store.get_chat(&chat).await.unwrap().unwrap();
        let o = app.store.get_operator(&op).await.unwrap().unwrap();
        assert_eq!((o.rating_sum, o.rating_count), (u32::from(c.rating.unwrap()), 1), "round {round}");
        closing::close_chat(&app, &chat, CloseReason::Admin, now, |_| true).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_racing_a_deletion_is_credited_before_it_or_owed_after_it_never_both() {
    let stack = Stack::connect().await.unwrap();
    let (mut credited, mut owed) = (0, 0);
    for round in 0..fantooo_tests::rounds(3) {
        let m = stack.register("racedel").await.unwrap();
        let checkout = stack.post(&m, "/credits/checkout", json!({ "package_id": "pkg_starter" })).await.unwrap().1;
        let reference = PaymentRef::new(checkout["reference"].as_str().unwrap());
        let price = checkout["amount"].as_i64().unwrap();
        let event = charge_event("charge.success", &reference, "success", price, "KES");
        let (hook, deletion) = tokio::join!(stack.webhook(&event), delete_me(&stack, &m.token));
        assert_eq!(hook.unwrap().0, StatusCode::OK, "round {round}");
        assert_eq!(deletion.0, StatusCode::OK, "round {round}: {}", deletion.1);
        let payment = stack.store.get_payment(&reference).await.unwrap().unwrap();
        let member = stack.store.get_member(&m.id).await.unwrap().unwrap();
        assert_eq!((member.balance, stack.ledger_sum(&m).await.unwrap()), (Credits::ZERO, Credits::ZERO));
        let payouts = owed_payouts(&stack, &m.id).await;
        match (payment.credited_at, payment.payout_id) {
            (Some(_), None) => {
                credited += 1;
                let credits = payment.snapshot.credits + payment.snapshot.bonus_credits;
                assert_eq!(deletion.1["unused_credits"], format!("{credits}.00"), "round {round}: credited first");
                assert_eq!(payouts.iter().map(|p| p.source.as_str()).collect::<Vec<_>>(), ["account_deletion"]);
            }
            (None, Some(_)) => {
                owed += 1;
                assert_eq!(deletion.1["unused_credits"], "0.00", "round {round}: deleted first");
                assert_eq!(
                    payouts.iter().map(|p| (p.source.as_str(), p.amount_cents)).collect::<Vec<_>>(),
                    [("payment_after_deletion", price)]
                );
            }
            other => panic!("round {round}: credited and owed both or neither: {other:?}"),
        }
    }
    eprintln!("payment vs deletion: credited first {credited}, owed after deletion {owed}");
}

#[tokio::test]
async fn a_loyalty_reward_earned_inside_the_free_messages_carries_to_the_next_paid_one() {
    let stack = Stack::connect().await.unwrap();
    let m = stack.register("loyal").await.unwrap();
    stack.grant(&m, 5).await.unwrap();
    stack.set_attr(Record::Member(&m.id), "messages_sent", AttributeValue::N("99".into())).await.unwrap();
    let chat = stack.open_chat(&m, "c_demo11").await.unwrap();
    let mut costs = Vec::new();
    for i in 0..5 {
        let (s, b) = stack.send_at(&m, &chat, &format!("m{i}"), fantooo_tests::NOON_EAT).await.unwrap();
        assert_eq!(s, StatusCode::CREATED, "{b}");
        costs.push(b["message"]["cost"].as_str().unwrap().to_string());
    }
    assert_eq!(costs, ["0.00", "0.00", "0.00", "0.00", "1.00"], "the 100th was free anyway; the 103rd used the reward");
    assert_eq!(
        (stack.balance(&m).await.unwrap(), stack.ledger_sum(&m).await.unwrap()),
        (Credits::whole(4), Credits::whole(4))
    );
}

#[tokio::test]
async fn a_member_changes_password_and_every_other_session_ends() {
    let stack = Stack::connect().await.unwrap();
    let other = stack.register("mpw").await.unwrap();
    let login = |pw: &str| {
        let body = json!({ "username": other.username, "password": pw });
        let req = stack.http.post(stack.url("/auth/login")).json(&body);
        async move { Stack::answer(req.send().await.unwrap()).await.unwrap() }
    };
    let (s, session) = login("pass-word-1").await;
    assert_eq!(s, StatusCode::OK);
    let this = Member {
        token: session["token"].as_str().unwrap().into(),
        refresh_token: session["refresh_token"].as_str().unwrap().into(),
        ..other.clone()
    };
    let change = |current: &str, new: &str| {
        let body = json!({ "current_password": current, "new_password": new });
        stack.post(&this, "/me/password", body)
    };
    let (s, b) = change("not-it-123", "brand-new-pass-2").await.unwrap();
    assert_eq!((s, b["error"]["fields"]["current_password"].is_string()), (StatusCode::UNPROCESSABLE_ENTITY, true));
    let (s, b) = change("pass-word-1", "short").await.unwrap();
    assert_eq!((s, b["error"]["fields"]["new_password"].is_string()), (StatusCode::UNPROCESSABLE_ENTITY, true));
    let (s, _) = change("pass-word-1", "brand-new-pass-2").await.unwrap();
    assert_eq!(s, StatusCode::NO_CONTENT);
    let refresh = |token: &str| {
        let req = stack.http.post(stack.url("/auth/refresh")).json(&json!({ "refresh_token": token }));
        async move { req.send().await.unwrap().status() }
    };
    assert_eq!(refresh(&other.refresh_token).await, StatusCode::UNAUTHORIZED, "the other session ended");
    assert_eq!(refresh(&this.refresh_token).await, StatusCode::OK, "the session that changed it stays");
    assert_eq!(login("pass-word-1").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(login("brand-new-pass-2").await.0, StatusCode::OK);
}

#[tokio::test]
async fn path_parameters_that_do_not_decode_get_the_json_error_body() {
    let stack = Stack::connect().await.unwrap();
    let m = stack.register("path").await.unwrap();
    for (method, path) in [("GET", "/chats/%00%ff/messages"), ("GET", "/profiles/%ff%fe"), ("PUT", "/favorites/%c3%28")]
    {
        let req = stack.http.request(method.parse().unwrap(), stack.url(path)).bearer_auth(&m.token);
        let res = req.send().await.unwrap();
        let status = res.status();
        let content_type = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")), "{path}");
        assert!(content_type.starts_with("application/json"), "{path}: {content_type}");
    }
}
