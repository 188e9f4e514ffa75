//! Realtime: tickets, connecting and disconnecting, a client's actions, delivery
//! after a commit, and ending a principal's connections (docs/realtime.md).
//!
//! Delivery is best effort and never fails the request that made it: the commit is
//! the truth, and a client that missed a frame catches up with
//! `GET /chats/{id}/messages?after=`. It runs before the request answers (a Lambda
//! is frozen once it has answered).

use std::collections::BTreeSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::domain::ids::{self, MemberId, OperatorId};
use crate::domain::principal::{Principal, PrincipalKind};
use crate::domain::realtime::{self, Connection, Delivery, Ending, Push};
use crate::error::ApiError;
use crate::realtime::{frame, ClientAction, Posted};
use crate::services::{active_member, admins, limits, operators};
use crate::store::Holder;
use crate::App;

/// `POST /realtime/ticket`'s answer.
#[derive(Debug, Serialize)]
pub struct Ticket {
    pub ticket: String,
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// Longest ticket a client may present (ours are 43 characters).
const MAX_TICKET: usize = 100;

fn ticket_hash(ticket: &str) -> String {
    hex::encode(Sha256::digest(ticket.as_bytes()))
}

/// Whether `principal` may hold a connection now: an active member, an operator
/// neither deleted nor suspended, an active admin. The same answer as their routes.
async fn admitted(app: &App, principal: &Principal) -> Result<(), ApiError> {
    match principal.kind {
        PrincipalKind::Member => active_member(app, &MemberId::new(principal.id.as_str())).await.map(|_| ()),
        PrincipalKind::Operator => {
            let op = operators::current(app, &OperatorId::new(principal.id.as_str())).await?;
            if op.is_suspended {
                return Err(ApiError::Suspended);
            }
            Ok(())
        }
        PrincipalKind::Admin => admins::current(app, &principal.id).await.map(|_| ()),
    }
}

/// A single-use ticket for the caller, valid `TICKET_TTL`: the WebSocket URL
/// carries it instead of an access token (API Gateway may log URLs). Stored hashed.
/// `session` and `issued_ms` are the caller's access token's.
pub async fn issue_ticket(
    app: &App,
    principal: Principal,
    session: Option<String>,
    issued_ms: i64,
    now: DateTime<Utc>,
) -> Result<Ticket, ApiError> {
    admitted(app, &principal).await?;
    limits::check_principal(app, "realtime_ticket", &principal.scope(), realtime::TICKETS_PER_MINUTE, now).await?;
    if principal.kind == PrincipalKind::Admin {
        // As at the admin gate: a password change or a new second factor ended it.
        let me = admins::current(app, &principal.id).await?;
        if me.sessions_cut.as_ref().is_some_and(|cut| cut.ends(session.as_deref(), issued_ms)) {
            return Err(ApiError::Unauthorized);
        }
    }
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let ticket = URL_SAFE_NO_PAD.encode(secret);
    let expires_at = now + realtime::TICKET_TTL;
    app.store.put_ticket(&ticket_hash(&ticket), &Holder { principal, session }, expires_at).await?;
    Ok(Ticket { ticket, url: app.realtime.url().to_string(), expires_at })
}

/// `$connect`: redeems the ticket (once, in time), records the connection, then
/// checks its holder. The write comes before the check, and a ban, deletion or
/// suspension commits before it ends connections: whichever runs second sees the
/// other, so no connection outlives the change that should end it.
pub async fn connect(app: &App, ticket: Option<&str>, connection_id: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    let ticket = ticket.filter(|t| !t.is_empty() && t.len() <= MAX_TICKET).ok_or(ApiError::Unauthorized)?;
    let holder = app.store.redeem_ticket(&ticket_hash(ticket), now).await?.ok_or(ApiError::Unauthorized)?;
    let conn = Connection { id: connection_id.to_string(), session: holder.session.clone(), connected_at: Utc::now() };
    let evicted = app.store.add_connection(&holder, &conn).await?;
    end_all(app, &evicted).await;
    if let Err(refused) = admitted(app, &holder.principal).await {
        app.store.remove_connection(&holder.principal.scope(), connection_id).await?;
        return Err(refused);
    }
    tracing::info!(kind = holder.principal.kind.as_str(), "realtime connected");
    Ok(())
}

/// `$disconnect`: forgets the connection. Best effort on API Gateway's side; a
/// delivery answered Gone, and the TTL, cover a lost one.
pub async fn disconnect(app: &App, connection_id: &str) -> Result<(), ApiError> {
    if let Some(h) = app.store.connection_holder(connection_id, Utc::now()).await? {
        app.store.remove_connection(&h.principal.scope(), connection_id).await?;
    }
    Ok(())
}

/// A client's action on `connection_id`; `Some` is the frame to answer with.
/// Every action comes from a connection we know: one we do not (its items taken
/// by a ban that raced its handshake, or expired) is ended, so a `pong` proves the
/// connection is served. Typing in a chat the sender is not part of, or too
/// often, tells nobody and says nothing (a stranger learns nothing of a chat id).
pub async fn act(
    app: &App,
    connection_id: &str,
    action: ClientAction,
    now: DateTime<Utc>,
) -> Result<Option<Push>, ApiError> {
    let Some(holder) = app.store.connection_holder(connection_id, Utc::now()).await? else {
        app.realtime.end(connection_id).await;
        return Err(ApiError::Unauthorized);
    };
    let chat_id = match action {
        ClientAction::Ping => return Ok(Some(Push::Pong)),
        ClientAction::Typing { chat_id } => chat_id,
    };
    let sender = holder.principal;
    let own_chat = match sender.kind {
        // A member's own chats are named by their id: no read for anyone else's.
        PrincipalKind::Member => ids::chat_parts(&chat_id).is_some_and(|(m, _)| m.as_str() == sender.id),
        PrincipalKind::Operator => true,
        PrincipalKind::Admin => false,
    };
    if !own_chat {
        return Ok(None);
    }
    let Some(chat) = app.store.get_chat(&chat_id).await? else { return Ok(None) };
    let Some(delivery) = realtime::typing_delivery(&chat, &sender) else { return Ok(None) };
    if app.store.typing_allowed(chat_id.as_str(), &sender.scope(), now).await? {
        deliver(app, vec![delivery]).await;
    }
    Ok(None)
}

/// Pushes each delivery to every live connection of its recipient: one batch
/// read of the recipients' connection lists, then every post at once. A
/// connection answered Gone is forgotten. Never fails: delivery may be lost.
pub async fn deliver(app: &App, deliveries: Vec<Delivery>) {
    if deliveries.is_empty() || !app.config.realtime_delivery {
        return;
    }
    let now = Utc::now();
    let scopes: Vec<String> = deliveries.iter().map(|d| d.to.scope()).collect::<BTreeSet<_>>().into_iter().collect();
    let connections = match app.store.connections_of(&scopes, now).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "realtime: connections not read; clients catch up with after=");
            return;
        }
    };
    let mut posts = tokio::task::JoinSet::new();
    for d in &deliveries {
        let scope = d.to.scope();
        let Some(conns) = connections.get(&scope) else { continue };
        let body = frame(&d.push);
        for c in conns {
            let (app, scope, id, body) = (app.clone(), scope.clone(), c.id.clone(), body.clone());
            posts.spawn(async move {
                let posted = app.realtime.post(&id, &body).await;
                (scope, id, posted)
            });
        }
    }
    let mut gone = Vec::new();
    while let Some(done) = posts.join_next().await {
        if let Ok((scope, id, Posted::Gone)) = done {
            gone.push((scope, id));
        }
    }
    for (scope, id) in gone {
        if let Err(e) = app.store.remove_connection(&scope, &id).await {
            tracing::warn!(error = %e, "realtime: a gone connection was not forgotten; its TTL will");
        }
    }
}

/// Ends the principal's connections that `ending` names. Called after the change
/// that ends them committed.
pub async fn end_connections(app: &App, principal: &Principal, ending: Ending<'_>) {
    match app.store.take_connections(&principal.scope(), ending, Utc::now()).await {
        Ok(conns) => end_all(app, &conns).await,
        Err(e) => tracing::error!(error = %e, kind = principal.kind.as_str(), "realtime: connections not ended"),
    }
}

async fn end_all(app: &App, conns: &[Connection]) {
    let mut ends = tokio::task::JoinSet::new();
    for c in conns {
        let (app, id) = (app.clone(), c.id.clone());
        ends.spawn(async move { app.realtime.end(&id).await });
    }
    while ends.join_next().await.is_some() {}
}
