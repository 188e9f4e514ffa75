//! Use cases: each takes the App, the caller and parsed input, and returns a view or an ApiError.

pub mod accounts;
pub mod admins;
pub mod assignment;
pub mod catalog;
pub mod characters;
pub mod chat_desk;
pub mod chats;
pub mod closing;
pub mod deletion;
pub mod idempotent;
pub mod jobs;
pub mod limits;
pub mod media;
pub mod moderation;
pub mod money;
pub mod operators;
pub mod payments;
pub mod realtime;
pub mod send_message;
pub mod settings;
pub mod staff;
pub mod stats;

use crate::domain::ids::MemberId;
use crate::domain::principal::Principal;
use crate::domain::realtime::Ending;
use crate::domain::{Member, MemberStatus};
use crate::error::ApiError;
use crate::App;

/// The calling member, if the account is still usable: banned is 403, deleted 401.
pub async fn active_member(app: &App, member_id: &MemberId) -> Result<Member, ApiError> {
    let member = app.store.get_member(member_id).await?.ok_or(ApiError::Unauthorized)?;
    check_status(&member)?;
    Ok(member)
}

/// The calling member for the rights a ban does not take away (erasure, export):
/// active or banned; deleted is 401.
pub async fn member_with_rights(app: &App, member_id: &MemberId) -> Result<Member, ApiError> {
    let member = app.store.get_member(member_id).await?.ok_or(ApiError::Unauthorized)?;
    match member.status {
        MemberStatus::Active | MemberStatus::Banned => Ok(member),
        MemberStatus::Deleted => Err(ApiError::Unauthorized),
    }
}

/// Ends a principal's sessions, all of them or all but `kept` (the caller's, after
/// a password change): their refresh tokens, then their WebSockets. Access tokens
/// run out on their own (15 minutes) unless the route reads the record.
pub async fn end_sessions(app: &App, principal: &Principal, kept: Option<&str>) -> Result<(), ApiError> {
    let revoked = app.store.revoke_refresh_tokens(principal.kind, &principal.id, kept).await;
    // The change that ended them has committed: the sockets end even if the
    // revocation failed (its error still answers, and a retry revokes the rest).
    realtime::end_connections(app, principal, Ending::AllBut(kept)).await;
    revoked?;
    Ok(())
}

pub fn check_status(member: &Member) -> Result<(), ApiError> {
    match member.status {
        MemberStatus::Active => Ok(()),
        MemberStatus::Banned => Err(ApiError::Banned),
        MemberStatus::Deleted => Err(ApiError::Unauthorized),
    }
}
