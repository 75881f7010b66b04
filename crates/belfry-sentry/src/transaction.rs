//! The request's performance transaction, for the sampled share of requests, and the cap on
//! how many are started per second.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Instant,
};

use http::{HeaderMap, StatusCode};
use sentry::{protocol::SpanStatus, Hub, TracesSamplingStrategy, Transaction, TransactionContext};

use belfry_capture::RequestDetails;

use crate::context::RequestContext;

/// A performance transaction for the sampled share of requests, bound to the request's hub so
/// that its errors link to it. Decided before anything is built: unsampled requests (90 % at the
/// default rate) cost one branch.
///
/// With a [`TraceContext`] (belfry's stack puts one on every request), the trace's one sampling
/// decision is Sentry's too, and the transaction continues the trace: the request's trace id,
/// its own span id, the caller's span id as parent — whether the caller sent `traceparent` or
/// `sentry-trace`. Without one, a coin is tossed at the client's rate, and a request carrying
/// `sentry-trace` leaves the decision to the SDK. A custom `traces_sampler` always decides.
pub(crate) fn sampled_transaction(
    strategy: &TracesSamplingStrategy,
    budget: &TraceBudget,
    hub: &Arc<Hub>,
    context: &RequestContext,
    headers: &HeaderMap,
) -> Option<Transaction> {
    let decided = match (strategy, context.details.trace()) {
        (TracesSamplingStrategy::Disabled, _) => return None,
        (TracesSamplingStrategy::FixedRate(_), Some(trace)) => Some(trace.is_sampled()),
        (TracesSamplingStrategy::FixedRate(rate), None) if !headers.contains_key("sentry-trace") => {
            Some(sample(*rate))
        }
        _ => None,
    };
    if decided == Some(false) || (decided == Some(true) && !budget.take()) {
        return None;
    }
    let name = context.transaction_name();
    let mut transaction_context = match context.details.trace() {
        Some(trace) => TransactionContext::new_with_details(
            &name,
            "http.server",
            trace.trace_id().to_bytes().into(),
            Some(trace.span_id().to_bytes().into()),
            trace.parent_span_id().map(|parent| parent.to_bytes().into()),
        ),
        None => {
            let headers = headers
                .iter()
                .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
            TransactionContext::continue_from_headers(&name, "http.server", headers)
        }
    };
    if decided.is_some() {
        transaction_context.set_sampled(decided);
    }
    let transaction = hub.start_transaction(transaction_context);
    transaction.set_origin("auto.http.belfry");
    transaction.set_request(context.sentry_request());
    if let Some(id) = context.details.request_id() {
        transaction.set_tag("request_id", id.as_str());
    }
    hub.configure_scope(|scope| scope.set_span(Some(transaction.clone().into())));
    Some(transaction)
}

/// `GET /users/{id}`, or `GET <unmatched>` when no route matched: how a request is named in
/// Sentry (transactions and events alike). The route template keeps the number of distinct
/// names small.
///
/// ```
/// let request = http::Request::post("/users/7").body(()).unwrap();
/// let details = belfry_capture::RequestDetails::new(&request);
/// assert_eq!(belfry_sentry::transaction_name(&details), "POST <unmatched>");
/// ```
pub fn transaction_name(details: &RequestDetails) -> String {
    let (method, route) = (
        details.method().as_str(),
        details.route().unwrap_or("<unmatched>"),
    );
    // Pushed, not `format!`ed: sized once, no formatting machinery (a sampled request names one).
    let mut name = String::with_capacity(method.len() + 1 + route.len());
    name.push_str(method);
    name.push(' ');
    name.push_str(route);
    name
}

/// The cap on sampled transactions per second unless
/// [`SentryReporter::max_traces_per_second`](crate::SentryReporter::max_traces_per_second) sets
/// another.
pub const DEFAULT_MAX_TRACES_PER_SECOND: u32 = 100;

/// The performance transactions a [`SentryReporter`](crate::SentryReporter) may still start this
/// second, shared by its clones: past the cap, sampled requests are served without a
/// transaction until the next second. One atomic word, no lock.
#[derive(Debug)]
pub(crate) struct TraceBudget {
    /// 0: no cap.
    limit: u32,
    epoch: Instant,
    /// This second (since `epoch`) and how many transactions it has started:
    /// `second << 32 | count`.
    window: AtomicU64,
}

impl TraceBudget {
    pub(crate) fn new(limit: u32) -> Self {
        Self {
            limit,
            epoch: Instant::now(),
            window: AtomicU64::new(0),
        }
    }

    pub(crate) fn limit(&self) -> u32 {
        self.limit
    }

    /// Takes one transaction from this second's budget; `false` when it is spent.
    fn take(&self) -> bool {
        self.limit == 0 || take_from_window(&self.window, self.epoch.elapsed().as_secs(), self.limit)
    }
}

/// One lock-free step of the per-second budget kept in `window` (`second << 32 | count`).
fn take_from_window(window: &AtomicU64, second: u64, limit: u32) -> bool {
    let mut current = window.load(Ordering::Relaxed);
    loop {
        let (window_second, count) = (current >> 32, current & u64::from(u32::MAX));
        let count = if window_second == second { count } else { 0 };
        if count >= u64::from(limit) {
            return false;
        }
        let next = (second << 32) | (count + 1);
        match window.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(actual) => current = actual,
        }
    }
}

/// `true` with probability `rate`.
fn sample(rate: f32) -> bool {
    belfry_trace_context::random_chance(f64::from(rate))
}

/// Sentry's span status for an HTTP status, as sentry-tower maps it.
pub(crate) fn span_status(status: StatusCode) -> SpanStatus {
    match status {
        StatusCode::UNAUTHORIZED => SpanStatus::Unauthenticated,
        StatusCode::FORBIDDEN => SpanStatus::PermissionDenied,
        StatusCode::NOT_FOUND => SpanStatus::NotFound,
        StatusCode::TOO_MANY_REQUESTS => SpanStatus::ResourceExhausted,
        StatusCode::CONFLICT => SpanStatus::AlreadyExists,
        status if status.is_client_error() => SpanStatus::InvalidArgument,
        StatusCode::NOT_IMPLEMENTED => SpanStatus::Unimplemented,
        StatusCode::SERVICE_UNAVAILABLE => SpanStatus::Unavailable,
        StatusCode::GATEWAY_TIMEOUT => SpanStatus::DeadlineExceeded,
        status if status.is_server_error() => SpanStatus::InternalError,
        status if status.is_success() || status.is_redirection() => SpanStatus::Ok,
        _ => SpanStatus::UnknownError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_statuses() {
        assert_eq!(span_status(StatusCode::OK), SpanStatus::Ok);
        assert_eq!(span_status(StatusCode::NOT_FOUND), SpanStatus::NotFound);
        assert_eq!(span_status(StatusCode::BAD_REQUEST), SpanStatus::InvalidArgument);
        assert_eq!(
            span_status(StatusCode::SERVICE_UNAVAILABLE),
            SpanStatus::Unavailable
        );
        assert_eq!(
            span_status(StatusCode::INTERNAL_SERVER_ERROR),
            SpanStatus::InternalError
        );
    }

    #[test]
    fn the_trace_budget_caps_each_second() {
        let window = AtomicU64::new(0);
        assert_eq!((0..10).filter(|_| take_from_window(&window, 7, 3)).count(), 3);
        assert_eq!(
            (0..10).filter(|_| take_from_window(&window, 8, 3)).count(),
            3,
            "a new second"
        );
        assert!(!take_from_window(&window, 8, 3));
    }
}
