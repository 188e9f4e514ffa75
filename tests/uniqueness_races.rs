//! Invariant 2 (one chat per member and character) and unique usernames, raced.

use fantooo_tests::{unique_username, Stack, StatusCode};
use futures::future::join_all;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_chat_opens_for_one_pair_make_one_chat() {
    let stack = Stack::connect().await.unwrap();
    let m = stack.register("pair").await.unwrap();
    let opens = (0..10).map(|_| stack.post(&m, "/chats", json!({ "profile_id": "c_demo01" })));
    let answers: Vec<_> = join_all(opens).await.into_iter().map(Result::unwrap).collect();
    let created = answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    let found = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!((created, found), (1, 9), "{answers:?}");
    let ids: std::collections::HashSet<&str> = answers.iter().filter_map(|(_, b)| b["id"].as_str()).collect();
    assert_eq!(ids.len(), 1);
    let (_, list) = stack.get(&m, "/chats").await.unwrap();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_registrations_of_one_username_make_one_account() {
    let stack = Stack::connect().await.unwrap();
    let username = unique_username("same");
    let body = json!({
        "username": username, "password": "pass-word-1", "age": 22, "gender": "female",
        "looking_for": "male", "location": "Mombasa"
    });
    let regs = (0..10).map(|_| stack.http.post(stack.url("/auth/register")).json(&body).send());
    let mut answers = Vec::new();
    for r in join_all(regs).await {
        answers.push(Stack::answer(r.unwrap()).await.unwrap());
    }
    let created = answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    let taken =
        answers.iter().filter(|(s, b)| *s == StatusCode::CONFLICT && b["error"]["code"] == "username_taken").count();
    assert_eq!((created, taken), (1, 9), "{answers:?}");
    let res = stack
        .http
        .post(stack.url("/auth/login"))
        .json(&json!({ "username": username, "password": "pass-word-1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
