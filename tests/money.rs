//! The back office's money against the local stack and the Paystack stand-in:
//! payments by status and a reconcile by an admin (recorded), refunds requested
//! then approved once (raced) or rejected, payouts settled once, and packages
//! whose price changes never reach a checkout already locked.

use anyhow::{Context, Result};
use chrono::Utc;
use fantooo::domain::admin::AdminRole;
use fantooo::domain::ids::PaymentRef;
use fantooo::domain::Credits;
use fantooo_tests::staff::{self, Staff};
use fantooo_tests::{call, charge_event, Member, Stack, StatusCode};
use serde_json::{json, Value};

/// The stats test counts members in all; the payout test deletes one: one at a time.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn api(stack: &Stack, method: &str, path: &str, token: &str, body: Option<Value>) -> Result<(StatusCode, Value)> {
    call(&stack.http, &stack.api, method, path, Some(token), body).await
}

async fn checkout(stack: &Stack, m: &Member, package: &str) -> Result<PaymentRef> {
    let (s, body) = stack.post(m, "/credits/checkout", json!({ "package_id": package })).await?;
    anyhow::ensure!(s == StatusCode::CREATED, "checkout: {s} {body}");
    Ok(PaymentRef::new(body["reference"].as_str().context("reference")?))
}

async fn audited(stack: &Stack, action: &str, target: &str) -> Result<usize> {
    let root = staff::admin(stack, AdminRole::SuperAdmin, None).await?;
    let (_, audit) = api(stack, "GET", "/admin/audit?limit=50", &root.token, None).await?;
    Ok(audit["items"]
        .as_array()
        .context("items")?
        .iter()
        .filter(|e| e["action"] == action && e["target"] == target)
        .count())
}

#[tokio::test]
async fn payments_are_listed_by_status_and_an_admin_reconciles_one_by_hand() -> Result<()> {
    let stack = Stack::connect().await?;
    let admin = staff::admin(&stack, AdminRole::Admin, None).await?;
    let m = stack.register("recon").await?;
    let reference = checkout(&stack, &m, "pkg_starter").await?;
    let pending = fantooo_tests::all_pages(&stack, &admin.token, "/admin/payments?status=pending", 20).await?;
    let listed = pending.iter().find(|p| p["reference"] == reference.as_str()).context("listed as pending")?;
    assert_eq!((listed["amount"].as_i64(), listed["member_id"].as_str()), (Some(10000), Some(m.id.as_str())));

    let moderator = staff::admin(&stack, AdminRole::Moderator, None).await?;
    let path = format!("/admin/payments/{reference}/reconcile");
    let (status, _) = api(&stack, "POST", &path, &moderator.token, None).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "manage_payments only");

    stack.paystack_says(&reference, "success", 10000, "KES").await?;
    let (status, p) = api(&stack, "POST", &path, &admin.token, None).await?;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!((p["status"].as_str(), p["reconciled_by"].as_str()), (Some("success"), Some(admin.id.as_str())), "{p}");
    assert_eq!(stack.balance(&m).await?, Credits::whole(10), "credited by the check");
    assert_eq!(stack.verify_calls(&reference).await?, 1);
    let success = fantooo_tests::all_pages(&stack, &admin.token, "/admin/payments?status=success", 20).await?;
    assert!(success.iter().any(|p| p["reference"] == reference.as_str()), "moved to success");
    let pending = fantooo_tests::all_pages(&stack, &admin.token, "/admin/payments?status=pending", 20).await?;
    assert!(!pending.iter().any(|p| p["reference"] == reference.as_str()), "no longer pending");
    assert_eq!(audited(&stack, "payment.reconcile", &format!("payment:{reference}")).await?, 1);

    // Again: already credited, nothing moves.
    let (status, again) = api(&stack, "POST", &path, &admin.token, None).await?;
    assert_eq!((status, again["status"].as_str()), (StatusCode::OK, Some("success")));
    assert_eq!(stack.balance(&m).await?, Credits::whole(10));
    let (status, _) = api(&stack, "POST", "/admin/payments/FTO_nope_nope/reconcile", &admin.token, None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api(&stack, "GET", "/admin/payments?status=lost", &admin.token, None).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    Ok(())
}

/// A member with a message in a chat: (member, that message's id).
async fn member_with_message(stack: &Stack, prefix: &str) -> Result<(Member, String)> {
    let m = stack.register(prefix).await?;
    stack.grant(&m, 2).await?;
    let chat = stack.open_chat(&m, "c_demo02").await?;
    let (status, sent) = stack.send_at(&m, &chat, "oops, twice", &Utc::now().to_rfc3339()).await?;
    anyhow::ensure!(status == StatusCode::CREATED, "send: {status} {sent}");
    Ok((m, sent["message"]["id"].as_str().context("message id")?.to_string()))
}

async fn request_refund(stack: &Stack, by: &Staff, body: Value) -> Result<(StatusCode, Value)> {
    api(stack, "POST", "/admin/refunds", &by.token, Some(body)).await
}

#[tokio::test]
async fn a_refund_is_requested_then_credited_once_on_approval_and_never_again() -> Result<()> {
    let stack = Stack::connect().await?;
    let admin = staff::admin(&stack, AdminRole::Admin, None).await?;
    let (m, message_id) = member_with_message(&stack, "refund").await?;
    let before = stack.balance(&m).await?;
    let (status, refund) = request_refund(
        &stack,
        &admin,
        json!({ "member_id": m.id, "credits": "1.50", "reason": "accidental_send", "message_id": message_id, "notes": "sent twice" }),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{refund}");
    assert_eq!((refund["status"].as_str(), refund["credits"].as_str()), (Some("pending"), Some("1.50")));
    assert_eq!(refund["requested_by"], admin.id.as_str());
    assert!(refund["chat_id"].is_string(), "the message's chat is recorded: {refund}");
    assert_eq!(stack.balance(&m).await?, before, "a request credits nothing");
    let id = refund["id"].as_str().context("id")?.to_string();
    let pending = fantooo_tests::all_pages(&stack, &admin.token, "/admin/refunds?status=pending", 20).await?;
    assert!(pending.iter().any(|r| r["id"] == id.as_str()));

    let (status, approved) = api(&stack, "POST", &format!("/admin/refunds/{id}/approve"), &admin.token, None).await?;
    assert_eq!((status, approved["status"].as_str()), (StatusCode::OK, Some("approved")), "{approved}");
    let after = before.checked_add(Credits::from_hundredths(150)).context("sum")?;
    assert_eq!(stack.balance(&m).await?, after);
    assert_eq!(approved["balance_after"].as_str(), Some(after.to_string().as_str()));
    assert_eq!(stack.ledger_sum(&m).await?, after, "the ledger explains the balance");
    let (_, notes) = stack.get(&m, "/notifications").await?;
    assert_eq!(notes["items"][0]["kind"], "refund");
    for verb in ["approve", "reject"] {
        let (status, body) = api(&stack, "POST", &format!("/admin/refunds/{id}/{verb}"), &admin.token, None).await?;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("refund_settled")), "{verb}");
    }
    assert_eq!(stack.balance(&m).await?, after, "credited once");
    assert_eq!(audited(&stack, "refund.approve", &format!("refund:{id}")).await?, 1);

    // Rejected: nothing credited.
    let (_, second) =
        request_refund(&stack, &admin, json!({ "member_id": m.id, "credits": 3, "reason": "admin_discretion" }))
            .await?;
    let second_id = second["id"].as_str().context("id")?;
    let (status, rejected) = api(
        &stack,
        "POST",
        &format!("/admin/refunds/{second_id}/reject"),
        &admin.token,
        Some(json!({ "notes": "not our fault" })),
    )
    .await?;
    assert_eq!(
        (status, rejected["status"].as_str(), rejected["decision_notes"].as_str()),
        (StatusCode::OK, Some("rejected"), Some("not our fault"))
    );
    assert_eq!(stack.balance(&m).await?, after);

    // Nonsense is refused.
    let other = stack.register("other").await?;
    for (body, field) in [
        (json!({ "member_id": m.id, "credits": "0.00", "reason": "system_error" }), "credits"),
        (json!({ "member_id": m.id, "credits": "1.00", "reason": "account_deletion" }), "reason"),
        (
            json!({ "member_id": other.id, "credits": "1.00", "reason": "accidental_send", "message_id": message_id }),
            "message_id",
        ),
    ] {
        let (status, b) = request_refund(&stack, &admin, body.clone()).await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {b}");
        assert!(b["error"]["fields"][field].is_string(), "{body}: {b}");
    }
    let (status, _) =
        request_refund(&stack, &admin, json!({ "member_id": "m_nobody", "credits": 1, "reason": "system_error" }))
            .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let moderator = staff::admin(&stack, AdminRole::Moderator, None).await?;
    let (status, _) =
        request_refund(&stack, &moderator, json!({ "member_id": m.id, "credits": 1, "reason": "system_error" }))
            .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    Ok(())
}

/// Six approvals of one refund at once: exactly one credits it, the others are 409
/// `refund_settled`; the balance moved once and the ledger explains it. Without the
/// pending condition on the refund in the approval's transaction, round 0 credits
/// it several times.
#[tokio::test]
async fn six_concurrent_approvals_credit_a_refund_once() -> Result<()> {
    let stack = Stack::connect().await?;
    let admin = staff::admin(&stack, AdminRole::Admin, None).await?;
    for round in 0..fantooo_tests::rounds(3) {
        let m = stack.register("race").await?;
        stack.grant(&m, 1).await?;
        let (status, refund) =
            request_refund(&stack, &admin, json!({ "member_id": m.id, "credits": "2.25", "reason": "system_error" }))
                .await?;
        anyhow::ensure!(status == StatusCode::CREATED, "{refund}");
        let path = format!("/admin/refunds/{}/approve", refund["id"].as_str().context("id")?);
        let answers = futures::future::join_all((0..6).map(|_| api(&stack, "POST", &path, &admin.token, None))).await;
        let mut ok = 0;
        for a in answers {
            let (status, body) = a?;
            match status {
                StatusCode::OK => ok += 1,
                StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "refund_settled", "round {round}"),
                other => anyhow::bail!("round {round}: {other} {body}"),
            }
        }
        assert_eq!(ok, 1, "round {round}: one approval wins");
        assert_eq!(stack.balance(&m).await?, Credits::from_hundredths(325), "round {round}: 1.00 + 2.25 once");
        assert_eq!(stack.ledger_sum(&m).await?, Credits::from_hundredths(325), "round {round}");
    }
    Ok(())
}

#[tokio::test]
async fn a_payout_is_settled_once() -> Result<()> {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await?;
    let admin = staff::admin(&stack, AdminRole::Admin, None).await?;
    // A deleted account with unused credits leaves KES owed.
    let m = stack.register("payout").await?;
    stack.grant(&m, 3).await?;
    let res = stack.http.delete(stack.url("/me")).bearer_auth(&m.token).json(&json!({})).send().await?;
    assert!(res.status().is_success(), "{}", res.status());
    let owed = fantooo_tests::all_pages(&stack, &admin.token, "/admin/payouts?status=owed", 20).await?;
    let payout = owed.iter().find(|p| p["member_id"] == m.id.as_str()).context("owed")?;
    assert_eq!(payout["amount_cents"], 3000, "3 credits at 10 KES");
    let id = payout["id"].as_str().context("id")?.to_string();
    let path = format!("/admin/payouts/{id}/paid");
    let (status, _) = api(&stack, "POST", &path, &admin.token, Some(json!({}))).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a note is required");
    let (status, paid) = api(&stack, "POST", &path, &admin.token, Some(json!({ "note": "M-Pesa QWE123" }))).await?;
    assert_eq!(
        (status, paid["status"].as_str(), paid["paid_by"].as_str()),
        (StatusCode::OK, Some("paid"), Some(admin.id.as_str()))
    );
    let (status, again) = api(&stack, "POST", &path, &admin.token, Some(json!({ "note": "again" }))).await?;
    assert_eq!((status, again["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("payout_settled")));
    let paid_list = fantooo_tests::all_pages(&stack, &admin.token, "/admin/payouts?status=paid", 20).await?;
    assert!(paid_list.iter().any(|p| p["id"] == id.as_str() && p["note"] == "M-Pesa QWE123"));
    let (status, _) =
        api(&stack, "POST", "/admin/payouts/po_nothing/paid", &admin.token, Some(json!({ "note": "x" }))).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn a_package_price_change_never_reaches_a_checkout_already_locked() -> Result<()> {
    let stack = Stack::connect().await?;
    let admin = staff::admin(&stack, AdminRole::Admin, None).await?;
    let body = json!({ "name": "Desk Pack", "credits": 20, "bonus_credits": 5, "price": 15000, "badge": "New", "position": 7 });
    let (status, package) = api(&stack, "POST", "/admin/packages", &admin.token, Some(body)).await?;
    assert_eq!(status, StatusCode::CREATED, "{package}");
    let id = package["id"].as_str().context("id")?.to_string();
    let m = stack.register("pack").await?;
    let (_, public) = stack.get(&m, "/credits/packages").await?;
    let listed = public["items"].as_array().context("items")?;
    assert!(listed.iter().any(|p| p["id"] == id.as_str()), "members see an active package: {public}");
    let reference = checkout(&stack, &m, &id).await?;

    let path = format!("/admin/packages/{id}");
    let (status, changed) =
        api(&stack, "PATCH", &path, &admin.token, Some(json!({ "price": 30000, "bonus_credits": 0, "badge": null })))
            .await?;
    assert_eq!(
        (status, changed["price"].as_i64(), changed["badge"].clone()),
        (StatusCode::OK, Some(30000), Value::Null)
    );
    stack.webhook(&charge_event("charge.success", &reference, "success", 15000, "KES")).await?;
    assert_eq!(stack.balance(&m).await?, Credits::whole(25), "20 + 5 bonus at 150 KES, as locked");
    let (status, inactive) = api(&stack, "PATCH", &path, &admin.token, Some(json!({ "active": false }))).await?;
    assert_eq!((status, inactive["active"].as_bool()), (StatusCode::OK, Some(false)));
    let (_, public) = stack.get(&m, "/credits/packages").await?;
    assert!(!public["items"].as_array().context("items")?.iter().any(|p| p["id"] == id.as_str()), "inactive: hidden");
    let (status, all) = api(&stack, "GET", "/admin/packages", &admin.token, None).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(all["items"].as_array().context("items")?.iter().any(|p| p["id"] == id.as_str() && p["active"] == false));
    for bad in [json!({ "price": 0 }), json!({ "credits": -1 }), json!({ "name": "" }), json!({ "colour": "red" })] {
        let (status, b) = api(&stack, "PATCH", &path, &admin.token, Some(bad.clone())).await?;
        assert_eq!(status.as_u16() / 100, 4, "{bad}: {b}");
    }
    let (status, _) = api(&stack, "POST", "/admin/packages", &admin.token, Some(json!({ "name": "No price" }))).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    Ok(())
}

async fn stats(stack: &Stack, by: &Staff) -> Result<Value> {
    let (status, s) = api(stack, "GET", "/admin/stats", &by.token, None).await?;
    anyhow::ensure!(status == StatusCode::OK, "stats: {status} {s}");
    Ok(s)
}

fn number(v: &Value, path: &[&str]) -> i64 {
    path.iter().fold(v, |v, k| &v[*k]).as_i64().unwrap_or(-1)
}

/// The days add up to the totals, whatever else runs.
fn days_sum_to_totals(s: &Value) -> Result<()> {
    let days = s["days"].as_array().context("days")?;
    for (total, path) in [
        (number(s, &["revenue_cents"]), vec!["revenue_cents"]),
        (number(s, &["payments"]), vec!["payments"]),
        (number(s, &["messages", "member"]), vec!["messages", "member"]),
        (number(s, &["messages", "character"]), vec!["messages", "character"]),
        (number(s, &["members", "new"]), vec!["new_members"]),
    ] {
        let sum: i64 = days.iter().map(|d| number(d, &path)).sum();
        anyhow::ensure!(sum == total, "{path:?}: days sum {sum}, total {total}");
    }
    Ok(())
}

#[tokio::test]
async fn the_stats_move_after_payments_and_messages_and_their_days_add_up() -> Result<()> {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await?;
    let app = stack.app().await?;
    let admin = staff::admin(&stack, AdminRole::Admin, None).await?;
    let moderator = staff::admin(&stack, AdminRole::Moderator, None).await?;
    let (status, _) = api(&stack, "GET", "/admin/stats", &moderator.token, None).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "view_analytics only");
    fantooo::services::stats::aggregate(&app, Utc::now()).await?;
    let before = stats(&stack, &admin).await?;
    days_sum_to_totals(&before)?;

    let m = stack.register("stats").await?;
    let reference = checkout(&stack, &m, "pkg_starter").await?;
    stack.webhook(&charge_event("charge.success", &reference, "success", 10000, "KES")).await?;
    let chat = stack.open_chat(&m, "c_demo08").await?;
    for text in ["one", "two"] {
        let (status, body) = stack.send_at(&m, &chat, text, &Utc::now().to_rfc3339()).await?;
        anyhow::ensure!(status == StatusCode::CREATED, "{body}");
    }
    let later = Utc::now() + fantooo::domain::stats::SETTLE + chrono::Duration::seconds(5);
    let report = fantooo::services::stats::aggregate(&app, later).await?;
    assert!(report.messages_counted >= 2, "{report:?}");
    let after = stats(&stack, &admin).await?;
    days_sum_to_totals(&after)?;
    let grew = |path: &[&str]| number(&after, path) - number(&before, path);
    assert!(grew(&["payments"]) >= 1 && grew(&["revenue_cents"]) >= 10000, "{before} -> {after}");
    assert!(grew(&["messages", "member"]) >= 2, "{before} -> {after}");
    assert!(grew(&["members", "new"]) >= 1 && grew(&["members", "total"]) >= 1, "{before} -> {after}");
    assert!(after["now"]["counted_at"].is_string() && after["now"]["waiting"]["urgent"].is_i64(), "{after}");
    // Counted once: another run finds nothing new of ours.
    let again = fantooo::services::stats::aggregate(&app, later).await?;
    let later = stats(&stack, &admin).await?;
    assert!(
        number(&later, &["messages", "member"]) - number(&after, &["messages", "member"])
            <= again.messages_counted as i64
    );

    let (status, body) = api(&stack, "GET", "/admin/stats?from=2026-12-02&to=2026-12-01", &admin.token, None).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, ranged) = api(&stack, "GET", "/admin/stats?from=2026-11-01&to=2026-11-30", &admin.token, None).await?;
    assert_eq!((status, ranged["days"].as_array().map(Vec::len)), (StatusCode::OK, Some(30)));
    days_sum_to_totals(&ranged)?;
    Ok(())
}
