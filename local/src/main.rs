//! The local stack's API server: every route of every function on one port,
//! the very handlers the Lambdas run, over the local emulator, with demo data.

mod gateway;
mod jobs;
mod seed;

use std::net::SocketAddr;

use fantooo::clock::Clock;
use fantooo::http::routes::{self, ALL};

fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::var("FANTOOO_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    // The WebSocket side is this server's own gateway emulation (gateway.rs), on
    // its own port, whatever the environment says (a server started by another's
    // script must never deliver to that one). Set before any thread starts.
    std::env::set_var("REALTIME_URL", format!("ws://127.0.0.1:{port}/ws"));
    std::env::set_var("REALTIME_ENDPOINT", format!("http://127.0.0.1:{port}"));
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(serve(port))
}

async fn serve(port: u16) -> anyhow::Result<()> {
    fantooo::telemetry::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--print-routes") {
        let table: Vec<_> = ALL
            .iter()
            .flat_map(|s| s.iter())
            .map(|r| serde_json::json!({ "method": r.method, "path": r.path, "function": r.function.binary() }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&table)?);
        return Ok(());
    }
    let rates = jobs::template_rates()?;
    if args.iter().any(|a| a == "--print-schedules") {
        println!("{}", serde_json::to_string(&rates)?);
        return Ok(());
    }
    let app = fantooo::App::from_env_with_clock(Clock::Pinnable).await?;
    if args.iter().any(|a| a == "--seed-only") {
        seed::run(&app).await?;
        println!("demo data written");
        return Ok(());
    }
    if !args.iter().any(|a| a == "--no-seed") {
        seed::run(&app).await?;
    }
    seed::watch(&app);
    jobs::spawn_all(&app, &rates);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "Fantooo API listening on http://127.0.0.1:{port}, WebSockets on ws://127.0.0.1:{port}/ws (Ctrl-C stops it)"
    );
    let gateway = gateway::Gateway::new(app.clone(), port)?;
    let service = gateway.router().merge(routes::router(app, ALL)).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service).with_graceful_shutdown(shutdown()).await?;
    println!("Fantooo API stopped");
    Ok(())
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return ctrl_c.await.unwrap_or_default(),
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
