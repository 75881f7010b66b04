//! The demo's health checks.

use belfry::health::{
    check_fn,
    checks::{HttpCheck, TcpCheck},
    CheckOptions, Health,
};

/// `upstream`: HTTP GET of `DEMO_UPSTREAM_URL` (critical: it decides readiness), when set.
/// `cache`: TCP connect to `DEMO_CACHE_ADDR` when set, else an in-process check; not critical, so
/// when it fails the service reports `warn` and stays ready.
pub fn demo_health() -> Result<Health, Box<dyn std::error::Error>> {
    let mut builder = Health::builder();
    if let Some(url) = std::env::var("DEMO_UPSTREAM_URL")
        .ok()
        .filter(|url| !url.is_empty())
    {
        builder = builder.check("upstream", HttpCheck::new(&url)?);
    }
    let not_critical = CheckOptions::new().critical(false);
    builder = match std::env::var("DEMO_CACHE_ADDR")
        .ok()
        .filter(|addr| !addr.is_empty())
    {
        Some(addr) => builder.check_with("cache", TcpCheck::new(addr), not_critical),
        None => builder.check_with("cache", check_fn(|| async { true }), not_critical),
    };
    Ok(builder.build())
}
