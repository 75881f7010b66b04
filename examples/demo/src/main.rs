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

use belfry::{health::GracefulShutdown, Belfry};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    lifecycle::install_application_panic_hook(); // belfry's panic hook chains to it
    let _telemetry = belfry::telemetry::init(); // dropped last: flushes logs
    let belfry = Belfry::from_env()?;

    let address: SocketAddr = std::env::var("BIND_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".to_owned())
        .parse()
        .map_err(|error| format!("BIND_ADDR is not a socket address: {error}"))?;

    let health = health::demo_health()?;
    let shutdown = GracefulShutdown::builder()
        .env()?
        .readiness(health.readiness().clone())
        .build();
    let state = routes::AppState {
        metrics: metrics::DemoMetrics::register(belfry.metrics()),
        tasks: belfry.tasks(),
        inventory: inventory::Inventory::from_env(&belfry),
    };
    let router = routes::router(state)
        .merge(health.routes())
        .merge(belfry.metrics().router());
    // `wrap_with` comes last, so the stack covers every route, the health and metrics routes
    // too; the demo's own layer (a request timeout) goes in it, inside belfry's request id,
    // access log and metrics.
    let app = lifecycle::apply_stack(&belfry, router)?;

    let listener = tokio::net::TcpListener::bind(address).await?;
    health.readiness().mark_started(); // nothing to warm up: ready at once
                                       // Logs `listening`; counts what hyper rejects; drains on SIGTERM; refreshes health checks.
    belfry
        .serve(listener, app)
        .health(&health)
        .graceful_shutdown(shutdown)
        .await?;
    tracing::info!("stopped");
    Ok(())
}
