//! Payments against the local stack and the Paystack stand-in: checkout's price
//! lock, the signed webhook, invariant 3 (a reference credits at most once, raced),
//! reconcile, refunds, the ledger audit, the outbox, account deletion.

use chrono::{Duration, Utc};
use fantooo::domain::ids::PaymentRef;
use fantooo::domain::{CreditPackage, Credits};
use fantooo::services::{jobs, payments};
use fantooo_tests::Record;
use fantooo_tests::{charge_event, keys_of, Member, Stack, StatusCode, STAFF_FIELDS};
use futures::future::join_all;
use serde_json::{json, Value};

async fn stack() -> Stack {
    Stack::connect().await.expect("local stack (run with local/test)")
}

async fn checkout(stack: &Stack, m: &Member, package: &str) -> Value {
    let (s, body) = stack.post(m, "/credits/checkout", json!({ "package_id": package })).await.unwrap();
    assert_eq!(s, StatusCode::CREATED, "{body}");
    body
}

async fn purchases_for(stack: &Stack, m: &Member) -> usize {
    stack.store.ledger(&m.id).await.unwrap().iter().filter(|(_, _, cause)| cause == "purchase").count()
}

async fn payment_status(stack: &Stack, reference: &PaymentRef) -> String {
    stack.store.get_payment(reference).await.unwrap().expect("payment").status.as_str().to_string()
}

#[tokio::test]
async fn checkout_locks_the_package_and_gives_a_platform_email_when_the_member_has_none() {
    let stack = stack().await;
    let m = stack.register("buy").await.unwrap();
    let body = checkout(&stack, &m, "pkg_best_value").await;
    assert_eq!(body["amount"], 70000);
    assert_eq!(body["currency"], "KES");
    assert_eq!(body["email"], format!("{}@fantooo.com", m.username));
    assert_eq!(body["public_key"], "pk_test_fantooo_local");
    assert_eq!((body["package"]["credits"].as_i64(), body["package"]["bonus_credits"].as_i64()), (Some(100), Some(10)));
    let reference = body["reference"].as_str().unwrap();
    let (_, list) = stack.get(&m, "/credits/transactions").await.unwrap();
    assert_eq!(list["items"][0]["reference"], reference);
    assert_eq!(list["items"][0]["status"], "pending");

    let (s, b) = stack.post(&m, "/credits/checkout", json!({ "package_id": "pkg_nope" })).await.unwrap();
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
}

#[tokio::test]
async fn checkout_with_an_idempotency_key_creates_one_payment() {
    let stack = stack().await;
    let m = stack.register("idem").await.unwrap();
    let send = |package: &str| {
        stack
            .http
            .post(stack.url("/credits/checkout"))
            .bearer_auth(&m.token)
            .header("idempotency-key", "checkout-1")
            .json(&json!({ "package_id": package }))
            .send()
    };
    let mut answers = Vec::new();
    for r in join_all((0..6).map(|_| send("pkg_starter"))).await {
        answers.push(Stack::answer(r.unwrap()).await.unwrap());
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    let (s, b) = Stack::answer(send("pkg_popular").await.unwrap()).await.unwrap();
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("idempotency_key_reused")));
    let (_, list) = stack.get(&m, "/credits/transactions").await.unwrap();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_webhooks_and_five_reconcile_runs_credit_a_reference_once() {
    let stack = stack().await;
    let app = stack.app().await.unwrap();
    for round in 0..fantooo_tests::rounds(5) {
        let m = stack.register("once").await.unwrap();
        let reference = PaymentRef::new(checkout(&stack, &m, "pkg_popular").await["reference"].as_str().unwrap());
        stack.paystack_says(&reference, "success", 40000, "KES").await.unwrap();
        let event = charge_event("charge.success", &reference, "success", 40000, "KES");
        let later = Utc::now() + Duration::minutes(11);
        let hooks = (0..20).map(|_| async { stack.webhook(&event).await.unwrap().0 });
        let runs = (0..5).map(|_| async { payments::reconcile(&app, later).await.map(|_| ()).is_ok() });
        let (statuses, runs) = tokio::join!(join_all(hooks), join_all(runs));
        assert!(statuses.iter().all(|s| *s == StatusCode::OK), "round {round}: {statuses:?}");
        assert!(runs.iter().all(|ok| *ok), "round {round}: a reconcile run failed");

        assert_eq!(stack.balance(&m).await.unwrap(), Credits::whole(50), "round {round}");
        assert_eq!(stack.ledger_sum(&m).await.unwrap(), Credits::whole(50));
        assert_eq!(purchases_for(&stack, &m).await, 1);
        let p = stack.store.get_payment(&reference).await.unwrap().unwrap();
        assert_eq!(p.status.as_str(), "success");
        assert_eq!(p.webhook_received_count, 20, "every delivery is counted");
        let (_, me) = stack.get(&m, "/me").await.unwrap();
        assert_eq!((me["credits"].as_str(), me["tier"].as_str()), (Some("50.00"), Some("free")));
    }
}

#[tokio::test]
async fn forged_tampered_and_mismatched_webhooks_credit_nothing_and_are_recorded() {
    let stack = stack().await;
    let app = stack.app().await.unwrap();
    let m = stack.register("forge").await.unwrap();
    let reference = PaymentRef::new(checkout(&stack, &m, "pkg_starter").await["reference"].as_str().unwrap());
    let good = charge_event("charge.success", &reference, "success", 10000, "KES");

    let unsigned = stack.http.post(stack.url("/webhooks/paystack")).json(&good).send().await.unwrap();
    let (s, b) = Stack::answer(unsigned).await.unwrap();
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_signature")));
    let (s, _) = stack.webhook_signed(&good, "sk_test_someone_else").await.unwrap();
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let raw = serde_json::to_vec(&good).unwrap();
    let sig = fantooo::payments::signature::sign("sk_test_fantooo_local", &raw);
    let tampered = serde_json::to_vec(&charge_event("charge.success", &reference, "success", 1000000, "KES")).unwrap();
    let res = stack
        .http
        .post(stack.url("/webhooks/paystack"))
        .header("x-paystack-signature", sig)
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "a body changed after signing is refused");
    assert_eq!(payment_status(&stack, &reference).await, "pending");

    let (s, _) = stack.webhook(&charge_event("charge.success", &reference, "success", 9999, "KES")).await.unwrap();
    assert_eq!(s, StatusCode::OK);
    assert_eq!(payment_status(&stack, &reference).await, "needs_manual_review");
    assert_eq!(stack.balance(&m).await.unwrap(), Credits::ZERO);
    let other = PaymentRef::new(checkout(&stack, &m, "pkg_starter").await["reference"].as_str().unwrap());
    stack.webhook(&charge_event("charge.success", &other, "success", 10000, "USD")).await.unwrap();
    assert_eq!(payment_status(&stack, &other).await, "needs_manual_review");
    assert_eq!(stack.balance(&m).await.unwrap(), Credits::ZERO);

    let unknown = PaymentRef::new(format!("pay_unknown_{}", m.id));
    let (s, _) = stack.webhook(&charge_event("charge.success", &unknown, "success", 10000, "KES")).await.unwrap();
    assert_eq!(s, StatusCode::OK, "an unknown reference is recorded for review, not refused");
    let notes = app.store.admin_notifications(200).await.unwrap();
    for r in [&reference, &other, &unknown] {
        assert!(notes.iter().any(|n| n.reference.as_deref() == Some(&r[..])), "admin told about {r}");
    }
    let (s, _) = Stack::answer(
        stack
            .http
            .post(stack.url("/webhooks/paystack"))
            .header("x-paystack-signature", fantooo::payments::signature::sign("sk_test_fantooo_local", b"not json"))
            .body("not json")
            .send()
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_locked_snapshot_wins_when_the_package_changes_after_checkout() {
    let stack = stack().await;
    let mut package = CreditPackage {
        id: format!("pkg_test_{}", fantooo_tests::unique_username("p")),
        name: "Test Pack".into(),
        credits: 20,
        bonus_credits: 5,
        price: 15000,
        currency: "KES".into(),
        badge: None,
        sort: 99,
        is_active: true,
    };
    stack.store.put_package(&package).await.unwrap();
    let m = stack.register("lock").await.unwrap();
    let reference = PaymentRef::new(checkout(&stack, &m, &package.id).await["reference"].as_str().unwrap());
    package.price = 30000;
    package.credits = 60;
    package.is_active = false;
    stack.store.put_package(&package).await.unwrap();

    stack.webhook(&charge_event("charge.success", &reference, "success", 15000, "KES")).await.unwrap();
    assert_eq!(payment_status(&stack, &reference).await, "success");
    assert_eq!(stack.balance(&m).await.unwrap(), Credits::whole(25), "20 + 5 bonus from the snapshot");
    let causes: Vec<String> = stack.store.ledger(&m.id).await.unwrap().into_iter().map(|(_, _, c)| c).collect();
    assert_eq!(causes, vec!["purchase", "bonus"]);
}

#[tokio::test]
async fn reconcile_credits_a_payment_whose_webhook_never_came_and_leaves_one_that_did() {
    let stack = stack().await;
    let app = stack.app().await.unwrap();
    let quiet = stack.register("quiet").await.unwrap();
    let silent = PaymentRef::new(checkout(&stack, &quiet, "pkg_starter").await["reference"].as_str().unwrap());
    stack.paystack_says(&silent, "success", 10000, "KES").await.unwrap();
    let loud = stack.register("loud").await.unwrap();
    let delivered = PaymentRef::new(checkout(&stack, &loud, "pkg_starter").await["reference"].as_str().unwrap());
    stack.paystack_says(&delivered, "success", 10000, "KES").await.unwrap();
    stack.webhook(&charge_event("charge.success", &delivered, "success", 10000, "KES")).await.unwrap();

    payments::reconcile(&app, Utc::now() + Duration::minutes(5)).await.unwrap();
    assert_eq!(payment_status(&stack, &silent).await, "pending", "not due before 10 minutes");
    payments::reconcile(&app, Utc::now() + Duration::minutes(11)).await.unwrap();
    assert_eq!(payment_status(&stack, &silent).await, "success");
    assert_eq!(stack.balance(&quiet).await.unwrap(), Credits::whole(10));
    assert_eq!(stack.balance(&loud).await.unwrap(), Credits::whole(10));
    assert_eq!(purchases_for(&stack, &loud).await, 1);
    assert_eq!(stack.verify_calls(&delivered).await.unwrap(), 0, "a credited payment is never verified");
}

#[tokio::test]
async fn a_reference_marked_failed_then_reported_successful_is_credited_once() {
    let stack = stack().await;
    let app = stack.app().await.unwrap();
    let m = stack.register("retry").await.unwrap();
    let reference = PaymentRef::new(checkout(&stack, &m, "pkg_starter").await["reference"].as_str().unwrap());
    // Only charge.success is acted on: a charge.failed event is recorded, nothing else.
    stack.webhook(&charge_event("charge.failed", &reference, "failed", 10000, "KES")).await.unwrap();
    assert_eq!(payment_status(&stack, &reference).await, "pending");
    stack.paystack_says(&reference, "failed", 10000, "KES").await.unwrap();
    payments::reconcile(&app, Utc::now() + Duration::minutes(11)).await.unwrap();
    let p = stack.store.get_payment(&reference).await.unwrap().unwrap();
    assert_eq!((p.status.as_str(), p.needs_review), ("failed", true), "verify says failed");
    assert!(p.failure_reason.is_some());

    let due = p.next_check_at.expect("still scheduled: failure is not final");
    payments::reconcile(&app, due + Duration::seconds(1)).await.unwrap();
    assert_eq!(payment_status(&stack, &reference).await, "failed");

    stack.paystack_says(&reference, "success", 10000, "KES").await.unwrap();
    for _ in 0..2 {
        stack.webhook(&charge_event("charge.success", &reference, "success", 10000, "KES")).await.unwrap();
    }
    payments::reconcile_one(&app, &reference, "admin_test", Utc::now()).await.unwrap();
    assert_eq!(payment_status(&stack, &reference).await, "success");
    assert_eq!(stack.balance(&m).await.unwrap(), Credits::whole(10));
    assert_eq!(purchases_for(&stack, &m).await, 1);
}

#[tokio::test]
async fn an_abandoned_payment_is_rechecked_at_widening_intervals_then_left_for_review() {
    let stack = stack().await;
    let app = stack.app().await.unwrap();
    let m = stack.register("aband").await.unwrap();
    let reference = PaymentRef::new(checkout(&stack, &m, "pkg_starter").await["reference"].as_str().unwrap());
    stack.paystack_says(&reference, "abandoned", 10000, "KES").await.unwrap();
    let created = stack.store.get_payment(&reference).await.unwrap().unwrap().created_at;
    let mut waits = Vec::new();
    let mut at = created + Duration::minutes(11);
    for _ in 0..3 {
        payments::reconcile(&app, at).await.unwrap();
        let p = stack.store.get_payment(&reference).await.unwrap().unwrap();
        assert_eq!(p.status.as_str(), "abandoned");
        let next = p.next_check_at.expect("rechecked");
        waits.push((next - at).num_minutes());
        at = next + Duration::seconds(1);
    }
    assert!(waits.windows(2).all(|w| w[1] > w[0]), "intervals widen: {waits:?}");
    payments::reconcile(&app, created + Duration::hours(72) + Duration::minutes(1)).await.unwrap();
    let p = stack.store.get_payment(&reference).await.unwrap().unwrap();
    assert_eq!((p.status.as_str(), p.next_check_at), ("needs_manual_review", None));
    assert_eq!(stack.balance(&m).await.unwrap(), Credits::ZERO);
}

#[tokio::test]
async fn the_ledger_audit_raises_an_alert_for_a_corrupted_balance() {
    let stack = stack().await;
    let app = stack.app().await.unwrap();
    let honest = stack.register("honest").await.unwrap();
    stack.grant(&honest, 3).await.unwrap();
    let corrupt = stack.register("corrupt").await.unwrap();
    stack.grant(&corrupt, 3).await.unwrap();
    stack
        .set_attr(Record::Member(&corrupt.id), "balance", aws_sdk_dynamodb::types::AttributeValue::N("99900".into()))
        .await
        .unwrap();
    let report = jobs::audit_ledgers(&app, Utc::now()).await.unwrap();
    assert!(report.members >= 2 && report.mismatches >= 1, "{report:?}");
    let notes = app.store.admin_notifications(500).await.unwrap();
    let flagged = |id: &str| notes.iter().any(|n| n.kind == "ledger_mismatch" && n.reference.as_deref() == Some(id));
    assert!(flagged(&corrupt.id));
    assert!(!flagged(&honest.id));
}

#[tokio::test]
async fn an_event_whose_publish_failed_is_delivered_by_the_next_sweep() {
    let stack = stack().await;
    let app = stack.app().await.unwrap();
    let m = stack.register("outbox").await.unwrap();
    let reference = PaymentRef::new(checkout(&stack, &m, "pkg_starter").await["reference"].as_str().unwrap());
    stack.webhook(&charge_event("charge.success", &reference, "success", 10000, "KES")).await.unwrap();

    stack.set_faults(json!({ "events_fail_rate": 1.0 })).await.unwrap();
    let dropped = jobs::sweep_outbox(&app).await;
    stack.set_faults(json!({ "events_fail_rate": 0.0 })).await.unwrap();
    assert_eq!(dropped.unwrap(), 0, "nothing published while the bus fails");
    let published = jobs::sweep_outbox(&app).await.unwrap();
    assert!(published >= 1);

    let sqs = aws_sdk_sqs::Client::new(&aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await);
    let tap = std::env::var("EVENTS_TAP_QUEUE_URL").unwrap();
    let mut seen = false;
    for _ in 0..20 {
        let out = sqs.receive_message().queue_url(&tap).max_number_of_messages(10).send().await.unwrap();
        for msg in out.messages() {
            let body: Value = serde_json::from_str(msg.body().unwrap_or("{}")).unwrap();
            if body["detail-type"] == "payment.succeeded" && body["detail"]["reference"] == reference.as_str() {
                seen = true;
            }
        }
        if seen || out.messages().is_empty() {
            break;
        }
    }
    assert!(seen, "payment.succeeded for {reference} reached the bus");
}

#[tokio::test]
async fn deleting_an_account_owes_ten_kes_per_unused_credit_and_locks_it_out() {
    let stack = stack().await;
    let m = stack.register("bye").await.unwrap();
    stack.grant(&m, 4).await.unwrap();
    let chat = stack.open_chat(&m, "c_demo07").await.unwrap();
    stack.send_at(&m, &chat, "goodbye", fantooo_tests::NOON_EAT).await.unwrap();
    let (s, export) = stack.get(&m, "/me/export").await.unwrap();
    assert_eq!(s, StatusCode::OK);
    assert_eq!(export["messages"][0]["content"], "goodbye");
    let mut keys = Vec::new();
    keys_of(&export, &mut keys);
    assert!(!keys.iter().any(|k| STAFF_FIELDS.contains(&k.as_str())), "no staff fields in the export");

    let res = stack
        .http
        .delete(stack.url("/me"))
        .bearer_auth(&m.token)
        .json(&json!({ "reason": "moving on" }))
        .send()
        .await
        .unwrap();
    let (s, body) = Stack::answer(res).await.unwrap();
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, json!({ "deleted": true, "unused_credits": "4.00", "refund_due_cents": 4000 }));
    let (s, _) = stack.get(&m, "/me").await.unwrap();
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let login = stack
        .http
        .post(stack.url("/auth/login"))
        .json(&json!({ "username": m.username, "password": "pass-word-1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
    let refresh = stack
        .http
        .post(stack.url("/auth/refresh"))
        .json(&json!({ "refresh_token": m.refresh_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(refresh.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(stack.balance(&m).await.unwrap(), Credits::ZERO);
    assert_eq!(stack.ledger_sum(&m).await.unwrap(), Credits::ZERO);
    // The chats close through the job the deletion left, within a minute.
    let app = stack.app().await.unwrap();
    let later = chrono::Utc::now() + chrono::Duration::minutes(1);
    fantooo::services::closing::run_jobs(&app, later, Default::default()).await.unwrap();
    let chat_item = stack.store.get_chat(&chat).await.unwrap().unwrap();
    assert_eq!(chat_item.close_reason.map(|r| r.as_str()), Some("member_deleted"));
    let owed = stack.store.payouts(fantooo::store::PayoutStatus::Owed, None, 50).await.unwrap().items;
    assert!(owed.iter().any(|p| p.member_id == m.id && p.amount_cents == 4000), "the unused credits are a payout owed");
}

/// Paystack's own sample shape (`"metadata": 0`, two addresses in `ip_address`,
/// both `paid_at` and `paidAt`, nulls), signed and delivered, credits the payment.
#[tokio::test]
async fn a_delivery_in_paystacks_own_sample_shape_credits_the_payment() {
    let stack = stack().await;
    let m = stack.register("sample").await.unwrap();
    let reference = PaymentRef::new(checkout(&stack, &m, "pkg_starter").await["reference"].as_str().unwrap());
    let mut event: Value =
        serde_json::from_str(include_str!("../shared/src/payments/fixtures/charge_success.json")).unwrap();
    assert_eq!((event["data"]["metadata"].as_i64(), event["data"]["amount"].as_i64()), (Some(0), Some(10000)));
    event["data"]["reference"] = json!(reference);
    let (s, body) = stack.webhook(&event).await.unwrap();
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(stack.balance(&m).await.unwrap(), Credits::whole(10));
    assert_eq!(purchases_for(&stack, &m).await, 1);
}
