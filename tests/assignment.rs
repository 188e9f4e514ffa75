//! Operators and the assignment queue against the local stack, with conflict
//! injection on: invariants 4 (capacity; no going offline while holding a chat)
//! and 5 (one operator per chat; escalation after 3 reassignments), the timers,
//! and the operator console over HTTP.
//!
//! Tests here share the queue, so they take turns (TURN). Each works at its own
//! pinned time, and operators count as present only within 60 s of a heartbeat,
//! so one test's operators never serve another's chats.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use fantooo::domain::assignment::Timers;
use fantooo::domain::ids::{CharacterId, ChatId, MemberId, OperatorId};
use fantooo::domain::{ids, Chat, ChatStatus, Credits, Operator};
use fantooo::services::assignment;
use fantooo::App;
use fantooo_tests::Record;
use fantooo_tests::{seed, Stack, StatusCode};
use futures::future::join_all;
use serde_json::json;
use tokio::sync::Mutex;

static TURN: Mutex<()> = Mutex::const_new(());

/// A time of this test's own, far from any other test's.
fn epoch(days: i64) -> DateTime<Utc> {
    Utc::now() + Duration::days(days)
}

async fn operators(app: &App, n: usize, cap: u32, at: DateTime<Utc>) -> Vec<OperatorId> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let id = OperatorId::new(ids::new_id("op_t"));
        let op = Operator {
            max_concurrent_chats: cap,
            ..Operator::new_account(id.clone(), format!("{id}@test.local"), "Test Operator".into(), "!".into(), at)
        };
        assert!(app.store.create_operator(&op, at).await.unwrap());
        app.store.set_availability(&id, true, at).await.unwrap();
        ids.push(id);
    }
    ids
}

/// Waiting chats (chat item + queue entry), as a member message would leave them.
async fn waiting_chats(app: &App, n: usize, at: DateTime<Utc>) -> Vec<ChatId> {
    let mut chats = Vec::new();
    let mut member = MemberId::default();
    for i in 0..n {
        if i % 12 == 0 {
            member = seed::member(&app.store, at).await.unwrap();
        }
        let character = CharacterId::new(format!("c_demo{:02}", i % 12 + 1));
        let mut chat = Chat::new(member.clone(), character, at);
        chat.awaiting_reply_since = Some(at);
        let (chat, _) = app.store.create_or_get_chat(&chat).await.unwrap().unwrap();
        app.store.enqueue(&chat, Credits::ZERO, at).await.unwrap();
        chats.push(chat.id);
    }
    chats
}

/// Takes a finished round's operators out of the available list, so later passes
/// and idle watches do not walk their chats again (test cleanup, not a product path).
async fn retire(stack: &Stack, ops: &[OperatorId]) {
    for op in ops {
        stack.store.retire_operator(op).await.unwrap();
    }
}

async fn set_awaiting(stack: &Stack, chat: &str, at: DateTime<Utc>) {
    let v = AttributeValue::S(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    stack.set_attr(Record::Chat(chat), "awaiting_reply_since", v).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_chats_twenty_operators_four_assigners() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    for round in 0..fantooo_tests::rounds(3) as i64 {
        let at = epoch(10 + round);
        let ops = operators(&app, 20, 11, at).await;
        let chats = waiting_chats(&app, 200, at).await;
        let passes = (0..4).map(|_| assignment::assign_pass(&app, at));
        for r in join_all(passes).await {
            r.unwrap();
        }
        let mut held = 0;
        for op in &ops {
            let o = app.store.get_operator(op).await.unwrap().unwrap();
            assert!(o.active_chats <= o.max_concurrent_chats, "round {round}: {op} holds {}", o.active_chats);
            let listed = app.store.operator_chats(op).await.unwrap().len() as u32;
            assert_eq!(listed, o.active_chats, "round {round}: the counter matches the chats held");
            held += o.active_chats;
        }
        assert!(held >= 200, "round {round}: only {held} held");
        retire(&stack, &ops).await;
        if std::env::var("FANTOOO_TEST_STATS").is_ok() {
            eprintln!("round {round}: {}", stack.emulator_stats().await.unwrap());
        }
        for chat in &chats {
            let c = app.store.get_chat(chat).await.unwrap().unwrap();
            let op = c.operator_id.clone().unwrap_or_else(|| panic!("round {round}: {chat} never assigned"));
            assert!(ops.contains(&op));
            let history = app.store.assignment_history(&c).await.unwrap();
            assert_eq!(history.len(), 1, "round {round}: {chat} claimed once, by one operator");
            assert_eq!(history[0].operator_id, op);
        }
    }
}

/// The SQS path: triggers name chats, SQS delivers some twice, and two processes
/// (each with its own cached operator list) run batches at once. Every chat is
/// still claimed once, by one operator, and nobody goes over capacity.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_trigger_batches_claim_each_chat_once() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    for round in 0..fantooo_tests::rounds(3) as i64 {
        let (a, b) = (stack.app().await.unwrap(), stack.app().await.unwrap());
        let at = epoch(40 + round);
        let ops = operators(&a, 10, 11, at).await;
        let chats = waiting_chats(&a, 100, at).await;
        // Each batch of ten triggers twice: once in each process.
        let batches = chats.chunks(10).flat_map(|batch| [(&a, batch), (&b, batch)]);
        let runs = batches.map(|(app, batch)| assignment::assign_batch(app, batch, false, at));
        // A batch that finds no room in its cached list runs a whole pass, which may
        // also serve other tests' waiting chats: count ours from the operators' lists.
        for r in join_all(runs).await {
            r.unwrap();
        }
        let mut ours = 0;
        for op in &ops {
            let o = a.store.get_operator(op).await.unwrap().unwrap();
            assert!(o.active_chats <= o.max_concurrent_chats, "round {round}: {op} holds {}", o.active_chats);
            let listed = a.store.operator_chats(op).await.unwrap();
            assert_eq!(listed.len() as u32, o.active_chats, "round {round}: the counter matches the chats held");
            ours += listed.iter().filter(|c| chats.contains(&c.id)).count();
        }
        assert_eq!(ours, 100, "round {round}: every chat held once, by one operator, whichever batch claimed it");
        retire(&stack, &ops).await;
        for chat in &chats {
            let c = a.store.get_chat(chat).await.unwrap().unwrap();
            let op = c.operator_id.clone().unwrap_or_else(|| panic!("round {round}: {chat} never assigned"));
            assert!(ops.contains(&op));
            let history = a.store.assignment_history(&c).await.unwrap();
            assert_eq!(history.len(), 1, "round {round}: {chat} has one assignment, the current one");
            assert!(a.store.queue_entries(std::slice::from_ref(chat)).await.unwrap().is_empty());
        }
    }
}

/// A trigger that names a chat looks at that chat only: another waiting chat stays
/// queued for its own trigger (or the next whole pass).
#[tokio::test]
async fn a_trigger_claims_the_chat_it_names_and_no_other() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    let at = epoch(60);
    let ops = operators(&app, 1, 5, at).await;
    let chats = waiting_chats(&app, 2, at).await;
    let report = assignment::assign_batch(&app, &chats[..1], false, at).await.unwrap();
    assert_eq!((report.waiting, report.assigned), (1, 1));
    assert_eq!(app.store.get_chat(&chats[0]).await.unwrap().unwrap().operator_id.as_ref(), Some(&ops[0]));
    let other = app.store.get_chat(&chats[1]).await.unwrap().unwrap();
    assert_eq!(other.operator_id, None, "the chat no trigger named is not looked at");
    assert_eq!(app.store.queue_entries(&chats[1..]).await.unwrap().len(), 1);
    // Its own trigger, answered from the operator list this process cached (it
    // counts the claim just made), claims it; a repeat finds no entry and does nothing.
    let report = assignment::assign_batch(&app, &chats[1..], false, at).await.unwrap();
    assert_eq!((report.waiting, report.assigned), (1, 1));
    let report = assignment::assign_batch(&app, &chats, false, at).await.unwrap();
    assert_eq!((report.waiting, report.assigned), (0, 0));
    assert_eq!(app.store.get_operator(&ops[0]).await.unwrap().unwrap().active_chats, 2);
    retire(&stack, &ops).await;
}

/// The operator's held chats are the chats' keys-only entries (GSI5); a chat held
/// since before (its whole item in GSI2, an open assignment record) is listed too.
/// A release ends one kind, a close the other: each takes the chat off the list and
/// leaves one ended record, and the old open record is replaced, not doubled.
#[tokio::test]
async fn the_operators_held_chats_come_from_keys_only_entries_and_old_ones() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    let at = epoch(61);
    let ops = operators(&app, 1, 5, at).await;
    let chats = waiting_chats(&app, 2, at).await;
    assert_eq!(assignment::assign_batch(&app, &chats, false, at).await.unwrap().assigned, 2);
    let new_way = app.store.get_chat(&chats[0]).await.unwrap().unwrap();
    assert!(stack.raw_chat(&chats[0]).await.unwrap().unwrap().contains_key("GSI5PK"));
    assert!(app.store.assignment_history(&new_way).await.unwrap()[0].ended_at.is_none(), "current, from the chat");
    let old = app.store.get_chat(&chats[1]).await.unwrap().unwrap();
    stack.store.stage_legacy_operator_chat(&old).await.unwrap();
    let held: Vec<ChatId> = app.store.operator_chats(&ops[0]).await.unwrap().into_iter().map(|c| c.id).collect();
    let mut expected = chats.clone();
    expected.sort();
    assert_eq!(held, expected, "one listed by its GSI5 entry, one by the old entry on the chat");
    assert_eq!(app.store.assignment_history(&old).await.unwrap().len(), 1, "the old open record is the current one");

    let outcome = app.store.release(&new_way, &ops[0], fantooo::store::ReleaseKind::Completed, None, at).await.unwrap();
    assert_eq!(outcome, fantooo::store::ReleaseOutcome::Ended);
    let closed =
        fantooo::services::closing::close_chat(&app, &chats[1], fantooo::domain::CloseReason::Admin, at, |_| true)
            .await
            .unwrap();
    assert!(closed);
    assert!(app.store.operator_chats(&ops[0]).await.unwrap().is_empty());
    assert_eq!(app.store.get_operator(&ops[0]).await.unwrap().unwrap().active_chats, 0);
    for (chat, reason) in [(&chats[0], "completed"), (&chats[1], "chat_closed")] {
        let raw = stack.raw_chat(chat).await.unwrap().unwrap();
        assert!(!raw.contains_key("GSI5PK") && !raw.contains_key("GSI2PK"), "{chat}: off both lists");
        let c = app.store.get_chat(chat).await.unwrap().unwrap();
        let history = app.store.assignment_history(&c).await.unwrap();
        assert_eq!(history.len(), 1, "{chat}: the ended assignment, once");
        assert_eq!(
            (history[0].operator_id.as_str(), history[0].end_reason.as_deref()),
            (ops[0].as_str(), Some(reason))
        );
        assert!(history[0].ended_at.is_some());
    }
    retire(&stack, &ops).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn going_offline_races_an_assignment_and_never_leaves_a_chat_with_an_offline_operator() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    let (mut assigned, mut offline) = (0, 0);
    let rounds = fantooo_tests::rounds(5);
    for round in 0..rounds as i64 {
        let at = epoch(40 + round);
        let op = operators(&app, 1, 5, at).await.remove(0);
        let chat = waiting_chats(&app, 1, at).await.remove(0);
        let (pass, off) = tokio::join!(assignment::assign_pass(&app, at), app.store.set_availability(&op, false, at));
        pass.unwrap();
        let o = app.store.get_operator(&op).await.unwrap().unwrap();
        let c = app.store.get_chat(&chat).await.unwrap().unwrap();
        match off.unwrap() {
            fantooo::store::AvailabilityOutcome::Changed(_) => {
                offline += 1;
                assert_eq!(
                    (o.is_available, o.active_chats, c.operator_id.as_deref()),
                    (false, 0, None),
                    "round {round}"
                );
            }
            fantooo::store::AvailabilityOutcome::HoldsChats(n) => {
                assigned += 1;
                assert_eq!((n, o.is_available, o.active_chats), (1, true, 1), "round {round}");
                assert_eq!(c.operator_id.as_deref(), Some(op.as_str()));
            }
            other => panic!("round {round}: {other:?}"),
        }
        // Leave nothing waiting for the next round.
        if c.operator_id.is_none() {
            app.store.drop_queue_entry(&chat).await.unwrap();
        }
    }
    assert_eq!(assigned + offline, rounds);
}

#[tokio::test]
async fn idle_chats_are_warned_reassigned_three_times_then_escalated() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    let t0 = epoch(80);
    let ops = operators(&app, 5, 5, t0).await;
    let chat = waiting_chats(&app, 1, t0).await.remove(0);
    let timers = Timers::default();
    let mut holders = Vec::new();
    let mut now = t0;
    for cycle in 0..4 {
        for op in &ops {
            app.store.heartbeat(op, now).await.unwrap();
        }
        assignment::assign_pass(&app, now).await.unwrap();
        let c = app.store.get_chat(&chat).await.unwrap().unwrap();
        let holder = c.operator_id.clone().unwrap_or_else(|| panic!("cycle {cycle}: not assigned"));
        assert!(!holders.contains(&holder), "cycle {cycle}: never back to an idle operator");
        holders.push(holder.clone());
        set_awaiting(&stack, &chat, now).await;

        let warn = assignment::idle_watch(&app, timers, now + Duration::minutes(4)).await.unwrap();
        assert!(warn.warned >= 1, "cycle {cycle}: warned at 4 min");
        assert!(app.store.get_chat(&chat).await.unwrap().unwrap().idle_warned);
        now += Duration::minutes(5);
        assignment::idle_watch(&app, timers, now).await.unwrap();
        let c = app.store.get_chat(&chat).await.unwrap().unwrap();
        assert_eq!(c.operator_id, None, "cycle {cycle}: taken from the idle operator");
        let freed = app.store.get_operator(&holder).await.unwrap().unwrap();
        assert_eq!((freed.active_chats, freed.idle_incidents), (0, 1));
        let queued = app.store.waiting_entries().await.unwrap().into_iter().any(|e| e.chat_id == chat);
        if cycle < 3 {
            assert_eq!((c.reassign_count, c.status, queued), (cycle + 1, ChatStatus::Active, true), "cycle {cycle}");
            assert!(c.excluded_operators.contains(&holder));
        } else {
            assert_eq!(
                (c.reassign_count, c.status, queued),
                (3, ChatStatus::Escalated, false),
                "escalated, never requeued"
            );
        }
        now += Duration::seconds(1);
    }
    let notes = app.store.admin_notifications(200).await.unwrap();
    assert!(notes.iter().any(|n| n.kind == "chat_escalated" && n.reference.as_deref() == Some(chat.as_str())));
    assert!(notes.iter().any(|n| n.kind == "idle_warning" && n.reference.as_deref() == Some(chat.as_str())));
    for op in &ops {
        app.store.heartbeat(op, now).await.unwrap();
    }
    assignment::assign_pass(&app, now).await.unwrap();
    assert_eq!(
        app.store.get_chat(&chat).await.unwrap().unwrap().operator_id,
        None,
        "an escalated chat is not auto-assigned"
    );
}

#[tokio::test]
async fn chats_close_after_24_hours_without_messages_and_not_at_23_59() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    let t0 = epoch(120);
    let op = operators(&app, 1, 5, t0).await.remove(0);
    let chat = waiting_chats(&app, 1, t0).await.remove(0);
    assignment::assign_pass(&app, t0).await.unwrap();
    assert_eq!(app.store.get_chat(&chat).await.unwrap().unwrap().operator_id.as_deref(), Some(op.as_str()));

    assignment::auto_close(&app, t0 + Duration::hours(23) + Duration::minutes(59)).await.unwrap();
    assert_eq!(app.store.get_chat(&chat).await.unwrap().unwrap().status, ChatStatus::Active);
    assignment::auto_close(&app, t0 + Duration::hours(24) + Duration::seconds(1)).await.unwrap();
    let c = app.store.get_chat(&chat).await.unwrap().unwrap();
    assert_eq!((c.status, c.close_reason.map(|r| r.as_str())), (ChatStatus::Closed, Some("inactivity_timeout")));
    assert_eq!(app.store.get_operator(&op).await.unwrap().unwrap().active_chats, 0, "the operator is freed");
}

#[tokio::test]
async fn an_operator_answers_as_the_character_through_the_console() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    let login = |pw: &str| {
        stack.http.post(stack.url("/operator/login")).json(&json!({ "email": "op1@demo.local", "password": pw })).send()
    };
    assert_eq!(login("wrong-one-1").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let (s, session) = Stack::answer(login("demo-operator-1").await.unwrap()).await.unwrap();
    assert_eq!(s, StatusCode::OK, "{session}");
    let token = session["token"].as_str().unwrap().to_string();
    let op_id = OperatorId::new(session["operator"]["id"].as_str().unwrap());
    let op_post = |path: String, body: serde_json::Value| {
        stack.http.post(stack.url(&path)).bearer_auth(&token).json(&body).send()
    };

    let (s, _) = Stack::answer(op_post("/operator/availability".into(), json!({ "available": true })).await.unwrap())
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK);
    let hb = stack.http.post(stack.url("/operator/heartbeat")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(hb.status(), StatusCode::NO_CONTENT);

    let member = stack.register("talk").await.unwrap();
    let chat = stack.open_chat(&member, "c_demo02").await.unwrap();
    stack.send_at(&member, &chat, "Hi Zawadi!", &Utc::now().to_rfc3339()).await.unwrap();
    assignment::assign_pass(&app, Utc::now()).await.unwrap();
    let c = app.store.get_chat(&chat).await.unwrap().unwrap();
    assert_eq!(c.operator_id.as_deref(), Some(op_id.as_str()), "the present operator got the chat");

    let (s, room) =
        Stack::answer(stack.http.get(stack.url("/operator/assignments")).bearer_auth(&token).send().await.unwrap())
            .await
            .unwrap();
    assert_eq!(s, StatusCode::OK);
    assert!(room["chats"].as_array().unwrap().iter().any(|x| x["id"] == chat.as_str()));
    assert!(room["waiting"]["urgent"].is_u64() && room["stats"]["quality_score"].is_number());

    let put = stack.http.put(stack.url(&format!("/operator/chats/{chat}/notes"))).bearer_auth(&token);
    let (s, _) = Stack::answer(
        put.json(&json!({ "member_notes": "likes jazz", "character_notes": "keep it light" })).send().await.unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(s, StatusCode::OK);
    let (s, view) = Stack::answer(
        stack.http.get(stack.url(&format!("/operator/chats/{chat}"))).bearer_auth(&token).send().await.unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(s, StatusCode::OK);
    assert_eq!(view["member"]["member_notes"], "likes jazz");
    assert_eq!(view["character"]["character_notes"], "keep it light");
    assert!(view["character"]["personality_guidelines"].is_string());
    assert_eq!(view["assignments"][0]["operator_id"], op_id.as_str());

    let (s, reply) = Stack::answer(
        op_post(format!("/operator/chats/{chat}/messages"), json!({ "content": "Hey! How was your day?" }))
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!((reply["sender"].as_str(), reply["cost"].as_str()), (Some("character"), Some("0.00")));
    let (_, msgs) = stack.get(&member, &format!("/chats/{chat}/messages")).await.unwrap();
    let last = &msgs["items"][1];
    assert_eq!(
        (last["sender"].as_str(), last.get("handled_by")),
        (Some("character"), None),
        "members never see who wrote it"
    );
    assert_eq!(stack.balance(&member).await.unwrap(), Credits::ZERO, "replies are never charged");

    let (s, b) = Stack::answer(op_post("/operator/availability".into(), json!({ "available": false })).await.unwrap())
        .await
        .unwrap();
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("active_chats")));
    assert!(b["error"]["message"].as_str().unwrap().starts_with("Cannot go offline with 1 active chats"));

    let (s, rated) = stack.post(&member, &format!("/chats/{chat}/rating"), json!({ "rating": 4 })).await.unwrap();
    assert_eq!((s, rated["rating"].as_i64()), (StatusCode::OK, Some(4)));
    let (s, _) = stack.post(&member, &format!("/chats/{chat}/rating"), json!({ "rating": 9 })).await.unwrap();
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.store.get_operator(&op_id).await.unwrap().unwrap().rating_count >= 1);

    let (s, released) = Stack::answer(
        op_post(format!("/operator/chats/{chat}/release"), json!({ "note": "needs a night owl" })).await.unwrap(),
    )
    .await
    .unwrap();
    assert_eq!((s, released["outcome"].as_str()), (StatusCode::OK, Some("requeued")));
    let (s, _) = Stack::answer(
        stack.http.get(stack.url(&format!("/operator/chats/{chat}"))).bearer_auth(&token).send().await.unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(s, StatusCode::NOT_FOUND, "a released chat is no longer this operator's");
    let (s, _) = Stack::answer(op_post("/operator/availability".into(), json!({ "available": false })).await.unwrap())
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK);
    let c = app.store.get_chat(&chat).await.unwrap().unwrap();
    assert_eq!(c.reassign_count, 1, "a voluntary release counts as a reassignment");
    app.store.drop_queue_entry(&chat).await.unwrap();

    let (s, _) = stack.get(&member, "/operator/assignments").await.unwrap();
    assert_eq!(s, StatusCode::FORBIDDEN, "a member token is not an operator's");
}

#[tokio::test]
async fn a_low_quality_operator_is_suspended_for_seven_days_then_comes_back_offline() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    let t0 = epoch(160);
    let bad = operators(&app, 1, 5, t0).await.remove(0);
    let chats = waiting_chats(&app, 2, t0).await;
    assert_eq!(assignment::assign_pass(&app, t0).await.unwrap().assigned, 2);
    // One-star ratings (-30) and the default 60 s response time (-6): quality 64.
    // One idle incident (-5) and its reassignment (-2) take it to 57, below 60.
    let pk = Record::Operator(&bad);
    stack.set_attr(pk, "rating_sum", AttributeValue::N("3".into())).await.unwrap();
    stack.set_attr(pk, "rating_count", AttributeValue::N("3".into())).await.unwrap();
    // Chat 0 waits 5 min for an answer (idle); chat 1 was answered and its member
    // wrote a minute ago (held, not idle): only the suspension takes it away.
    set_awaiting(&stack, &chats[0], t0).await;
    let answered = AttributeValue::S((t0 + Duration::minutes(4)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    stack.set_attr(Record::Chat(&chats[1]), "last_member_message_at", answered).await.unwrap();
    stack.set_attr(Record::Chat(&chats[1]), "awaiting_reply_since", AttributeValue::Null(true)).await.unwrap();

    let now = t0 + Duration::minutes(5);
    let report = assignment::idle_watch(&app, Timers::default(), now).await.unwrap();
    assert_eq!((report.reassigned, report.suspended), (1, 1));
    let op = app.store.get_operator(&bad).await.unwrap().unwrap();
    assert!(op.is_suspended && !op.is_available, "suspended and offline");
    let until = op.suspended_until.expect("a suspension has an end");
    assert_eq!((until - (now + Duration::days(7))).num_milliseconds(), 0, "7 days (stored to the millisecond)");
    assert_eq!(op.active_chats, 0, "both chats taken away");
    let entries = app.store.waiting_entries().await.unwrap();
    for chat in &chats {
        let c = app.store.get_chat(chat).await.unwrap().unwrap();
        assert_eq!(c.operator_id, None, "{chat} released");
        assert!(entries.iter().any(|e| e.chat_id == chat), "{chat} requeued");
    }
    let held = entries.iter().find(|e| e.chat_id == chats[1]).unwrap();
    assert!(held.boosted, "a chat taken from a suspended operator waits at high priority at least");
    let notes = app.store.admin_notifications(200).await.unwrap();
    assert!(notes.iter().any(|n| n.kind == "operator_suspended" && n.reference.as_deref() == Some(bad.as_str())));

    // Suspended: refused going online, and no chats even with a fresh heartbeat.
    let outcome = app.store.set_availability(&bad, true, now).await.unwrap();
    assert!(matches!(outcome, fantooo::store::AvailabilityOutcome::Suspended), "{outcome:?}");
    app.store.heartbeat(&bad, now).await.unwrap();
    assignment::assign_pass(&app, now).await.unwrap();
    assert_eq!(app.store.get_operator(&bad).await.unwrap().unwrap().active_chats, 0);
    let good = operators(&app, 1, 5, now).await.remove(0);
    assignment::assign_pass(&app, now).await.unwrap();
    assert_eq!(app.store.get_operator(&good).await.unwrap().unwrap().active_chats, 2, "someone else serves them");

    assignment::end_suspensions(&app, until - Duration::minutes(1)).await.unwrap();
    assert!(app.store.get_operator(&bad).await.unwrap().unwrap().is_suspended, "not a minute early");
    assert!(assignment::end_suspensions(&app, until + Duration::seconds(1)).await.unwrap() >= 1);
    let op = app.store.get_operator(&bad).await.unwrap().unwrap();
    assert!(!op.is_suspended && !op.is_available, "back, but offline until they choose");
    assert_eq!((op.idle_incidents, op.reassignments), (0, 0), "a fresh start, so not suspended again at once");
    let outcome = app.store.set_availability(&bad, true, until + Duration::seconds(2)).await.unwrap();
    assert!(matches!(outcome, fantooo::store::AvailabilityOutcome::Changed(_)), "{outcome:?}");
    retire(&stack, &[bad, good]).await;
}

#[tokio::test]
async fn an_operator_changes_password_and_every_other_session_ends() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    let now = Utc::now();
    let id = OperatorId::new(ids::new_id("op_pw"));
    let email = format!("{id}@test.local");
    let hash = fantooo::auth::password::hash("first-password-1".into()).await.unwrap();
    let op = Operator::new_account(id.clone(), email.clone(), "Password Tester".into(), hash, now);
    assert!(app.store.create_operator(&op, now).await.unwrap());
    let login = |pw: &'static str| {
        let body = json!({ "email": email, "password": pw });
        let req = stack.http.post(stack.url("/operator/login")).json(&body);
        async move { Stack::answer(req.send().await.unwrap()).await.unwrap() }
    };
    let (s, first) = login("first-password-1").await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let (_, second) = login("first-password-1").await;
    let token = second["token"].as_str().unwrap().to_string();
    let change = |current: &str, new: &str| {
        let body = json!({ "current_password": current, "new_password": new });
        let req = stack.http.post(stack.url("/operator/password")).bearer_auth(&token).json(&body);
        async move { Stack::answer(req.send().await.unwrap()).await.unwrap() }
    };

    let (s, body) = change("not-the-password-1", "second-password-2").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "validation_failed");
    assert!(body["error"]["fields"]["current_password"].is_string(), "{body}");
    let (s, body) = change("first-password-1", "short").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a weak new password is refused: {body}");
    assert!(body["error"]["fields"]["new_password"].is_string(), "{body}");
    assert_eq!(login("first-password-1").await.0, StatusCode::OK, "refusals change nothing");

    let (s, body) = change("first-password-1", "second-password-2").await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(login("first-password-1").await.0, StatusCode::UNAUTHORIZED, "the old password is gone");
    let (s, fresh) = login("second-password-2").await;
    assert_eq!(s, StatusCode::OK, "{fresh}");
    let refresh = |token: &serde_json::Value| {
        let req = stack.http.post(stack.url("/auth/refresh")).json(&json!({ "refresh_token": token }));
        async move { req.send().await.unwrap().status() }
    };
    assert_eq!(refresh(&first["refresh_token"]).await, StatusCode::UNAUTHORIZED, "the other session ended");
    assert_eq!(refresh(&second["refresh_token"]).await, StatusCode::OK, "the session that changed it stays");
    let res = stack
        .http
        .post(stack.url("/auth/refresh"))
        .json(&json!({ "refresh_token": fresh["refresh_token"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the new session refreshes");
}

#[tokio::test]
async fn a_chat_that_waited_in_the_queue_gives_its_new_operator_the_full_five_minutes() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    let t0 = epoch(200);
    let chat = waiting_chats(&app, 1, t0).await.remove(0);
    set_awaiting(&stack, &chat, t0).await;
    // Nobody is online for 6 minutes; then an operator comes and claims it.
    let claimed = t0 + Duration::minutes(6);
    let op = operators(&app, 1, 5, claimed).await.remove(0);
    app.store.heartbeat(&op, claimed).await.unwrap();
    assignment::assign_pass(&app, claimed).await.unwrap();
    assert_eq!(app.store.get_chat(&chat).await.unwrap().unwrap().operator_id.as_deref(), Some(op.as_str()));

    let r = assignment::idle_watch(&app, Timers::default(), claimed + Duration::minutes(1)).await.unwrap();
    assert_eq!((r.warned, r.reassigned), (0, 0), "the member's 7 minutes are not the operator's");
    let r = assignment::idle_watch(&app, Timers::default(), claimed + Duration::minutes(4)).await.unwrap();
    assert_eq!((r.warned, r.reassigned), (1, 0), "warned 4 min after the claim");
    let r = assignment::idle_watch(&app, Timers::default(), claimed + Duration::minutes(5)).await.unwrap();
    assert_eq!(r.reassigned, 1, "taken back 5 min after the claim");
    let freed = app.store.get_operator(&op).await.unwrap().unwrap();
    assert_eq!((freed.active_chats, freed.idle_incidents), (0, 1));
    retire(&stack, &[op]).await;
    app.store.drop_queue_entry(&chat).await.unwrap();
}

#[tokio::test]
async fn a_requeued_chat_keeps_its_spend_style_and_languages() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    let t0 = epoch(240);
    let member = stack.register("requeue").await.unwrap();
    // A big spender (15,000 credits): urgent whenever they wait.
    let spent = AttributeValue::N(Credits::whole(15_000).hundredths().to_string());
    stack.set_attr(Record::Member(&member.id), "credits_spent", spent).await.unwrap();
    let chat = stack.open_chat(&member, "c_demo02").await.unwrap();
    let (s, body) = stack.send_at(&member, &chat, "Habari!", &t0.to_rfc3339()).await.unwrap();
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let entry = |entries: Vec<fantooo::store::QueueEntry>| entries.into_iter().find(|e| e.chat_id == chat);
    let before = entry(app.store.waiting_entries().await.unwrap()).expect("the send queued the chat");
    assert_eq!(before.member_credits_spent, Credits::whole(15_000));
    assert!(before.response_style.is_some() && !before.languages.is_empty(), "{before:?}");

    let op = operators(&app, 1, 5, t0).await.remove(0);
    assignment::assign_pass(&app, t0).await.unwrap();
    assert_eq!(app.store.get_chat(&chat).await.unwrap().unwrap().operator_id.as_deref(), Some(op.as_str()));
    assert!(entry(app.store.waiting_entries().await.unwrap()).is_none(), "the claim consumed the entry");

    let r = assignment::idle_watch(&app, Timers::default(), t0 + Duration::minutes(5)).await.unwrap();
    assert_eq!(r.reassigned, 1);
    let after = entry(app.store.waiting_entries().await.unwrap()).expect("requeued");
    assert_eq!(
        (&after.member_credits_spent, &after.response_style, &after.languages),
        (&before.member_credits_spent, &before.response_style, &before.languages),
        "the requeued entry ranks and matches like the original"
    );
    assert_eq!((after.reassign_count, after.excluded.clone()), (1, vec![op.clone()]));
    retire(&stack, &[op]).await;
    app.store.drop_queue_entry(&chat).await.unwrap();
}

#[tokio::test]
async fn the_idle_watch_job_takes_its_thresholds_from_the_settings_item() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    let t0 = epoch(280);
    let chat = waiting_chats(&app, 1, t0).await.remove(0);
    let op = operators(&app, 1, 5, t0).await.remove(0);
    assignment::assign_pass(&app, t0).await.unwrap();
    set_awaiting(&stack, &chat, t0).await;
    let settings = fantooo::store::AssignmentSettings {
        idle_warning_minutes: Some(2),
        idle_reassign_minutes: Some(3),
        assignment_hold_minutes: None,
    };
    app.store.put_assignment_settings(&settings).await.unwrap();
    let job = |at: DateTime<Utc>| {
        let app = app.clone();
        async move { fantooo::inbound::run(&app, fantooo::inbound::ScheduledJob::IdleWatch, at).await }
    };

    let warned = job(t0 + Duration::minutes(2)).await;
    let reassigned = job(t0 + Duration::minutes(3)).await;
    // Back to the defaults before asserting, so a failure here cannot leak into other tests.
    app.store.put_assignment_settings(&Default::default()).await.unwrap();
    let (warned, reassigned) = (warned.unwrap(), reassigned.unwrap());
    assert_eq!((warned["warned"].as_u64(), warned["reassigned"].as_u64()), (Some(1), Some(0)), "{warned}");
    assert_eq!(reassigned["reassigned"].as_u64(), Some(1), "{reassigned}");
    let c = app.store.get_chat(&chat).await.unwrap().unwrap();
    assert_eq!((c.operator_id, c.reassign_count), (None, 1), "taken back at 3 min, as the settings say");
    let notes = app.store.admin_notifications(200).await.unwrap();
    let warning = notes.iter().find(|n| n.kind == "idle_warning" && n.reference.as_deref() == Some(chat.as_str()));
    assert!(
        warning.is_some_and(|n| n.message.ends_with("for 2 minutes")),
        "the warning says the threshold in force: {warning:?}"
    );
    retire(&stack, &[op]).await;
    app.store.drop_queue_entry(&chat).await.unwrap();
}

#[tokio::test]
async fn the_available_listing_holds_only_what_routing_reads_and_follows_replies_at_heartbeats() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    let at = epoch(200);
    let op = operators(&app, 1, 5, at).await.remove(0);

    let entry = stack.store.raw_listing_entry(&op).await.unwrap().expect("an online operator is listed");
    for staff_only in ["email", "password_hash", "name", "replies", "total_response_secs", "idle_incidents"] {
        assert!(!entry.contains_key(staff_only), "the listing projects {staff_only}");
    }
    let listed = |ops: Vec<fantooo::domain::assignment::OnlineOperator>| ops.into_iter().find(|o| o.id == op);
    let before = listed(app.store.available_operators().await.unwrap()).unwrap();
    assert_eq!(before.response_secs, 60, "no reply yet: the unmeasured figure");

    // Replies write only the counters; the listing follows at the next heartbeat.
    stack.set_attr(Record::Operator(&op), "replies", AttributeValue::N("4".into())).await.unwrap();
    stack.set_attr(Record::Operator(&op), "total_response_secs", AttributeValue::N("10".into())).await.unwrap();
    assert_eq!(listed(app.store.available_operators().await.unwrap()).unwrap().response_secs, 60);
    app.store.heartbeat(&op, at + Duration::seconds(30)).await.unwrap();
    let after = listed(app.store.available_operators().await.unwrap()).unwrap();
    let beat = (at + Duration::seconds(30)).timestamp_millis();
    let stamped = after.last_heartbeat_at.map(|t| t.timestamp_millis());
    assert_eq!((after.response_secs, stamped), (3, Some(beat)), "10 s / 4 rounds to 3");

    app.store.set_availability(&op, false, at).await.unwrap();
    assert!(stack.store.raw_listing_entry(&op).await.unwrap().is_none(), "offline is unlisted");
    app.store.heartbeat(&op, at + Duration::seconds(60)).await.unwrap();
    assert!(
        stack.store.raw_listing_entry(&op).await.unwrap().is_none(),
        "a heartbeat does not list an offline operator"
    );
}

#[tokio::test]
async fn an_operator_listed_the_old_way_is_moved_to_the_slim_listing_by_their_next_heartbeat() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    let at = epoch(201);
    let op = operators(&app, 1, 5, at).await.remove(0);
    stack.store.stage_legacy_listing(&op).await.unwrap();
    assert!(!app.store.available_operators().await.unwrap().iter().any(|o| o.id == op));

    app.store.heartbeat(&op, at).await.unwrap();
    assert!(app.store.available_operators().await.unwrap().iter().any(|o| o.id == op));
    let raw = stack.store.raw_item(Record::Operator(&op)).await.unwrap().unwrap();
    assert!(!raw.contains_key("GSI1PK"), "the old entry is gone");
    retire(&stack, &[op]).await;
}

/// An operator listed the old way who holds a chat and never heartbeats again (a
/// closed tab at the deploy) is still watched: their idle chat is taken back.
#[tokio::test]
async fn the_idle_watch_still_sees_an_operator_listed_the_old_way() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    let at = epoch(202);
    let op = operators(&app, 1, 5, at).await.remove(0);
    let chat = waiting_chats(&app, 1, at).await.remove(0);
    assignment::assign_pass(&app, at).await.unwrap();
    assert_eq!(app.store.get_chat(&chat).await.unwrap().unwrap().operator_id.as_deref(), Some(op.as_str()));
    stack.store.stage_legacy_listing(&op).await.unwrap();
    set_awaiting(&stack, &chat, at).await;

    assignment::idle_watch(&app, Timers::default(), at + Duration::minutes(5)).await.unwrap();
    let c = app.store.get_chat(&chat).await.unwrap().unwrap();
    assert_eq!(c.operator_id, None, "taken back from the operator who never came back");
    assert_eq!(app.store.get_operator(&op).await.unwrap().unwrap().idle_incidents, 1);
    app.store.drop_queue_entry(&chat).await.unwrap();
    retire(&stack, &[op]).await;
}

/// The heartbeat's second write (the listing's response time) is conditioned on the
/// operator still being online: racing "go offline", it never lists them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn going_offline_races_heartbeats_and_never_stays_listed() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    for round in 0..fantooo_tests::rounds(5) as i64 {
        let at = epoch(210 + round);
        let op = operators(&app, 1, 5, at).await.remove(0);
        // Each heartbeat finds the response time moved, so each one rewrites the listing.
        let beats = (1..=6).map(|i| {
            let (app, op, stack) = (&app, &op, &stack);
            async move {
                let n = AttributeValue::N((i * 7).to_string());
                stack.set_attr(Record::Operator(op), "total_response_secs", n).await.unwrap();
                stack.set_attr(Record::Operator(op), "replies", AttributeValue::N("1".into())).await.unwrap();
                app.store.heartbeat(op, at + Duration::seconds(i)).await.unwrap();
            }
        });
        let (_, off) = tokio::join!(join_all(beats), async {
            tokio::time::sleep(std::time::Duration::from_millis(5 * round as u64 % 30)).await;
            app.store.set_availability(&op, false, at).await
        });
        assert!(matches!(off.unwrap(), fantooo::store::AvailabilityOutcome::Changed(_)), "round {round}");
        let o = app.store.get_operator(&op).await.unwrap().unwrap();
        assert!(!o.is_available, "round {round}");
        assert!(stack.store.raw_listing_entry(&op).await.unwrap().is_none(), "round {round}: offline but listed");
    }
}

async fn op_call(
    stack: &Stack,
    token: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<(StatusCode, serde_json::Value)> {
    fantooo_tests::call(&stack.http, &stack.api, method, path, Some(token), body).await
}

#[tokio::test]
async fn an_operator_reads_their_notifications_and_sets_their_own_skills() {
    let stack = Stack::connect().await.unwrap();
    let app = stack.app().await.unwrap();
    let now = Utc::now();
    let id = OperatorId::new(ids::new_id("op_me"));
    let email = format!("{id}@test.local");
    let hash = fantooo::auth::password::hash("console-password-1".into()).await.unwrap();
    let op = Operator::new_account(id.clone(), email.clone(), "Console Tester".into(), hash, now);
    assert!(app.store.create_operator(&op, now).await.unwrap());
    let body = json!({ "email": email, "password": "console-password-1" });
    let (s, login) =
        Stack::answer(stack.http.post(stack.url("/operator/login")).json(&body).send().await.unwrap()).await.unwrap();
    assert_eq!(s, StatusCode::OK, "{login}");
    let token = login["token"].as_str().unwrap().to_string();

    // What the idle watch and a suspension write, as the console lists them.
    app.store.put_operator_notification(&id, "idle_warning", "Chat ch_x waits for your reply", now).await.unwrap();
    app.store
        .put_operator_notification(&id, "suspended", "You are suspended until tomorrow", now + Duration::seconds(1))
        .await
        .unwrap();
    let (s, page) = op_call(&stack, &token, "GET", "/operator/notifications", None).await.unwrap();
    assert_eq!(s, StatusCode::OK, "{page}");
    let items = page["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().filter_map(|n| n["kind"].as_str()).collect();
    assert_eq!(kinds, vec!["suspended", "idle_warning"], "newest first");
    assert!(items.iter().all(|n| n["read"] == json!(false) && n["title"].as_str().is_some_and(|t| !t.is_empty())));
    let first = items[1]["id"].as_str().unwrap().to_string();
    let (s, _) = op_call(&stack, &token, "POST", &format!("/operator/notifications/{first}/read"), None).await.unwrap();
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, page) = op_call(&stack, &token, "GET", "/operator/notifications", None).await.unwrap();
    let read: Vec<bool> = page["items"].as_array().unwrap().iter().map(|n| n["read"] == json!(true)).collect();
    assert_eq!(read, vec![false, true]);
    let (s, _) = op_call(&stack, &token, "POST", "/operator/notifications/on_nothing/read", None).await.unwrap();
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A member's token is not an operator's.
    let member = stack.register("opnotif").await.unwrap();
    let (s, _) =
        fantooo_tests::call(&stack.http, &stack.api, "GET", "/operator/notifications", Some(&member.token), None)
            .await
            .unwrap();
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Skills: validated, deduplicated, and what the assigner reads.
    let (s, body) = op_call(
        &stack,
        &token,
        "PATCH",
        "/operator/me",
        Some(json!({ "languages": ["en", "sw", "en"], "specializations": ["playful"] })),
    )
    .await
    .unwrap();
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!((body["languages"].clone(), body["specializations"].clone()), (json!(["en", "sw"]), json!(["playful"])));
    let stored = app.store.get_operator(&id).await.unwrap().unwrap();
    assert_eq!(
        (stored.languages, stored.specializations),
        (vec!["en".to_string(), "sw".into()], vec!["playful".to_string()])
    );
    for bad in [
        json!({ "languages": [] }),
        json!({ "languages": ["English"] }),
        json!({ "specializations": ["spicy"] }),
        json!({ "max_concurrent_chats": 9 }),
    ] {
        let (s, body) = op_call(&stack, &token, "PATCH", "/operator/me", Some(bad.clone())).await.unwrap();
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    let unchanged = app.store.get_operator(&id).await.unwrap().unwrap();
    assert_eq!(unchanged.languages, vec!["en".to_string(), "sw".into()], "refusals change nothing");
}
