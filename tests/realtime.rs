//! Realtime against the local stack, with a real WebSocket client: tickets (bad,
//! used, expired, raced), what each principal receives (a message on the member's
//! other devices and the operator's, the reply, typing both ways, an assignment,
//! a close, the balance after a charge, a credit and a refund), what a stranger
//! receives (nothing), the Gone path, the connections a logout, a ban and a
//! suspension close, and catching up with `after=` after a reconnect.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Utc;
use fantooo::domain::admin::AdminRole;
use fantooo::domain::principal::Principal;
use fantooo::domain::realtime::Connection;
use fantooo::store::Holder;
use fantooo_tests::staff;
use fantooo_tests::ws::{dial, next_frame, open, ticket, url_of as ws_url, Ws};
use fantooo_tests::{call, charge_event, Member, OwnApi, Stack, StatusCode};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Long enough for a delivery on a loaded CI machine; a frame that should come
/// comes well within it.
const DELIVERY: Duration = Duration::from_secs(5);
/// How long a socket must stay quiet to show that nothing was sent to it.
const QUIET: Duration = Duration::from_millis(1_500);

async fn api(stack: &Stack, method: &str, path: &str, token: &str, body: Option<Value>) -> Result<(StatusCode, Value)> {
    call(&stack.http, &stack.api, method, path, Some(token), body).await
}

/// The next frame, which must come and be of `kind`.
async fn expect(ws: &mut Ws, kind: &str) -> Result<Value> {
    let f = next_frame(ws, DELIVERY).await?.with_context(|| format!("no {kind} frame within {DELIVERY:?}"))?;
    anyhow::ensure!(f["type"] == kind, "expected a {kind} frame, got {f}");
    Ok(f)
}

async fn quiet(ws: &mut Ws, who: &str) -> Result<()> {
    if let Some(f) = next_frame(ws, QUIET).await? {
        anyhow::bail!("{who} should have received nothing, got {f}");
    }
    Ok(())
}

/// Whether the server closed the socket within `within`.
async fn closed_within(ws: &mut Ws, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return false,
            Ok(Some(Ok(Message::Close(_))) | None | Some(Err(_))) => return true,
            Ok(Some(Ok(_))) => continue,
        }
    }
}

async fn send_action(ws: &mut Ws, action: Value) -> Result<()> {
    ws.send(Message::Text(action.to_string().into())).await?;
    Ok(())
}

/// Ping answered pong: the socket is open and served.
async fn alive(ws: &mut Ws) -> Result<()> {
    send_action(ws, json!({ "action": "ping" })).await?;
    expect(ws, "pong").await.map(|_| ())
}

async fn send(stack: &Stack, m: &Member, chat: &str, text: &str) -> Result<Value> {
    let (status, body) = stack.post(m, &format!("/chats/{chat}/messages"), json!({ "content": text })).await?;
    anyhow::ensure!(status == StatusCode::CREATED, "send: {status} {body}");
    Ok(body)
}

const MESSAGE_FIELDS: [&str; 8] = ["id", "chat_id", "sender", "content", "cost", "free", "created_at", "edited"];

/// A member's message frame carries the member view of the message, nothing more.
fn member_view_only(frame: &Value) -> Result<()> {
    let keys: BTreeSet<&str> = frame["message"].as_object().context("message")?.keys().map(String::as_str).collect();
    anyhow::ensure!(keys == MESSAGE_FIELDS.into_iter().collect(), "member frame fields: {keys:?}");
    let top: BTreeSet<&str> = frame.as_object().context("frame")?.keys().map(String::as_str).collect();
    anyhow::ensure!(top == ["chat_id", "message", "type"].into_iter().collect(), "frame fields: {top:?}");
    Ok(())
}

#[tokio::test]
async fn tickets_are_single_use_short_lived_and_refused_when_bad() -> Result<()> {
    let stack = Stack::connect().await?;
    let m = stack.register("rt_tk").await?;

    // The browser page of docs/realtime.md is served from the API's own origin.
    let page = stack.http.get(stack.url("/realtime-demo")).send().await?;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await?.contains("new WebSocket("), "the demo page");

    let (status, body) = call(&stack.http, &stack.api, "POST", "/realtime/ticket", None, None).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));

    let t = ticket(&stack, &m.token).await?;
    assert!(t["url"].as_str().is_some_and(|u| u.starts_with("ws://") && u.ends_with("/ws")), "{t}");
    let expires = chrono::DateTime::parse_from_rfc3339(t["expires_at"].as_str().context("expires_at")?)?;
    let left = expires.with_timezone(&Utc) - Utc::now();
    assert!(left <= chrono::Duration::seconds(30) && left > chrono::Duration::seconds(20), "valid 30 s: {left}");

    let url = ws_url(&t)?;
    let mut ws = dial(&url).await?.map_err(|s| anyhow::anyhow!("refused {s}"))?;
    alive(&mut ws).await?;
    assert_eq!(dial(&url).await?.err(), Some(401), "a used ticket");

    let base = t["url"].as_str().context("url")?;
    assert_eq!(dial(&format!("{base}?ticket=nope")).await?.err(), Some(401), "a bad ticket");
    assert_eq!(dial(base).await?.err(), Some(401), "no ticket");
    let long = "x".repeat(5_000);
    assert_eq!(dial(&format!("{base}?ticket={long}")).await?.err(), Some(401), "an oversized ticket");

    // Issued 31 s ago (the local stack's pinned clock): expired by now.
    let past = (Utc::now() - chrono::Duration::seconds(31)).to_rfc3339();
    let res = stack
        .http
        .post(stack.url("/realtime/ticket"))
        .bearer_auth(&m.token)
        .header("x-fantooo-now", past)
        .send()
        .await?;
    let (status, old) = Stack::answer(res).await?;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(dial(&ws_url(&old)?).await?.err(), Some(401), "an expired ticket");

    // Frames the server does not understand are answered with an error frame.
    ws.send(Message::Text("not json".into())).await?;
    assert_eq!(expect(&mut ws, "error").await?["error"]["code"], "bad_json");
    send_action(&mut ws, json!({ "action": "dance" })).await?;
    assert_eq!(expect(&mut ws, "error").await?["error"]["code"], "unknown_action");
    send_action(&mut ws, json!({ "action": "typing" })).await?;
    assert_eq!(expect(&mut ws, "error").await?["error"]["code"], "validation_failed");
    alive(&mut ws).await?;

    // Every principal may have one; a banned member may not.
    let root = staff::admin(&stack, AdminRole::Admin, None).await?;
    let op = staff::operator(&stack, &root).await?;
    alive(&mut open(&stack, &op.token).await?).await?;
    alive(&mut open(&stack, &root.token).await?).await?;
    let banned = stack.register("rt_bn").await?;
    let path = format!("/admin/members/{}/ban", banned.id);
    let (status, b) = api(&stack, "POST", &path, &root.token, Some(json!({ "reason": "Spam in every chat." }))).await?;
    assert_eq!(status, StatusCode::OK, "{b}");
    let (status, b) = api(&stack, "POST", "/realtime/ticket", &banned.token, None).await?;
    assert_eq!((status, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("banned")));
    Ok(())
}

/// A race: many upgrades with one ticket at once; exactly one connects.
#[tokio::test]
async fn one_ticket_opens_exactly_one_connection_however_many_try_at_once() -> Result<()> {
    let stack = Stack::connect().await?;
    let m = stack.register("rt_race").await?;
    for round in 0..fantooo_tests::rounds(3) {
        let url = ws_url(&ticket(&stack, &m.token).await?)?;
        let attempts = (0..6).map(|_| dial(&url));
        let results = futures::future::join_all(attempts).await;
        let mut opened = Vec::new();
        let mut refused = 0;
        for r in results {
            match r? {
                Ok(ws) => opened.push(ws),
                Err(401) => refused += 1,
                Err(other) => anyhow::bail!("round {round}: refused with {other}"),
            }
        }
        assert_eq!((opened.len(), refused), (1, 5), "round {round}: one ticket, one connection");
        alive(&mut opened[0]).await?;
    }
    Ok(())
}

#[tokio::test]
async fn each_side_sees_the_chat_live_and_a_stranger_sees_nothing() -> Result<()> {
    let stack = Stack::connect().await?;
    let root = staff::admin(&stack, AdminRole::Admin, None).await?;
    let op = staff::online_operator(&stack, &root, 3).await?;
    let m = stack.register("rt_live").await?;
    stack.grant(&m, 50).await?;
    let stranger = stack.register("rt_str").await?;
    let mut phone = open(&stack, &m.token).await?;
    let mut laptop = open(&stack, &m.token).await?;
    let mut console = open(&stack, &op.token).await?;
    let mut other = open(&stack, &stranger.token).await?;
    let bystander = staff::online_operator(&stack, &root, 3).await?;
    let mut other_console = open(&stack, &bystander.token).await?;

    // First message: free, waiting; an admin gives it to the operator.
    let chat = stack.open_chat(&m, "c_demo02").await?;
    let first = send(&stack, &m, &chat, "hello there").await?;
    for ws in [&mut phone, &mut laptop] {
        let f = expect(ws, "message").await?;
        assert_eq!(
            (f["chat_id"].as_str(), f["message"]["id"].as_str()),
            (Some(chat.as_str()), first["message"]["id"].as_str())
        );
        member_view_only(&f)?;
    }
    quiet(&mut phone, "a free message's sender (no balance change)").await?;
    let (status, b) = api(
        &stack,
        "POST",
        &format!("/admin/chats/{chat}/reassign"),
        &root.token,
        Some(json!({ "operator_id": op.id })),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(expect(&mut console, "chat_assigned").await?["chat_id"], chat.as_str());

    // Free messages 2 and 3, then a paid one: the member's devices and the operator
    // see each; the paid one also moves the balance.
    for text in ["two", "three"] {
        send(&stack, &m, &chat, text).await?;
        expect(&mut phone, "message").await?;
        expect(&mut laptop, "message").await?;
        assert_eq!(expect(&mut console, "message").await?["message"]["content"], text);
    }
    let paid = send(&stack, &m, &chat, "four, and paid").await?;
    assert_eq!(paid["message"]["free"], false, "{paid}");
    for ws in [&mut phone, &mut laptop] {
        let mut frames = vec![next_frame(ws, DELIVERY).await?, next_frame(ws, DELIVERY).await?];
        frames.sort_by_key(|f| f.as_ref().map(|f| f["type"].to_string()));
        let [Some(balance), Some(message)] = &frames[..] else { anyhow::bail!("two frames: {frames:?}") };
        assert_eq!((balance["type"].as_str(), balance["balance"].clone()), (Some("balance"), paid["balance"].clone()));
        assert_eq!(message["message"]["id"], paid["message"]["id"]);
    }
    let seen = expect(&mut console, "message").await?;
    assert_eq!(seen["message"]["id"], paid["message"]["id"]);
    quiet(&mut console, "the operator (no balance frames)").await?;

    // The reply reaches the member's devices, as the character's.
    let (status, reply) = api(
        &stack,
        "POST",
        &format!("/operator/chats/{chat}/messages"),
        &op.token,
        Some(json!({ "content": "Hi! Lovely to hear from you." })),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    for ws in [&mut phone, &mut laptop] {
        let f = expect(ws, "message").await?;
        member_view_only(&f)?;
        assert_eq!(
            (f["message"]["sender"].as_str(), f["message"]["id"].clone()),
            (Some("character"), reply["id"].clone())
        );
    }
    // The operator's consoles see it too (another tab of the same console).
    assert_eq!(expect(&mut console, "message").await?["message"]["id"], reply["id"]);

    // Typing both ways, one event per chat and sender in 2 s.
    send_action(&mut phone, json!({ "action": "typing", "chat_id": chat.as_str() })).await?;
    let t = expect(&mut console, "typing").await?;
    assert_eq!((t["chat_id"].as_str(), t["from"].as_str()), (Some(chat.as_str()), Some("member")));
    send_action(&mut laptop, json!({ "action": "typing", "chat_id": chat.as_str() })).await?;
    quiet(&mut console, "a second typing event within 2 s").await?;
    send_action(&mut console, json!({ "action": "typing", "chat_id": chat.as_str() })).await?;
    for ws in [&mut phone, &mut laptop] {
        let t = expect(ws, "typing").await?;
        assert_eq!(t, json!({ "type": "typing", "chat_id": chat.as_str(), "from": "character" }));
    }
    // A stranger typing in someone else's chat tells nobody.
    send_action(&mut other, json!({ "action": "typing", "chat_id": chat.as_str() })).await?;
    quiet(&mut console, "the operator, after a stranger's typing").await?;
    // An operator not holding the chat typing in it tells nobody.
    send_action(&mut other_console, json!({ "action": "typing", "chat_id": chat.as_str() })).await?;
    quiet(&mut phone, "the member, after another operator's typing").await?;

    // A refund and a payment credit: the balance on every device.
    let body = json!({ "member_id": m.id, "credits": 2, "reason": "admin_discretion" });
    let (status, refund) = api(&stack, "POST", "/admin/refunds", &root.token, Some(body)).await?;
    assert_eq!(status, StatusCode::CREATED, "{refund}");
    let id = refund["id"].as_str().context("refund id")?;
    let (status, approved) = api(&stack, "POST", &format!("/admin/refunds/{id}/approve"), &root.token, None).await?;
    assert_eq!(status, StatusCode::OK, "{approved}");
    let balance = serde_json::to_value(stack.balance(&m).await?)?;
    for ws in [&mut phone, &mut laptop] {
        assert_eq!(expect(ws, "balance").await?["balance"], balance, "after the refund");
    }
    let (status, checkout) = stack.post(&m, "/credits/checkout", json!({ "package_id": "pkg_starter" })).await?;
    assert_eq!(status, StatusCode::CREATED, "{checkout}");
    let reference = checkout["reference"].as_str().context("reference")?;
    let amount = checkout["amount"].as_i64().context("amount")?;
    stack.paystack_says(reference, "success", amount, "KES").await?;
    let (status, b) = stack.webhook(&charge_event("charge.success", reference, "success", amount, "KES")).await?;
    assert_eq!(status, StatusCode::OK, "{b}");
    let balance = serde_json::to_value(stack.balance(&m).await?)?;
    for ws in [&mut phone, &mut laptop] {
        assert_eq!(expect(ws, "balance").await?["balance"], balance, "after the credit");
    }

    // An admin closes the chat: both sides are told, with the reason.
    let (status, b) = api(&stack, "POST", &format!("/admin/chats/{chat}/close"), &root.token, None).await?;
    assert_eq!(status, StatusCode::OK, "{b}");
    for ws in [&mut phone, &mut laptop, &mut console] {
        let f = expect(ws, "chat_closed").await?;
        assert_eq!(f, json!({ "type": "chat_closed", "chat_id": chat.as_str(), "close_reason": "admin" }));
    }

    // The stranger and the other operator heard nothing of any of it.
    quiet(&mut other, "a stranger").await?;
    quiet(&mut other_console, "an operator not holding the chat").await?;
    Ok(())
}

#[tokio::test]
async fn a_connection_gone_without_disconnect_is_forgotten_at_the_next_delivery() -> Result<()> {
    let stack = Stack::connect().await?;
    let m = stack.register("rt_gone").await?;
    let mut live = open(&stack, &m.token).await?;
    let scope = Principal::member(m.id.as_str()).scope();
    // A connection API Gateway no longer knows, whose `$disconnect` never came; and
    // one seconds old, which may still be inside its `$connect` (on AWS a post to it
    // answers Gone until then): that one is kept.
    let ago = Utc::now() - chrono::Duration::minutes(1);
    let ghost = Connection { id: "GhostConnAbcde1=".into(), session: None, connected_at: ago };
    let young = Connection { id: "YoungConnAbcde1=".into(), session: None, connected_at: Utc::now() };
    let holder = Holder { principal: Principal::member(m.id.as_str()), session: None };
    stack.store.add_connection(&holder, &ghost).await?;
    stack.store.add_connection(&holder, &young).await?;
    let listed = |conns: &std::collections::HashMap<String, Vec<Connection>>| -> Vec<String> {
        conns.get(&scope).map(|c| c.iter().map(|c| c.id.clone()).collect()).unwrap_or_default()
    };
    let before = stack.store.connections_of(std::slice::from_ref(&scope), Utc::now()).await?;
    assert_eq!(listed(&before).len(), 3, "the live one, the ghost, the young one: {:?}", listed(&before));

    let chat = stack.open_chat(&m, "c_demo04").await?;
    send(&stack, &m, &chat, "anyone there?").await?;
    expect(&mut live, "message").await?;
    // Delivery ran before the send answered: the Gone answer already removed it.
    let after = stack.store.connections_of(std::slice::from_ref(&scope), Utc::now()).await?;
    assert!(!listed(&after).contains(&ghost.id), "the ghost is forgotten: {:?}", listed(&after));
    assert!(listed(&after).contains(&young.id), "a young connection answered Gone is kept: {:?}", listed(&after));
    assert_eq!(listed(&after).len(), 2, "the live one and the young one stay");
    assert!(stack.store.connection_holder(&ghost.id, Utc::now()).await?.is_none(), "its owner item too");
    stack.store.remove_connection(&scope, &young.id).await?;

    // A socket that is closed from the client side runs `$disconnect`.
    live.close(None).await?;
    let mut gone = false;
    for _ in 0..50 {
        let now = stack.store.connections_of(std::slice::from_ref(&scope), Utc::now()).await?;
        if listed(&now).is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "a closed socket's connection is forgotten");
    Ok(())
}

/// Another login of `m` (another device's session): its access token.
async fn login(stack: &Stack, m: &Member) -> Result<String> {
    let body = json!({ "username": m.username, "password": "pass-word-1" });
    let (status, login) = call(&stack.http, &stack.api, "POST", "/auth/login", None, Some(body)).await?;
    anyhow::ensure!(status == StatusCode::OK, "login: {status} {login}");
    Ok(login["token"].as_str().context("token")?.to_string())
}

#[tokio::test]
async fn logout_password_change_ban_deletion_and_suspension_close_the_sockets_they_end() -> Result<()> {
    let stack = Stack::connect().await?;
    let root = staff::admin(&stack, AdminRole::Admin, None).await?;
    let m = stack.register("rt_out").await?;
    // A second session (another device's login).
    let other_token = &login(&stack, &m).await?;
    let mut first = open(&stack, &m.token).await?;
    let mut second = open(&stack, other_token).await?;
    let early_url = ws_url(&ticket(&stack, &m.token).await?)?;

    let (status, _) =
        call(&stack.http, &stack.api, "POST", "/auth/logout", None, Some(json!({ "refresh_token": m.refresh_token })))
            .await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(closed_within(&mut first, DELIVERY).await, "the session's socket closes at logout");
    alive(&mut second).await.context("the other session's socket stays")?;
    // The logged-out session's access token is still a valid token for minutes,
    // but its session is over: no ticket, and a ticket from before is refused.
    let (status, b) = api(&stack, "POST", "/realtime/ticket", &m.token, None).await?;
    assert_eq!((status, b["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")), "{b}");
    assert_eq!(dial(&early_url).await?.err(), Some(401), "a ticket of the ended session");

    // A password change ends every other session, sockets included; the caller's stays.
    let mut third = open(&stack, &login(&stack, &m).await?).await?;
    let change = json!({ "current_password": "pass-word-1", "new_password": "pass-word-2" });
    let (status, b) = api(&stack, "POST", "/me/password", other_token, Some(change)).await?;
    assert!(status.is_success(), "password change: {status} {b}");
    assert!(closed_within(&mut third, DELIVERY).await, "another session's socket closes at a password change");
    alive(&mut second).await.context("the caller's session keeps its socket")?;

    let path = format!("/admin/members/{}/ban", m.id);
    let (status, b) = api(&stack, "POST", &path, &root.token, Some(json!({ "reason": "Harassing the team." }))).await?;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert!(closed_within(&mut second, DELIVERY).await, "a ban closes every socket of the member");

    let leaving = stack.register("rt_del").await?;
    let mut last = open(&stack, &leaving.token).await?;
    let (status, b) = api(&stack, "DELETE", "/me", &leaving.token, None).await?;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert!(closed_within(&mut last, DELIVERY).await, "deleting the account closes its sockets");

    let op = staff::operator(&stack, &root).await?;
    let mut console = open(&stack, &op.token).await?;
    let path = format!("/admin/operators/{}/suspend", op.id);
    let (status, b) =
        api(&stack, "POST", &path, &root.token, Some(json!({ "reason": "Retraining needed.", "days": 1 }))).await?;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert!(closed_within(&mut console, DELIVERY).await, "a suspension closes the operator's sockets");
    let (status, b) = api(&stack, "POST", "/realtime/ticket", &op.token, None).await?;
    assert_eq!((status, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("suspended")));

    let leaving_op = staff::operator(&stack, &root).await?;
    let mut console = open(&stack, &leaving_op.token).await?;
    let (status, b) = api(&stack, "DELETE", &format!("/admin/operators/{}", leaving_op.id), &root.token, None).await?;
    assert!(status.is_success(), "delete operator: {status} {b}");
    assert!(closed_within(&mut console, DELIVERY).await, "deleting an operator closes their sockets");
    Ok(())
}

#[tokio::test]
async fn after_a_reconnect_after_returns_exactly_what_was_missed() -> Result<()> {
    let stack = Stack::connect().await?;
    let root = staff::admin(&stack, AdminRole::Admin, None).await?;
    let op = staff::online_operator(&stack, &root, 2).await?;
    let m = stack.register("rt_back").await?;
    let chat = stack.open_chat(&m, "c_demo06").await?;
    send(&stack, &m, &chat, "are you there?").await?;
    let path = format!("/admin/chats/{chat}/reassign");
    let (status, b) = api(&stack, "POST", &path, &root.token, Some(json!({ "operator_id": op.id }))).await?;
    assert_eq!(status, StatusCode::OK, "{b}");
    let reply = |text: &'static str| {
        let (stack, op, chat) = (&stack, &op, chat.clone());
        async move {
            let path = format!("/operator/chats/{chat}/messages");
            let (status, r) = api(stack, "POST", &path, &op.token, Some(json!({ "content": text }))).await?;
            anyhow::ensure!(status == StatusCode::CREATED, "reply: {status} {r}");
            Ok::<Value, anyhow::Error>(r)
        }
    };

    let mut ws = open(&stack, &m.token).await?;
    reply("First answer.").await?;
    let last_seen = expect(&mut ws, "message").await?["message"]["id"].as_str().context("id")?.to_string();
    ws.close(None).await?;
    drop(ws);

    let missed = [reply("Second answer.").await?, reply("Third answer.").await?];
    let mut ws = open(&stack, &m.token).await?;
    let (status, page) = stack.get(&m, &format!("/chats/{chat}/messages?after={last_seen}")).await?;
    assert_eq!(status, StatusCode::OK, "{page}");
    let got: Vec<&str> = page["items"].as_array().context("items")?.iter().filter_map(|i| i["id"].as_str()).collect();
    let want: Vec<&str> = missed.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(got, want, "after= returns exactly the messages sent while away, in order");
    // And the live feed resumes.
    let fourth = reply("Fourth answer.").await?;
    assert_eq!(expect(&mut ws, "message").await?["message"]["id"], fourth["id"]);
    Ok(())
}

#[tokio::test]
async fn an_eleventh_connection_ends_the_oldest_and_tickets_are_rate_limited() -> Result<()> {
    let stack = Stack::connect().await?;
    let m = stack.register("rt_many").await?;
    let mut sockets = Vec::new();
    for _ in 0..fantooo::domain::realtime::MAX_CONNECTIONS {
        sockets.push(open(&stack, &m.token).await?);
        // Distinct connection times: the oldest is unambiguous.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut newest = open(&stack, &m.token).await?;
    assert!(closed_within(&mut sockets[0], DELIVERY).await, "the oldest is ended");
    alive(&mut sockets[1]).await.context("the second oldest stays")?;
    alive(&mut newest).await?;

    let limit = fantooo::domain::realtime::TICKETS_PER_MINUTE as usize;
    let fresh = stack.register("rt_lim").await?;
    for i in 0..limit {
        let (status, b) = api(&stack, "POST", "/realtime/ticket", &fresh.token, None).await?;
        assert_eq!(status, StatusCode::CREATED, "ticket {i}: {b}");
    }
    let (status, b) = api(&stack, "POST", "/realtime/ticket", &fresh.token, None).await?;
    assert_eq!((status, b["error"]["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")), "{b}");
    Ok(())
}

/// The connection id the gateway gave `scope`'s only connection.
async fn only_connection(stack: &Stack, scope: &str) -> Result<String> {
    let conns = stack.store.connections_of(&[scope.to_string()], Utc::now()).await?;
    let ids: Vec<String> = conns.get(scope).map(|c| c.iter().map(|c| c.id.clone()).collect()).unwrap_or_default();
    anyhow::ensure!(ids.len() == 1, "one connection: {ids:?}");
    Ok(ids[0].clone())
}

#[tokio::test]
async fn the_local_gateway_speaks_the_management_protocol_and_keeps_api_gateways_limits() -> Result<()> {
    let stack = Stack::connect().await?;
    let m = stack.register("rt_gw").await?;
    let mut ws = open(&stack, &m.token).await?;
    let id = only_connection(&stack, &Principal::member(m.id.as_str()).scope()).await?;
    assert!(id.len() == 16 && id.ends_with('='), "API Gateway's shape: {id}");
    let at = |id: &str| stack.url(&format!("/@connections/{}", id.replace('=', "%3D")));

    let gone = stack.http.post(at("NoSuchConnAbcd=")).body("{}").send().await?;
    assert_eq!(gone.status(), StatusCode::GONE);
    assert_eq!(gone.headers().get("x-amzn-errortype").and_then(|v| v.to_str().ok()), Some("GoneException"));

    let posted = stack.http.post(at(&id)).body(r#"{"type":"pong"}"#).send().await?;
    assert_eq!(posted.status(), StatusCode::OK);
    assert_eq!(expect(&mut ws, "pong").await?, json!({ "type": "pong" }));
    let (status, described) = Stack::answer(stack.http.get(at(&id)).send().await?).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(described["connectedAt"].is_string() && described["identity"]["sourceIp"] == "127.0.0.1", "{described}");
    let big = "x".repeat(fantooo::domain::realtime::MAX_FRAME_BYTES + 1);
    let refused = stack.http.post(at(&id)).body(big.clone()).send().await?;
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        refused.headers().get("x-amzn-errortype").and_then(|v| v.to_str().ok()),
        Some("PayloadTooLargeException")
    );
    alive(&mut ws).await?;

    // A client frame over 128 KB ends the connection, as API Gateway does.
    ws.send(Message::Text(big.into())).await?;
    assert!(closed_within(&mut ws, DELIVERY).await, "an oversized frame ends the socket");

    // DELETE closes a socket; the connection is Gone after.
    let mut ws = open(&stack, &m.token).await?;
    let id = only_connection(&stack, &Principal::member(m.id.as_str()).scope()).await?;
    assert_eq!(stack.http.delete(at(&id)).send().await?.status(), StatusCode::NO_CONTENT);
    assert!(closed_within(&mut ws, DELIVERY).await, "DELETE @connections closes the socket");
    assert_eq!(stack.http.get(at(&id)).send().await?.status(), StatusCode::GONE);

    // The idle and age limits, on a server of its own with short ones.
    let own = OwnApi::start_with_env("rtlimits", &[("FANTOOO_WS_IDLE_SECONDS", "1"), ("FANTOOO_WS_MAX_SECONDS", "3")])
        .await?;
    let own_stack = own.stack().await?;
    let m = own_stack.register("rt_idle").await?;
    let mut idle = open(&own_stack, &m.token).await?;
    let started = std::time::Instant::now();
    assert!(closed_within(&mut idle, Duration::from_secs(5)).await, "an idle socket is closed");
    assert!(started.elapsed() >= Duration::from_millis(900), "not before its idle time");
    let mut busy = open(&own_stack, &m.token).await?;
    let started = std::time::Instant::now();
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(8) {
        send_action(&mut busy, json!({ "action": "ping" })).await.ok();
        if closed_within(&mut busy, Duration::from_millis(400)).await {
            closed = true;
            break;
        }
    }
    assert!(closed, "a busy socket is closed at its age limit");
    assert!(started.elapsed() >= Duration::from_millis(2_500), "not before its age limit: {:?}", started.elapsed());
    Ok(())
}
