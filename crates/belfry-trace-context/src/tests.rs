//! The whole policy through `TraceContext::from_headers` and the layer, and a property test of
//! the parsers against simple reference implementations.

use std::convert::Infallible;

use http::{HeaderMap, HeaderValue, Request, Response};
use proptest::prelude::*;
use tower::{service_fn, Layer, ServiceExt};

use crate::*;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";
const SENTRY_TRACE_ID: &str = "771a43a4192642f0b136d5159a501700";
const SENTRY_SPAN: &str = "b1b5d7f0e6b0ac6d";

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn continue_with(pairs: &[(&'static str, &str)]) -> TraceContext {
    TraceContext::from_headers(&headers(pairs), TrustIncoming::Continue, &RatioSampler::ALWAYS)
}

fn traceparent(flags: &str) -> String {
    format!("00-{TRACE}-{PARENT}-{flags}")
}

#[test]
fn no_headers_start_a_sampled_root() {
    let context = continue_with(&[]);
    assert!(context.trace_id().is_valid() && context.span_id().is_valid());
    assert_eq!(context.parent_span_id(), None);
    assert!(context.is_sampled());
    let never = TraceContext::from_headers(&HeaderMap::new(), TrustIncoming::Continue, &RatioSampler::NEVER);
    assert!(!never.is_sampled());
    assert_ne!(never.trace_id(), context.trace_id());
}

#[test]
fn traceparent_is_continued_with_its_flag() {
    let sampled = continue_with(&[("traceparent", &traceparent("01"))]);
    assert_eq!(sampled.trace_id().to_string(), TRACE);
    assert_eq!(sampled.parent_span_id().unwrap().to_string(), PARENT);
    assert_ne!(sampled.span_id().to_string(), PARENT);
    assert!(sampled.is_sampled());
    let unsampled = continue_with(&[("traceparent", &traceparent("00"))]);
    assert!(!unsampled.is_sampled(), "the incoming decision beats the sampler");
}

#[test]
fn duplicated_traceparent_starts_a_new_trace() {
    let context = continue_with(&[
        ("traceparent", &traceparent("01")),
        ("traceparent", &traceparent("01")),
    ]);
    assert_ne!(context.trace_id().to_string(), TRACE);
    assert_eq!(context.parent_span_id(), None);
}

#[test]
fn tracestate_only_with_a_valid_traceparent() {
    let kept = continue_with(&[("traceparent", &traceparent("00")), ("tracestate", "foo=1,bar=2")]);
    assert_eq!(kept.trace_state().unwrap(), "foo=1,bar=2");
    assert!(continue_with(&[("tracestate", "foo=1")]).trace_state().is_none());
    let invalid_parent = continue_with(&[("traceparent", "00-bad"), ("tracestate", "foo=1")]);
    assert!(invalid_parent.trace_state().is_none());
    let invalid_state = continue_with(&[("traceparent", &traceparent("00")), ("tracestate", "foo=1,FOO=2")]);
    assert!(invalid_state.trace_state().is_none());
    assert_eq!(
        invalid_state.trace_id().to_string(),
        TRACE,
        "a bad tracestate does not break the trace"
    );
    let combined = continue_with(&[
        ("traceparent", &traceparent("00")),
        ("tracestate", "foo=1,bar=2"),
        ("tracestate", "rojo=1,congo=2"),
        ("tracestate", "baz=3"),
    ]);
    assert_eq!(
        combined.trace_state().unwrap(),
        "foo=1,bar=2,rojo=1,congo=2,baz=3"
    );
    // A tracestate that came with a sentry-trace only is not kept: it belongs to a traceparent.
    let sentry = format!("{SENTRY_TRACE_ID}-{SENTRY_SPAN}-1");
    assert!(
        continue_with(&[("sentry-trace", &sentry), ("tracestate", "foo=1")])
            .trace_state()
            .is_none()
    );
}

#[test]
fn sentry_trace_alone_is_continued() {
    let sampled = continue_with(&[("sentry-trace", &format!("{SENTRY_TRACE_ID}-{SENTRY_SPAN}-1"))]);
    assert_eq!(sampled.trace_id().to_string(), SENTRY_TRACE_ID);
    assert_eq!(sampled.parent_span_id().unwrap().to_string(), SENTRY_SPAN);
    assert!(sampled.is_sampled());

    let unsampled = continue_with(&[("sentry-trace", &format!("{SENTRY_TRACE_ID}-{SENTRY_SPAN}-0"))]);
    assert!(!unsampled.is_sampled());

    // Deferred: the sampler decides.
    let deferred = format!("{SENTRY_TRACE_ID}-{SENTRY_SPAN}");
    let map = headers(&[("sentry-trace", &deferred)]);
    assert!(TraceContext::from_headers(&map, TrustIncoming::Continue, &RatioSampler::ALWAYS).is_sampled());
    let never = TraceContext::from_headers(&map, TrustIncoming::Continue, &RatioSampler::NEVER);
    assert!(!never.is_sampled());
    assert_eq!(never.trace_id().to_string(), SENTRY_TRACE_ID);
}

#[test]
fn traceparent_wins_over_a_different_sentry_trace() {
    let sentry = format!("{SENTRY_TRACE_ID}-{SENTRY_SPAN}-1");
    let baggage = format!("sentry-trace_id={SENTRY_TRACE_ID},sentry-sample_rate=1,vendor=x");
    let context = continue_with(&[
        ("traceparent", &traceparent("00")),
        ("sentry-trace", &sentry),
        ("baggage", &baggage),
    ]);
    assert_eq!(context.trace_id().to_string(), TRACE);
    assert!(!context.is_sampled(), "traceparent's flag, not sentry-trace's");
    assert_eq!(
        context.baggage().unwrap(),
        baggage.as_str(),
        "baggage is forwarded"
    );
    assert_eq!(
        context.sentry_baggage().count(),
        0,
        "but its Sentry context is another trace's"
    );

    // The same trace id in both: the Sentry context applies.
    let matching = format!("sentry-trace_id={TRACE},sentry-sample_rate=1");
    let context = continue_with(&[("traceparent", &traceparent("01")), ("baggage", &matching)]);
    assert_eq!(
        context.sentry_baggage().collect::<Vec<_>>(),
        [("trace_id", TRACE), ("sample_rate", "1")]
    );

    // An invalid traceparent falls back to sentry-trace.
    let context = continue_with(&[("traceparent", &traceparent("0")), ("sentry-trace", &sentry)]);
    assert_eq!(context.trace_id().to_string(), SENTRY_TRACE_ID);
}

#[test]
fn baggage_is_validated_and_combined() {
    let context = continue_with(&[("baggage", "a=1"), ("baggage", "b=2;p")]);
    assert_eq!(context.baggage().unwrap(), "a=1,b=2;p");
    assert!(continue_with(&[("baggage", "a=1"), ("baggage", "b c=2")])
        .baggage()
        .is_none());
    let big = format!("k={}", "v".repeat(MAX_BAGGAGE_BYTES));
    assert!(continue_with(&[("baggage", &big)]).baggage().is_none());
    // Sentry entries without a trace id apply to whatever trace this is.
    let context = continue_with(&[("baggage", "sentry-release=1.0,sentry-environment=prod")]);
    assert_eq!(
        context.sentry_baggage().collect::<Vec<_>>(),
        [("release", "1.0"), ("environment", "prod")]
    );
}

#[test]
fn restart_keeps_the_incoming_trace_id_apart() {
    let map = headers(&[
        ("traceparent", &traceparent("01")),
        ("tracestate", "foo=1"),
        ("baggage", "k=v"),
    ]);
    let context = TraceContext::from_headers(&map, TrustIncoming::Restart, &RatioSampler::NEVER);
    assert_ne!(context.trace_id().to_string(), TRACE);
    assert_eq!(context.incoming_trace_id().unwrap().to_string(), TRACE);
    assert_eq!(context.parent_span_id(), None);
    assert!(!context.is_sampled());
    assert!(context.trace_state().is_none() && context.baggage().is_none());

    let sentry = headers(&[("sentry-trace", &format!("{SENTRY_TRACE_ID}-{SENTRY_SPAN}"))]);
    let context = TraceContext::from_headers(&sentry, TrustIncoming::Restart, &RatioSampler::ALWAYS);
    assert_eq!(context.incoming_trace_id().unwrap().to_string(), SENTRY_TRACE_ID);

    let invalid = headers(&[("traceparent", "00-0-0-0")]);
    let context = TraceContext::from_headers(&invalid, TrustIncoming::Restart, &RatioSampler::ALWAYS);
    assert_eq!(context.incoming_trace_id(), None);
}

#[tokio::test]
async fn layer_makes_the_context_current_across_polls_and_restores_it() {
    let service = TraceContextLayer::new().layer(service_fn(|request: Request<()>| async move {
        let in_call = TraceContext::current();
        tokio::task::yield_now().await;
        let after_yield = TraceContext::current();
        let in_extensions = request.extensions().get::<TraceContext>().is_some();
        Ok::<_, Infallible>(Response::new((in_call, after_yield, in_extensions)))
    }));
    let request = Request::get("/")
        .header("traceparent", traceparent("01"))
        .body(())
        .unwrap();
    let (in_call, after_yield, in_extensions) = service.oneshot(request).await.unwrap().into_body();
    let in_call = in_call.unwrap();
    assert_eq!(in_call.trace_id().to_string(), TRACE);
    assert_eq!(Some(in_call), after_yield);
    assert!(!in_extensions, "no allocation for an extension");
    assert!(
        TraceContext::current().is_none(),
        "not current once the future returned"
    );
}

#[tokio::test]
async fn nested_layers_see_their_own_context() {
    let inner = TraceContextLayer::new()
        .trust_incoming(TrustIncoming::Restart)
        .layer(service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(Response::new(TraceContext::current()))
        }));
    let outer = TraceContextLayer::new().layer(service_fn(move |request: Request<()>| {
        let inner = inner.clone();
        async move {
            let inner_seen = inner.oneshot(request).await?.into_body();
            Ok::<_, Infallible>(Response::new((inner_seen, TraceContext::current())))
        }
    }));
    let (inner_seen, outer_seen) = outer.oneshot(Request::new(())).await.unwrap().into_body();
    let (inner_seen, outer_seen) = (inner_seen.unwrap(), outer_seen.unwrap());
    assert_ne!(inner_seen.trace_id(), outer_seen.trace_id());
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn axum_extractor() {
    use axum::{routing::get, Router};
    let app: Router = Router::new()
        .route(
            "/",
            get(|context: TraceContext| async move { context.trace_id().to_string() }),
        )
        .route(
            "/optional",
            get(|context: Option<TraceContext>| async move { context.is_some().to_string() }),
        )
        .layer(TraceContextLayer::new());
    let request = Request::get("/")
        .header("traceparent", traceparent("01"))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], TRACE.as_bytes());

    let bare: Router = Router::new().route("/", get(|_: TraceContext| async {}));
    let response = bare
        .oneshot(Request::new(axum::body::Body::empty()))
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
}

/// A reference `traceparent` parser written the obvious way, to check the fast one against.
fn reference_traceparent(value: &[u8]) -> Option<(String, String, bool)> {
    // Bytes after the fields of a higher version are ignored, whatever they are.
    let text = String::from_utf8_lossy(value);
    let text = text.trim_matches([' ', '\t']);
    let fields: Vec<&str> = text.split('-').collect();
    let lower_hex =
        |s: &str, n: usize| s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if fields.len() < 4 || !lower_hex(fields[0], 2) || fields[0] == "ff" {
        return None;
    }
    if fields[0] == "00" && fields.len() != 4 {
        return None;
    }
    let (trace, parent, flags) = (fields[1], fields[2], fields[3]);
    if !lower_hex(trace, 32) || !lower_hex(parent, 16) || !lower_hex(flags, 2) {
        return None;
    }
    if trace.bytes().all(|b| b == b'0') || parent.bytes().all(|b| b == b'0') {
        return None;
    }
    let sampled = u8::from_str_radix(flags, 16).ok()? & 1 == 1;
    Some((trace.to_string(), parent.to_string(), sampled))
}

/// A reference `tracestate` validator, member by member with `str` methods.
fn reference_tracestate(value: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(value) else {
        return false;
    };
    let key_char = |c: char| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-' | '*' | '/');
    let mut keys = Vec::new();
    for member in text
        .split(',')
        .map(|m| m.trim_matches([' ', '\t']))
        .filter(|m| !m.is_empty())
    {
        let Some((key, value)) = member.split_once('=') else {
            return false;
        };
        let key_ok = match key.split_once('@') {
            None => {
                key.len() <= 256
                    && key.starts_with(|c: char| c.is_ascii_lowercase())
                    && key.chars().all(key_char)
            }
            Some((tenant, system)) => {
                (1..=241).contains(&tenant.len())
                    && tenant.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                    && tenant.chars().all(key_char)
                    && (1..=14).contains(&system.len())
                    && system.starts_with(|c: char| c.is_ascii_lowercase())
                    && system.chars().all(key_char)
            }
        };
        let value_ok = (1..=256).contains(&value.len())
            && value
                .chars()
                .all(|c| matches!(c, ' '..='~') && c != ',' && c != '=')
            && !value.ends_with(' ');
        if !key_ok || !value_ok || keys.contains(&key) {
            return false;
        }
        keys.push(key);
    }
    !keys.is_empty() && keys.len() <= 32
}

/// A reference `baggage` validator, member by member with slice methods: the grammar as written.
fn reference_baggage(value: &[u8]) -> bool {
    let trim = traceparent::trim_ows;
    let token = |key: &[u8]| {
        !key.is_empty()
            && key
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    let octets = |v: &[u8]| {
        v.iter()
            .all(|&b| matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e))
    };
    let pair = |p: &[u8], value_optional: bool| {
        let p = trim(p);
        match p.iter().position(|&b| b == b'=') {
            Some(eq) => token(trim(&p[..eq])) && octets(trim(&p[eq + 1..])),
            None => value_optional && token(p),
        }
    };
    if value.len() > MAX_BAGGAGE_BYTES {
        return false;
    }
    let members: Vec<&[u8]> = value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|m| !m.is_empty())
        .collect();
    !members.is_empty()
        && members.len() <= MAX_BAGGAGE_MEMBERS
        && members.iter().all(|member| {
            let mut parts = member.split(|&b| b == b';');
            parts.next().is_some_and(|first| pair(first, false)) && parts.all(|p| pair(p, true))
        })
}

/// Random header bytes: anything, or a valid value with one byte changed, inserted or removed.
fn header_bytes(valid: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let charset = prop::sample::select(b"0123456789abcdefABCDEF-+ \t,=@;xyz\x00\x7f\xff".to_vec());
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..80),
        prop::collection::vec(charset.clone(), 0..80),
        (0..valid.len(), charset.clone(), 0..3u8).prop_map(move |(at, byte, edit)| {
            let mut bytes = valid.as_bytes().to_vec();
            match edit {
                0 => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ => {
                    bytes.remove(at);
                }
            }
            bytes
        }),
        Just(valid.as_bytes().to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn traceparent_matches_the_reference(
        bytes in prop_oneof![
            header_bytes("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            header_bytes("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"),
        ]
    ) {
        let parsed = traceparent::Traceparent::parse(&bytes)
            .map(|p| (p.trace_id.to_string(), p.parent_id.to_string(), p.sampled()));
        prop_assert_eq!(parsed, reference_traceparent(&bytes));
    }

    #[test]
    fn tracestate_matches_the_reference(bytes in header_bytes("rojo=00f067aa0ba902b7,t@v=x y,congo=t61rcWkgMzE")) {
        prop_assert_eq!(tracestate::is_valid(&bytes), reference_tracestate(&bytes));
    }

    #[test]
    fn baggage_matches_the_reference(
        bytes in header_bytes("sentry-trace_id=771a43a4192642f0b136d5159a501700, k = v;p;q=1,x=")
    ) {
        let info = baggage::validate(&bytes);
        prop_assert_eq!(info.is_some(), reference_baggage(&bytes));
        if let Some(info) = info {
            let text = std::str::from_utf8(&bytes).unwrap();
            let expected = baggage::sentry_entries(text).find(|(key, _)| *key == "trace_id").map(|(_, v)| v);
            let found = info.sentry_trace_id.map(|(start, end)| &text[start..end]);
            prop_assert_eq!(found, expected);
        }
    }

    /// Whatever the incoming bytes, nothing panics, and every outgoing header is either freshly
    /// made or the re-formatted valid parse: an invalid value is never echoed.
    #[test]
    fn outgoing_headers_are_valid_parses_or_new(
        traceparent_bytes in header_bytes("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        tracestate_bytes in header_bytes("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
        sentry_bytes in header_bytes("771a43a4192642f0b136d5159a501700-b1b5d7f0e6b0ac6d-1"),
        baggage_bytes in header_bytes("sentry-trace_id=771a43a4192642f0b136d5159a501700,k=v;p"),
        trust in prop_oneof![Just(TrustIncoming::Continue), Just(TrustIncoming::Restart)],
    ) {
        let mut map = HeaderMap::new();
        for (name, bytes) in [
            (TRACEPARENT, &traceparent_bytes),
            (TRACESTATE, &tracestate_bytes),
            (SENTRY_TRACE, &sentry_bytes),
            (BAGGAGE, &baggage_bytes),
        ] {
            if let Ok(value) = HeaderValue::from_bytes(bytes) {
                map.insert(name, value);
            }
        }
        let context = TraceContext::from_headers(&map, trust, &RatioSampler::new(0.5));
        let call = context.child();
        let mut out = HeaderMap::new();
        call.insert_into(&mut out);

        // What we send always parses back to the context.
        let sent = traceparent::Traceparent::parse(out[TRACEPARENT].as_bytes()).expect("valid traceparent sent");
        prop_assert_eq!(sent.trace_id, context.trace_id());
        prop_assert_eq!(sent.parent_id, call.span_id());
        prop_assert_eq!(sent.sampled(), context.is_sampled());
        let sentry = sentry_trace::SentryTrace::parse(out[SENTRY_TRACE].as_bytes()).expect("valid sentry-trace sent");
        prop_assert_eq!(sentry.trace_id, context.trace_id());

        let incoming_tp = map.get(TRACEPARENT).and_then(|v| traceparent::Traceparent::parse(v.as_bytes()));
        let incoming_st = map.get(SENTRY_TRACE).and_then(|v| sentry_trace::SentryTrace::parse(v.as_bytes()));
        match (trust, incoming_tp, incoming_st) {
            (TrustIncoming::Continue, Some(tp), _) => {
                prop_assert_eq!(context.trace_id(), tp.trace_id);
                prop_assert_eq!(context.parent_span_id(), Some(tp.parent_id));
                prop_assert_eq!(context.is_sampled(), tp.sampled());
            }
            (TrustIncoming::Continue, None, Some(st)) => {
                prop_assert_eq!(context.trace_id(), st.trace_id);
                prop_assert_eq!(context.parent_span_id(), Some(st.span_id));
            }
            (TrustIncoming::Restart, tp, st) => {
                prop_assert_eq!(context.incoming_trace_id(), tp.map(|t| t.trace_id).or(st.map(|s| s.trace_id)));
                prop_assert_eq!(context.parent_span_id(), None);
            }
            (TrustIncoming::Continue, None, None) => prop_assert_eq!(context.parent_span_id(), None),
        }

        // tracestate: forwarded only as the exact, valid incoming value, with a valid traceparent.
        match out.get(TRACESTATE) {
            Some(sent) => {
                prop_assert!(incoming_tp.is_some() && trust == TrustIncoming::Continue);
                prop_assert_eq!(Some(sent), map.get(TRACESTATE));
                prop_assert!(reference_tracestate(sent.as_bytes()));
            }
            None => prop_assert!(
                trust == TrustIncoming::Restart
                    || incoming_tp.is_none()
                    || !map.get(TRACESTATE).is_some_and(|v| tracestate::is_valid(v.as_bytes()))
            ),
        }
        // baggage: forwarded only as the exact, valid incoming value.
        if let Some(sent) = out.get(BAGGAGE) {
            prop_assert_eq!(Some(sent), map.get(BAGGAGE));
            prop_assert!(baggage::is_valid(sent.as_bytes()));
        }
        let _ = context.sentry_baggage().count();
    }
}

#[test]
fn types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<TraceContext>();
    send_sync::<OutgoingContext>();
    send_sync::<TraceContextLayer>();
    send_sync::<ResponseFuture<std::future::Ready<()>>>();
    send_sync::<WithTraceContext<std::future::Ready<()>>>();
}
