//! The member API as a client sees it: contract shapes, errors, auth, isolation,
//! pricing with a pinned clock, idempotency, the queue entry, and no staff data.

use aws_sdk_dynamodb::types::AttributeValue;
use fantooo::domain::ids::{CharacterId, ChatId};
use fantooo::domain::Credits;
use fantooo_tests::Record;
use fantooo_tests::{eat, keys_of, Stack, StatusCode, NOON_EAT, STAFF_FIELDS};
use futures::future::join_all;
use serde_json::{json, Value};

async fn stack() -> Stack {
    Stack::connect().await.expect("local stack (run with local/test)")
}

/// A member with a chat past its free allowance and `credits` to spend.
async fn paying_member(stack: &Stack, character: &str, credits: i64) -> (fantooo_tests::Member, ChatId) {
    let m = stack.register("pay").await.unwrap();
    let chat = stack.open_chat(&m, character).await.unwrap();
    for i in 0..3 {
        let (s, _) = stack.send_at(&m, &chat, &format!("hello {i}"), NOON_EAT).await.unwrap();
        assert_eq!(s, StatusCode::CREATED);
    }
    stack.grant(&m, credits).await.unwrap();
    (m, chat)
}

#[tokio::test]
async fn health_and_config_disclose_that_characters_are_fictional() {
    let stack = stack().await;
    let health: Value = stack.http.get(stack.url("/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health, json!({ "status": "ok" }));
    let config: Value = stack.http.get(stack.url("/config")).send().await.unwrap().json().await.unwrap();
    assert_eq!(config["disclosure"], "Profiles on Fantooo are fictional characters, written by our team.");
    assert_eq!((config["free_messages_per_chat"].as_u64(), config["currency"].as_str()), (Some(3), Some("KES")));
    assert_eq!(config["timezone"], "Africa/Nairobi");
}

#[tokio::test]
async fn registration_validates_every_field_and_stores_nothing_on_422() {
    let stack = stack().await;
    let username = fantooo_tests::unique_username("val");
    let res = stack
        .http
        .post(stack.url("/auth/register"))
        .json(&json!({ "username": username, "password": "short", "age": 17, "gender": "robot", "looking_for": "both", "location": "Nairobi" }))
        .send()
        .await
        .unwrap();
    let (status, body) = Stack::answer(res).await.unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "validation_failed");
    assert_eq!(body["error"]["fields"]["age"], "must be at least 18");
    assert!(body["error"]["fields"]["password"].is_string() && body["error"]["fields"]["gender"].is_string());
    let avail: Value = stack
        .http
        .get(stack.url(&format!("/auth/username-available?username={username}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(avail["available"], true, "a rejected registration claims nothing");

    let missing =
        stack.http.post(stack.url("/auth/register")).json(&json!({ "username": "abc" })).send().await.unwrap();
    let (status, body) = Stack::answer(missing).await.unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["fields"].as_object().is_some_and(|f| !f.is_empty()), "{body}");
}

#[tokio::test]
async fn malformed_oversized_and_wrongly_typed_bodies_get_clear_4xx() {
    let stack = stack().await;
    let post = |body: Vec<u8>| {
        stack.http.post(stack.url("/auth/login")).header("content-type", "application/json").body(body).send()
    };
    let (s, b) = Stack::answer(post(b"{not json".to_vec()).await.unwrap()).await.unwrap();
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_json")));
    let (s, _) = Stack::answer(post(b"[1,2]".to_vec()).await.unwrap()).await.unwrap();
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let big = format!("{{\"username\":\"{}\"}}", "a".repeat(70 * 1024));
    let (s, b) = Stack::answer(post(big.into_bytes()).await.unwrap()).await.unwrap();
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")));
    let (s, b) = Stack::answer(post(br#"{"username": 5, "password": "x"}"#.to_vec()).await.unwrap()).await.unwrap();
    assert_eq!((s, b["error"]["fields"]["username"].is_string()), (StatusCode::UNPROCESSABLE_ENTITY, true));
    let (s, b) = Stack::answer(stack.http.get(stack.url("/nope")).send().await.unwrap()).await.unwrap();
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
}

#[tokio::test]
async fn login_refresh_rotation_and_logout() {
    let stack = stack().await;
    let m = stack.register("auth").await.unwrap();
    let login = |pw: &str| {
        stack.http.post(stack.url("/auth/login")).json(&json!({ "username": m.username, "password": pw })).send()
    };
    let (s, b) = Stack::answer(login("wrong-pass-1").await.unwrap()).await.unwrap();
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_credentials")));
    let (s, b) = Stack::answer(login("pass-word-1").await.unwrap()).await.unwrap();
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["user"]["username"], m.username.as_str());

    let refresh = |t: &str| stack.http.post(stack.url("/auth/refresh")).json(&json!({ "refresh_token": t })).send();
    let (s, first) = Stack::answer(refresh(&m.refresh_token).await.unwrap()).await.unwrap();
    assert_eq!(s, StatusCode::OK);
    let (s, _) = Stack::answer(refresh(&m.refresh_token).await.unwrap()).await.unwrap();
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a used refresh token is dead");
    let new_refresh = first["refresh_token"].as_str().unwrap();
    let me = stack.http.get(stack.url("/me")).bearer_auth(first["token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    let out =
        stack.http.post(stack.url("/auth/logout")).json(&json!({ "refresh_token": new_refresh })).send().await.unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let (s, _) = Stack::answer(refresh(new_refresh).await.unwrap()).await.unwrap();
    assert_eq!(s, StatusCode::UNAUTHORIZED, "logout revokes the refresh token");

    let (s, _) = Stack::answer(stack.http.get(stack.url("/me")).send().await.unwrap()).await.unwrap();
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) =
        Stack::answer(stack.http.get(stack.url("/me")).bearer_auth("garbage").send().await.unwrap()).await.unwrap();
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_banned_member_gets_403_and_a_deleted_one_401() {
    let stack = stack().await;
    let banned = stack.register("ban").await.unwrap();
    stack.set_attr(Record::Member(&banned.id), "status", AttributeValue::S("banned".into())).await.unwrap();
    let (s, b) = stack.get(&banned, "/me").await.unwrap();
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("banned")));
    let login = stack
        .http
        .post(stack.url("/auth/login"))
        .json(&json!({ "username": banned.username, "password": "pass-word-1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::FORBIDDEN);
    let (s, _) = stack
        .send_at(&banned, &fantooo::domain::ids::chat_id(&banned.id, &CharacterId::new("c_demo01")), "hi", NOON_EAT)
        .await
        .unwrap();
    assert!(s == StatusCode::FORBIDDEN || s == StatusCode::NOT_FOUND);

    let gone = stack.register("gone").await.unwrap();
    stack.set_attr(Record::Member(&gone.id), "status", AttributeValue::S("deleted".into())).await.unwrap();
    let (s, _) = stack.get(&gone, "/me").await.unwrap();
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let login = stack
        .http
        .post(stack.url("/auth/login"))
        .json(&json!({ "username": gone.username, "password": "pass-word-1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn login_is_rate_limited_per_username_with_retry_after() {
    let stack = stack().await;
    let m = stack.register("rate").await.unwrap();
    let limit: usize =
        std::env::var("RATE_LIMIT_PER_USERNAME_PER_MINUTE").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let mut limited = None;
    for _ in 0..limit + 2 {
        let res = stack
            .http
            .post(stack.url("/auth/login"))
            .json(&json!({ "username": m.username, "password": "wrong-pass-9" }))
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
            break;
        }
    }
    let retry_after: u64 = limited.expect("429 after the per-username limit").parse().unwrap();
    // Counted in whole seconds, an attempt leaves the window 60-61 s after it was made.
    assert!((1..=61).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn patch_me_updates_listed_fields_and_rejects_bad_values() {
    let stack = stack().await;
    let m = stack.register("patch").await.unwrap();
    let patch = |body: Value| stack.http.patch(stack.url("/me")).bearer_auth(&m.token).json(&body).send();
    let (s, b) =
        Stack::answer(patch(json!({ "bio": "Hi there", "looking_for": "both", "latitude": -1.29 })).await.unwrap())
            .await
            .unwrap();
    assert_eq!(s, StatusCode::OK);
    assert_eq!((b["bio"].as_str(), b["looking_for"].as_str()), (Some("Hi there"), Some("both")));
    let (s, b) =
        Stack::answer(patch(json!({ "looking_for": "robots", "latitude": 200 })).await.unwrap()).await.unwrap();
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["error"]["fields"]["looking_for"].is_string() && b["error"]["fields"]["latitude"].is_string());
    let (_, me) = stack.get(&m, "/me").await.unwrap();
    assert_eq!(me["looking_for"], "both", "a 422 changes nothing");
    let (s, _) = Stack::answer(patch(json!({ "credits": "999.00" })).await.unwrap()).await.unwrap();
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(stack.balance(&m).await.unwrap(), Credits::ZERO);
}

#[tokio::test]
async fn profiles_are_characters_popular_first_with_filters_and_cursor_pages() {
    let stack = stack().await;
    let first: Value = stack.http.get(stack.url("/profiles?limit=5")).send().await.unwrap().json().await.unwrap();
    let items = first["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert!(items.iter().all(|c| c["kind"] == "character"));
    assert_eq!(items[0]["id"], "c_demo01", "most popular first");
    let cursor = first["next_cursor"].as_str().expect("more pages");
    let second: Value = stack
        .http
        .get(stack.url(&format!("/profiles?limit=5&cursor={cursor}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first_ids: Vec<&Value> = items.iter().map(|c| &c["id"]).collect();
    assert!(second["items"].as_array().unwrap().iter().all(|c| !first_ids.contains(&&c["id"])));

    let men: Value =
        stack.http.get(stack.url("/profiles?gender=male&limit=50")).send().await.unwrap().json().await.unwrap();
    assert!(!men["items"].as_array().unwrap().is_empty());
    assert!(men["items"].as_array().unwrap().iter().all(|c| c["gender"] == "male"));
    let search: Value = stack.http.get(stack.url("/profiles?q=chess")).send().await.unwrap().json().await.unwrap();
    assert_eq!(search["items"][0]["name"], "Jabari");

    let bad = stack.http.get(stack.url("/profiles?cursor=not-a-cursor")).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let bad = stack.http.get(stack.url("/profiles?limit=500")).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let one = stack.http.get(stack.url("/profiles/c_demo02")).send().await.unwrap();
    assert_eq!(one.status(), StatusCode::OK);
    assert_eq!(stack.http.get(stack.url("/profiles/c_nobody")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let packages: Value = stack.http.get(stack.url("/credits/packages")).send().await.unwrap().json().await.unwrap();
    let prices: Vec<i64> = packages["items"].as_array().unwrap().iter().filter_map(|p| p["price"].as_i64()).collect();
    assert_eq!(prices, vec![10000, 40000, 70000, 300000]);
}

#[tokio::test]
async fn no_member_response_contains_a_staff_field() {
    let stack = stack().await;
    let (m, chat) = paying_member(&stack, "c_demo01", 5).await;
    stack.put_fav(&m).await;
    let mut bodies = Vec::new();
    for path in
        ["/profiles?limit=50", "/profiles/c_demo01", "/favorites", "/chats", "/me", &format!("/chats/{chat}/messages")]
    {
        let (s, b) = stack.get(&m, path).await.unwrap();
        assert_eq!(s, StatusCode::OK, "{path}");
        bodies.push(b);
    }
    bodies.push(stack.send_at(&m, &chat, "one more", NOON_EAT).await.unwrap().1);
    bodies.push(stack.post(&m, "/chats", json!({ "profile_id": "c_demo01" })).await.unwrap().1);
    let mut keys = Vec::new();
    bodies.iter().for_each(|b| keys_of(b, &mut keys));
    let leaked: Vec<&String> = keys.iter().filter(|k| STAFF_FIELDS.contains(&k.as_str())).collect();
    assert!(leaked.is_empty(), "staff fields in member responses: {leaked:?}");
    assert!(keys.iter().any(|k| k == "kind"), "characters carry kind");
}

trait Favorites {
    async fn put_fav(&self, m: &fantooo_tests::Member);
}

impl Favorites for Stack {
    async fn put_fav(&self, m: &fantooo_tests::Member) {
        let res = self.http.put(self.url("/favorites/c_demo01")).bearer_auth(&m.token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
}

#[tokio::test]
async fn favorites_are_idempotent_and_unknown_profiles_404() {
    let stack = stack().await;
    let m = stack.register("fav").await.unwrap();
    stack.put_fav(&m).await;
    stack.put_fav(&m).await;
    let (_, list) = stack.get(&m, "/favorites").await.unwrap();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["items"][0]["kind"], "character");
    let res = stack.http.put(stack.url("/favorites/c_nobody")).bearer_auth(&m.token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    for _ in 0..2 {
        let res = stack.http.delete(stack.url("/favorites/c_demo01")).bearer_auth(&m.token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
    let (_, list) = stack.get(&m, "/favorites").await.unwrap();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn a_member_can_neither_read_nor_post_to_another_members_chat() {
    let stack = stack().await;
    let a = stack.register("alice").await.unwrap();
    let b = stack.register("bob").await.unwrap();
    let chat = stack.open_chat(&a, "c_demo02").await.unwrap();
    stack.send_at(&a, &chat, "private", NOON_EAT).await.unwrap();
    let (s, body) = stack.get(&b, &format!("/chats/{chat}/messages")).await.unwrap();
    assert_eq!((s, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (s, _) = stack.send_at(&b, &chat, "intrusion", NOON_EAT).await.unwrap();
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, msgs) = stack.get(&a, &format!("/chats/{chat}/messages")).await.unwrap();
    assert_eq!(msgs["items"].as_array().map(Vec::len), Some(1), "nothing stored by the intruder");
    let (s, _) = stack.get(&a, "/chats/ch_whatever/messages").await.unwrap();
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pricing_follows_nairobi_time_featured_and_tier_exactly() {
    let stack = stack().await;
    let (m, chat) = paying_member(&stack, "c_demo03", 20).await;
    let cost = |b: &Value| b["message"]["cost"].as_str().unwrap().to_string();
    let (_, noon) = stack.send_at(&m, &chat, "noon", NOON_EAT).await.unwrap();
    assert_eq!(cost(&noon), "1.00");
    let (_, peak) = stack.send_at(&m, &chat, "nine pm", &eat(21, 0)).await.unwrap();
    assert_eq!(cost(&peak), "1.20");
    let (_, off) = stack.send_at(&m, &chat, "three am", &eat(3, 0)).await.unwrap();
    assert_eq!(cost(&off), "0.80");
    assert_eq!(off["balance"], "17.00");

    let (f, fchat) = paying_member(&stack, "c_demo01", 20).await; // featured
    stack.set_attr(Record::Member(&f.id), "tier", AttributeValue::S("platinum".into())).await.unwrap();
    let (_, b) = stack.send_at(&f, &fchat, "peak featured platinum", &eat(22, 30)).await.unwrap();
    assert_eq!(cost(&b), "1.44");
    assert_eq!(b["balance"], "18.56");
    assert_eq!(stack.ledger_sum(&f).await.unwrap(), Credits::from_hundredths(1856));
}

#[tokio::test]
async fn a_402_stores_nothing_and_leaves_the_balance() {
    let stack = stack().await;
    let (m, chat) = paying_member(&stack, "c_demo03", 0).await;
    let (s, b) = stack.send_at(&m, &chat, "no money", NOON_EAT).await.unwrap();
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::PAYMENT_REQUIRED, Some("insufficient_credits")));
    let (_, msgs) = stack.get(&m, &format!("/chats/{chat}/messages")).await.unwrap();
    assert_eq!(msgs["items"].as_array().map(Vec::len), Some(3));
    assert_eq!(stack.balance(&m).await.unwrap(), Credits::ZERO);
    let (_, chats) = stack.get(&m, "/chats").await.unwrap();
    assert_eq!(chats["items"][0]["free_messages_left"], 0);
    assert_eq!(chats["items"][0]["message_count"], 3);
}

#[tokio::test]
async fn idempotency_key_replays_the_first_response_and_rejects_a_different_body() {
    let stack = stack().await;
    let (m, chat) = paying_member(&stack, "c_demo03", 5).await;
    let send = |key: &str, content: &str| {
        let (key, content) = (key.to_string(), content.to_string());
        let (stack, m, chat) = (&stack, &m, &chat);
        async move { stack.send_keyed(m, chat, &content, NOON_EAT, &key).await.unwrap() }
    };
    let racing = (0..8).map(|_| send("key-1", "pay once"));
    let answers = join_all(racing).await;
    assert!(answers.iter().all(|a| *a == answers[0]), "every repeat gets the first response: {answers:?}");
    assert_eq!(answers[0].0, StatusCode::CREATED);
    assert_eq!(stack.balance(&m).await.unwrap(), Credits::whole(4), "charged once");

    let (s, b) = send("key-1", "something else").await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("idempotency_key_reused")));
    let long = "k".repeat(201);
    let (s, _) = send(&long, "x").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, msgs) = stack.get(&m, &format!("/chats/{chat}/messages")).await.unwrap();
    assert_eq!(msgs["items"].as_array().map(Vec::len), Some(4));
}

#[tokio::test]
async fn messages_page_backwards_from_the_newest_and_poll_forwards_with_after() {
    let stack = stack().await;
    let (m, chat) = paying_member(&stack, "c_demo03", 10).await;
    for i in 3..7 {
        stack.send_at(&m, &chat, &format!("hello {i}"), NOON_EAT).await.unwrap();
    }
    let (_, newest) = stack.get(&m, &format!("/chats/{chat}/messages?limit=3")).await.unwrap();
    let contents: Vec<&str> =
        newest["items"].as_array().unwrap().iter().filter_map(|x| x["content"].as_str()).collect();
    assert_eq!(contents, vec!["hello 4", "hello 5", "hello 6"]);
    let cursor = newest["next_cursor"].as_str().unwrap();
    let (_, older) = stack.get(&m, &format!("/chats/{chat}/messages?limit=3&cursor={cursor}")).await.unwrap();
    let contents: Vec<&str> = older["items"].as_array().unwrap().iter().filter_map(|x| x["content"].as_str()).collect();
    assert_eq!(contents, vec!["hello 1", "hello 2", "hello 3"]);
    let after = newest["items"][0]["id"].as_str().unwrap();
    let (_, polled) = stack.get(&m, &format!("/chats/{chat}/messages?after={after}")).await.unwrap();
    let contents: Vec<&str> =
        polled["items"].as_array().unwrap().iter().filter_map(|x| x["content"].as_str()).collect();
    assert_eq!(contents, vec!["hello 5", "hello 6"]);
    let (s, _) = stack.get(&m, &format!("/chats/{chat}/messages?after=bogus")).await.unwrap();
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn closed_chats_reopen_unless_the_character_was_removed_and_escalated_ones_are_free() {
    let stack = stack().await;
    let (m, chat) = paying_member(&stack, "c_demo04", 5).await;
    let pk = Record::Chat(&chat);
    for reason in ["inactivity_timeout", "admin"] {
        stack.set_attr(pk, "status", AttributeValue::S("closed".into())).await.unwrap();
        stack.set_attr(pk, "close_reason", AttributeValue::S(reason.into())).await.unwrap();
        let (_, chats) = stack.get(&m, "/chats").await.unwrap();
        assert_eq!(
            (chats["items"][0]["status"].as_str(), chats["items"][0]["close_reason"].as_str()),
            (Some("closed"), Some(reason))
        );
        let (s, b) = stack.send_at(&m, &chat, "I'm back", NOON_EAT).await.unwrap();
        assert_eq!(s, StatusCode::CREATED, "{reason}: {b}");
        assert_eq!(b["message"]["cost"], "1.00", "{reason}: free messages do not reset on reopen");
        let (_, chats) = stack.get(&m, "/chats").await.unwrap();
        assert_eq!(
            (chats["items"][0]["status"].as_str(), chats["items"][0]["close_reason"].is_null()),
            (Some("active"), true),
            "{reason}"
        );
    }
    assert_eq!(stack.balance(&m).await.unwrap(), Credits::whole(3));

    stack.set_attr(pk, "status", AttributeValue::S("escalated".into())).await.unwrap();
    let (s, b) = stack.send_at(&m, &chat, "anyone?", NOON_EAT).await.unwrap();
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!((b["message"]["cost"].as_str(), b["message"]["free"].as_bool()), (Some("0.00"), Some(true)));
    assert_eq!(b["balance"], "3.00", "nobody is there to answer an escalated chat: it costs nothing");
    let (_, chats) = stack.get(&m, "/chats").await.unwrap();
    assert_eq!(chats["items"][0]["status"], "active", "members see escalated as active");

    stack.set_attr(pk, "status", AttributeValue::S("closed".into())).await.unwrap();
    stack.set_attr(pk, "close_reason", AttributeValue::S("profile_deleted".into())).await.unwrap();
    let (s, b) = stack.send_at(&m, &chat, "hello?", NOON_EAT).await.unwrap();
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("chat_closed")));
    assert_eq!(stack.balance(&m).await.unwrap(), Credits::whole(3), "a refused send charges nothing");
    assert_eq!(stack.ledger_sum(&m).await.unwrap(), Credits::whole(3));
}

#[tokio::test]
async fn a_message_to_a_chat_without_an_operator_queues_it() {
    let stack = stack().await;
    let m = stack.register("queue").await.unwrap();
    let chat = stack.open_chat(&m, "c_demo06").await.unwrap();
    stack.send_at(&m, &chat, "anyone there?", NOON_EAT).await.unwrap();
    let shard = fantooo::store::queue_shard(&chat);
    let entries = stack.store.queue_shard_entries(shard).await.unwrap();
    let entry = entries.iter().find(|(id, _)| *id == chat).expect("queue entry");
    assert_eq!(entry.1.to_rfc3339(), "2026-11-25T09:00:00+00:00", "wait starts at the first unanswered message");
    stack.send_at(&m, &chat, "hello??", &eat(12, 5)).await.unwrap();
    let entries = stack.store.queue_shard_entries(shard).await.unwrap();
    let entry = entries.iter().find(|(id, _)| *id == chat).unwrap();
    assert_eq!(entry.1.to_rfc3339(), "2026-11-25T09:00:00+00:00", "a second message keeps the first wait start");
}

/// Records written before outcomes were recorded (an HTTP status and body, kept
/// 24 h) still work after the deploy: a 201 replays its body; a 402 is decided
/// afresh (it changed nothing) instead of blocking the key.
#[tokio::test]
async fn idempotency_records_from_before_outcomes_replay_or_are_decided_afresh() {
    use sha2::{Digest, Sha256};
    let stack = stack().await;
    let (m, chat) = paying_member(&stack, "c_demo04", 5).await;
    let send = |key: &'static str, content: &'static str| stack.send_keyed(&m, &chat, content, NOON_EAT, key);
    let scope = format!("member:{}", m.id);
    let route = fantooo::services::send_message::ROUTE;
    let expires = chrono::Utc::now() + chrono::Duration::hours(23);
    let refused = json!({ "error": { "code": "insufficient_credits", "message": "old" } }).to_string();
    stack.store.put_legacy_idempotency_record((&scope, route, "old-402"), "any", 402, &refused, expires).await.unwrap();
    let (s, first) = send("old-402", "now I can pay").await.unwrap();
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert_eq!(stack.balance(&m).await.unwrap(), Credits::whole(4));
    let (s, again) = send("old-402", "now I can pay").await.unwrap();
    assert_eq!((s, &again), (StatusCode::CREATED, &first), "the new record replays");

    let body = serde_json::to_vec(&json!({ "content": "sent before the deploy" })).unwrap();
    let hash = hex::encode(Sha256::digest([chat.as_bytes(), b"\n", &body].concat()));
    let stored = json!({
        "message": { "id": "msg_0000000009_abcdefgh", "chat_id": chat, "sender": "member",
                     "content": "sent before the deploy", "cost": "1.00", "free": false,
                     "created_at": "2026-11-25T09:00:00Z", "edited": false },
        "balance": "3.00",
    });
    stack
        .store
        .put_legacy_idempotency_record((&scope, route, "old-201"), &hash, 201, &stored.to_string(), expires)
        .await
        .unwrap();
    let res = stack
        .http
        .post(stack.url(&format!("/chats/{chat}/messages")))
        .bearer_auth(&m.token)
        .header("x-fantooo-now", NOON_EAT)
        .header("idempotency-key", "old-201")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let (s, replay) = Stack::answer(res).await.unwrap();
    assert_eq!((s, replay), (StatusCode::CREATED, stored), "an old 201 replays its body");
    assert_eq!(stack.balance(&m).await.unwrap(), Credits::whole(4), "and charges nothing");
}

/// The chat list keeps hours in the index (so a message does not move the entry)
/// and exact order within a page: latest activity first.
#[tokio::test]
async fn the_chat_list_is_latest_activity_first_within_the_hour_too() {
    let stack = stack().await;
    let m = stack.register("order").await.unwrap();
    let mut chats = Vec::new();
    for c in ["c_demo01", "c_demo02", "c_demo03", "c_demo04"] {
        chats.push(stack.open_chat(&m, c).await.unwrap());
    }
    for (i, at) in [(0, eat(12, 10)), (1, eat(12, 5)), (2, eat(12, 20)), (3, eat(11, 50)), (0, eat(12, 30))] {
        let (s, b) = stack.send_at(&m, &chats[i], "hello", &at).await.unwrap();
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let (_, list) = stack.get(&m, "/chats").await.unwrap();
    let order: Vec<&str> = list["items"].as_array().unwrap().iter().filter_map(|c| c["id"].as_str()).collect();
    let expected: Vec<&str> = [0, 2, 1, 3].iter().map(|&i| chats[i].as_str()).collect();
    assert_eq!(order, expected);
}

/// Chats listed before the keys-only list (a GSI1 entry, the whole item) are moved
/// to it by the member's next list, in place and without a gap; a message to a
/// chat never writes the list's index, and a page cursor from the old list is
/// still taken.
#[tokio::test]
async fn chats_listed_the_old_way_move_to_the_keys_only_list_on_the_next_read() {
    let stack = stack().await;
    let m = stack.register("oldlist").await.unwrap();
    let mut chats = Vec::new();
    for (i, character) in ["c_demo05", "c_demo06", "c_demo07"].into_iter().enumerate() {
        let chat = stack.open_chat(&m, character).await.unwrap();
        let (s, b) = stack.send_at(&m, &chat, "hi", &eat(9 + i as u32, 0)).await.unwrap();
        assert_eq!(s, StatusCode::CREATED, "{b}");
        chats.push(chat);
    }
    let store = &stack.store;
    for chat in &chats[..2] {
        let c = store.get_chat(chat).await.unwrap().unwrap();
        store.stage_legacy_member_chat(&c).await.unwrap();
    }
    let raw = |chat: ChatId| {
        let stack = &stack;
        async move { stack.raw_chat(&chat).await.unwrap().unwrap() }
    };
    assert!(raw(chats[0].clone()).await.contains_key("GSI1PK"), "staged the old way");
    // A cursor from the old list, as a client paging across the deploy holds it.
    let (s, first) = stack.get(&m, "/chats?limit=1").await.unwrap();
    assert_eq!(s, StatusCode::OK, "{first}");
    let ids = |v: &Value| -> Vec<String> {
        v["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(&first), vec![chats[2].to_string()], "newest activity first");
    let cursor = first["next_cursor"].as_str().unwrap();
    let (s, rest) = stack.get(&m, &format!("/chats?cursor={cursor}")).await.unwrap();
    assert_eq!(s, StatusCode::OK, "{rest}");
    assert_eq!(ids(&rest), vec![chats[1].to_string(), chats[0].to_string()], "in place: nothing lost or repeated");
    for chat in &chats {
        let item = raw(chat.clone()).await;
        assert!(!item.contains_key("GSI1PK") && item.contains_key("GSI4PK"), "{chat} moved");
    }
    // The old cursor shape (GSI1 names, same values) is still taken.
    let old = {
        use base64::Engine;
        let flat: std::collections::BTreeMap<String, String> =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).unwrap()).unwrap();
        let renamed: std::collections::BTreeMap<String, String> =
            flat.into_iter().map(|(k, v)| (k.replace("GSI4", "GSI1"), v)).collect();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&renamed).unwrap())
    };
    let (s, again) = stack.get(&m, &format!("/chats?cursor={old}")).await.unwrap();
    assert_eq!((s, ids(&again)), (StatusCode::OK, ids(&rest)));
}
