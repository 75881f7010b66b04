//! JSON-lines logs for `tracing`: one JSON object per event, one event per line, with the fields
//! of every enclosing span, the request's own fields and `log`-crate records — written by a
//! writer thread, so a stalled output never stalls the service.
//!
//! - [`JsonLines`]: the layer, usable in any `tracing_subscriber::registry()`.
//! - [`NonBlocking`]: a [`MakeWriter`](tracing_subscriber::fmt::MakeWriter) handing lines to a
//!   writer thread through a bounded queue that drops INFO before WARN, and counts.
//! - [`CallsiteLimit`]: a callsite logging more than its limit per second has the excess
//!   suppressed and summarised by one line a second ([`JsonLines::limit_callsites`]).
//! - [`request`]: fields a handler or middleware attaches to the request being served.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use belfry_log::{request, JsonLines, NonBlocking};
//! use belfry_request_id::REQUEST_SPAN_TARGET;
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! #[derive(Clone, Default)]
//! struct Output(Arc<Mutex<Vec<u8>>>);
//! impl std::io::Write for Output {
//!     fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
//!         self.0.lock().unwrap().extend_from_slice(buf);
//!         Ok(buf.len())
//!     }
//!     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! }
//!
//! let output = Output::default();
//! let out = output.clone();
//! let (writer, guard) = NonBlocking::new(move || out.clone());
//! let subscriber = tracing_subscriber::registry().with(JsonLines::new(writer));
//! tracing::subscriber::with_default(subscriber, || {
//!     let request = tracing::error_span!(target: REQUEST_SPAN_TARGET, "request", request_id = "r-1");
//!     let _request = request.enter();
//!     let handler = tracing::info_span!("handler", tenant_id = "acme", step = tracing::field::Empty);
//!     let _handler = handler.enter();
//!     handler.record("step", 2);
//!     request::record("user.id", 42u64);
//!     tracing::info!(items = 3, "paid");
//! });
//! drop(guard); // writes what is queued
//!
//! let text = String::from_utf8(output.0.lock().unwrap().clone()).unwrap();
//! assert_eq!(
//!     &text[text.find("\"level\"").unwrap()..],
//!     "\"level\":\"INFO\",\"target\":\"rust_out\",\"message\":\"paid\",\"items\":3,\
//!      \"tenant_id\":\"acme\",\"step\":2,\"request_id\":\"r-1\",\"user.id\":42}\n"
//! );
//! ```
//!
//! # Output contract
//!
//! Each event becomes one line, a JSON object ending in `\n`:
//!
//! ```text
//! {"timestamp":"2026-11-23T15:04:05.123456Z","level":"INFO","target":"belfry_demo","message":"user looked up","user_id":42,"tenant_id":"acme","request_id":"0193…","trace_id":"4bf9…","span_id":"00f0…","user.id":"u-7"}
//! ```
//!
//! - `timestamp`: RFC 3339, UTC, microseconds, as `tracing_subscriber::fmt::time::SystemTime`
//!   prints it; `level`: `TRACE` … `ERROR`; `target`: the event's target — for a `log` record
//!   bridged by tracing-log, the record's own target (tracing-log's `log.target`, `log.file`,
//!   … fields are not printed).
//! - The event's fields, `message` among them, then the fields of every span the event is in
//!   (the current span or an explicit parent, and their ancestors), innermost first, including
//!   values recorded later with `Span::record`; each span's fields are formatted once, when
//!   recorded, not again for every event. After the fields of the belfry request span (target
//!   [`REQUEST_SPAN_TARGET`](belfry_request_id::REQUEST_SPAN_TARGET): `request_id`, and
//!   `trace_id`, `span_id` when set), its [request fields](request).
//! - Names as written (dotted names such as `http.route` kept, a raw identifier's `r#` dropped).
//!   Signed and unsigned 64-bit integers and finite floats are JSON numbers, non-finite floats
//!   `null`, booleans booleans; strings, `Display` (`%`) and `Debug` (`?`) values, errors and
//!   128-bit integers are JSON strings.
//! - **No key appears twice.** `timestamp`, `level` and `target` belong to the line, and
//!   `request_id`, `trace_id`, `span_id` to the request span: the same name from an event,
//!   another span or a request field is written `fields.timestamp`, `fields.request_id`, … The
//!   event's own fields win over span fields of the same key, an inner span's over an outer
//!   span's, the request span's own fields over its request fields. An event naming a field
//!   twice gets `#2`, `#3`, … on the repeats; a span field recorded again replaces its value.
//! - Every string is escaped: `"` and `\` with a backslash, `\n`, `\r`, `\t`, the other control
//!   characters (C0, DEL and C1) as `\u00XX`. A value cannot end its string, its object or its
//!   line, so it cannot forge a log line. Other characters are written as UTF-8.
//! - Write errors are ignored (a log line must never fail a request).
//!
//! # Cost
//!
//! No global lock and no allocation per event: the line is formatted into a reused thread-local
//! buffer, written with one `write_all`. Keys are de-duplicated with a 64-bit filter per line
//! and per span (128 bits; a span whose keys the line does not have is appended with one copy); exact
//! comparisons happen only when two keys share a filter bit. A span's fields cost one
//! allocation when it is created (none for a span without fields), in a `FormattedFields`-like
//! extension. See docs/performance.md for the figures.
//!
//! # Why hand-written
//!
//! belfry first used `json-subscriber`: a `serde_json::Value` map per event, a `String` per field,
//! about 20 000 instructions for the access-log line against about 4 500 here.
#![deny(missing_docs)]

mod escape;
mod fields;
mod layer;
mod limiter;
mod number;
pub mod request;
mod time;
mod writer;

pub use fields::{RENAMED_PREFIX, SPAN_ID_FIELD, TRACE_ID_FIELD};
pub use layer::JsonLines;
pub use limiter::{CallsiteLimit, SuppressedLines, CALLSITE_SLOTS};
pub use time::rfc3339_seconds;
pub use writer::{
    DropReport, DroppedLines, NonBlocking, NonBlockingBuilder, QueueBounds, QueuedLine, WriterGuard,
    DEFAULT_FLUSH_TIMEOUT, DROPPED_LINES_TARGET,
};
