use std::sync::{Arc, Mutex};

use belfry_trace_context::TraceContext;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::{
    error::OTelSdkResult,
    trace::{SpanData, SpanExporter},
    Resource,
};
use tracing_subscriber::layer::SubscriberExt;

use super::{span_id, trace_id, OtelTraceLayer, SpanQueue};

#[derive(Clone, Debug, Default)]
struct Collect(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Collect {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

/// Runs `f` under a subscriber with the bridge, and gives the exported spans.
fn exported(f: impl FnOnce()) -> Vec<SpanData> {
    let collect = Collect::default();
    let queue = SpanQueue::new(collect.clone(), &Resource::builder_empty().build(), 64);
    let subscriber = tracing_subscriber::registry().with(OtelTraceLayer::new(queue.clone()));
    tracing::subscriber::with_default(subscriber, f);
    queue.shutdown(std::time::Duration::from_secs(5)).unwrap();
    let spans = collect.0.lock().unwrap().clone();
    spans
}

fn serve(context: &TraceContext) {
    context.in_scope(|| {
        let request = tracing::error_span!(target: "belfry::request", "request", request_id = "r-1", trace_id = "x", span_id = "y");
        request.in_scope(|| {
            let child = tracing::info_span!("load_user", user.id = 42);
            child.in_scope(|| {
                tracing::event!(
                    target: "belfry::client",
                    tracing::Level::INFO,
                    http.request.method = "GET",
                    call.span_id = "00f067aa0ba902b7",
                    call.parent_span_id = context.span_id().to_hex().as_str(),
                    duration_ms = 1.5,
                    "http client request"
                );
            });
        });
        tracing::event!(
            target: "belfry::access",
            parent: &request,
            tracing::Level::INFO,
            http.request.method = "GET",
            http.route = "/users/{id}",
            http.response.status_code = 503u16,
            error.type = "503",
            duration_ms = 2.0,
            "request completed"
        );
    });
}

#[test]
fn a_sampled_request_is_a_server_span_with_belfrys_ids_and_its_children() {
    let context = TraceContext::new_root(true);
    let spans = exported(|| serve(&context));
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let server = spans
        .iter()
        .find(|span| span.span_kind == SpanKind::Server)
        .unwrap();
    assert_eq!(server.name, "GET /users/{id}");
    assert_eq!(server.span_context.trace_id(), trace_id(context.trace_id()));
    assert_eq!(server.span_context.span_id(), span_id(context.span_id()));
    assert!(matches!(server.status, Status::Error { .. }));
    assert!(server.attributes.iter().any(|kv| kv.key.as_str() == "http.route"));
    assert!(!server.attributes.iter().any(|kv| kv.key.as_str() == "trace_id"));
    let child = spans.iter().find(|span| span.name == "load_user").unwrap();
    assert_eq!(child.parent_span_id, server.span_context.span_id());
    let client = spans
        .iter()
        .find(|span| span.span_kind == SpanKind::Client)
        .unwrap();
    assert_eq!(client.span_context.span_id().to_string(), "00f067aa0ba902b7");
    assert_eq!(client.parent_span_id, server.span_context.span_id());
    assert_eq!(client.name, "GET");
}

#[test]
fn an_unsampled_request_exports_nothing() {
    assert!(exported(|| serve(&TraceContext::new_root(false))).is_empty());
}
