//! Trace context across services for Tower and axum: continue incoming W3C Trace Context and
//! Sentry traces, make one sampling decision per trace, and send the context on downstream calls.
//!
//! [`TraceContextLayer`] gives every request a [`TraceContext`]: a trace id (16 bytes, incoming
//! or new), the request's own span id (8 bytes, always new), the caller's span id when the trace
//! is continued, the trace's sampling decision, and the `tracestate` and `baggage` to forward.
//! The context is [`TraceContext::current`] while the request is served (and an axum extractor
//! with the `axum` feature); it is not in the request extensions, which would cost an
//! allocation per request. [`TraceContext::child`] gives
//! the headers for one downstream call.
//!
//! ```
//! use belfry_trace_context::{TraceContext, TraceContextLayer};
//! use http::{HeaderMap, Request, Response};
//! use std::convert::Infallible;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let service = ServiceBuilder::new()
//!     .layer(TraceContextLayer::new())
//!     .service(service_fn(|_: Request<()>| async {
//!         // A handler calling another service: the current context, a child span for the call.
//!         let mut outgoing = HeaderMap::new();
//!         TraceContext::current().unwrap().child().insert_into(&mut outgoing);
//!         Ok::<_, Infallible>(Response::new(outgoing))
//!     }));
//!
//! let request = Request::get("/")
//!     .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
//!     .header("tracestate", "congo=t61rcWkgMzE")
//!     .body(())
//!     .unwrap();
//! let sent = service.clone().oneshot(request).await.unwrap().into_body();
//! let traceparent = sent["traceparent"].to_str().unwrap();
//! assert!(traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
//! assert!(traceparent.ends_with("-01"));
//! assert_ne!(&traceparent[36..52], "00f067aa0ba902b7", "a new span id for the call");
//! assert_eq!(sent["tracestate"], "congo=t61rcWkgMzE");
//!
//! // An invalid traceparent (uppercase hex) starts a new trace and is never echoed.
//! let request = Request::get("/")
//!     .header("traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01")
//!     .header("tracestate", "congo=t61rcWkgMzE")
//!     .body(())
//!     .unwrap();
//! let sent = service.oneshot(request).await.unwrap().into_body();
//! assert!(!sent["traceparent"].to_str().unwrap().to_lowercase().contains("4bf92f3577b34da6"));
//! assert!(sent.get("tracestate").is_none(), "tracestate goes with the traceparent it came with");
//! # }
//! ```
//!
//! # Incoming headers
//!
//! - **`traceparent`** ([W3C Trace Context]) is parsed strictly. Version `00` is exactly
//!   `00-{32 hex}-{16 hex}-{2 hex}` (55 characters); hex is lowercase only; an all-zero trace id
//!   or parent id is invalid; version `ff` is invalid; version `00` with anything after the
//!   flags is invalid. A higher version is accepted when it has at least 55 characters and,
//!   if longer, a `-` after the flags: its first four fields are read as version `00` defines
//!   them. Spaces and tabs around the value are ignored. The header sent more than once is
//!   invalid. Unlike parsers that read the fields as numbers, a 31- or 33-digit trace id, a 15-
//!   or 17-digit parent id, a 3-character version, 1-character flags or a leading `+` are all
//!   rejected. The sampled flag is bit 0 of the flags.
//! - **`tracestate`** is kept only with a valid `traceparent`, and only when valid as a whole:
//!   at most 32 list members, keys `simple-key` (`[a-z][a-z0-9_\-*/]{0,255}`) or
//!   `tenant@system` (`[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13}`), values of 1 to 256
//!   printable ASCII characters except `,` and `=` that do not end in a space, no key twice.
//!   Several `tracestate` fields are combined, in order, into one list. It is forwarded as
//!   received, never modified.
//! - **`sentry-trace`** is `{32 hex}-{16 hex}`, optionally followed by `-1` (sampled) or `-0`
//!   (not sampled); lowercase hex, ids not all zero, sent once.
//! - **`baggage`** ([W3C Baggage]) is kept when every member is `key=value` with optional
//!   `;property` parts as the specification's grammar gives them, with at most
//!   [`MAX_BAGGAGE_MEMBERS`] members and [`MAX_BAGGAGE_BYTES`] bytes; several fields are
//!   combined. Its `sentry-*` entries are Sentry's dynamic sampling context
//!   ([`TraceContext::sentry_baggage`]).
//!
//! Anything invalid is ignored as if absent: it is never echoed or forwarded.
//!
//! # Which header wins
//!
//! 1. A valid `traceparent` is continued: it is the standard, and Sentry's SDKs send it beside
//!    `sentry-trace` since their 2.x versions. A `sentry-trace` that arrives with it is not
//!    read, even when its trace id differs; the `sentry-*` baggage entries are then disregarded
//!    if their `sentry-trace_id` names that other trace (see [`TraceContext::sentry_baggage`]).
//! 2. Otherwise a valid `sentry-trace` is continued. Its flag is the sampling decision; without
//!    a flag (Sentry's deferred decision) the [`Sampler`] decides.
//! 3. Otherwise a new trace starts: 16 random bytes of trace id, and the [`Sampler`] decides.
//!    A valid `baggage` is still forwarded (it does not depend on the trace).
//!
//! # Edge mode
//!
//! A service reachable by untrusted clients sets
//! [`trust_incoming(TrustIncoming::Restart)`](TraceContextLayer::trust_incoming): every request
//! starts a new trace sampled by the [`Sampler`]; the caller's trace id, when its headers were
//! valid, is kept as [`TraceContext::incoming_trace_id`] so it can be logged; the caller's
//! sampled flag, `tracestate` and `baggage` are neither used nor forwarded.
//!
//! # Sampling
//!
//! There is one decision per trace, [`TraceContext::is_sampled`], for Sentry transactions and
//! any exporter alike. A continued trace keeps its caller's decision; the [`Sampler`] decides
//! only for traces that start here. The default [`RatioSampler`] is deterministic by trace id,
//! with the rule of OpenTelemetry's `TraceIdRatioBased`, so services with the same ratio agree.
//!
//! # Spawned tasks
//!
//! [`TraceContext::current`] is set around each poll of the request's future on the polling
//! thread, without tokio. A future given to `tokio::spawn` runs elsewhere and does not see it:
//! carry it with `context.child_span().scope(future)` ([`TraceContext::scope`]).
//!
//! # Cost
//!
//! No lock, and no allocation to read the headers: one pass over the header names finds the
//! trace headers (no hash lookup when there are none), values are parsed where they are and kept
//! as `HeaderValue` clones, which share their bytes. Ids come from a per-thread wyrand generator
//! seeded once from std's `RandomState`. The context is 64 bytes; a `tracestate` or `baggage` to
//! forward is kept behind one `Arc` shared by every clone (one allocation, only when present),
//! and combining several fields of one header allocates the combined value. The request
//! extension is the one allocation every request pays.
//!
//! Measured with callgrind (`examples/instructions.rs`, a trivial inner service, requests with
//! three ordinary headers): the layer adds about 650 instructions per request without trace
//! headers — some 250 of them `http::Extensions::insert` and the freeing of the boxed context —,
//! about 1,100 with a `traceparent`, and about 2,900 with `traceparent`, `tracestate` and a
//! three-member `baggage`.
//!
//! [W3C Trace Context]: https://www.w3.org/TR/trace-context/
//! [W3C Baggage]: https://www.w3.org/TR/baggage/
#![deny(missing_docs)]

mod baggage;
mod context;
#[cfg(feature = "axum")]
mod extract;
mod future;
mod ids;
mod incoming;
mod layer;
mod outgoing;
mod sampler;
mod sentry_trace;
mod service;
mod traceparent;
mod tracestate;

use http::{header::GetAll, HeaderName, HeaderValue};

pub use baggage::{MAX_BAGGAGE_BYTES, MAX_BAGGAGE_MEMBERS};

/// The target of this crate's own log lines (an invalid incoming header ignored, at DEBUG).
///
/// ```
/// assert_eq!(belfry_trace_context::TARGET, "belfry::trace_context");
/// ```
pub const TARGET: &str = "belfry::trace_context";
pub use context::{TraceContext, WithTraceContext};
#[cfg(feature = "axum")]
pub use extract::MissingTraceContext;
pub use future::ResponseFuture;
pub use ids::{Hex, SpanId, TraceId};
pub use incoming::TrustIncoming;
pub use layer::TraceContextLayer;
pub use outgoing::OutgoingContext;
pub use sampler::{random_chance, RatioSampler, Sampler};
pub use service::SetTraceContext;
pub use tracestate::MAX_TRACESTATE_MEMBERS;

/// The W3C `traceparent` header.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// The W3C `tracestate` header.
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
/// Sentry's `sentry-trace` header.
pub const SENTRY_TRACE: HeaderName = HeaderName::from_static("sentry-trace");
/// The W3C `baggage` header.
pub const BAGGAGE: HeaderName = HeaderName::from_static("baggage");

/// The list headers' names as statics, for lookups: borrowing a static costs nothing, while a
/// `const` `HeaderName` is built and dropped at each use.
mod names {
    use http::HeaderName;

    pub(crate) static TRACESTATE: HeaderName = crate::TRACESTATE;
    pub(crate) static BAGGAGE: HeaderName = crate::BAGGAGE;
}

/// The longest combination of several fields of one header that is attempted; more is invalid.
const MAX_COMBINED_BYTES: usize = 32 * 1024;

/// Combines the fields of a list header (RFC 9110 §5.3): empty fields are skipped, one field is
/// kept as is (a reference-count increment), several are joined with `,` (one allocation). The
/// result is kept only if `validate` accepts it.
fn combine_fields<T>(
    fields: GetAll<'_, HeaderValue>,
    validate: fn(&[u8]) -> Option<T>,
) -> Option<(HeaderValue, T)> {
    let mut fields = fields
        .iter()
        .filter(|value| !traceparent::trim_ows(value.as_bytes()).is_empty());
    let first = fields.next()?;
    let Some(second) = fields.next() else {
        return validate(first.as_bytes()).map(|info| (first.clone(), info));
    };
    let mut joined = first.as_bytes().to_vec();
    for value in std::iter::once(second).chain(fields) {
        if joined.len() + 1 + value.len() > MAX_COMBINED_BYTES {
            return None;
        }
        joined.push(b',');
        joined.extend_from_slice(value.as_bytes());
    }
    let info = validate(&joined)?;
    Some((HeaderValue::from_bytes(&joined).ok()?, info))
}

#[cfg(test)]
mod tests;
