//! [`PropagateMiddleware`]: the same as [`PropagateLayer`](crate::PropagateLayer), for reqwest.

use std::{borrow::Cow, sync::Arc};

use belfry_request_id::RequestId;
use belfry_scrub::ScrubPolicy;
use belfry_trace_context::TraceContext;
use http::Extensions;
use reqwest_middleware::{Middleware, Next};

use crate::{
    call::{Call, CallConfig, Outcome, Target},
    headers::insert_missing,
};

/// A `reqwest_middleware::Middleware` that sends the current request's propagation headers
/// (never overwriting the caller's), times each call to its response head, writes one log line
/// at target [`TARGET`](crate::TARGET) and, when given metrics, records the call (see the
/// [crate docs](crate)).
///
/// A [`TraceContext`] or a [`RequestId`] in the request's `reqwest_middleware` extensions
/// (`RequestBuilder::with_extension`) is used instead of the current ones
/// ([`TraceContext::current`], [`RequestId::current`]): how to send a request's context from a
/// task that does not carry it.
///
/// ```no_run
/// use belfry_client::PropagateMiddleware;
///
/// # async fn handler() -> Result<(), reqwest_middleware::Error> {
/// // Once, at start-up; clone it into the router state.
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(PropagateMiddleware::new())
///     .build();
/// // In a handler: traceparent, tracestate, sentry-trace, baggage and x-request-id are sent.
/// let response = client.get("http://inventory.internal/items").send().await?;
/// # let _ = response;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct PropagateMiddleware {
    config: Arc<CallConfig>,
}

impl PropagateMiddleware {
    /// A middleware with the default [`ScrubPolicy`] and no metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Scrubs `url.full` in the log lines with `policy`.
    pub fn scrub_policy(mut self, policy: ScrubPolicy) -> Self {
        Arc::make_mut(&mut self.config).scrub = policy;
        self
    }

    /// Records every call into `metrics`.
    #[cfg(feature = "metrics")]
    pub fn metrics(mut self, metrics: belfry_metrics::HttpClientMetrics) -> Self {
        Arc::make_mut(&mut self.config).metrics = Some(metrics);
        self
    }
}

#[async_trait::async_trait]
impl Middleware for PropagateMiddleware {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let current_id;
        let request_id = match extensions.get::<RequestId>() {
            Some(id) => Some(id),
            None => {
                current_id = RequestId::current();
                current_id.as_ref()
            }
        };
        let span = match extensions.get::<TraceContext>() {
            Some(trace) => insert_missing(request.headers_mut(), Some(trace), request_id),
            None => {
                TraceContext::with_current(|trace| insert_missing(request.headers_mut(), trace, request_id))
            }
        };
        let call = Call::start(
            Arc::clone(&self.config),
            request.method().clone(),
            Target::Url(request.url().clone()),
            span,
        );
        let result = next.run(request, extensions).await;
        match &result {
            Ok(response) => call.finish(Outcome::Response(response.status())),
            Err(error) => call.finish(Outcome::Error(Cow::Borrowed(error_type(error)))),
        }
        result
    }
}

/// `error.type` of a failed reqwest call.
fn error_type(error: &reqwest_middleware::Error) -> &'static str {
    let reqwest_middleware::Error::Reqwest(error) = error else {
        return "middleware";
    };
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_redirect() {
        "redirect"
    } else if error.is_body() {
        "body"
    } else if error.is_decode() {
        "decode"
    } else if error.is_builder() {
        "builder"
    } else {
        "request"
    }
}
