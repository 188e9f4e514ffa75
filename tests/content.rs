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
