//! Events logged while serving a request carry its id (and its trace, when it has one). Alone in
//! its test binary: tracing's callsite interest cache is process-wide, and tests on other
//! threads would race with it.

use std::{
    collections::BTreeMap,
    convert::Infallible,
    sync::{Arc, Mutex},
};

use belfry_request_id::{RequestIdLayer, REQUEST_ID_FIELD, SPAN_ID_FIELD, TRACE_ID_FIELD};
use belfry_trace_context::TraceContext;
use http::{Request, Response};
use tower::{service_fn, ServiceBuilder, ServiceExt};
use tracing_subscriber::{layer::SubscriberExt, Layer};

type Fields = BTreeMap<String, String>;

/// Records, for each event, the fields of the request span it happened in.
#[derive(Clone, Default)]
struct SpanFieldRecorder(Arc<Mutex<Vec<Option<Fields>>>>);

struct FieldVisitor(Fields);

impl tracing::field::Visit for FieldVisitor {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

struct FieldsOfSpan(Fields);

impl<S> Layer<S> for SpanFieldRecorder
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut visitor = FieldVisitor(Fields::new());
        attrs.record(&mut visitor);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(FieldsOfSpan(visitor.0));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let fields = ctx.event_scope(event).and_then(|mut scope| {
            scope.find_map(|span| {
                span.extensions()
                    .get::<FieldsOfSpan>()
                    .map(|fields| fields.0.clone())
            })
        });
        self.0.lock().unwrap().push(fields);
    }
}

async fn serve(request: Request<()>) -> Vec<Option<Fields>> {
    let recorder = SpanFieldRecorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    let _default = tracing::subscriber::set_default(subscriber);
    let service = ServiceBuilder::new()
        .layer(RequestIdLayer::new())
        .service(service_fn(|_: Request<()>| async {
            tracing::info!("handler ran");
            Ok::<_, Infallible>(Response::new(()))
        }));
    tracing::info!("outside any request");
    service.oneshot(request).await.unwrap();
    let recorded = recorder.0.lock().unwrap().clone();
    recorded
}

#[tokio::test]
async fn handler_events_carry_the_request_id() {
    let request = Request::get("/")
        .header("x-request-id", "req-7")
        .body(())
        .unwrap();
    let recorded = serve(request).await;
    let expected = Fields::from([(REQUEST_ID_FIELD.to_owned(), "req-7".to_owned())]);
    assert_eq!(recorded, vec![None, Some(expected)]);
}

#[tokio::test]
async fn handler_events_carry_the_trace_of_a_traced_request() {
    let trace = TraceContext::new_root(true);
    let request = Request::get("/")
        .header("x-request-id", "req-8")
        .body(())
        .unwrap();
    // As the trace-context layer does: the context is current while the request is served.
    let recorded = trace.clone().scope(serve(request)).await;
    let fields = recorded[1]
        .as_ref()
        .expect("the handler's event is in the request span");
    assert_eq!(fields[REQUEST_ID_FIELD], "req-8");
    assert_eq!(fields[TRACE_ID_FIELD], trace.trace_id().to_string());
    assert_eq!(fields[SPAN_ID_FIELD], trace.span_id().to_string());
    assert_eq!(fields[TRACE_ID_FIELD].len(), 32);
    assert_eq!(fields[SPAN_ID_FIELD].len(), 16);
}

#[tokio::test]
async fn a_span_handed_over_and_not_taken_is_kept_and_entered_by_the_layer() {
    let service = ServiceBuilder::new()
        .layer(RequestIdLayer::new().hand_over_span(true))
        .service(service_fn(|_: Request<()>| async {
            // Polled inside the layer's future: the span it kept is entered.
            let current = tracing::Span::current();
            Ok::<_, Infallible>(Response::new(current.metadata().map(|m| m.name())))
        }));
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry());
    let response = service.oneshot(Request::new(())).await.unwrap();
    assert_eq!(response.into_body(), Some("request"));
    assert!(belfry_request_id::take_request_span().is_none());
}
