//! `GET /tenants/{tenant}/report`: a handler whose logs carry its context — span fields from
//! `#[instrument]` and `Span::record`, request fields on the access log, a `log`-crate library.

use axum::{extract::Path, Json};
use serde_json::{json, Value};

/// Builds a pretend report. Every line logged inside carries `tenant_id` (an `#[instrument]`
/// field) and, once recorded, `report.rows`; the request's `request completed` line carries
/// `user.id` and `plan` (request fields). Tenant `broken` logs an ERROR instead: with Sentry on,
/// its event carries `plan` as a tag, and `user.id` as the user when `SENTRY_SEND_DEFAULT_PII`
/// is on.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, report.rows = tracing::field::Empty))]
pub async fn report(Path(tenant): Path<String>) -> Json<Value> {
    // Request fields: on every later line of this request, the access log line included.
    belfry::request::record(belfry::request::USER_ID, format!("{tenant}-admin"));
    belfry::request::record("plan", "enterprise");
    tracing::info!("building report");
    let rows = legacy_billing::invoice_rows(&tenant);
    // A span field known only now.
    tracing::Span::current().record("report.rows", rows);
    if tenant == "broken" {
        // An ERROR line: with Sentry on, an event that carries the request fields too.
        tracing::error!(rows, "report inconsistent");
    } else {
        tracing::info!(rows, "report built");
    }
    Json(json!({ "tenant": tenant, "rows": rows }))
}

/// Stands for a library that logs through the `log` crate: belfry bridges its records, which
/// keep their own target (`belfry_demo::tenants::legacy_billing`).
mod legacy_billing {
    pub fn invoice_rows(tenant: &str) -> u64 {
        let rows = tenant.len() as u64 * 10;
        log::info!("computed {rows} invoice rows");
        rows
    }
}
