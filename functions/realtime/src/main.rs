//! Lambda `realtime`: the WebSocket API's `$connect`, `$default` and `$disconnect`
//! routes (inbound::realtime), one log line per event, never a token or a frame.

use std::time::Instant;

use fantooo::inbound::realtime::{self, ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    fantooo::telemetry::init();
    let app = fantooo::App::from_env().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
        let app = app.clone();
        async move {
            let cold_start = app.take_cold_start();
            let started = Instant::now();
            let route = event.payload.request_context.route_key.clone().unwrap_or_default();
            let response: ApiGatewayProxyResponse = realtime::handle(&app, event.payload).await;
            let ms = started.elapsed().as_millis() as u64;
            tracing::info!(
                function = "realtime",
                route,
                status = response.status_code,
                ms,
                cold_start,
                "websocket event"
            );
            Ok::<_, Error>(response)
        }
    }))
    .await
}
