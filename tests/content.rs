//! The back office's content side against the local stack (issue 14, in
//! progress): message edits with their history (invariant 7), raced.

use anyhow::{Context, Result};
use fantooo::domain::admin::AdminRole;
use fantooo_tests::staff;
use fantooo_tests::{call, rounds, Stack, StatusCode};
use serde_json::{json, Value};

async fn api(stack: &Stack, method: &str, path: &str, token: &str, body: Option<Value>) -> Result<(StatusCode, Value)> {
    call(&stack.http, &stack.api, method, path, Some(token), body).await
}

/// Invariant 7: every edit leaves exactly one history record with its editor, and
/// the records chain: each replaced the text the one before it wrote. Edits race
/// each other; the member sees the last text, marked edited, never an original.
#[tokio::test]
async fn concurrent_edits_each_leave_one_history_record_and_the_records_chain() -> Result<()> {
    let stack = Stack::connect().await?;
    let moderator = staff::admin(&stack, AdminRole::Moderator, None).await?;
    let admin = staff::admin(&stack, AdminRole::Admin, None).await?;
    let member = stack.register("edits").await?;
    let chat = stack.open_chat(&member, "c_demo03").await?;
    stack.grant(&member, 500).await?;
    for round in 0..rounds(3) {
        let original = format!("my number is 0700 000 00{round}");
        let (status, sent) =
            stack.post(&member, &format!("/chats/{chat}/messages"), json!({ "content": original })).await?;
        assert_eq!(status, StatusCode::CREATED, "{sent}");
        let message_id = sent["message"]["id"].as_str().context("message id")?.to_string();
        let path = format!("/admin/chats/{chat}/messages/{message_id}");
        let edits = (0..8).map(|i| {
            let who = if i % 2 == 0 { &moderator } else { &admin };
            let body = json!({ "content": format!("[removed contact details {i}]"), "reason": "off-platform contact" });
            api(&stack, "PATCH", &path, &who.token, Some(body))
        });
        for (i, answer) in futures::future::join_all(edits).await.into_iter().enumerate() {
            let (status, b) = answer?;
            assert_eq!(status, StatusCode::OK, "round {round}, edit {i}: {b}");
            assert_eq!(b["edited"], true);
        }
        let (status, history) = api(&stack, "GET", &format!("{path}/history"), &moderator.token, None).await?;
        assert_eq!(status, StatusCode::OK);
        let items = history["items"].as_array().context("items")?;
        assert_eq!(items.len(), 8, "round {round}: one record per edit: {history}");
        // Newest first: each record's original is the next (older) one's new text,
        // and the oldest replaced the member's original.
        for pair in items.windows(2) {
            assert_eq!(pair[0]["original_content"], pair[1]["new_content"], "round {round}: the chain breaks");
        }
        assert_eq!(items[7]["original_content"], original.as_str());
        for e in items {
            assert_eq!(e["editor_type"], "admin");
            assert!(e["edited_by"] == moderator.id.as_str() || e["edited_by"] == admin.id.as_str());
            assert_eq!(e["reason"], "off-platform contact");
        }
        // The member sees the newest text, marked edited, and never the original.
        let (_, page) = stack.get(&member, &format!("/chats/{chat}/messages")).await?;
        let seen = page["items"].as_array().context("items")?.iter().find(|m| m["id"] == message_id.as_str()).cloned();
        let seen = seen.context("the member's message")?;
        assert_eq!((seen["content"].clone(), seen["edited"].clone()), (items[0]["new_content"].clone(), json!(true)));
        assert!(!page.to_string().contains(&original), "round {round}: the original never reaches the member");
    }
    // The same text again records nothing; bad input is 422; another chat's id 404.
    let (_, page) = stack.get(&member, &format!("/chats/{chat}/messages")).await?;
    let last = page["items"].as_array().and_then(|i| i.last().cloned()).context("a message")?;
    let path = format!("/admin/chats/{chat}/messages/{}", last["id"].as_str().context("id")?);
    let (status, _) =
        api(&stack, "PATCH", &path, &admin.token, Some(json!({ "content": last["content"], "reason": "same" })))
            .await?;
    assert_eq!(status, StatusCode::OK);
    let (_, history) = api(&stack, "GET", &format!("{path}/history"), &admin.token, None).await?;
    assert_eq!(history["items"].as_array().map(Vec::len), Some(8), "no record for no change");
    let (status, b) = api(&stack, "PATCH", &path, &admin.token, Some(json!({ "content": "", "reason": "" }))).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b["error"]["fields"]["content"].is_string() && b["error"]["fields"]["reason"].is_string());
    let other = format!("/admin/chats/ch_m_nobody~c_demo01/messages/{}", last["id"].as_str().context("id")?);
    let (status, _) =
        api(&stack, "PATCH", &other, &admin.token, Some(json!({ "content": "x", "reason": "y" }))).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    Ok(())
}

/// An admin closes a held chat: the operator is freed, the member told, the close
/// audited in its transaction; again 409 `chat_closed`; the member's next message
/// reopens it.
#[tokio::test]
async fn an_admin_closes_a_held_chat_once_and_the_member_can_reopen_it() -> Result<()> {
    use chrono::Utc;
    use fantooo::domain::ids::OperatorId;
    use fantooo::domain::CloseReason;
    let stack = Stack::connect().await?;
    let app = stack.app().await?;
    let root = staff::admin(&stack, AdminRole::SuperAdmin, None).await?;
    let moderator = staff::admin(&stack, AdminRole::Moderator, None).await?;
    let op = staff::operator(&stack, &root).await?;
    let op_id = OperatorId::new(op.id.as_str());
    app.store.set_availability(&op_id, true, Utc::now()).await?;
    let member = stack.register("closed").await?;
    let chat = stack.open_chat(&member, "c_demo05").await?;
    let (status, _) = stack.post(&member, &format!("/chats/{chat}/messages"), json!({ "content": "hello" })).await?;
    assert_eq!(status, StatusCode::CREATED);
    let entry = app.store.waiting_entries().await?.into_iter().find(|e| e.chat_id == chat).context("queued")?;
    assert_eq!(app.store.claim(&entry, &op_id, Utc::now()).await?, fantooo::store::ClaimOutcome::Claimed);

    let path = format!("/admin/chats/{chat}/close");
    let (status, b) = api(&stack, "POST", &path, &moderator.token, Some(json!({ "reason": "abusive" }))).await?;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!((b["status"].as_str(), b["close_reason"].as_str()), (Some("closed"), Some("admin")));
    let c = app.store.get_chat(&chat).await?.context("chat")?;
    assert_eq!((c.close_reason, c.operator_id), (Some(CloseReason::Admin), None));
    assert_eq!(app.store.get_operator(&op_id).await?.context("operator")?.active_chats, 0, "the operator is freed");
    let notes = app.store.member_notifications(&member.id, None, 10).await?;
    assert!(notes.items.iter().any(|n| n.kind == "chat_closed"), "the member is told");
    let (status, b) = api(&stack, "POST", &path, &moderator.token, None).await?;
    assert_eq!((status, b["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("chat_closed")));
    let (status, _) = api(&stack, "POST", "/admin/chats/ch_m_nobody~c_demo01/close", &moderator.token, None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = stack.post(&member, &format!("/chats/{chat}/messages"), json!({ "content": "back" })).await?;
    assert_eq!(status, StatusCode::CREATED, "the member's next message reopens it");
    let (_, audit) = api(&stack, "GET", "/admin/audit?limit=50", &root.token, None).await?;
    let target = format!("chat:{chat}");
    let entry = audit["items"].as_array().context("items")?.iter().find(|e| e["target"] == target.as_str()).cloned();
    let entry = entry.context("the close is audited")?;
    assert_eq!(
        (entry["action"].as_str(), entry["admin_id"].as_str()),
        (Some("chat.close"), Some(moderator.id.as_str()))
    );
    stack.store.retire_operator(&op_id).await?;
    Ok(())
}
