//! API Gateway's WebSocket events (`$connect`, `$default`, `$disconnect`) in,
//! realtime service calls out. The realtime function runs this on AWS; the local
//! server's gateway emulation calls the very same handler with the same events.

use aws_lambda_events::encodings::Body;
pub use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use chrono::{DateTime, Utc};

use crate::error::ApiError;
use crate::http::{status_of, NOW_HEADER};
use crate::realtime::{decode, error_frame, frame};
use crate::services::realtime;
use crate::App;

/// Handles one WebSocket event. `$connect` answers 200 to accept the connection
/// and the error's status (401 for a bad, used or expired ticket) to refuse it;
/// `$default` answers with the frame to send back (the route's response), if any.
pub async fn handle(app: &App, event: ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
    let ctx = &event.request_context;
    let Some(connection_id) = ctx.connection_id.clone().filter(|c| !c.is_empty()) else {
        tracing::warn!("websocket event without a connection id");
        return answer(400, None);
    };
    let now = now_of(app, &event);
    match ctx.route_key.as_deref() {
        Some("$connect") => {
            let ticket = event.query_string_parameters.first("ticket");
            match realtime::connect(app, ticket, &connection_id, now).await {
                Ok(()) => answer(200, None),
                Err(e) => refused(&e),
            }
        }
        Some("$disconnect") => {
            if let Err(e) = realtime::disconnect(app, &connection_id).await {
                tracing::warn!(error = %e, "disconnect not recorded; the connection's TTL will");
            }
            answer(200, None)
        }
        _ => {
            let text = match (&event.body, event.is_base64_encoded) {
                (Some(b), false) => b.as_str(),
                _ => return answer(200, Some(error_frame("bad_json", "frames are JSON text"))),
            };
            let action = match decode(text) {
                Ok(a) => a,
                Err((code, message)) => return answer(200, Some(error_frame(code, &message))),
            };
            match realtime::act(app, &connection_id, action, now).await {
                Ok(Some(push)) => answer(200, Some(frame(&push))),
                Ok(None) => answer(200, None),
                Err(e) => {
                    if matches!(e, ApiError::Internal(_)) {
                        tracing::error!(error = %e, "websocket action failed");
                    }
                    let body = e.body();
                    let message = body["error"]["message"].as_str().unwrap_or_default();
                    answer(200, Some(error_frame(e.code(), message)))
                }
            }
        }
    }
}

/// Runs `handle` as the realtime Lambda, as `inbound::run_job` runs the event
/// functions: the cold start marked, one log line per event with its route, status
/// and time (never a ticket or a frame).
pub async fn run(app: App) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
            let app = app.clone();
            async move {
                let cold_start = app.take_cold_start();
                let started = std::time::Instant::now();
                let route = event.payload.request_context.route_key.clone().unwrap_or_default();
                let response = handle(&app, event.payload).await;
                let ms = started.elapsed().as_millis() as u64;
                tracing::info!(
                    function = "realtime",
                    route,
                    status = response.status_code,
                    ms,
                    cold_start,
                    "websocket event"
                );
                Ok::<_, lambda_runtime::Error>(response)
            }
        },
    ))
    .await
}

fn refused(e: &ApiError) -> ApiGatewayProxyResponse {
    if matches!(e, ApiError::Internal(_)) {
        tracing::error!(error = %e, "websocket connect failed");
    }
    answer(i64::from(status_of(e).as_u16()), Some(e.body().to_string()))
}

fn now_of(app: &App, event: &ApiGatewayWebsocketProxyRequest) -> DateTime<Utc> {
    let pinned = event
        .headers
        .get(NOW_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc));
    app.clock.now(pinned)
}

fn answer(status: i64, body: Option<String>) -> ApiGatewayProxyResponse {
    let mut r = ApiGatewayProxyResponse::default();
    r.status_code = status;
    r.body = body.map(Body::Text);
    r
}
