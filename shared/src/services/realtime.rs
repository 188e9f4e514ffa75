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
use crate::domain::realtime::{self, Action, Connection, Delivery, Ending, Push};
use crate::error::ApiError;
use crate::realtime::Posted;
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

/// What realtime may add to the request that delivers or ends connections: it
/// is given up after this (logged), so a slow database or gateway never turns a
/// committed request into a timeout. Clients catch up with `after=`.
const BUDGET: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether `principal` may hold a connection now: an active member, an operator
/// neither deleted nor suspended, an active admin (the same answers as their
/// routes), in a session that has not ended (a logout, a password change, a ban or
/// a deletion ends sessions; every access token names its session).
async fn admitted(app: &App, principal: &Principal, session: Option<&str>, now: DateTime<Utc>) -> Result<(), ApiError> {
    match principal.kind {
        PrincipalKind::Member => active_member(app, &MemberId::new(principal.id.as_str())).await.map(|_| ())?,
        PrincipalKind::Operator => {
            let op = operators::current(app, &OperatorId::new(principal.id.as_str())).await?;
            if op.is_suspended {
                return Err(ApiError::Suspended);
            }
        }
        PrincipalKind::Admin => admins::current(app, &principal.id).await.map(|_| ())?,
    }
    let session = session.ok_or(ApiError::Unauthorized)?;
    if !app.store.session_alive(principal.kind, &principal.id, session, now).await? {
        return Err(ApiError::Unauthorized);
    }
    Ok(())
}

/// A single-use ticket for the caller, valid `TICKET_TTL`: the WebSocket URL
/// carries it instead of an access token (API Gateway may log URLs). Stored hashed.
/// `session` is the caller's access token's.
pub async fn issue_ticket(
    app: &App,
    principal: Principal,
    session: Option<String>,
    now: DateTime<Utc>,
) -> Result<Ticket, ApiError> {
    admitted(app, &principal, session.as_deref(), now).await?;
    limits::check_principal(app, "realtime_ticket", &principal.scope(), realtime::TICKETS_PER_MINUTE, now).await?;
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let ticket = URL_SAFE_NO_PAD.encode(secret);
    let expires_at = now + realtime::TICKET_TTL;
    app.store.put_ticket(&ticket_hash(&ticket), &Holder { principal, session }, expires_at).await?;
    Ok(Ticket { ticket, url: app.realtime.url().to_string(), expires_at })
}

/// `$connect`: redeems the ticket (once, in time), records the connection, then
/// checks its holder and session, then that the connection is still recorded.
/// The write comes before the checks, and a ban, a deletion, a suspension or a
/// logout commits before it ends connections: whichever runs second sees the
/// other, so no connection outlives the change that should end it.
pub async fn connect(app: &App, ticket: Option<&str>, connection_id: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    let ticket = ticket.filter(|t| !t.is_empty() && t.len() <= MAX_TICKET).ok_or(ApiError::Unauthorized)?;
    let holder = app.store.redeem_ticket(&ticket_hash(ticket), now).await?.ok_or(ApiError::Unauthorized)?;
    let conn = Connection { id: connection_id.to_string(), session: holder.session.clone(), connected_at: Utc::now() };
    let evicted = app.store.add_connection(&holder, &conn).await?;
    let (_, admitted) =
        tokio::join!(end_all(app, &evicted), admitted(app, &holder.principal, holder.session.as_deref(), now));
    if let Err(refused) = admitted {
        app.store.remove_connection(&holder.principal.scope(), connection_id).await?;
        return Err(refused);
    }
    // A change that ended the principal's connections between the write and the
    // checks took this one too: refuse it rather than open a socket nobody lists.
    if app.store.connection_holder(connection_id, Utc::now()).await?.is_none() {
        return Err(ApiError::Unauthorized);
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
/// by a close that raced its opening, or expired) is ended, so a `pong` proves the
/// connection is served. Typing in a chat the sender is not part of, or too
/// often, tells nobody and says nothing (a stranger learns nothing of a chat id).
pub async fn act(app: &App, connection_id: &str, action: Action, now: DateTime<Utc>) -> Result<Option<Push>, ApiError> {
    let Some(holder) = app.store.connection_holder(connection_id, Utc::now()).await? else {
        app.realtime.end(connection_id).await;
        return Err(ApiError::Unauthorized);
    };
    let chat_id = match action {
        Action::Ping => return Ok(Some(Push::Pong)),
        Action::Typing { chat_id } => chat_id,
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
/// read of the recipients' connection lists, then every post at once; a
/// connection answered Gone (and older than `GONE_GRACE`) is forgotten, all at
/// once. Never fails, and gives up after `BUDGET`: delivery may be lost.
pub async fn deliver(app: &App, deliveries: Vec<Delivery>) {
    if deliveries.is_empty() || !app.config.realtime_delivery {
        return;
    }
    if tokio::time::timeout(BUDGET, deliver_all(app, deliveries)).await.is_err() {
        tracing::warn!("realtime: delivery given up after its budget; clients catch up with after=");
    }
}

async fn deliver_all(app: &App, deliveries: Vec<Delivery>) {
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
    for d in deliveries {
        let scope = d.to.scope();
        let Some(conns) = connections.get(&scope) else { continue };
        let push = std::sync::Arc::new(d.push);
        for c in conns {
            let (app, scope, conn, push) = (app.clone(), scope.clone(), c.clone(), push.clone());
            posts.spawn(async move {
                let posted = app.realtime.post(&conn.id, &push).await;
                (scope, conn, posted)
            });
        }
    }
    let mut gone = BTreeSet::new();
    while let Some(done) = posts.join_next().await {
        if let Ok((scope, conn, Posted::Gone)) = done {
            if conn.gone_for_good(Utc::now()) {
                gone.insert((scope, conn.id));
            }
        }
    }
    let mut removals = tokio::task::JoinSet::new();
    for (scope, id) in gone {
        let app = app.clone();
        removals.spawn(async move {
            if let Err(e) = app.store.remove_connection(&scope, &id).await {
                tracing::warn!(error = %e, "realtime: a gone connection was not forgotten; its TTL will");
            }
        });
    }
    while removals.join_next().await.is_some() {}
}

/// Ends the principal's connections that `ending` names. Called after the change
/// that ends them committed; gives up after `BUDGET` (logged).
pub async fn end_connections(app: &App, principal: &Principal, ending: Ending<'_>) {
    let work = async {
        match app.store.take_connections(&principal.scope(), ending, Utc::now()).await {
            Ok(conns) => end_all(app, &conns).await,
            Err(e) => tracing::error!(error = %e, kind = principal.kind.as_str(), "realtime: connections not ended"),
        }
    };
    if tokio::time::timeout(BUDGET, work).await.is_err() {
        tracing::error!(kind = principal.kind.as_str(), "realtime: ending connections timed out");
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
