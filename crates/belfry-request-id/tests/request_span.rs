//! Events logged while serving a request carry its id. Alone in its test binary: tracing's
//! callsite interest cache is process-wide, and tests on other threads would race with it.

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
};

use belfry_request_id::RequestIdLayer;
use http::{Request, Response};
use tower::{service_fn, ServiceBuilder, ServiceExt};
use tracing_subscriber::{layer::SubscriberExt, Layer};

/// Records, for each event, the `request_id` of the span it happened in.
#[derive(Clone, Default)]
struct SpanIdRecorder(Arc<Mutex<Vec<Option<String>>>>);

struct IdVisitor(Option<String>);

impl tracing::field::Visit for IdVisitor {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "request_id" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "request_id" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

struct RequestIdOfSpan(String);

impl<S> Layer<S> for SpanIdRecorder
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut visitor = IdVisitor(None);
        attrs.record(&mut visitor);
        if let (Some(value), Some(span)) = (visitor.0, ctx.span(id)) {
            span.extensions_mut().insert(RequestIdOfSpan(value));
        }
    }

    fn on_event(&self, _event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let id = ctx.event_scope(_event).and_then(|mut scope| {
            scope.find_map(|span| span.extensions().get::<RequestIdOfSpan>().map(|id| id.0.clone()))
        });
        self.0.lock().unwrap().push(id);
    }
}

#[tokio::test]
async fn handler_events_carry_the_request_id() {
    let recorder = SpanIdRecorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    let _default = tracing::subscriber::set_default(subscriber);

    let service = ServiceBuilder::new()
        .layer(RequestIdLayer::new())
        .service(service_fn(|_: Request<()>| async {
            tracing::info!("handler ran");
            Ok::<_, Infallible>(Response::new(()))
        }));
    tracing::info!("outside any request");
    let request = Request::get("/")
        .header("x-request-id", "req-7")
        .body(())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-7");
    assert_eq!(*recorder.0.lock().unwrap(), vec![None, Some("req-7".to_owned())]);
}
