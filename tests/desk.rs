//! The back office's content side against the local stack: characters (drafts,
//! featuring until a date, removal closing the chats and telling the members),
//! the chat desk (lists, detail, reassignment under the claim's conditions,
//! escalations and their reminder) and the platform settings (merge, nonsense
//! refused, pricing applied to sends).

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use fantooo::domain::admin::AdminRole;
use fantooo::domain::ids::{ChatId, OperatorId};
use fantooo::domain::{ChatStatus, CloseReason};
use fantooo::services::assignment;
use fantooo::services::closing::{self, Budget};
use fantooo::store::Store;
use fantooo::App;
use fantooo_tests::staff::{self, Staff};
use fantooo_tests::{call, unique_username, Member, OwnApi, Stack, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Mutex;

/// Tests here claim chats from the shared queue and run the shared jobs: one at a time.
static TURN: Mutex<()> = Mutex::const_new(());

async fn api(stack: &Stack, method: &str, path: &str, token: &str, body: Option<Value>) -> Result<(StatusCode, Value)> {
    call(&stack.http, &stack.api, method, path, Some(token), body).await
}

/// A request at a pinned time (the local stack's `x-fantooo-now`).
async fn at(stack: &Stack, method: &str, path: &str, token: &str, now: &str) -> Result<(StatusCode, Value)> {
    let method = reqwest::Method::from_bytes(method.as_bytes())?;
    let res =
        stack.http.request(method, stack.url(path)).bearer_auth(token).header("x-fantooo-now", now).send().await?;
    Stack::answer(res).await
}

fn photos(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("https://img.example/desk/{}-{i}.jpg", unique_username("p"))).collect()
}

/// A character created through the back office; returns its id.
async fn create_character(stack: &Stack, by: &Staff, extra: Value) -> Result<String> {
    let mut body = json!({
        "name": unique_username("Desk"), "age": 26, "gender": "female", "location": "Nakuru",
        "bio": "Written by the chat team.", "photos": photos(3), "response_style": "friendly",
        "personality_guidelines": "Staff only.", "languages": ["en"]
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let (status, c) = api(stack, "POST", "/admin/characters", &by.token, Some(body)).await?;
    anyhow::ensure!(status == StatusCode::CREATED, "create character: {status} {c}");
    Ok(c["id"].as_str().context("id")?.to_string())
}

async fn run_jobs_until<F, Fut>(app: &App, done: F) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    for _ in 0..40 {
        closing::run_jobs(app, Utc::now() + Duration::seconds(10), Budget::default()).await?;
        if done().await? {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    anyhow::bail!("the jobs did not get there after 40 runs")
}

async fn chat_of(store: &Store, id: &ChatId) -> Result<fantooo::domain::Chat> {
    store.get_chat(id).await?.context("chat")
}

#[tokio::test]
async fn removing_a_character_hides_it_at_once_closes_its_chats_and_tells_each_member() -> Result<()> {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await?;
    let app = stack.app().await?;
    let root = staff::admin(&stack, AdminRole::SuperAdmin, None).await?;
    let name = unique_username("Gone");
    let id = create_character(&stack, &root, json!({ "name": name })).await?;
    let (status, _) = call(&stack.http, &stack.api, "GET", &format!("/profiles/{id}"), None, None).await?;
    assert_eq!(status, StatusCode::OK, "an active character is public");
    let (_, list) =
        call(&stack.http, &stack.api, "GET", &format!("/profiles?q={}", name.to_lowercase()), None, None).await?;
    assert_eq!(list["items"][0]["id"], id.as_str(), "listed while active: {list}");

    let (a, b) = (stack.register("rma").await?, stack.register("rmb").await?);
    let mut chats = Vec::new();
    for m in [&a, &b] {
        let chat = stack.open_chat(m, &id).await?;
        let (status, _) = stack.send_at(m, &chat, "hello", &Utc::now().to_rfc3339()).await?;
        assert_eq!(status, StatusCode::CREATED);
        chats.push(chat);
    }
    let moderator = staff::admin(&stack, AdminRole::Moderator, None).await?;
    let (status, _) = api(&stack, "DELETE", &format!("/admin/characters/{id}"), &moderator.token, None).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "a moderator does not manage characters");

    let (status, body) = api(&stack, "DELETE", &format!("/admin/characters/{id}"), &root.token, None).await?;
    assert_eq!((status, body["closing_chats"].as_u64()), (StatusCode::OK, Some(2)), "{body}");
    let (status, _) = call(&stack.http, &stack.api, "GET", &format!("/profiles/{id}"), None, None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "its page is gone at once");
    let (_, list) = stack.get(&a, &format!("/profiles?q={}", name.to_lowercase())).await?;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "gone from the list: {list}");
    let late = stack.register("rmc").await?;
    let (status, _) = stack.post(&late, "/chats", json!({ "profile_id": id })).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "no new chat with a removed character");

    run_jobs_until(&app, || async {
        for chat in &chats {
            if chat_of(&stack.store, chat).await?.status != ChatStatus::Closed {
                return Ok(false);
            }
        }
        Ok(true)
    })
    .await?;
    for (m, chat) in [(&a, &chats[0]), (&b, &chats[1])] {
        let c = chat_of(&stack.store, chat).await?;
        assert_eq!(c.close_reason, Some(CloseReason::ProfileDeleted));
        let (_, notes) = stack.get(m, "/notifications").await?;
        let told =
            notes["items"].as_array().context("items")?.iter().any(|n| {
                n["body"].as_str().is_some_and(|b| b.contains("closed as the profile is no longer available"))
            });
        assert!(told, "the member is told: {notes}");
        let (status, body) = stack.send_at(m, chat, "still there?", &Utc::now().to_rfc3339()).await?;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("chat_closed")));
    }
    let (status, _) = api(&stack, "DELETE", &format!("/admin/characters/{id}"), &root.token, None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "removed once");
    let deleted = fantooo_tests::all_pages(&stack, &root.token, "/admin/characters?status=deleted", 40).await?;
    let listed = deleted.iter().find(|c| c["id"] == id.as_str()).cloned();
    let listed = listed.context("the back office still lists it as deleted")?;
    assert_eq!(
        (listed["status"].as_str(), listed["chats"].as_u64(), listed["active_chats"].as_u64()),
        (Some("deleted"), Some(2), Some(0))
    );
    Ok(())
}

#[tokio::test]
async fn drafts_are_not_public_until_published_with_their_photos() -> Result<()> {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await?;
    let root = staff::admin(&stack, AdminRole::Admin, None).await?;
    let id = create_character(&stack, &root, json!({ "status": "draft", "photos": photos(1) })).await?;
    let (status, _) = call(&stack.http, &stack.api, "GET", &format!("/profiles/{id}"), None, None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "a draft is not public");
    let m = stack.register("draft").await?;
    let (status, _) = stack.post(&m, "/chats", json!({ "profile_id": id })).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "nobody chats with a draft");
    let drafts = fantooo_tests::all_pages(&stack, &root.token, "/admin/characters?status=draft", 40).await?;
    let staff_view = drafts.iter().find(|c| c["id"] == id.as_str()).cloned();
    let staff_view = staff_view.context("listed as a draft")?;
    assert_eq!(staff_view["personality_guidelines"], "Staff only.", "the staff view has the staff fields");
    assert_eq!(staff_view["kind"], "character");

    let path = format!("/admin/characters/{id}");
    let (status, body) = api(&stack, "PATCH", &path, &root.token, Some(json!({ "status": "active" }))).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["fields"]["photos"].is_string(), "{body}");
    let (status, body) =
        api(&stack, "PATCH", &path, &root.token, Some(json!({ "status": "active", "photos": photos(4) }))).await?;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("active")), "{body}");
    let (status, profile) = call(&stack.http, &stack.api, "GET", &format!("/profiles/{id}"), None, None).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(profile.get("personality_guidelines").is_none() && profile.get("languages").is_none(), "{profile}");
    assert_eq!(profile["kind"], "character");

    for (bad, field) in [
        (json!({ "photos": photos(2) }), "photos"),
        (
            json!({ "photos": ["http://img.example/a.jpg", "https://a.example/b.jpg", "https://a.example/c.png"] }),
            "photos",
        ),
        (
            json!({ "photos": ["https://img.example/a.gif", "https://a.example/b.jpg", "https://a.example/c.png"] }),
            "photos",
        ),
        (json!({ "age": 17 }), "age"),
        (json!({ "status": "deleted" }), "status"),
    ] {
        let (status, body) = api(&stack, "PATCH", &path, &root.token, Some(bad.clone())).await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert!(body["error"]["fields"][field].is_string(), "{bad}: {body}");
    }
    let (status, _) = api(&stack, "PATCH", &path, &root.token, Some(json!({ "colour": "red" }))).await?;
    assert_eq!(status.as_u16() / 100, 4, "an unknown field is refused, not ignored");
    Ok(())
}

/// Noon in Nairobi on the day after `now` (a standard-band hour).
fn tomorrow_noon_eat(now: DateTime<Utc>) -> DateTime<Utc> {
    let day = (now + Duration::days(1)).date_naive();
    day.and_hms_opt(9, 0, 0).map(|t| t.and_utc()).unwrap_or(now)
}

#[tokio::test]
async fn the_featured_factor_prices_messages_until_featured_until_and_not_after() -> Result<()> {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await?;
    let root = staff::admin(&stack, AdminRole::Admin, None).await?;
    let until = tomorrow_noon_eat(Utc::now());
    let name = unique_username("Star");
    let id = create_character(&stack, &root, json!({ "featured_until": until, "name": name })).await?;
    let m = stack.register("feat").await?;
    stack.grant(&m, 10).await?;
    let chat = stack.open_chat(&m, &id).await?;
    let before = (until - Duration::minutes(1)).to_rfc3339();
    let after = (until + Duration::minutes(1)).to_rfc3339();
    for text in ["one", "two", "three"] {
        let (status, body) = stack.send_at(&m, &chat, text, &before).await?;
        assert_eq!((status, body["message"]["free"].as_bool()), (StatusCode::CREATED, Some(true)), "{body}");
    }
    let (_, body) = stack.send_at(&m, &chat, "four", &before).await?;
    assert_eq!(body["message"]["cost"], "1.50", "featured, standard band: x1.5 ({body})");
    let (_, body) = stack.send_at(&m, &chat, "five", &after).await?;
    assert_eq!(body["message"]["cost"], "1.00", "featuring ended at featured_until ({body})");
    let (_, seen) = at(&stack, "GET", &format!("/profiles/{id}"), &m.token, &before).await?;
    assert_eq!(seen["is_featured"], true, "{seen}");
    let (_, seen) = at(&stack, "GET", &format!("/profiles/{id}"), &m.token, &after).await?;
    assert_eq!(seen["is_featured"], false, "{seen}");
    let (status, body) = api(
        &stack,
        "PATCH",
        &format!("/admin/characters/{id}"),
        &root.token,
        Some(json!({ "featured_until": "2020-01-01T00:00:00Z" })),
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a date in the past: {body}");
    let (status, body) =
        api(&stack, "PATCH", &format!("/admin/characters/{id}"), &root.token, Some(json!({ "featured_until": null })))
            .await?;
    assert_eq!(
        (status, body["featured"].as_bool(), body["is_featured"].as_bool()),
        (StatusCode::OK, Some(false), Some(false))
    );
    let (_, body) = stack.send_at(&m, &chat, "six", &before).await?;
    assert_eq!(body["message"]["cost"], "1.00", "no longer featured ({body})");
    let (_, list) =
        api(&stack, "GET", &format!("/admin/characters?q={}", name.to_lowercase()), &root.token, None).await?;
    let mine = list["items"].as_array().context("items")?.iter().find(|c| c["id"] == id.as_str()).cloned();
    let mine = mine.context("listed")?;
    assert_eq!(
        (mine["messages"].as_u64(), mine["revenue"].as_str(), mine["active_chats"].as_u64()),
        (Some(6), Some("3.50"), Some(1))
    );
    Ok(())
}

/// A member's chat past its free allowance, waiting in the queue, then escalated
/// (as the escalate job does).
async fn escalated_chat(stack: &Stack, app: &App, m: &Member) -> Result<ChatId> {
    let chat = stack.open_chat(m, "c_demo03").await?;
    let now = Utc::now().to_rfc3339();
    for text in ["a", "b", "c"] {
        let (status, body) = stack.send_at(m, &chat, text, &now).await?;
        anyhow::ensure!(status == StatusCode::CREATED, "send: {status} {body}");
    }
    let current = chat_of(&stack.store, &chat).await?;
    anyhow::ensure!(current.operator_id.is_none(), "claimed before the escalation");
    anyhow::ensure!(app.store.escalate_waiting(&current, Utc::now()).await?, "escalated");
    Ok(chat)
}

async fn leave(app: &App, ops: &[&staff::Operator]) -> Result<()> {
    for op in ops {
        app.store.set_availability(&OperatorId::new(op.id.as_str()), false, Utc::now()).await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_reassignment_follows_the_claims_conditions_ends_the_escalation_and_the_free_messages() -> Result<()> {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await?;
    let app = stack.app().await?;
    let root = staff::admin(&stack, AdminRole::Admin, None).await?;
    // A is full: one chat, held.
    let full = staff::online_operator(&stack, &root, 1).await?;
    let filler = stack.register("fill").await?;
    let filler_chat = stack.open_chat(&filler, "c_demo05").await?;
    stack.send_at(&filler, &filler_chat, "hi", &Utc::now().to_rfc3339()).await?;
    let entry = app.store.waiting_entries().await?.into_iter().find(|e| e.chat_id == filler_chat);
    if let Some(entry) = entry {
        app.store.claim(&entry, &OperatorId::new(full.id.as_str()), Utc::now()).await?;
    }
    let held = chat_of(&stack.store, &filler_chat).await?;
    let result = async {
        anyhow::ensure!(
            held.operator_id.as_deref() == Some(full.id.as_str()),
            "A holds the filler chat: {:?}",
            held.operator_id
        );

        let m = stack.register("esc").await?;
        stack.grant(&m, 10).await?;
        let chat = escalated_chat(&stack, &app, &m).await?;
        let (status, body) = stack.send_at(&m, &chat, "anyone?", &Utc::now().to_rfc3339()).await?;
        assert_eq!(
            (status, body["message"]["free"].as_bool(), body["balance"].as_str()),
            (StatusCode::CREATED, Some(true), Some("10.00")),
            "escalated: free ({body})"
        );

        // The desk lists it first, and under its status.
        let items = fantooo_tests::all_pages(&stack, &root.token, "/admin/chats", 40).await?;
        let first_active = items.iter().position(|c| c["status"] == "active").unwrap_or(items.len());
        let ours = items.iter().position(|c| c["id"] == chat.as_str()).context("listed by default")?;
        assert!(ours < first_active, "escalated before active");
        assert!(items.iter().skip(first_active).all(|c| c["status"] == "active"), "then the active ones only");
        let escalated = fantooo_tests::all_pages(&stack, &root.token, "/admin/chats?status=escalated", 40).await?;
        assert!(escalated.iter().any(|c| c["id"] == chat.as_str()));
        assert!(escalated.iter().all(|c| c["status"] == "escalated"));
        let (_, by_member) = api(&stack, "GET", &format!("/admin/chats?member_id={}", m.id), &root.token, None).await?;
        assert_eq!(by_member["items"][0]["id"], chat.as_str());
        assert_eq!(by_member["items"][0]["status"], "escalated");

        let path = format!("/admin/chats/{chat}/reassign");
        let (status, body) = api(&stack, "POST", &path, &root.token, Some(json!({ "operator_id": full.id }))).await?;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("operator_unavailable")),
            "{body}"
        );
        assert_eq!(
            chat_of(&stack.store, &chat).await?.status,
            ChatStatus::Escalated,
            "a refused reassignment changes nothing"
        );
        let moderator = staff::admin(&stack, AdminRole::Moderator, None).await?;
        let (status, _) = api(&stack, "POST", &path, &moderator.token, Some(json!({}))).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "reassigning needs manage_chats");

        // Back to the queue: at the top, the count reset, the escalation over.
        let (status, body) = api(&stack, "POST", &path, &root.token, Some(json!({}))).await?;
        assert_eq!((status, body["to"].as_str()), (StatusCode::OK, Some("queue")), "{body}");
        let after = chat_of(&stack.store, &chat).await?;
        assert_eq!((after.status, after.reassign_count, after.escalated_at), (ChatStatus::Active, 0, None));
        match app.store.waiting_entries().await?.into_iter().find(|e| e.chat_id == chat) {
            Some(entry) => {
                assert!(entry.boosted && entry.reassign_count == 0, "{entry:?}");
                // Active chats list the ones waiting for an operator first.
                let active = fantooo_tests::all_pages(&stack, &root.token, "/admin/chats?status=active", 40).await?;
                let ours = active.iter().position(|c| c["id"] == chat.as_str()).context("listed as active")?;
                let first_held = active.iter().position(|c| !c["operator_id"].is_null()).unwrap_or(active.len());
                assert!(ours < first_held, "a waiting chat comes before the held ones");
                assert!(active.iter().all(|c| c["status"] == "active"));
            }
            None => assert!(after.operator_id.is_some(), "not queued, so an assigner took it"),
        }
        let escalated = fantooo_tests::all_pages(&stack, &root.token, "/admin/chats?status=escalated", 40).await?;
        assert!(!escalated.iter().any(|c| c["id"] == chat.as_str()));

        // To a named operator with room.
        let other = staff::online_operator(&stack, &root, 3).await?;
        let (status, body) = api(&stack, "POST", &path, &root.token, Some(json!({ "operator_id": other.id }))).await?;
        assert_eq!(
            (status, body["to"].as_str(), body["chat"]["operator_id"].as_str()),
            (StatusCode::OK, Some("operator"), Some(other.id.as_str())),
            "{body}"
        );
        let (_, held_by) =
            api(&stack, "GET", &format!("/admin/chats?operator_id={}", other.id), &root.token, None).await?;
        assert!(held_by["items"].as_array().context("items")?.iter().any(|c| c["id"] == chat.as_str()));
        let (status, body) = stack.send_at(&m, &chat, "paid again", &Utc::now().to_rfc3339()).await?;
        assert_eq!(
            (status, body["message"]["free"].as_bool()),
            (StatusCode::CREATED, Some(false)),
            "no longer escalated: paid ({body})"
        );

        // The detail: three panels, history and notes.
        let (status, detail) = api(&stack, "GET", &format!("/admin/chats/{chat}"), &root.token, None).await?;
        assert_eq!(status, StatusCode::OK, "{detail}");
        assert_eq!(
            (detail["chat"]["operator_id"].as_str(), detail["member"]["id"].as_str()),
            (Some(other.id.as_str()), Some(m.id.as_str()))
        );
        assert_eq!(detail["character"]["kind"], "character");
        assert!(detail["character"].get("response_templates").is_some(), "the staff view of the character");
        assert_eq!(detail["messages"].as_array().map(Vec::len), Some(5));
        assert!(detail["notes"].get("member_notes").is_some());
        assert!(detail["assignments"].as_array().is_some_and(|a| !a.is_empty()), "{detail}");

        // Closed: both are 409 chat_closed.
        let (status, _) =
            api(&stack, "POST", &format!("/admin/chats/{chat}/close"), &root.token, Some(json!({}))).await?;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = api(&stack, "POST", &path, &root.token, Some(json!({}))).await?;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("chat_closed")));
        let (status, body) = api(&stack, "GET", "/admin/chats?status=closed", &root.token, None).await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "closed chats are listed per member or character: {body}");
        let (_, audit) = api(
            &stack,
            "GET",
            "/admin/audit?limit=50",
            &staff::admin(&stack, AdminRole::SuperAdmin, None).await?.token,
            None,
        )
        .await?;
        let reassigns = audit["items"]
            .as_array()
            .context("items")?
            .iter()
            .filter(|e| e["action"] == "chat.reassign" && e["target"] == format!("chat:{chat}"))
            .count();
        assert_eq!(reassigns, 2, "each reassignment is audited (the refused one is not)");
        leave(&app, &[&other]).await?;
        Ok(())
    }
    .await;
    leave(&app, &[&full]).await?;
    result
}

#[tokio::test]
async fn an_escalation_unresolved_for_15_minutes_raises_one_more_notice() -> Result<()> {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await?;
    let app = stack.app().await?;
    let m = stack.register("remind").await?;
    let chat = stack.open_chat(&m, "c_demo04").await?;
    stack.send_at(&m, &chat, "hello", &Utc::now().to_rfc3339()).await?;
    let current = chat_of(&stack.store, &chat).await?;
    anyhow::ensure!(current.operator_id.is_none(), "claimed");
    let escalated_at = Utc::now() - Duration::minutes(16);
    assert!(app.store.escalate_waiting(&current, escalated_at).await?);
    let notices = |app: App, chat: ChatId| async move {
        let all = app.store.admin_notifications(300).await?;
        Ok::<usize, anyhow::Error>(all.iter().filter(|n| n.reference.as_deref() == Some(chat.as_str())).count())
    };
    assert_eq!(notices(app.clone(), chat.clone()).await?, 1, "the escalation's own notice");
    let early = assignment::escalate_due(&app, escalated_at + Duration::minutes(14)).await?;
    assert_eq!(notices(app.clone(), chat.clone()).await?, 1, "not before 15 minutes ({early:?})");
    let report = assignment::escalate_due(&app, Utc::now()).await?;
    assert!(report.reminded >= 1, "{report:?}");
    assert_eq!(notices(app.clone(), chat.clone()).await?, 2, "one reminder");
    assignment::escalate_due(&app, Utc::now() + Duration::minutes(30)).await?;
    assert_eq!(notices(app.clone(), chat.clone()).await?, 2, "and only one");
    let all = app.store.admin_notifications(300).await?;
    let reminder =
        all.iter().find(|n| n.reference.as_deref() == Some(chat.as_str()) && n.message.contains("still escalated"));
    assert_eq!(reminder.map(|n| n.priority.as_str()), Some("high"));
    Ok(())
}

/// A stack of its own (its own table and API server): settings are platform-wide.
async fn own_stack(name: &str) -> Result<(OwnApi, Stack)> {
    let own = OwnApi::start(name).await?;
    let stack = own.stack().await?;
    Ok((own, stack))
}

#[tokio::test]
async fn settings_merge_refuse_nonsense_whole_and_price_the_next_send() -> Result<()> {
    let (_own, stack) = own_stack("settings").await?;
    let root = staff::admin(&stack, AdminRole::SuperAdmin, None).await?;
    let admin = staff::admin(&stack, AdminRole::Admin, None).await?;
    let moderator = staff::admin(&stack, AdminRole::Moderator, None).await?;
    let (status, defaults) = api(&stack, "GET", "/admin/settings", &moderator.token, None).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        defaults,
        json!({
            "assignment": {"idle_warning_minutes": 4, "idle_reassign_minutes": 5, "assignment_hold_minutes": 10},
            "quality_threshold": 60,
            "pricing": {"base_message_credits": "1.00", "featured_multiplier": "1.5", "peak_multiplier": "1.2", "off_peak_multiplier": "0.8"}
        })
    );
    let (status, _) =
        api(&stack, "PUT", "/admin/settings", &admin.token, Some(json!({ "quality_threshold": 50 }))).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "system_settings is the super admin's");

    let (status, first) = api(
        &stack,
        "PUT",
        "/admin/settings",
        &root.token,
        Some(json!({ "assignment": { "idle_reassign_minutes": 8 } })),
    )
    .await?;
    assert_eq!((status, first["assignment"]["idle_reassign_minutes"].as_i64()), (StatusCode::OK, Some(8)), "{first}");
    let change =
        json!({ "pricing": { "base_message_credits": "2.00", "peak_multiplier": "1.25" }, "quality_threshold": 55 });
    let (status, second) = api(&stack, "PUT", "/admin/settings", &root.token, Some(change)).await?;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["assignment"]["idle_reassign_minutes"], 8, "the first change stays: {second}");
    assert_eq!(
        (second["pricing"]["base_message_credits"].as_str(), second["pricing"]["featured_multiplier"].as_str()),
        (Some("2.00"), Some("1.5"))
    );

    for (nonsense, field) in [
        (json!({ "assignment": { "idle_warning_minutes": 9 } }), "assignment.idle_warning_minutes"),
        (json!({ "quality_threshold": 101 }), "quality_threshold"),
        (json!({ "pricing": { "peak_multiplier": "0" } }), "pricing.peak_multiplier"),
        (json!({ "pricing": { "off_peak_multiplier": "-1" } }), "pricing.off_peak_multiplier"),
        (json!({ "pricing": { "base_message_credits": "0.00" } }), "pricing.base_message_credits"),
        (
            json!({ "quality_threshold": 40, "pricing": { "base_message_credits": "-2.00" } }),
            "pricing.base_message_credits",
        ),
    ] {
        let (status, body) = api(&stack, "PUT", "/admin/settings", &root.token, Some(nonsense.clone())).await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{nonsense}: {body}");
        assert!(body["error"]["fields"][field].is_string(), "{nonsense}: {body}");
    }
    let (status, body) =
        api(&stack, "PUT", "/admin/settings", &root.token, Some(json!({ "pricing": { "base_price": "3.00" } })))
            .await?;
    assert_eq!(status.as_u16() / 100, 4, "an unknown field is refused: {body}");
    let (_, now_set) = api(&stack, "GET", "/admin/settings", &moderator.token, None).await?;
    assert_eq!(now_set, second, "nonsense changed nothing");

    // The next send is priced with them: 2.00 at a standard hour, x1.25 at peak.
    let id = create_character(&stack, &root, json!({})).await?;
    let m = stack.register("price").await?;
    stack.grant(&m, 20).await?;
    let chat = stack.open_chat(&m, &id).await?;
    let noon = fantooo_tests::eat(12, 0);
    for text in ["one", "two", "three"] {
        stack.send_at(&m, &chat, text, &noon).await?;
    }
    let (_, body) = stack.send_at(&m, &chat, "standard", &noon).await?;
    assert_eq!(body["message"]["cost"], "2.00", "{body}");
    let (_, body) = stack.send_at(&m, &chat, "peak", &fantooo_tests::eat(21, 0)).await?;
    assert_eq!(body["message"]["cost"], "2.50", "{body}");
    let (_, audit) = api(&stack, "GET", "/admin/audit?limit=20", &root.token, None).await?;
    let updates =
        audit["items"].as_array().context("items")?.iter().filter(|e| e["action"] == "settings.update").count();
    assert_eq!(updates, 2, "each accepted change is audited, a refused one is not");
    Ok(())
}

/// A waiting chat of a fresh member (chat item and queue entry), not held.
async fn waiting_chat(app: &App, character: &str) -> Result<ChatId> {
    let now = Utc::now();
    let member = fantooo_tests::seed::member(&app.store, now).await?;
    let mut chat = fantooo::domain::Chat::new(member, fantooo::domain::ids::CharacterId::new(character), now);
    chat.awaiting_reply_since = Some(now);
    let (chat, _) = app.store.create_or_get_chat(&chat).await?.context("member active")?;
    app.store.enqueue(&chat, fantooo::domain::Credits::ZERO, now).await?;
    Ok(chat.id)
}

/// Invariants 4 and 5 through the admin's path: reassignments of two chats to two
/// operators with room for one each, and back to the queue, all at once. However
/// they interleave, each chat ends held by at most one operator, no operator holds
/// more than its maximum, and each operator's count is the chats it holds.
#[tokio::test]
async fn concurrent_reassignments_never_overfill_an_operator_nor_give_a_chat_two() -> Result<()> {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await?;
    let app = stack.app().await?;
    let root = staff::admin(&stack, AdminRole::Admin, None).await?;
    for round in 0..fantooo_tests::rounds(3) {
        let p = staff::online_operator(&stack, &root, 1).await?;
        let q = staff::online_operator(&stack, &root, 1).await?;
        let x = waiting_chat(&app, "c_demo06").await?;
        let y = waiting_chat(&app, "c_demo07").await?;
        let calls =
            [(&x, Some(&p.id)), (&y, Some(&p.id)), (&x, Some(&q.id)), (&y, Some(&q.id)), (&x, None), (&y, Some(&p.id))];
        let answers = futures::future::join_all(calls.iter().map(|(chat, to)| {
            let body = match to {
                Some(op) => json!({ "operator_id": op }),
                None => json!({}),
            };
            let path = format!("/admin/chats/{chat}/reassign");
            let token = root.token.clone();
            let stack = &stack;
            async move { api(stack, "POST", &path, &token, Some(body)).await }
        }))
        .await;
        let mut ok = 0;
        for (answer, (chat, to)) in answers.into_iter().zip(calls.iter()) {
            let (status, body) = answer?;
            match status {
                StatusCode::OK => ok += 1,
                StatusCode::CONFLICT => assert!(
                    to.is_some() && body["error"]["code"] == "operator_unavailable",
                    "round {round}: {chat} -> {to:?}: {body}"
                ),
                other => anyhow::bail!("round {round}: {chat} -> {to:?}: {other} {body}"),
            }
        }
        assert!(ok >= 2, "round {round}: at least the first to each operator lands ({ok})");
        let (cx, cy) = (chat_of(&stack.store, &x).await?, chat_of(&stack.store, &y).await?);
        for op in [&p, &q] {
            let id = OperatorId::new(op.id.as_str());
            let account = app.store.get_operator(&id).await?.context("operator")?;
            let holds = [&cx, &cy].iter().filter(|c| c.operator_id.as_ref() == Some(&id)).count();
            assert!(account.active_chats <= 1, "round {round}: {} over its maximum", op.id);
            assert_eq!(account.active_chats as usize, holds, "round {round}: {}'s count is what it holds", op.id);
        }
        for c in [&cx, &cy] {
            let queued = app.store.waiting_entries().await?.iter().any(|e| e.chat_id == c.id);
            assert!(!(queued && c.operator_id.is_some()), "round {round}: {} both queued and held", c.id);
            assert!(queued || c.operator_id.is_some(), "round {round}: {} neither queued nor held", c.id);
            assert_eq!((c.status, c.reassign_count), (ChatStatus::Active, 0));
        }
        leave(&app, &[&p, &q]).await?;
    }
    Ok(())
}
