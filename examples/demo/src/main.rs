//! The belfry demo service: an axum app wrapped in belfry's stack. Copy it.
//!
//! `cargo run -p belfry-demo`, then `curl -i localhost:3000/users/42`.

mod accounts;
mod error;
mod flood;
mod health;
mod inventory;
mod jobs;
mod lifecycle;
mod metrics;
mod password_reset;
mod routes;
mod tenants;

use std::net::SocketAddr;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    lifecycle::install_application_panic_hook(); // belfry's panic hook chains to it
    let config = belfry::Config::from_env()?; // every invalid variable named at once
    let _telemetry = config.telemetry().init(); // dropped last: flushes logs and Sentry
    let belfry = config.belfry();

    let health = health::demo_health()?;
    let state = routes::AppState {
        metrics: metrics::DemoMetrics::register(belfry.metrics()),
        tasks: belfry.tasks(),
        inventory: inventory::Inventory::from_env(&belfry),
    };
    let router = routes::router(state)
        .merge(health.routes())
        .merge(belfry.metrics().router());
    // Last, so the stack covers every route; the demo's request timeout goes inside it.
    let app = lifecycle::apply_stack(&belfry, router)?;

    let listener = tokio::net::TcpListener::bind(bind_address()?).await?;
    // Listens, turns ready, drains on SIGTERM, refreshes the health checks, counts what hyper
    // rejects.
    belfry.serve(listener, app).health(&health).await?;
    tracing::info!("stopped");
    Ok(())
}

/// `BIND_ADDR`, `127.0.0.1:3000` by default.
fn bind_address() -> Result<SocketAddr, String> {
    std::env::var("BIND_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".to_owned())
        .parse()
        .map_err(|error| format!("BIND_ADDR is not a socket address: {error}"))
}
