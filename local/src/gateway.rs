//! The local stand-in for API Gateway's WebSocket API, which nothing here emulates
//! (`sam local` does not run WebSockets):
//!
//! - `GET /ws?ticket=` upgrades, and calls the very handler the realtime Lambda
//!   runs (`inbound::realtime::handle`) with API Gateway's events: `$connect`
//!   before the upgrade (a refusal refuses the upgrade with its status; until it
//!   accepts, `@connections` answers Gone for the connection, as on AWS),
//!   `$default` for each client frame (its answer, if any, goes back as the
//!   route's response), `$disconnect` when the socket ends, whoever ends it.
//! - `/@connections/{id}` speaks the management API: POST sends a frame, GET
//!   describes the connection, DELETE closes it. An unknown connection is 410
//!   with `x-amzn-errortype: GoneException`, so the real SDK client takes the same
//!   Gone path as on AWS; a frame over 128 KB is 413 `PayloadTooLargeException`.
//! - `GET /realtime-demo` serves docs/realtime-demo.html from the API's own origin
//!   (the browser page of docs/realtime.md; the local stack only).
//! - A connection ends after `FANTOOO_WS_IDLE_SECONDS` without traffic (600, API
//!   Gateway's 10 minutes) and after `FANTOOO_WS_MAX_SECONDS` in all (7,200).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::encodings::Body as EventBody;
use aws_lambda_events::event::apigw::{ApiGatewayWebsocketProxyRequest, ApiGatewayWebsocketProxyRequestContext};
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use fantooo::domain::realtime::{CONNECTION_MAX_AGE, IDLE_TIMEOUT, MAX_FRAME_BYTES};
use fantooo::inbound::realtime;
use fantooo::App;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

/// What the gateway tells a socket's task.
enum Out {
    Frame(String),
    /// `DELETE @connections/{id}`: close the socket.
    Close,
}

struct Live {
    tx: mpsc::UnboundedSender<Out>,
    connected_at: DateTime<Utc>,
    last_active: DateTime<Utc>,
    source_ip: String,
    user_agent: Option<String>,
}

pub struct Gateway {
    app: App,
    live: Mutex<HashMap<String, Live>>,
    idle: Duration,
    max_age: Duration,
    domain: String,
}

impl Gateway {
    pub fn new(app: App, port: u16) -> anyhow::Result<Arc<Gateway>> {
        let secs = |name: &str, default: u64| -> anyhow::Result<Duration> {
            let v = match std::env::var(name) {
                Ok(v) => v.parse().map_err(|_| anyhow::anyhow!("{name} must be a number of seconds"))?,
                Err(_) => default,
            };
            Ok(Duration::from_secs(v.max(1)))
        };
        Ok(Arc::new(Gateway {
            app,
            live: Mutex::new(HashMap::new()),
            idle: secs("FANTOOO_WS_IDLE_SECONDS", IDLE_TIMEOUT.num_seconds().unsigned_abs())?,
            max_age: secs("FANTOOO_WS_MAX_SECONDS", CONNECTION_MAX_AGE.num_seconds().unsigned_abs())?,
            domain: format!("127.0.0.1:{port}"),
        }))
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/ws", get(upgrade))
            .route("/@connections/{id}", get(describe).post(post_to).delete(close))
            .route("/realtime-demo", get(demo_page))
            .with_state(self.clone())
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Live>> {
        // A panic elsewhere while holding it must not take the gateway down with it.
        self.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn touch(&self, id: &str) {
        if let Some(l) = self.live().get_mut(id) {
            l.last_active = Utc::now();
        }
    }

    /// An event as API Gateway sends it to the integration.
    fn event(&self, conn: &Conn, kind: Event) -> ApiGatewayWebsocketProxyRequest {
        let now = Utc::now();
        let (route, event_type) = match &kind {
            Event::Connect { .. } => ("$connect", "CONNECT"),
            Event::Message { .. } => ("$default", "MESSAGE"),
            Event::Disconnect { .. } => ("$disconnect", "DISCONNECT"),
        };
        let mut ctx = ApiGatewayWebsocketProxyRequestContext::default();
        ctx.route_key = Some(route.into());
        ctx.event_type = Some(event_type.into());
        ctx.connection_id = Some(conn.id.clone());
        ctx.connected_at = conn.connected_at.timestamp_millis();
        ctx.domain_name = Some(self.domain.clone());
        ctx.stage = Some("local".into());
        ctx.apiid = Some("local".into());
        ctx.message_direction = Some("IN".into());
        ctx.request_id = Some(request_id());
        ctx.extended_request_id = ctx.request_id.clone();
        ctx.request_time_epoch = now.timestamp_millis();
        ctx.request_time = Some(now.format("%d/%b/%Y:%H:%M:%S %z").to_string());
        ctx.identity.source_ip = Some(conn.peer.clone());
        let mut event = ApiGatewayWebsocketProxyRequest::default();
        match kind {
            Event::Connect { headers, query } => {
                event.headers = headers;
                event.query_string_parameters = query.into();
            }
            Event::Message { body, binary } => {
                event.body = Some(body);
                event.is_base64_encoded = binary;
            }
            Event::Disconnect { code } => ctx.disconnect_status_code = Some(code),
        }
        event.request_context = ctx;
        event
    }
}

/// One connection as its events name it.
#[derive(Clone)]
struct Conn {
    id: String,
    connected_at: DateTime<Utc>,
    peer: String,
}

/// What happened on a connection.
enum Event {
    Connect {
        headers: HeaderMap,
        query: HashMap<String, String>,
    },
    /// A client frame (binary ones base64-encoded, as API Gateway passes them).
    Message {
        body: String,
        binary: bool,
    },
    Disconnect {
        code: i64,
    },
}

/// API Gateway's connection ids: 16 characters ending in `=` (base64 of 11 bytes).
fn new_connection_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut id: String = (0..15).map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char).collect();
    id.push('=');
    id
}

fn request_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

async fn upgrade(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let conn = Conn { id: new_connection_id(), connected_at: Utc::now(), peer: peer.ip().to_string() };
    let user_agent = headers.get("user-agent").and_then(|v| v.to_str().ok()).map(str::to_string);
    // As on API Gateway, the connection exists for `@connections` only once
    // `$connect` has accepted it: a push or a close during `$connect` is Gone.
    let answer = realtime::handle(&gw.app, gw.event(&conn, Event::Connect { headers, query })).await;
    if answer.status_code != 200 {
        let status = u16::try_from(answer.status_code)
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::FORBIDDEN);
        let body = match answer.body {
            Some(EventBody::Text(t)) => t,
            _ => String::new(),
        };
        return (status, [("content-type", "application/json")], body).into_response();
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let live = Live {
        tx,
        connected_at: conn.connected_at,
        last_active: conn.connected_at,
        source_ip: conn.peer.clone(),
        user_agent,
    };
    gw.live().insert(conn.id.clone(), live);
    let failed = (gw.clone(), conn.clone());
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_failed_upgrade(move |_| {
            let (gw, conn) = failed;
            tokio::spawn(async move { ended(&gw, &conn, 1006).await });
        })
        .on_upgrade(move |socket| serve(gw, conn, socket, rx))
}

/// One socket's life: client frames to `$default` (each in its own task, as each
/// is its own invocation on AWS), pushes out, the idle and age limits, then
/// `$disconnect`.
async fn serve(gw: Arc<Gateway>, conn: Conn, socket: WebSocket, mut rx: mpsc::UnboundedReceiver<Out>) {
    let (mut sink, mut stream) = socket.split();
    let age_limit = tokio::time::sleep(gw.max_age);
    tokio::pin!(age_limit);
    let idle_limit = tokio::time::sleep(gw.idle);
    tokio::pin!(idle_limit);
    let replies = match gw.live().get(&conn.id) {
        Some(l) => l.tx.clone(),
        None => return,
    };
    let code = loop {
        tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    idle_limit.as_mut().reset(tokio::time::Instant::now() + gw.idle);
                    gw.touch(&conn.id);
                    run_default(&gw, &conn, Event::Message { body: text.to_string(), binary: false }, &replies);
                }
                Some(Ok(Message::Binary(bytes))) => {
                    idle_limit.as_mut().reset(tokio::time::Instant::now() + gw.idle);
                    gw.touch(&conn.id);
                    use base64::Engine;
                    let body = base64::engine::general_purpose::STANDARD.encode(&bytes);
                    run_default(&gw, &conn, Event::Message { body, binary: true }, &replies);
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                    idle_limit.as_mut().reset(tokio::time::Instant::now() + gw.idle);
                    gw.touch(&conn.id);
                }
                Some(Ok(Message::Close(_))) | None => break 1000,
                // Over 128 KB, or a broken socket: API Gateway drops the connection.
                Some(Err(_)) => break 1009,
            },
            out = rx.recv() => match out {
                Some(Out::Frame(frame)) => {
                    if sink.send(Message::Text(frame.into())).await.is_err() {
                        break 1006;
                    }
                }
                Some(Out::Close) | None => {
                    let _ = sink.send(Message::Close(Some(CloseFrame { code: 1000, reason: "".into() }))).await;
                    break 1000;
                }
            },
            _ = &mut idle_limit => {
                let _ = sink.send(Message::Close(Some(CloseFrame { code: 1001, reason: "Going away".into() }))).await;
                break 1001;
            }
            _ = &mut age_limit => {
                let _ = sink.send(Message::Close(Some(CloseFrame { code: 1001, reason: "Going away".into() }))).await;
                break 1001;
            }
        }
    };
    ended(&gw, &conn, code).await;
}

fn run_default(gw: &Arc<Gateway>, conn: &Conn, message: Event, replies: &mpsc::UnboundedSender<Out>) {
    let event = gw.event(conn, message);
    let (gw, replies) = (gw.clone(), replies.clone());
    tokio::spawn(async move {
        let answer = realtime::handle(&gw.app, event).await;
        if let Some(EventBody::Text(frame)) = answer.body {
            let _ = replies.send(Out::Frame(frame));
        }
    });
}

/// The socket is gone: the connection is unknown from now on, then `$disconnect`.
async fn ended(gw: &Arc<Gateway>, conn: &Conn, code: i64) {
    gw.live().remove(&conn.id);
    realtime::handle(&gw.app, gw.event(conn, Event::Disconnect { code })).await;
}

fn management_error(status: StatusCode, kind: &'static str, message: Option<&str>) -> Response {
    let body = serde_json::json!({ "message": message }).to_string();
    (status, [("x-amzn-errortype", kind), ("content-type", "application/json")], body).into_response()
}

fn gone() -> Response {
    management_error(StatusCode::GONE, "GoneException", None)
}

async fn post_to(State(gw): State<Arc<Gateway>>, Path(id): Path<String>, body: Bytes) -> Response {
    if body.len() > MAX_FRAME_BYTES {
        return management_error(StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLargeException", Some("Message too long"));
    }
    let frame = match String::from_utf8(body.to_vec()) {
        Ok(f) => f,
        Err(_) => return management_error(StatusCode::BAD_REQUEST, "BadRequestException", Some("Invalid data")),
    };
    let sent = gw.live().get(&id).is_some_and(|l| l.tx.send(Out::Frame(frame)).is_ok());
    if sent {
        StatusCode::OK.into_response()
    } else {
        gone()
    }
}

async fn describe(State(gw): State<Arc<Gateway>>, Path(id): Path<String>) -> Response {
    let live = gw.live();
    let Some(l) = live.get(&id) else { return gone() };
    let body = serde_json::json!({
        "connectedAt": l.connected_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "identity": { "sourceIp": l.source_ip, "userAgent": l.user_agent },
        "lastActiveAt": l.last_active.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    });
    (StatusCode::OK, [("content-type", "application/json")], body.to_string()).into_response()
}

async fn close(State(gw): State<Arc<Gateway>>, Path(id): Path<String>) -> Response {
    let closed = gw.live().get(&id).is_some_and(|l| l.tx.send(Out::Close).is_ok());
    if closed {
        StatusCode::NO_CONTENT.into_response()
    } else {
        gone()
    }
}

/// docs/realtime-demo.html, served from the API's origin so its calls need no CORS.
async fn demo_page() -> Response {
    let page = include_str!("../../docs/realtime-demo.html");
    (StatusCode::OK, [("content-type", "text/html; charset=utf-8")], page).into_response()
}
