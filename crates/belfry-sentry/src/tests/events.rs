//! The Sentry events, transactions and breadcrumbs, through the SDK's test transport.

use axum::{http::StatusCode, Router};
use sentry::{
    protocol::{Context, EnvelopeItem, Event, SpanStatus},
    ClientOptions, SentryFutureExt,
};

use super::*;

/// Runs `requests` in a hub whose client sends to a test transport; returns the envelopes.
async fn with_sentry<F: std::future::Future<Output = ()>>(
    options: ClientOptions,
    requests: F,
) -> Vec<sentry::Envelope> {
    let (hub, transport) = sentry_hub(options);
    requests.bind_hub(hub).await;
    transport.fetch_and_clear_envelopes()
}

fn events(envelopes: &[sentry::Envelope]) -> Vec<Event<'static>> {
    envelopes
        .iter()
        .filter_map(|envelope| envelope.event().cloned())
        .collect()
}

fn transactions(envelopes: &[sentry::Envelope]) -> Vec<sentry::protocol::Transaction<'static>> {
    envelopes
        .iter()
        .flat_map(|envelope| envelope.items())
        .filter_map(|item| match item {
            EnvelopeItem::Transaction(transaction) => Some((**transaction).clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_panic_is_one_event_with_the_request_scrubbed() {
    setup();
    let envelopes = with_sentry(ClientOptions::default(), async {
        let answer = get_with_id(
            app(capture()),
            "/panic?access_token=s3cr3t-query&page=2",
            "sentry-panic-1",
        )
        .await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    })
    .await;
    let events = events(&envelopes);
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];

    assert_eq!(event.tags["request_id"], "sentry-panic-1");
    assert_eq!(event.transaction.as_deref(), Some("GET /panic"));
    assert_eq!(event.level, sentry::Level::Error);
    let exception = &event.exception[0];
    assert_eq!(exception.ty, "panic");
    assert_eq!(exception.value.as_deref(), Some(PANIC_MESSAGE));
    assert_eq!(exception.mechanism.as_ref().unwrap().handled, Some(false));
    let location = format!("{PANIC_FILE}:{PANIC_LINE}:");
    assert!(event.extra["panic.location"]
        .as_str()
        .unwrap()
        .starts_with(&location));
    assert!(exception
        .stacktrace
        .as_ref()
        .is_some_and(|trace| !trace.frames.is_empty()));

    let request = event.request.as_ref().expect("the request");
    assert_eq!(request.method.as_deref(), Some("GET"));
    assert_eq!(
        request.url.as_ref().unwrap().as_str(),
        "http://api.example.com/panic?access_token=[REDACTED]&page=2"
    );
    assert_eq!(
        request.query_string.as_deref(),
        Some("access_token=[REDACTED]&page=2")
    );
    assert_eq!(request.headers["user-agent"], "belfry-tests/1");
    assert_eq!(request.headers["authorization"], "[REDACTED]");
    assert_eq!(request.headers["cookie"], "[REDACTED]");
    assert!(request.cookies.is_none() && request.data.is_none());
    assert!(event.user.is_none(), "no user unless the application sets one");
    let serialized =
        serde_json::to_string(&envelopes.iter().map(|e| format!("{e:?}")).collect::<Vec<_>>()).unwrap();
    assert!(
        !serialized.contains("s3cr3t"),
        "a secret reached Sentry: {serialized}"
    );
}

#[tokio::test]
async fn a_panic_in_call_is_one_event() {
    setup();
    let envelopes = with_sentry(ClientOptions::default(), async {
        let request = Request::get("/x")
            .header("x-request-id", "sentry-call-1")
            .body(Body::empty())
            .unwrap();
        let response = panicking_in_call(capture()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), 500);
    })
    .await;
    let events = events(&envelopes);
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].exception[0].value.as_deref(), Some("call exploded"));
    assert_eq!(events[0].transaction.as_deref(), Some("GET <unmatched>"));
    assert_eq!(events[0].tags["request_id"], "sentry-call-1");
}

#[tokio::test]
async fn an_application_5xx_with_an_error_is_one_event_with_the_chain() {
    setup();
    let envelopes = with_sentry(ClientOptions::default(), async {
        get_with_id(app(capture()), "/down", "sentry-down-1").await;
    })
    .await;
    let events = events(&envelopes);
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    let values: Vec<_> = event
        .exception
        .iter()
        .map(|exception| exception.value.as_deref().unwrap())
        .collect();
    assert_eq!(
        values,
        [
            "connection refused",
            "querying the database",
            "loading the report"
        ]
    );
    let types: Vec<_> = event
        .exception
        .iter()
        .map(|exception| exception.ty.as_str())
        .collect();
    assert_eq!(types[1], "Middle");
    assert_eq!(types[2], std::any::type_name::<super::Outer>());
    assert_eq!(event.tags["http.response.status_code"], "503");
    assert_eq!(event.tags["request_id"], "sentry-down-1");
    assert_eq!(event.transaction.as_deref(), Some("GET /down"));
}

#[tokio::test]
async fn an_application_5xx_without_an_error_is_one_message_event() {
    setup();
    let envelopes = with_sentry(ClientOptions::default(), async {
        get_with_id(app(capture()), "/bare-500", "sentry-bare-1").await;
    })
    .await;
    let events = events(&envelopes);
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].message.as_deref(), Some("HTTP 500 GET /bare-500"));
    assert!(events[0].exception.is_empty());
}

#[tokio::test]
async fn success_sends_nothing() {
    setup();
    let envelopes = with_sentry(ClientOptions::default(), async {
        get_with_id(app(capture()), "/ok", "sentry-ok-1").await;
        get_with_id(app(capture()), "/users/7", "sentry-ok-2").await;
    })
    .await;
    assert!(envelopes.is_empty(), "{envelopes:#?}");
}

#[tokio::test]
async fn sampled_requests_get_a_transaction_named_after_the_route() {
    setup();
    let options = ClientOptions::default().traces_sample_rate(1.0);
    let envelopes = with_sentry(options, async {
        get_with_id(app(capture()), "/users/7", "sentry-tx-1").await;
        get_with_id(app(capture()), "/panic", "sentry-tx-2").await;
    })
    .await;
    let transactions = transactions(&envelopes);
    assert_eq!(transactions.len(), 2, "{transactions:#?}");
    let trace = |transaction: &sentry::protocol::Transaction<'_>| match transaction.contexts.get("trace") {
        Some(Context::Trace(trace)) => (**trace).clone(),
        other => panic!("no trace context: {other:?}"),
    };
    let users = &transactions[0];
    assert_eq!(users.name.as_deref(), Some("GET /users/{id}"));
    assert_eq!(trace(users).op.as_deref(), Some("http.server"));
    assert_eq!(trace(users).status, Some(SpanStatus::Ok));
    assert_eq!(users.tags["request_id"], "sentry-tx-1");
    let panicked = &transactions[1];
    assert_eq!(panicked.name.as_deref(), Some("GET /panic"));
    assert_eq!(trace(panicked).status, Some(SpanStatus::InternalError));

    let events = events(&envelopes);
    assert_eq!(events.len(), 1, "{events:#?}");
    let Some(Context::Trace(event_trace)) = events[0].contexts.get("trace") else {
        panic!("the event carries the trace context");
    };
    assert_eq!(
        event_trace.trace_id,
        trace(panicked).trace_id,
        "the event belongs to the transaction"
    );
}

#[tokio::test]
async fn unsampled_requests_send_no_transaction() {
    setup();
    let envelopes = with_sentry(ClientOptions::default().traces_sample_rate(0.0), async {
        get_with_id(app(capture()), "/users/8", "sentry-notx-1").await;
    })
    .await;
    assert!(transactions(&envelopes).is_empty());
}

#[tokio::test]
async fn breadcrumbs_of_concurrent_requests_do_not_mix() {
    setup();
    let envelopes = with_sentry(ClientOptions::default(), async {
        sentry::add_breadcrumb(sentry::Breadcrumb {
            message: Some("left on the hub before the requests".into()),
            ..Default::default()
        });
        tokio::join!(
            get_with_id(app(capture()), "/chatty", "sentry-crumbs-a"),
            get_with_id(app(capture()), "/chatty", "sentry-crumbs-b"),
        );
    })
    .await;
    let events = events(&envelopes);
    assert_eq!(events.len(), 2, "{events:#?}");
    for event in &events {
        let id = &event.tags["request_id"];
        let crumbs: Vec<_> = event
            .breadcrumbs
            .iter()
            .filter_map(|crumb| crumb.message.as_deref())
            .collect();
        assert_eq!(
            crumbs,
            [format!("first step of {id}"), format!("second step of {id}")],
            "{id}"
        );
        assert_eq!(event.message.as_deref(), Some("HTTP 502 GET /chatty"));
    }
}

#[tokio::test]
async fn a_panic_in_spawned_work_is_attributed_to_the_request() {
    setup();
    let envelopes = with_sentry(ClientOptions::default(), async {
        get_with_id(app(capture()), "/spawn", "sentry-spawn-1").await;
    })
    .await;
    let events = events(&envelopes);
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(event.exception[0].ty, "panic");
    assert_eq!(
        event.exception[0].value.as_deref(),
        Some("background work exploded")
    );
    assert_eq!(event.level, sentry::Level::Fatal);
    assert_eq!(event.tags["request_id"], "sentry-spawn-1");
    assert_eq!(event.transaction.as_deref(), Some("GET /spawn"));
    let crumbs: Vec<_> = event
        .breadcrumbs
        .iter()
        .filter_map(|crumb| crumb.message.as_deref())
        .collect();
    assert_eq!(crumbs, ["background work started"]);
}

/// The app behind belfry's trace-context layer, as the facade stacks it (outermost).
fn traced_app() -> Router {
    app(capture()).layer(belfry_trace_context::TraceContextLayer::new())
}

async fn get_traced(app: Router, uri: &str, traceparent: &str) -> Answer {
    let request = Request::get(uri)
        .header("traceparent", traceparent)
        .header("host", "api.example.com")
        .body(Body::empty())
        .unwrap();
    collect(app.oneshot(request).await.unwrap()).await
}

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

#[tokio::test]
async fn an_unsampled_request_s_event_is_in_the_caller_s_trace() {
    setup();
    let envelopes = with_sentry(ClientOptions::default(), async {
        let answer = get_traced(
            traced_app(),
            "/panic",
            &format!("00-{CALLER_TRACE}-{CALLER_SPAN}-00"),
        )
        .await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(answer.json()["trace_id"], CALLER_TRACE);
    })
    .await;
    assert!(transactions(&envelopes).is_empty(), "not sampled: no transaction");
    let events = events(&envelopes);
    assert_eq!(events.len(), 1, "{events:#?}");
    let Some(Context::Trace(trace)) = events[0].contexts.get("trace") else {
        panic!("no trace context: {:#?}", events[0].contexts);
    };
    assert_eq!(trace.trace_id.to_string(), CALLER_TRACE);
    assert_eq!(
        trace.parent_span_id.map(|id| id.to_string()).as_deref(),
        Some(CALLER_SPAN)
    );
    assert_ne!(trace.span_id.to_string(), CALLER_SPAN);
}

#[tokio::test]
async fn a_sampled_request_continues_the_caller_s_trace_in_its_transaction() {
    setup();
    // The rate does not decide for a continued trace: the caller's sampled flag does.
    let options = ClientOptions::default().traces_sample_rate(0.000_001);
    let envelopes = with_sentry(options, async {
        let answer = get_traced(
            traced_app(),
            "/panic",
            &format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"),
        )
        .await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    })
    .await;
    let transactions = transactions(&envelopes);
    assert_eq!(transactions.len(), 1, "{envelopes:#?}");
    let Some(Context::Trace(transaction_trace)) = transactions[0].contexts.get("trace") else {
        panic!("no trace context on the transaction");
    };
    assert_eq!(transaction_trace.trace_id.to_string(), CALLER_TRACE);
    assert_eq!(
        transaction_trace
            .parent_span_id
            .map(|id| id.to_string())
            .as_deref(),
        Some(CALLER_SPAN)
    );
    let events = events(&envelopes);
    assert_eq!(events.len(), 1);
    let Some(Context::Trace(event_trace)) = events[0].contexts.get("trace") else {
        panic!("no trace context on the event");
    };
    assert_eq!(event_trace.trace_id, transaction_trace.trace_id);
    assert_eq!(
        event_trace.span_id, transaction_trace.span_id,
        "the event belongs to the transaction"
    );
}

#[tokio::test]
async fn a_panic_while_the_body_streams_is_one_event_with_the_request() {
    setup();
    let envelopes = with_sentry(ClientOptions::default(), async {
        let request = Request::get("/stream-panic?page=3")
            .header("x-request-id", "sentry-stream-1")
            .header("host", "api.example.com")
            .header("authorization", "Bearer s3cr3t-bearer")
            .body(Body::empty())
            .unwrap();
        let response = app(capture()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(http_body_util::BodyExt::collect(response.into_body())
            .await
            .is_err());
    })
    .await;
    let events = events(&envelopes);
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(event.tags["request_id"], "sentry-stream-1");
    assert_eq!(event.transaction.as_deref(), Some("GET /stream-panic"));
    let exception = &event.exception[0];
    assert_eq!(exception.ty, "panic");
    assert_eq!(
        exception.value.as_deref(),
        Some("the body exploded after two chunks")
    );
    let frames = &exception.stacktrace.as_ref().expect("the location").frames;
    assert_eq!(
        frames.len(),
        1,
        "no resolved stack trace unless asked for: {frames:#?}"
    );
    let request = event.request.as_ref().expect("the request");
    assert_eq!(request.headers["authorization"], "[REDACTED]");
    assert_eq!(request.query_string.as_deref(), Some("page=3"));
}

#[tokio::test]
async fn without_a_sentry_client_responses_are_the_same() {
    setup();
    // A client that is not enabled (no DSN) counts as no client.
    let transport = sentry::test::TestTransport::new();
    let mut options = sentry::ClientOptions::default();
    options.transport = Some(std::sync::Arc::new(transport.clone()));
    let hub = sentry::Hub::new(Some(std::sync::Arc::new(options.into())), Default::default());
    let answers = async {
        assert!(!crate::reporter::client_bound());
        let mut answers = Vec::new();
        for (path, id) in [
            ("/panic", "resp-off-1"),
            ("/down", "resp-off-2"),
            ("/ok", "resp-off-3"),
        ] {
            answers.push(get_with_id(app(capture()), path, id).await.status);
        }
        answers
    }
    .bind_hub(std::sync::Arc::new(hub))
    .await;
    assert_eq!(answers, [500, 503, 200]);
    assert!(transport.fetch_and_clear_envelopes().is_empty());
    assert_eq!(capture_events_for("resp-off-1").len(), 1);
    assert_eq!(capture_events_for("resp-off-2").len(), 1);
}

#[tokio::test]
async fn with_stack_traces_on_a_panic_event_carries_the_backtrace() {
    // The parsing of std's backtrace into Sentry's frames, as the hook's reporter asks for it.
    let panic = belfry_capture::Panic::catch(|| panic!("deep")).unwrap_err();
    assert!(
        panic.backtrace().is_none(),
        "the reporter of these tests wants none"
    );
    let backtrace = std::backtrace::Backtrace::force_capture();
    let stacktrace =
        sentry::integrations::backtrace::parse_stacktrace(&backtrace.to_string()).expect("frames");
    assert!(stacktrace.frames.len() > 1, "{stacktrace:#?}");
    assert!(
        stacktrace.frames.iter().any(|frame| frame
            .function
            .as_deref()
            .is_some_and(|function| function.contains("carries_the_backtrace"))),
        "{stacktrace:#?}"
    );
}
