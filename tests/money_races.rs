//! Invariant 1 (balance never negative, ledger sums to balance) and the free
//! allowance, raced through the local API with conflict injection on.

use fantooo::domain::Credits;
use fantooo_tests::{Stack, StatusCode, NOON_EAT};
use futures::future::join_all;

const CHARACTER: &str = "c_demo03"; // not featured: a paid message at noon costs 1.00

async fn burst(stack: &Stack, m: &fantooo_tests::Member, chat: &str, n: usize) -> Vec<(StatusCode, serde_json::Value)> {
    let texts: Vec<String> = (0..n).map(|i| format!("race {i}")).collect();
    let sends = texts.iter().map(|t| stack.send_at(m, chat, t, NOON_EAT));
    join_all(sends).await.into_iter().map(|r| r.expect("send answered")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_paid_sends_with_credit_for_ten_store_exactly_ten() {
    let stack = Stack::connect().await.unwrap();
    let before = stack.emulator_stats().await.unwrap();
    for round in 0..fantooo_tests::rounds(5) {
        let m = stack.register("race").await.unwrap();
        let chat = stack.open_chat(&m, CHARACTER).await.unwrap();
        for i in 0..3 {
            let (s, _) = stack.send_at(&m, &chat, &format!("free {i}"), NOON_EAT).await.unwrap();
            assert_eq!(s, StatusCode::CREATED);
        }
        stack.grant(&m, 10).await.unwrap();

        let answers = burst(&stack, &m, &chat, 50).await;
        let stored = answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
        let refused = answers
            .iter()
            .filter(|(s, b)| *s == StatusCode::PAYMENT_REQUIRED && b["error"]["code"] == "insufficient_credits")
            .count();
        assert_eq!((stored, refused), (10, 40), "round {round}: {answers:?}");

        let balances: Vec<&str> = answers.iter().filter_map(|(_, b)| b["balance"].as_str()).collect();
        let mut sorted = balances.clone();
        sorted.sort();
        let expected: Vec<String> = (0..10).map(|k| Credits::whole(k).to_string()).collect();
        assert_eq!(sorted, expected, "each success reports the balance its own debit left");

        assert_eq!(stack.balance(&m).await.unwrap(), Credits::ZERO, "round {round}");
        assert_eq!(stack.ledger_sum(&m).await.unwrap(), Credits::ZERO, "ledger sums to the balance");
        let (_, page) = stack.get(&m, &format!("/chats/{chat}/messages?limit=50")).await.unwrap();
        assert_eq!(page["items"].as_array().map(Vec::len), Some(13), "3 free + 10 paid stored, nothing else");
    }
    let after = stack.emulator_stats().await.unwrap();
    let injected =
        after["injected_conflicts"].as_u64().unwrap_or(0) - before["injected_conflicts"].as_u64().unwrap_or(0);
    assert!(injected > 0, "conflict injection must be on so the retry path runs (see local/test)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_first_sends_in_a_new_chat_get_exactly_three_free() {
    let stack = Stack::connect().await.unwrap();
    let m = stack.register("free").await.unwrap();
    stack.grant(&m, 100).await.unwrap();
    let chat = stack.open_chat(&m, CHARACTER).await.unwrap();

    let answers = burst(&stack, &m, &chat, 10).await;
    assert!(answers.iter().all(|(s, _)| *s == StatusCode::CREATED), "{answers:?}");
    let free = answers.iter().filter(|(_, b)| b["message"]["free"] == true).count();
    assert_eq!(free, 3);
    let paid: Vec<&str> = answers
        .iter()
        .filter(|(_, b)| b["message"]["free"] == false)
        .filter_map(|(_, b)| b["message"]["cost"].as_str())
        .collect();
    assert_eq!(paid, vec!["1.00"; 7]);
    assert_eq!(stack.balance(&m).await.unwrap(), Credits::whole(93));
    assert_eq!(stack.ledger_sum(&m).await.unwrap(), Credits::whole(93));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sends_across_two_chats_share_one_balance_without_overspending() {
    let stack = Stack::connect().await.unwrap();
    let m = stack.register("two").await.unwrap();
    let a = stack.open_chat(&m, "c_demo03").await.unwrap();
    let b = stack.open_chat(&m, "c_demo05").await.unwrap();
    for chat in [&a, &b] {
        for i in 0..3 {
            stack.send_at(&m, chat, &format!("free {i}"), NOON_EAT).await.unwrap();
        }
    }
    stack.grant(&m, 7).await.unwrap();
    let sends = (0..30).map(|i| stack.send_at(&m, if i % 2 == 0 { &a } else { &b }, "both", NOON_EAT));
    let answers: Vec<_> = join_all(sends).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).count(), 7);
    assert_eq!(stack.balance(&m).await.unwrap(), Credits::ZERO);
    assert_eq!(stack.ledger_sum(&m).await.unwrap(), Credits::ZERO);
}
