//! Request fields: what a handler or a middleware attaches to the request being served, printed
//! on every later line of that request — the `request completed` access-log line included — and
//! readable by error reporting.
//!
//! The fields live in the extensions of the belfry request span (target
//! [`belfry_request_id::REQUEST_SPAN_TARGET`]), found from the current span
//! through the registry. Outside a request, or under a subscriber that is not a
//! `tracing_subscriber::Registry`, [`record`] does nothing and returns `false`.
//!
//! ```
//! use belfry_log::{request, JsonLines};
//! use belfry_request_id::REQUEST_SPAN_TARGET;
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let subscriber = tracing_subscriber::registry().with(JsonLines::new(std::io::sink));
//! tracing::subscriber::with_default(subscriber, || {
//!     assert!(!request::record("user.id", 42u64), "not in a request");
//!     let span = tracing::error_span!(target: REQUEST_SPAN_TARGET, "request", request_id = "r-1");
//!     span.in_scope(|| {
//!         // Deep inside the handler, under spans of its own:
//!         tracing::info_span!("load").in_scope(|| {
//!             assert!(request::record(request::USER_ID, 42u64));
//!             assert!(request::record("tenant", "acme"));
//!             assert!(request::record("tenant", "globex")); // replaces
//!         });
//!         let fields = request::fields();
//!         assert_eq!(fields.len(), 2);
//!         assert_eq!(fields[0].key, "user.id");
//!         assert_eq!(fields[0].value, request::FieldValue::U64(42));
//!         assert_eq!(fields[1].value, request::FieldValue::from("globex"));
//!     });
//! });
//! ```
//!
//! # Privacy
//!
//! Request fields are written to the logs as they are, and handed to whoever asks
//! [`fields`] (belfry sends them to Sentry, see docs/configuration.md). Record ids, not names,
//! e-mail addresses or tokens.

use std::{borrow::Cow, fmt};

use belfry_request_id::REQUEST_SPAN_TARGET;
use tracing_subscriber::{registry::LookupSpan, Registry};

use crate::{
    fields::{push_json_string, FormattedFields, Origin},
    layer::SpanFields,
    number::{push_f64, push_i64, push_u64},
};

/// The key of the user id, the field belfry's Sentry integration reads as Sentry's user (only
/// with `SENTRY_SEND_DEFAULT_PII=true`).
pub const USER_ID: &str = "user.id";

/// A request field's value.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    /// A string, written as a JSON string.
    Str(String),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A float (non-finite ones are written as `null`).
    F64(f64),
    /// A boolean.
    Bool(bool),
}

impl FieldValue {
    fn write_json(&self, out: &mut String) {
        match self {
            Self::Str(value) => push_json_string(out, value),
            Self::I64(value) => push_i64(out, *value),
            Self::U64(value) => push_u64(out, *value),
            Self::F64(value) => push_f64(out, *value),
            Self::Bool(value) => out.push_str(if *value { "true" } else { "false" }),
        }
    }
}

impl fmt::Display for FieldValue {
    /// The value as text: strings as they are, numbers and booleans as Rust prints them.
    ///
    /// ```
    /// use belfry_log::request::FieldValue;
    ///
    /// assert_eq!(FieldValue::from("acme").to_string(), "acme");
    /// assert_eq!(FieldValue::from(-3i64).to_string(), "-3");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str(value) => f.write_str(value),
            Self::I64(value) => value.fmt(f),
            Self::U64(value) => value.fmt(f),
            Self::F64(value) => value.fmt(f),
            Self::Bool(value) => value.fmt(f),
        }
    }
}

macro_rules! from_values {
    ($($variant:ident($via:ty): $($source:ty),+;)+) => {
        $($(
            impl From<$source> for FieldValue {
                fn from(value: $source) -> Self {
                    Self::$variant(<$via>::from(value))
                }
            }
        )+)+
    };
}

from_values! {
    Str(String): &str, String, &String, Box<str>, Cow<'_, str>;
    I64(i64): i64, i32, i16, i8;
    U64(u64): u64, u32, u16, u8;
    F64(f64): f64, f32;
    Bool(bool): bool;
}

impl From<usize> for FieldValue {
    fn from(value: usize) -> Self {
        Self::U64(value as u64)
    }
}

/// One request field.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestField {
    /// The key, as recorded (`user.id`); see [`record`] for how keys that clash with the
    /// line's own are printed.
    pub key: Cow<'static, str>,
    /// The value.
    pub value: FieldValue,
}

/// The request fields of one request span, in its extensions: the values, and the same as a
/// JSON fragment, formatted once per [`record`].
#[derive(Debug)]
pub(crate) struct RequestFields {
    values: Vec<RequestField>,
    json: FormattedFields,
}

impl RequestFields {
    fn new() -> Self {
        Self {
            values: Vec::with_capacity(4),
            json: FormattedFields::new(),
        }
    }

    pub(crate) fn formatted(&self) -> &FormattedFields {
        &self.json
    }

    fn set(&mut self, key: Cow<'static, str>, value: FieldValue) {
        let start = self.json.begin(&key, Origin::Other);
        let entry = self.json.key_end(start);
        value.write_json(self.json_out());
        self.json.finish(entry);
        match self.values.iter_mut().find(|field| field.key == key) {
            Some(field) => field.value = value,
            None => self.values.push(RequestField { key, value }),
        }
    }

    fn json_out(&mut self) -> &mut String {
        self.json.json_mut()
    }
}

/// Attaches `key = value` to the request being served: printed on every line of that request
/// logged from now on (the `request completed` line included), and returned by [`fields`].
/// Recording a key again replaces its value. Returns `false`, doing nothing, outside a request.
///
/// Usable from a handler or a middleware, at any depth of spans below the request span.
/// The key is printed as given, except that `timestamp`, `level`, `target`, `request_id`,
/// `trace_id` and `span_id` get the `fields.` prefix (those keys belong to the line and the
/// request span); a field of the event or of a span with the same key wins over it.
pub fn record(key: impl Into<Cow<'static, str>>, value: impl Into<FieldValue>) -> bool {
    let (key, value) = (key.into(), value.into());
    with_request_span(|span| {
        let mut extensions = span.extensions_mut();
        match extensions.get_mut::<SpanFields>() {
            Some(SpanFields {
                request: Some(fields),
                ..
            }) => fields.set(key, value),
            Some(stored) => {
                let mut fields = RequestFields::new();
                fields.set(key, value);
                stored.request = Some(Box::new(fields));
            }
            None => {
                let mut fields = RequestFields::new();
                fields.set(key, value);
                extensions.insert(SpanFields::for_request(fields));
            }
        }
    })
    .is_some()
}

/// The request fields of the request being served (empty outside a request), in the order they
/// were first recorded. For error reporting: belfry attaches them to the request's Sentry events.
pub fn fields() -> Vec<RequestField> {
    with_request_span(|span| {
        span.extensions()
            .get::<SpanFields>()
            .and_then(|stored| stored.request.as_ref())
            .map(|fields| fields.values.clone())
            .unwrap_or_default()
    })
    .unwrap_or_default()
}

/// The request fields of the request `span` belongs to (the request span itself or any span
/// inside it), for code that holds a span but does not run inside it. Empty when `span` is not
/// in a request.
///
/// ```
/// use belfry_log::{request, JsonLines};
/// use belfry_request_id::REQUEST_SPAN_TARGET;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let subscriber = tracing_subscriber::registry().with(JsonLines::new(std::io::sink));
/// tracing::subscriber::with_default(subscriber, || {
///     let span = tracing::error_span!(target: REQUEST_SPAN_TARGET, "request", request_id = "r-1");
///     span.in_scope(|| request::record("tenant", "acme"));
///     // Outside the span:
///     assert_eq!(request::fields_of(&span)[0].value, request::FieldValue::from("acme"));
///     assert!(request::fields().is_empty());
/// });
/// ```
pub fn fields_of(span: &tracing::Span) -> Vec<RequestField> {
    let Some(id) = span.id() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    span.with_subscriber(|(_, dispatch)| {
        if let Some(registry) = dispatch.downcast_ref::<Registry>() {
            found = request_span_fields(registry.span(&id));
        }
    });
    found
}

fn request_span_fields(
    span: Option<tracing_subscriber::registry::SpanRef<'_, Registry>>,
) -> Vec<RequestField> {
    span.and_then(|span| {
        span.scope()
            .find(|span| span.metadata().target() == REQUEST_SPAN_TARGET)
    })
    .and_then(|request| {
        request
            .extensions()
            .get::<SpanFields>()
            .and_then(|stored| stored.request.as_ref())
            .map(|fields| fields.values.clone())
    })
    .unwrap_or_default()
}

/// Runs `f` on the request span enclosing the current span, if there is one.
fn with_request_span<R>(
    f: impl FnOnce(tracing_subscriber::registry::SpanRef<'_, Registry>) -> R,
) -> Option<R> {
    let mut f = Some(f);
    tracing::dispatcher::get_default(|dispatch| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let current = dispatch.current_span();
        let span = registry.span(current.id()?)?;
        let request = span
            .scope()
            .find(|span| span.metadata().target() == REQUEST_SPAN_TARGET)?;
        f.take().map(|f| f(request))
    })
}
