//! The belfry demo service: an axum app wrapped in belfry's stack. Copy it.
//!
//! `cargo run -p belfry-demo`, then `curl -i localhost:3000/users/42`.

mod accounts;
mod error;
mod health;
mod inventory;
mod jobs;
mod metrics;
mod routes;
mod tenants;

use std::net::SocketAddr;

use belfry::{health::GracefulShutdown, Belfry};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
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
    belfry.export_health_checks(&health);
    // belfry_log_lines_dropped_total{level}: lines the log writer had to drop.
    belfry::telemetry::export_log_metrics(belfry.metrics());
    // Keeps the health-check metrics fresh between probes.
    let _refresh = health.spawn_refresh(std::time::Duration::from_secs(10));
    let state = routes::AppState {
        metrics: metrics::DemoMetrics::register(belfry.metrics()),
        tasks: belfry.tasks(),
        inventory: inventory::Inventory::from_env(&belfry),
    };
    // `wrap` comes last, so the stack covers every route, the health and metrics routes too.
    let app = belfry.wrap(
        routes::router(state)
            .merge(health.routes())
            .merge(belfry.metrics().router()),
    );

    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    health.readiness().mark_started(); // nothing to warm up: ready at once

    let serve = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown.signal());
    match shutdown.run(serve).await {
        Ok(served) => served?,
        Err(timed_out) => tracing::warn!("{timed_out}"),
    }
    tracing::info!("stopped");
    Ok(())
}
