//! The back office's identity against the local stack: the first admin's setup
//! under 20 concurrent calls, the route x principal permission matrix (walking the
//! router's own table), the last-super-admin race, deactivation and demotion
//! biting a live token, TOTP enrolment and login, the audit log, and admin
//! notifications filtered by permission with per-admin read state.
//!
//! The setup race and the super admin race run on an API and table of their own
//! (`OwnApi`): the shared table never runs the setup (its admins are staged
//! through the store) and has other tests' super admins in it.

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use fantooo::domain::admin::{Access, AdminRole, Permissions};
use fantooo::http::routes::admin_routes;
use fantooo::store::Store;
use fantooo_tests::staff::PASSWORD;
use fantooo_tests::{call, rounds, unique_username, OwnApi, Stack, StatusCode};
use serde_json::{json, Value};

fn setup_token() -> String {
    std::env::var("ADMIN_SETUP_TOKEN").unwrap_or_else(|_| "local-setup-token".into())
}

fn email(prefix: &str) -> String {
    format!("{}@admins.test", unique_username(prefix))
}

/// An admin principal on some API: who, and an access token.
#[derive(Clone, Debug)]
struct Staff {
    id: String,
    email: String,
    token: String,
    refresh: String,
}

struct Api<'a> {
    http: &'a reqwest::Client,
    api: &'a str,
}

impl Api<'_> {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value)> {
        call(self.http, self.api, method, path, token, body).await
    }

    async fn login(
        &self,
        email: &str,
        password: &str,
        code: Option<&str>,
        at: Option<DateTime<Utc>>,
    ) -> Result<(StatusCode, Value)> {
        let mut req = self
            .http
            .post(format!("{}/admin/login", self.api))
            .json(&json!({ "email": email, "password": password, "totp_code": code }));
        if let Some(at) = at {
            req = req.header("x-fantooo-now", at.to_rfc3339());
        }
        Stack::answer(req.send().await?).await
    }

    async fn staff(&self, email: &str) -> Result<Staff> {
        let (status, body) = self.login(email, PASSWORD, None, None).await?;
        anyhow::ensure!(status == StatusCode::OK, "login {email}: {status} {body}");
        Ok(Staff {
            id: body["admin"]["id"].as_str().context("id")?.into(),
            email: email.into(),
            token: body["token"].as_str().context("token")?.into(),
            refresh: body["refresh_token"].as_str().context("refresh")?.into(),
        })
    }

    /// A new admin of `role`, created by `by` through the API, signed in.
    async fn create(&self, by: &Staff, role: &str) -> Result<Staff> {
        let email = email(role);
        let body = json!({ "name": format!("Test {role}"), "email": email, "password": PASSWORD, "role": role });
        let (status, created) = self.call("POST", "/admin/admins", Some(&by.token), Some(body)).await?;
        anyhow::ensure!(status == StatusCode::CREATED, "create {role}: {status} {created}");
        self.staff(&email).await
    }

    async fn patch(&self, by: &Staff, id: &str, body: Value) -> Result<(StatusCode, Value)> {
        self.call("PATCH", &format!("/admin/admins/{id}"), Some(&by.token), Some(body)).await
    }
}

fn shared(stack: &Stack) -> Api<'_> {
    Api { http: &stack.http, api: &stack.api }
}

/// A super admin on the shared table, staged through the store (no setup there).
async fn staged_super(stack: &Stack) -> Result<Staff> {
    let (_, email) = fantooo_tests::staff::stage(stack, AdminRole::SuperAdmin, None).await?;
    shared(stack).staff(&email).await
}

async fn operator_token(stack: &Stack) -> Result<String> {
    let (status, body) = call(
        &stack.http,
        &stack.api,
        "POST",
        "/operator/login",
        None,
        Some(json!({ "email": "op2@demo.local", "password": "demo-operator-1" })),
    )
    .await?;
    anyhow::ensure!(status == StatusCode::OK, "operator login: {status}");
    Ok(body["token"].as_str().context("token")?.to_string())
}

/// API.md's permission column, written out here so a wrong entry in the router's
/// table fails (the matrix below then checks the router applies the table).
const API_MD: &[(&str, &str, &str)] = &[
    ("POST", "/admin/login", "open"),
    ("GET", "/admin/me", "any"),
    ("POST", "/admin/me/password", "any"),
    ("POST", "/admin/me/totp", "any"),
    ("POST", "/admin/me/totp/confirm", "any"),
    ("POST", "/admin/me/totp/disable", "any"),
    ("GET", "/admin/admins", "manage_admins"),
    ("POST", "/admin/admins", "manage_admins"),
    ("PATCH", "/admin/admins/{id}", "manage_admins"),
    ("DELETE", "/admin/admins/{id}", "manage_admins"),
    ("GET", "/admin/audit", "manage_admins"),
    ("GET", "/admin/notifications", "any"),
    ("POST", "/admin/notifications/{id}/read", "any"),
    ("GET", "/admin/operators", "manage_operators"),
    ("POST", "/admin/operators", "manage_operators"),
    ("PATCH", "/admin/operators/{id}", "manage_operators"),
    ("DELETE", "/admin/operators/{id}", "manage_operators"),
    ("POST", "/admin/operators/{id}/suspend", "manage_operators"),
    ("POST", "/admin/operators/{id}/reactivate", "manage_operators"),
    ("GET", "/admin/members", "manage_members or ban_members"),
    ("GET", "/admin/members/{id}", "manage_members or ban_members"),
    ("GET", "/admin/members/{id}/export", "delete_data"),
    ("POST", "/admin/members/{id}/ban", "ban_members"),
    ("POST", "/admin/members/{id}/unban", "ban_members"),
    ("DELETE", "/admin/members/{id}", "delete_data"),
    ("GET", "/admin/reports", "moderate_chats"),
    ("POST", "/admin/reports/{id}/resolve", "moderate_chats"),
    ("PATCH", "/admin/chats/{id}/messages/{message_id}", "manage_chats or moderate_chats"),
    ("GET", "/admin/chats/{id}/messages/{message_id}/history", "manage_chats or moderate_chats"),
    ("POST", "/admin/chats/{id}/close", "manage_chats or moderate_chats"),
    ("POST", "/admin/characters/{id}/photos/upload-url", "manage_characters"),
    ("GET", "/admin/media", "manage_characters"),
    ("POST", "/admin/media/{photo_id}/approve", "manage_characters"),
    ("DELETE", "/admin/media/{photo_id}", "manage_characters"),
    ("GET", "/admin/chats", "manage_chats or moderate_chats"),
    ("GET", "/admin/chats/{id}", "manage_chats or moderate_chats"),
    ("POST", "/admin/chats/{id}/reassign", "manage_chats"),
    ("GET", "/admin/characters", "manage_characters"),
    ("POST", "/admin/characters", "manage_characters"),
    ("PATCH", "/admin/characters/{id}", "manage_characters"),
    ("DELETE", "/admin/characters/{id}", "manage_characters"),
    ("GET", "/admin/settings", "any"),
    ("PUT", "/admin/settings", "system_settings"),
    ("GET", "/admin/payments", "manage_payments"),
    ("POST", "/admin/payments/{reference}/reconcile", "manage_payments"),
    ("GET", "/admin/refunds", "manage_payments"),
    ("POST", "/admin/refunds", "manage_payments"),
    ("POST", "/admin/refunds/{id}/approve", "manage_payments"),
    ("POST", "/admin/refunds/{id}/reject", "manage_payments"),
    ("GET", "/admin/payouts", "manage_payments"),
    ("POST", "/admin/payouts/{id}/paid", "manage_payments"),
    ("GET", "/admin/packages", "manage_payments"),
    ("POST", "/admin/packages", "manage_payments"),
    ("PATCH", "/admin/packages/{id}", "manage_payments"),
    ("GET", "/admin/stats", "view_analytics"),
];

#[test]
fn the_route_table_says_what_api_md_says() {
    let named = |a: Access| match a {
        Access::Open => "open".to_string(),
        Access::AnyAdmin => "any".to_string(),
        Access::Needs(p) => p.as_str().to_string(),
        Access::AnyOf(ps) => ps.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" or "),
    };
    let mut table: Vec<(&str, &str, String)> =
        admin_routes().map(|r| (r.method, r.path, r.access.map(named).unwrap_or_default())).collect();
    let mut expected: Vec<(&str, &str, String)> = API_MD.iter().map(|(m, p, a)| (*m, *p, a.to_string())).collect();
    table.sort();
    expected.sort();
    assert_eq!(table, expected);
}

#[tokio::test]
async fn every_admin_route_answers_each_principal_as_the_permission_table_says() -> Result<()> {
    let stack = Stack::connect().await?;
    let api = shared(&stack);
    let root = staged_super(&stack).await?;
    let admin = api.create(&root, "admin").await?;
    let moderator = api.create(&root, "moderator").await?;
    let custom = api.create(&root, "moderator").await?;
    let (status, body) =
        api.patch(&root, &custom.id, json!({ "permissions": ["view_analytics", "manage_chats"] })).await?;
    assert_eq!((status, body["custom"].as_bool()), (StatusCode::OK, Some(true)), "{body}");
    let deactivated = api.create(&root, "admin").await?;
    let (status, _) = api.patch(&root, &deactivated.id, json!({ "active": false })).await?;
    assert_eq!(status, StatusCode::OK);
    let member = stack.register("matrix").await?;
    let operator = operator_token(&stack).await?;

    let custom_set = Permissions::parse(&["view_analytics", "manage_chats"]).map_err(anyhow::Error::msg)?;
    let admins = [
        ("super_admin", &root, AdminRole::SuperAdmin.defaults()),
        ("admin", &admin, AdminRole::Admin.defaults()),
        ("moderator", &moderator, AdminRole::Moderator.defaults()),
        ("custom", &custom, custom_set),
    ];
    let mut checked = 0;
    for route in admin_routes() {
        let access = route.access.context("every admin route names its access")?;
        if access == Access::Open {
            continue;
        }
        let path = route.path.replace("{id}", "ad_matrix_nobody");
        let body = matches!(route.method, "POST" | "PATCH" | "PUT").then(|| json!({}));
        let what = format!("{} {}", route.method, route.path);
        let (status, _) = api.call(route.method, &path, None, body.clone()).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} without a token");
        let (status, b) = api.call(route.method, &path, Some(&member.token), body.clone()).await?;
        assert_eq!(
            (status, b["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden")),
            "{what} as a member"
        );
        let (status, _) = api.call(route.method, &path, Some(&operator), body.clone()).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{what} as an operator");
        let (status, _) = api.call(route.method, &path, Some(&deactivated.token), body.clone()).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} as a deactivated admin");
        for (who, staff, held) in &admins {
            let (status, b) = api.call(route.method, &path, Some(&staff.token), body.clone()).await?;
            if access.allows(*held) {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN && status.as_u16() < 500,
                    "{what} as {who}: allowed by the table, answered {status} {b}"
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{what} as {who}: not allowed by the table");
            }
            checked += 1;
        }
    }
    assert!(checked >= 54 * 4, "walked {checked} (route, admin) pairs");
    // The table itself against API.md: managing admins is the super admin's alone.
    for (who, staff) in [("admin", &admin), ("moderator", &moderator), ("custom", &custom)] {
        let (status, _) = api.call("GET", "/admin/admins", Some(&staff.token), None).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who} lists admins");
    }
    let (status, _) = api.call("GET", "/admin/admins", Some(&root.token), None).await?;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn super_admin_only_permissions_cannot_be_granted_and_a_role_resets_the_set() -> Result<()> {
    let stack = Stack::connect().await?;
    let api = shared(&stack);
    let root = staged_super(&stack).await?;
    let m = api.create(&root, "moderator").await?;
    let (status, body) = api.patch(&root, &m.id, json!({ "permissions": ["delete_data"] })).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["fields"]["permissions"].is_string(), "{body}");
    let (status, body) = api.patch(&root, &m.id, json!({ "permissions": ["view_analytics"] })).await?;
    assert_eq!(
        (status, body["permissions"].clone(), body["custom"].clone()),
        (StatusCode::OK, json!(["view_analytics"]), json!(true))
    );
    let (status, body) = api.patch(&root, &m.id, json!({ "role": "admin" })).await?;
    assert_eq!((status, body["custom"].clone()), (StatusCode::OK, json!(false)));
    assert_eq!(body["permissions"].as_array().map(Vec::len), Some(8), "{body}");
    let (status, body) = api.patch(&root, &m.id, json!({ "role": "root" })).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed")));
    let (status, body) = api
        .call(
            "POST",
            "/admin/admins",
            Some(&root.token),
            Some(json!({ "name": "Dup", "email": m.email, "password": PASSWORD, "role": "admin" })),
        )
        .await?;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("email_taken")));
    let (status, body) = api
        .call(
            "POST",
            "/admin/admins",
            Some(&root.token),
            Some(json!({ "name": "Weak", "email": email("weak"), "password": "short1", "role": "admin" })),
        )
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["fields"]["password"].is_string(), "{body}");
    Ok(())
}

#[tokio::test]
async fn deactivation_demotion_and_removal_bite_the_next_request_and_end_sessions() -> Result<()> {
    let stack = Stack::connect().await?;
    let api = shared(&stack);
    let root = staged_super(&stack).await?;
    let other = api.create(&root, "super_admin").await?;
    let (status, _) = api.call("GET", "/admin/admins", Some(&other.token), None).await?;
    assert_eq!(status, StatusCode::OK);

    // Demoted: the live token no longer opens manage_admins, and its refresh token is dead.
    let (status, _) = api.patch(&root, &other.id, json!({ "role": "moderator" })).await?;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.call("GET", "/admin/admins", Some(&other.token), None).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api.call("POST", "/auth/refresh", None, Some(json!({ "refresh_token": other.refresh }))).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Deactivated: 401 on the next request, login refused.
    let fresh = api.staff(&other.email).await?;
    let (status, _) = api.call("GET", "/admin/me", Some(&fresh.token), None).await?;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.patch(&root, &other.id, json!({ "active": false })).await?;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.call("GET", "/admin/me", Some(&fresh.token), None).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api.call("POST", "/auth/refresh", None, Some(json!({ "refresh_token": fresh.refresh }))).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = api.login(&other.email, PASSWORD, None, None).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_credentials")));

    // Reactivated then removed: the token dies with the record.
    let (status, _) = api.patch(&root, &other.id, json!({ "active": true })).await?;
    assert_eq!(status, StatusCode::OK);
    let back = api.staff(&other.email).await?;
    let (status, _) = api.call("DELETE", &format!("/admin/admins/{}", other.id), Some(&root.token), None).await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.call("GET", "/admin/me", Some(&back.token), None).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api.call("DELETE", &format!("/admin/admins/{}", other.id), Some(&root.token), None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A password change ends the admin's other sessions, not the caller's.
    let second = api.staff(&root.email).await?;
    let change = json!({ "current_password": PASSWORD, "new_password": "another-pass-9876" });
    let (status, _) = api.call("POST", "/admin/me/password", Some(&root.token), Some(change)).await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.call("POST", "/auth/refresh", None, Some(json!({ "refresh_token": second.refresh }))).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api.call("GET", "/admin/me", Some(&second.token), None).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the other session's live access token ends too");
    let (status, _) = api.call("GET", "/admin/me", Some(&root.token), None).await?;
    assert_eq!(status, StatusCode::OK, "the caller's session stays");
    let (status, body) =
        api.call("POST", "/auth/refresh", None, Some(json!({ "refresh_token": root.refresh }))).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let renewed = body["token"].as_str().context("token")?;
    let (status, _) = api.call("GET", "/admin/me", Some(renewed), None).await?;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}

fn totp_code(uri: &str, at: DateTime<Utc>) -> Result<String> {
    let totp = totp_rs::TOTP::from_url(uri).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(totp.generate(u64::try_from(at.timestamp())?))
}

#[tokio::test]
async fn an_enrolled_admin_logs_in_with_a_current_code_once() -> Result<()> {
    let stack = Stack::connect().await?;
    let api = shared(&stack);
    let root = staged_super(&stack).await?;
    let (status, enrolment) = api.call("POST", "/admin/me/totp", Some(&root.token), None).await?;
    assert_eq!(status, StatusCode::CREATED, "{enrolment}");
    let uri = enrolment["otpauth_uri"].as_str().context("uri")?;
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    let now = Utc::now();
    // Pending is not on: login still needs no code.
    let (status, _) = api.login(&root.email, PASSWORD, None, None).await?;
    assert_eq!(status, StatusCode::OK);
    let stale = totp_code(uri, now - Duration::minutes(10))?;
    let (status, body) =
        api.call("POST", "/admin/me/totp/confirm", Some(&root.token), Some(json!({ "code": stale }))).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let code = totp_code(uri, now)?;
    let (status, body) =
        api.call("POST", "/admin/me/totp/confirm", Some(&root.token), Some(json!({ "code": code }))).await?;
    assert_eq!((status, body["totp_enabled"].as_bool()), (StatusCode::OK, Some(true)), "{body}");

    let later = now + Duration::seconds(60);
    let (status, body) = api.login(&root.email, PASSWORD, None, Some(later)).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("totp_required")));
    let (status, body) = api.login(&root.email, PASSWORD, Some(&stale), Some(later)).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("totp_required")));
    let good = totp_code(uri, later)?;
    let (status, body) = api.login(&root.email, PASSWORD, Some(&good), Some(later)).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The same code again is a replay.
    let (status, body) = api.login(&root.email, PASSWORD, Some(&good), Some(later)).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("totp_required")));
    let next = later + Duration::seconds(30);
    let (status, _) = api.login(&root.email, PASSWORD, Some(&totp_code(uri, next)?), Some(next)).await?;
    assert_eq!(status, StatusCode::OK);
    // A wrong password with a right code is still refused.
    let after = next + Duration::seconds(30);
    let (status, body) = api.login(&root.email, "wrong-pass-1234", Some(&totp_code(uri, after)?), Some(after)).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_credentials")));

    let (status, _) = api.call("POST", "/admin/me/totp", Some(&root.token), None).await?;
    assert_eq!(status, StatusCode::CONFLICT, "enrolled twice");
    let (status, _) = api
        .call("POST", "/admin/me/totp/disable", Some(&root.token), Some(json!({ "password": "nope-nope-1234" })))
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) =
        api.call("POST", "/admin/me/totp/disable", Some(&root.token), Some(json!({ "password": PASSWORD }))).await?;
    assert_eq!((status, body["totp_enabled"].as_bool()), (StatusCode::OK, Some(false)));
    let (status, _) = api.login(&root.email, PASSWORD, None, None).await?;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}

async fn audit_of(api: &Api<'_>, by: &Staff, admin_id: &str) -> Result<Vec<Value>> {
    let (status, body) =
        api.call("GET", &format!("/admin/audit?admin_id={admin_id}&limit=50"), Some(&by.token), None).await?;
    anyhow::ensure!(status == StatusCode::OK, "audit: {status} {body}");
    Ok(body["items"].as_array().cloned().unwrap_or_default())
}

#[tokio::test]
async fn every_admin_write_leaves_an_audit_entry_without_secrets() -> Result<()> {
    let stack = Stack::connect().await?;
    let api = shared(&stack);
    let root = staged_super(&stack).await?;
    let x = api.create(&root, "moderator").await?;
    let (status, _) = api.patch(&root, &x.id, json!({ "role": "admin" })).await?;
    assert_eq!(status, StatusCode::OK);
    let change = json!({ "current_password": PASSWORD, "new_password": "brand-new-pass-42" });
    let (status, _) = api.call("POST", "/admin/me/password", Some(&x.token), Some(change)).await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.call("POST", "/admin/me/totp", Some(&x.token), None).await?;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = api.call("DELETE", &format!("/admin/admins/{}", x.id), Some(&root.token), None).await?;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let by_root = audit_of(&api, &root, &root.id).await?;
    let target = format!("admin:{}", x.id);
    let actions: Vec<&str> =
        by_root.iter().filter(|e| e["target"] == target.as_str()).filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, vec!["admin.delete", "admin.update", "admin.create"], "newest first: {by_root:?}");
    let update = by_root.iter().find(|e| e["action"] == "admin.update").context("update entry")?;
    assert_eq!(update["details"]["role"], json!({ "from": "moderator", "to": "admin" }));
    assert_eq!(update["admin_id"], root.id.as_str());
    let by_x: Vec<String> =
        audit_of(&api, &root, &x.id).await?.iter().filter_map(|e| e["action"].as_str().map(String::from)).collect();
    assert!(
        by_x.contains(&"admin.password_changed".to_string()) && by_x.contains(&"admin.totp_enrol".to_string()),
        "{by_x:?}"
    );
    let everything = serde_json::to_string(&(by_root, by_x))?;
    for secret in [PASSWORD, "brand-new-pass-42", "$argon2"] {
        assert!(!everything.contains(secret), "the audit log holds {secret}");
    }
    let (status, body) = api.call("GET", "/admin/audit?limit=5", Some(&root.token), None).await?;
    assert_eq!((status, body["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(5)));
    Ok(())
}

async fn notifications(api: &Api<'_>, who: &Staff, query: &str) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..6 {
        let path = match &cursor {
            Some(c) => format!("/admin/notifications?limit=50&{query}&cursor={c}"),
            None => format!("/admin/notifications?limit=50&{query}"),
        };
        let (status, body) = api.call("GET", &path, Some(&who.token), None).await?;
        anyhow::ensure!(status == StatusCode::OK, "notifications: {status} {body}");
        out.extend(body["items"].as_array().cloned().unwrap_or_default());
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    Ok(out)
}

#[tokio::test]
async fn admins_see_the_notifications_their_permissions_cover_with_their_own_read_state() -> Result<()> {
    let stack = Stack::connect().await?;
    let api = shared(&stack);
    let root = staged_super(&stack).await?;
    let admin = api.create(&root, "admin").await?;
    let moderator = api.create(&root, "moderator").await?;
    let tag = unique_username("n");
    let now = Utc::now();
    stack
        .store
        .put_admin_notification("payment_review", "high", "a payment needs review", Some(&format!("pay-{tag}")), now)
        .await?;
    stack
        .store
        .put_admin_notification("chat_escalated", "high", "a chat was escalated", Some(&format!("chat-{tag}")), now)
        .await?;
    let ours = |items: &[Value], kind: &str| -> Option<Value> {
        items.iter().find(|n| n["kind"] == kind && n["reference"].as_str().is_some_and(|r| r.ends_with(&tag))).cloned()
    };
    let seen_by_mod = notifications(&api, &moderator, "").await?;
    assert!(ours(&seen_by_mod, "payment_review").is_none(), "a moderator sees a payment notice");
    let escalated = ours(&seen_by_mod, "chat_escalated").context("the moderator sees the escalation")?;
    assert_eq!(escalated["read"], json!(false));
    let seen_by_admin = notifications(&api, &admin, "").await?;
    let payment = ours(&seen_by_admin, "payment_review").context("the admin sees the payment notice")?;
    assert!(ours(&seen_by_admin, "chat_escalated").is_some());

    let id = escalated["id"].as_str().context("id")?;
    let (status, _) =
        api.call("POST", &format!("/admin/notifications/{id}/read"), Some(&moderator.token), None).await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let payment_id = payment["id"].as_str().context("id")?;
    let (status, _) =
        api.call("POST", &format!("/admin/notifications/{payment_id}/read"), Some(&moderator.token), None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "a notice the moderator may not see");
    let (status, _) = api.call("POST", "/admin/notifications/an_nothing/read", Some(&admin.token), None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let again = notifications(&api, &moderator, "").await?;
    assert_eq!(ours(&again, "chat_escalated").map(|n| n["read"].clone()), Some(json!(true)));
    assert!(ours(&notifications(&api, &moderator, "unread=true").await?, "chat_escalated").is_none());
    let for_admin = notifications(&api, &admin, "unread=true").await?;
    assert_eq!(
        ours(&for_admin, "chat_escalated").map(|n| n["read"].clone()),
        Some(json!(false)),
        "read state is per admin"
    );
    Ok(())
}

async fn setup_call(own: &OwnApi, body: Value) -> Result<(StatusCode, Value)> {
    call(&own.http, &own.api, "POST", "/setup", None, Some(body)).await
}

fn setup_body(email: &str, token: &str) -> Value {
    json!({ "name": "First", "email": email, "password": PASSWORD, "setup_token": token })
}

/// Active super admins as the admins list shows them, and as the guard counts them.
async fn super_admins(api: &Api<'_>, by: &Staff, store: &Store) -> Result<(usize, i64)> {
    let (status, body) = api.call("GET", "/admin/admins?limit=50", Some(&by.token), None).await?;
    anyhow::ensure!(status == StatusCode::OK, "list: {status} {body}");
    let listed = body["items"]
        .as_array()
        .context("items")?
        .iter()
        .filter(|a| a["role"] == "super_admin" && a["active"] == json!(true))
        .count();
    Ok((listed, store.active_super_admin_count().await?))
}

#[tokio::test]
async fn twenty_concurrent_setups_make_one_admin_and_two_super_admins_never_remove_each_other() -> Result<()> {
    let own = OwnApi::start("setup").await?;
    let api = Api { http: &own.http, api: &own.api };
    let (status, body) = api.call("GET", "/setup", None, None).await?;
    assert_eq!((status, body), (StatusCode::OK, json!({ "available": true })));
    let (status, body) = setup_call(&own, setup_body(&email("x"), "not-the-token")).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("invalid_setup_token")));
    let weak = json!({ "name": "First", "email": email("w"), "password": "password", "setup_token": setup_token() });
    let (status, body) = setup_call(&own, weak).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let emails: Vec<String> = (0..20).map(|i| email(&format!("first{i}"))).collect();
    let answers =
        futures::future::join_all(emails.iter().map(|e| setup_call(&own, setup_body(e, &setup_token())))).await;
    let mut created = Vec::new();
    let mut done = 0;
    for (e, answer) in emails.iter().zip(answers) {
        let (status, body) = answer?;
        match status {
            StatusCode::CREATED => created.push(e.clone()),
            StatusCode::CONFLICT if body["error"]["code"] == "setup_done" => done += 1,
            other => anyhow::bail!("setup answered {other} {body}"),
        }
    }
    assert_eq!((created.len(), done), (1, 19), "exactly one first admin");
    let (status, body) = api.call("GET", "/setup", None, None).await?;
    assert_eq!((status, body), (StatusCode::OK, json!({ "available": false })));
    let (status, _) = setup_call(&own, setup_body(&email("late"), &setup_token())).await?;
    assert_eq!(status, StatusCode::CONFLICT);

    // The last-super-admin race: two super admins take each other's rights at once.
    let store = Store::new(Stack::connect().await?.dynamo.clone(), own.table.clone());
    let a = api.staff(&created[0]).await?;
    let b = api.create(&a, "super_admin").await?;
    assert_eq!(super_admins(&api, &a, &store).await?, (2, 2));
    let mut outcomes = std::collections::BTreeMap::<&str, usize>::new();
    for round in 0..rounds(3) {
        let (change, restore) = match round % 3 {
            0 => (json!({ "role": "admin" }), json!({ "role": "super_admin" })),
            1 => (json!({ "active": false }), json!({ "active": true })),
            _ => (json!({ "role": "moderator" }), json!({ "role": "super_admin" })),
        };
        let (ra, rb) = if round % 3 == 2 {
            // Each demotes itself at once.
            tokio::join!(api.patch(&a, &a.id, change.clone()), api.patch(&b, &b.id, change.clone()))
        } else {
            tokio::join!(api.patch(&a, &b.id, change.clone()), api.patch(&b, &a.id, change.clone()))
        };
        let (ra, rb) = (ra?, rb?);
        let ok = [&ra, &rb].iter().filter(|r| r.0 == StatusCode::OK).count();
        let refused: Vec<&str> = [&ra, &rb]
            .iter()
            .filter(|r| r.0 != StatusCode::OK)
            .map(|r| match (r.0, r.1["error"]["code"].as_str()) {
                (StatusCode::CONFLICT, Some("last_super_admin")) => "409 last_super_admin",
                // Taking each other's rights: the loser may already have lost the
                // right to act when its request is authorised or committed.
                (StatusCode::FORBIDDEN, Some("forbidden")) if round % 3 != 2 => "403 no longer a super admin",
                (StatusCode::UNAUTHORIZED, _) if round % 3 == 1 => "401 deactivated first",
                _ => "unexpected",
            })
            .collect();
        assert_eq!(ok, 1, "round {round}: exactly one change applies: {ra:?} {rb:?}");
        assert!(!refused.contains(&"unexpected"), "round {round}: {ra:?} {rb:?}");
        for r in refused {
            *outcomes.entry(r).or_default() += 1;
        }
        // Who is still a super admin restores the other.
        let (keeper, lost) = if super_admins_is(&api, &a).await? { (&a, &b) } else { (&b, &a) };
        assert_eq!(super_admins(&api, keeper, &store).await?, (1, 1), "round {round}: one active super admin left");
        let (status, body) = api.patch(keeper, &lost.id, restore).await?;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(super_admins(&api, keeper, &store).await?, (2, 2));
    }
    // Removing the last one is refused too.
    let (status, _) = api.patch(&a, &b.id, json!({ "active": false })).await?;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = api.call("DELETE", &format!("/admin/admins/{}", a.id), Some(&a.token), None).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("last_super_admin")));
    assert_eq!(super_admins(&api, &a, &store).await?, (1, 1));
    eprintln!("super admin race: {} rounds, the refused side: {outcomes:?}", rounds(3));
    Ok(())
}

/// Whether `who` is an active super admin now.
async fn super_admins_is(api: &Api<'_>, who: &Staff) -> Result<bool> {
    let (status, body) = api.call("GET", "/admin/me", Some(&who.token), None).await?;
    Ok(status == StatusCode::OK && body["role"] == "super_admin" && body["active"] == json!(true))
}

#[tokio::test]
async fn an_admin_creates_lists_and_edits_operators_and_each_write_is_audited() -> Result<()> {
    let stack = Stack::connect().await?;
    let api = shared(&stack);
    let root = staged_super(&stack).await?;
    let admin = api.create(&root, "admin").await?;
    let moderator = api.create(&root, "moderator").await?;
    let op_email = email("opnew");
    let body = json!({
        "name": "Nia", "email": op_email, "password": PASSWORD, "languages": ["en", "sw"],
        "specializations": ["romantic"], "max_concurrent_chats": 3
    });
    let (status, created) = api.call("POST", "/admin/operators", Some(&admin.token), Some(body.clone())).await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        (created["languages"].clone(), created["max_concurrent_chats"].clone(), created["is_available"].clone()),
        (json!(["en", "sw"]), json!(3), json!(false))
    );
    assert_eq!(
        (created["stats"]["messages"].clone(), created["stats"]["avg_response_s"].clone()),
        (json!(0), Value::Null)
    );
    let id = created["id"].as_str().context("id")?.to_string();
    let (status, b) = api.call("POST", "/admin/operators", Some(&admin.token), Some(body)).await?;
    assert_eq!((status, b["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("email_taken")));
    for (bad, field) in [
        (json!({ "name": "X", "email": email("b1"), "password": PASSWORD, "languages": [] }), "languages"),
        (
            json!({ "name": "X", "email": email("b2"), "password": PASSWORD, "languages": ["en"], "max_concurrent_chats": 0 }),
            "max_concurrent_chats",
        ),
        (json!({ "name": "X", "email": email("b3"), "password": "short1", "languages": ["en"] }), "password"),
    ] {
        let (status, b) = api.call("POST", "/admin/operators", Some(&admin.token), Some(bad)).await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert!(b["error"]["fields"][field].is_string(), "{field}: {b}");
    }
    let (status, _) = api.call("GET", "/admin/operators", Some(&moderator.token), None).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The new operator signs in with the password the admin set.
    let (status, _) = call(
        &stack.http,
        &stack.api,
        "POST",
        "/operator/login",
        None,
        Some(json!({ "email": op_email, "password": PASSWORD })),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);

    // Listed (the directory), with the item's figures.
    let mut cursor: Option<String> = None;
    let mut listed = None;
    for _ in 0..60 {
        let path = match &cursor {
            Some(c) => format!("/admin/operators?limit=50&cursor={c}"),
            None => "/admin/operators?limit=50".to_string(),
        };
        let (status, page) = api.call("GET", &path, Some(&admin.token), None).await?;
        assert_eq!(status, StatusCode::OK, "{page}");
        listed = page["items"].as_array().and_then(|items| items.iter().find(|o| o["id"] == id.as_str()).cloned());
        cursor = page["next_cursor"].as_str().map(String::from);
        if listed.is_some() || cursor.is_none() {
            break;
        }
    }
    assert_eq!(listed.context("the new operator is listed")?["name"], "Nia");

    let path = format!("/admin/operators/{id}");
    let change = json!({ "name": "Nia W", "max_concurrent_chats": 4, "specializations": ["romantic", "playful"] });
    let (status, edited) = api.call("PATCH", &path, Some(&admin.token), Some(change)).await?;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!((edited["name"].clone(), edited["max_concurrent_chats"].clone()), (json!("Nia W"), json!(4)));
    let (status, _) = api.call("PATCH", &path, Some(&admin.token), Some(json!({ "is_suspended": true }))).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "suspension has its own route");
    let (status, _) =
        api.call("PATCH", "/admin/operators/op_nobody", Some(&admin.token), Some(json!({ "name": "Z" }))).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let entries = audit_of(&api, &root, &admin.id).await?;
    let target = format!("operator:{id}");
    let ours: Vec<&Value> = entries.iter().filter(|e| e["target"] == target.as_str()).collect();
    let actions: Vec<&str> = ours.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, vec!["operator.update", "operator.create"]);
    assert_eq!(ours[0]["details"]["max_concurrent_chats"], json!({ "from": 3, "to": 4 }));
    assert_eq!(ours[0]["details"]["name"], json!({ "from": "Nia", "to": "Nia W" }));
    assert!(!serde_json::to_string(&entries)?.contains(PASSWORD), "no password in the audit log");
    Ok(())
}
