//! Closing one's own account (the delete-account function): answers once the
//! account is closed and its sessions revoked; the pending-jobs schedule erases.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};

use super::Function::*;
use super::{admin_route_on, reason_of, route, Answer, Route};
use crate::domain::admin::Access::Needs;
use crate::domain::admin::Permission::DeleteData;
use crate::domain::ids::MemberId;
use crate::http::{CurrentAdmin, MemberRightsAuth, Now, OptionalJson, Path};
use crate::services::deletion;
use crate::{http, App};

pub const DELETE_ACCOUNT: &[Route] = &[
    route("DELETE", "/me", DeleteAccount, || delete(delete_me)),
    admin_route_on(DeleteAccount, "GET", "/admin/members/{id}/export", Needs(DeleteData), || get(admin_export)),
    admin_route_on(DeleteAccount, "DELETE", "/admin/members/{id}", Needs(DeleteData), || delete(admin_delete)),
];

async fn delete_me(
    State(app): State<App>,
    MemberRightsAuth(id): MemberRightsAuth,
    Now(now): Now,
    OptionalJson(body): OptionalJson,
) -> Answer {
    let reason = reason_of(&body)?;
    http::json(StatusCode::OK, &deletion::delete_me(&app, &id, reason, now).await?)
}

/// `GET /admin/members/{id}/export`: what `GET /me/export` answers, audited.
async fn admin_export(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(id): Path<MemberId>,
) -> Answer {
    http::json(StatusCode::OK, &deletion::export_by_admin(&app, &me, &id, now).await?)
}

/// `DELETE /admin/members/{id}`: what `DELETE /me` does, audited.
async fn admin_delete(
    State(app): State<App>,
    CurrentAdmin(me): CurrentAdmin,
    Now(now): Now,
    Path(id): Path<MemberId>,
    OptionalJson(body): OptionalJson,
) -> Answer {
    let reason = reason_of(&body)?;
    http::json(StatusCode::OK, &deletion::delete_by_admin(&app, &me, &id, reason, now).await?)
}
