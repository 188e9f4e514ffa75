//! The input edges and webhook rules an attacker's and a chaos tester's pass found
//! open, against the local stack: only a successful charge.success credits, keys
//! are built only from validated input, control and invisible characters are
//! refused, a reused refresh token ends its session, raw webhook bodies expire,
//! and login limits hold in any 60 seconds.

use chrono::{Duration, Utc};
use fantooo::domain::ids::PaymentRef;
use fantooo::domain::Credits;
use fantooo_tests::Record;
use fantooo_tests::{charge_event, Stack, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

async fn stack() -> Stack {
    Stack::connect().await.expect("local stack (run with local/test)")
}

async fn checkout(stack: &Stack, m: &fantooo_tests::Member) -> (PaymentRef, i64) {
    let (s, b) = stack.post(m, "/credits/checkout", json!({ "package_id": "pkg_starter" })).await.unwrap();
    assert_eq!(s, StatusCode::CREATED, "{b}");
    (PaymentRef::new(b["reference"].as_str().unwrap()), b["amount"].as_i64().unwrap())
}

#[tokio::test]
async fn only_a_successful_charge_success_credits_and_a_dispute_never_does() {
    let stack = stack().await;
    let app = stack.app().await.unwrap();
    let m = stack.register("dispute").await.unwrap();

    // A dispute whose data says "success", and a charge.success with no status.
    let (reference, price) = checkout(&stack, &m).await;
    let mut no_status = charge_event("charge.success", &reference, "success", price, "KES");
    no_status["data"].as_object_mut().unwrap().remove("status");
    assert_eq!(stack.webhook(&no_status).await.unwrap().0, StatusCode::OK);
    assert_eq!(stack.balance(&m).await.unwrap(), Credits::ZERO, "no status is no proof of payment");
    let dispute = charge_event("charge.dispute.create", &reference, "success", price, "KES");
    assert_eq!(stack.webhook(&dispute).await.unwrap().0, StatusCode::OK);
    assert_eq!(stack.balance(&m).await.unwrap(), Credits::ZERO, "a dispute never credits");
    let p = stack.store.get_payment(&reference).await.unwrap().unwrap();
    assert_eq!(p.status.as_str(), "disputed");
    let success = charge_event("charge.success", &reference, "success", price, "KES");
    assert_eq!(stack.webhook(&success).await.unwrap().0, StatusCode::OK);
    assert_eq!(stack.balance(&m).await.unwrap(), Credits::ZERO, "a disputed charge never credits afterwards");

    // A credited payment disputed later: marked, admins told, credited once only.
    let (reference, price) = checkout(&stack, &m).await;
    let success = charge_event("charge.success", &reference, "success", price, "KES");
    assert_eq!(stack.webhook(&success).await.unwrap().0, StatusCode::OK);
    let credited = stack.balance(&m).await.unwrap();
    assert!(credited > Credits::ZERO);
    // Paystack's own dispute shape: the charge's reference sits under data.transaction.
    let dispute = json!({
        "event": "charge.dispute.create",
        "data": { "id": 358950, "refund_amount": price, "currency": "KES", "status": "awaiting-merchant-feedback",
                  "domain": "test", "transaction_reference": null,
                  "transaction": { "id": 5991760, "status": "success", "reference": reference, "amount": price } }
    });
    for _ in 0..2 {
        assert_eq!(stack.webhook(&dispute).await.unwrap().0, StatusCode::OK);
    }
    assert_eq!(stack.webhook(&success).await.unwrap().0, StatusCode::OK);
    let p = stack.store.get_payment(&reference).await.unwrap().unwrap();
    assert_eq!(p.status.as_str(), "disputed");
    assert_eq!((stack.balance(&m).await.unwrap(), stack.ledger_sum(&m).await.unwrap()), (credited, credited));
    let notes = app.store.admin_notifications(300).await.unwrap();
    let told =
        notes.iter().filter(|n| n.kind == "payment_disputed" && n.reference.as_deref() == Some(reference.as_str()));
    assert_eq!(told.count(), 1, "admins told once");
}

#[tokio::test]
async fn oversized_strings_are_refused_before_any_key_is_built() {
    let stack = stack().await;
    let long = "a".repeat(5000);
    let body = json!({ "username": long, "password": "pass-word-1", "age": 30, "gender": "male",
        "looking_for": "female", "location": "Nairobi" });
    let (s, b) =
        Stack::answer(stack.http.post(stack.url("/auth/register")).json(&body).send().await.unwrap()).await.unwrap();
    assert_eq!((s, b["error"]["fields"]["username"].is_string()), (StatusCode::UNPROCESSABLE_ENTITY, true), "{b}");
    let login = json!({ "username": long, "password": long });
    let res = stack.http.post(stack.url("/auth/login")).json(&login).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let staff = json!({ "email": format!("{long}@x.io"), "password": "x" });
    let res = stack.http.post(stack.url("/operator/login")).json(&staff).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let m = stack.register("long").await.unwrap();
    for (path, body, field) in [
        ("/chats", json!({ "profile_id": long }), "profile_id"),
        ("/credits/checkout", json!({ "package_id": long }), "package_id"),
    ] {
        let (s, b) = stack.post(&m, path, body).await.unwrap();
        assert_eq!(
            (s, b["error"]["fields"][field].is_string()),
            (StatusCode::UNPROCESSABLE_ENTITY, true),
            "{path}: {b}"
        );
    }
    for path in [format!("/profiles/{long}"), format!("/chats/{long}/messages")] {
        let (s, b) = stack.get(&m, &path).await.unwrap();
        assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{path}: {b}");
    }
    let staff = json!({ "email": "op1@demo.local", "password": "demo-operator-1" });
    let (_, session) =
        Stack::answer(stack.http.post(stack.url("/operator/login")).json(&staff).send().await.unwrap()).await.unwrap();
    let operator = fantooo_tests::Member { token: session["token"].as_str().unwrap().into(), ..m.clone() };
    for path in [format!("/operator/chats/{long}"), format!("/operator/chats/{}", "b".repeat(150))] {
        let (s, b) = stack.get(&operator, &path).await.unwrap();
        assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{path}: {b}");
    }
    let put = stack.http.put(stack.url(&format!("/favorites/{long}"))).bearer_auth(&m.token).send().await.unwrap();
    assert_eq!(put.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn control_characters_and_invisible_overrides_are_refused_and_nothing_is_stored() {
    let stack = stack().await;
    let body = |name: &str| {
        json!({ "username": fantooo_tests::unique_username("bidi"), "password": "pass-word-1", "age": 30,
            "gender": "male", "looking_for": "female", "location": "Nairobi", "display_name": name })
    };
    for bad in ["admin\u{202e}nimda", "zero\u{200b}width", "nul\u{0}"] {
        let res = stack.http.post(stack.url("/auth/register")).json(&body(bad)).send().await.unwrap();
        let (s, b) = Stack::answer(res).await.unwrap();
        assert_eq!(
            (s, b["error"]["fields"]["display_name"].is_string()),
            (StatusCode::UNPROCESSABLE_ENTITY, true),
            "{bad:?}"
        );
    }
    let m = stack.register("ctrl").await.unwrap();
    let patch = |v: Value| stack.http.patch(stack.url("/me")).bearer_auth(&m.token).json(&v).send();
    for bad in [
        json!({ "bio": "bell\u{7}" }),
        json!({ "location": "esc\u{1b}[31mred" }),
        json!({ "location": "Nai\u{202e}robi" }),
    ] {
        assert_eq!(patch(bad.clone()).await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    assert_eq!(patch(json!({ "bio": "two lines\nand\ta tab" })).await.unwrap().status(), StatusCode::OK);
    let (_, me) = stack.get(&m, "/me").await.unwrap();
    assert_eq!((me["location"].as_str(), me["bio"].as_str()), (Some("Nairobi"), Some("two lines\nand\ta tab")));
    let chat = stack.open_chat(&m, "c_demo02").await.unwrap();
    let (s, _) = stack.send_at(&m, &chat, "hello\u{0}\u{1b}[2J", &Utc::now().to_rfc3339()).await.unwrap();
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, messages) = stack.get(&m, &format!("/chats/{chat}/messages")).await.unwrap();
    assert_eq!(messages["items"].as_array().unwrap().len(), 0, "nothing stored");
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_ends_that_session_and_no_other() {
    let stack = stack().await;
    let m = stack.register("reuse").await.unwrap();
    let login = json!({ "username": m.username, "password": "pass-word-1" });
    let (_, other) =
        Stack::answer(stack.http.post(stack.url("/auth/login")).json(&login).send().await.unwrap()).await.unwrap();
    let refresh = |token: &str, at: Option<String>| {
        let mut req = stack.http.post(stack.url("/auth/refresh")).json(&json!({ "refresh_token": token }));
        if let Some(at) = at {
            req = req.header("x-fantooo-now", at);
        }
        async move { Stack::answer(req.send().await.unwrap()).await.unwrap() }
    };
    let (s, rotated) = refresh(&m.refresh_token, None).await;
    assert_eq!(s, StatusCode::OK);
    let next = rotated["refresh_token"].as_str().unwrap().to_string();
    // At once (two tabs, a retry after a lost answer): refused, the session lives.
    assert_eq!(refresh(&m.refresh_token, None).await.0, StatusCode::UNAUTHORIZED);
    let (s, rotated) = refresh(&next, None).await;
    assert_eq!(s, StatusCode::OK, "inside the grace period nothing is revoked");
    let newest = rotated["refresh_token"].as_str().unwrap().to_string();
    // Two minutes later the old token is a copy: its whole session ends.
    let later = (Utc::now() + Duration::minutes(2)).to_rfc3339();
    assert_eq!(refresh(&next, Some(later)).await.0, StatusCode::UNAUTHORIZED, "the rotated token, presented again");
    assert_eq!(refresh(&newest, None).await.0, StatusCode::UNAUTHORIZED, "its whole session ended: log in again");
    assert_eq!(
        refresh(other["refresh_token"].as_str().unwrap(), None).await.0,
        StatusCode::OK,
        "another session lives"
    );
}

#[tokio::test]
async fn a_settled_delivery_keeps_its_raw_body_90_days_and_an_unknown_reference_keeps_it() {
    let stack = stack().await;
    let m = stack.register("ttl").await.unwrap();
    let (reference, price) = checkout(&stack, &m).await;
    let settled = charge_event("charge.success", &reference, "success", price, "KES");
    let unknown = charge_event("charge.success", "pay_nobody_knows", "success", price, "KES");
    for event in [&settled, &unknown] {
        assert_eq!(stack.webhook(event).await.unwrap().0, StatusCode::OK);
    }
    let expires = |event: &Value| {
        let id = hex::encode(Sha256::digest(serde_json::to_vec(event).unwrap()));
        let store = stack.store.clone();
        async move {
            let item = store.raw_item(Record::Webhook(&id)).await.unwrap();
            item.unwrap().get("expires_at").and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<i64>().ok())
        }
    };
    let at = expires(&settled).await.expect("a TTL on the settled delivery");
    let in_90_days = (Utc::now() + Duration::days(90)).timestamp();
    assert!((in_90_days - at).abs() < 300, "{at} vs {in_90_days}");
    assert_eq!(expires(&unknown).await, None, "kept for the admins until reviewed");
}

#[tokio::test]
async fn login_attempts_are_limited_in_any_60_seconds_across_a_minute_boundary() {
    let stack = stack().await;
    let m = stack.register("window").await.unwrap();
    let attempt = |at: &'static str| {
        let body = json!({ "username": m.username, "password": "wrong-pass-1" });
        let req = stack.http.post(stack.url("/auth/login")).header("x-fantooo-now", at).json(&body);
        async move { req.send().await.unwrap().status() }
    };
    let mut statuses = Vec::new();
    for at in std::iter::repeat_n("2031-03-03T10:00:59Z", 10).chain(std::iter::repeat_n("2031-03-03T10:01:01Z", 10)) {
        statuses.push(attempt(at).await);
    }
    let wrong = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let limited = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((wrong, limited), (10, 10), "10 per username in any 60 s, whatever the minute boundary");
    assert_eq!(attempt("2031-03-03T10:02:00Z").await, StatusCode::UNAUTHORIZED, "61 s later the window has moved on");
}
