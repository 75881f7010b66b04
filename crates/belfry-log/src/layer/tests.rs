use std::{
    fmt, io,
    sync::{Arc, Mutex},
};

use belfry_request_id::REQUEST_SPAN_TARGET;
use serde_json::Value;
use tracing_subscriber::{fmt::MakeWriter, layer::SubscriberExt};

use super::{with_line_buffer, JsonLines};

/// Everything written, and how many `write` calls wrote it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<(Vec<u8>, usize)>>);

impl Captured {
    /// The lines written so far (emptied), each checked: complete, JSON, no repeated key,
    /// written with one `write`.
    fn take(&self) -> Vec<(String, Value)> {
        let (bytes, writes) = std::mem::take(&mut *self.0.lock().unwrap());
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.is_empty() || text.ends_with('\n'), "{text}");
        let lines: Vec<_> = text.lines().map(str::to_owned).collect();
        assert_eq!(writes, lines.len(), "one write per line: {text}");
        lines
            .into_iter()
            .map(|line| {
                let keys = serde_json::from_str::<KeyList>(&line)
                    .unwrap_or_else(|error| panic!("not a JSON object ({error}): {line}"))
                    .0;
                let mut unique = keys.clone();
                unique.sort();
                unique.dedup();
                assert_eq!(unique.len(), keys.len(), "a repeated key: {line}");
                let value = serde_json::from_str(&line).unwrap();
                (line, value)
            })
            .collect()
    }
}

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut captured = self.0.lock().unwrap();
        captured.0.extend_from_slice(buf);
        captured.1 += 1;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The keys of a JSON object, in order, repeats kept.
struct KeyList(Vec<String>);

impl<'de> serde::Deserialize<'de> for KeyList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = KeyList;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<KeyList, A::Error> {
                let mut keys = Vec::new();
                while let Some((key, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                    keys.push(key);
                }
                Ok(KeyList(keys))
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

/// Logs while being formatted.
struct Noisy;

impl fmt::Debug for Noisy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        tracing::warn!(target: "inner", "logged from a Debug impl");
        f.write_str("noisy")
    }
}

fn is_timestamp(value: &Value) -> bool {
    let text = value.as_str().unwrap();
    let bytes = text.as_bytes();
    bytes.len() == 27
        && bytes.iter().enumerate().all(|(i, &b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'.',
            26 => b == b'Z',
            _ => b.is_ascii_digit(),
        })
}

// One function for everything that emits events: tracing's callsite interest cache is
// process-wide, so subscribers set in parallel tests would race.
#[test]
fn events_are_written_as_json_lines() {
    let out = Captured::default();
    let audit = Captured::default();
    let subscriber = tracing_subscriber::registry()
        .with(JsonLines::new(out.clone()))
        .with(JsonLines::new(audit.clone()));
    tracing::subscriber::with_default(subscriber, || {
        // Value types, names, the message.
        tracing::info!(
            target: "json_lines::test",
            count = 3u64,
            delta = -7i64,
            ratio = 0.25,
            whole = 2.0,
            nan = f64::NAN,
            infinite = f64::NEG_INFINITY,
            ok = true,
            name = "a\"b\\c",
            shown = %"x\ny",
            debugged = ?Some("q"),
            http.route = "/users/{id}",
            "url.path" = "/users/7",
            r#type = "raw",
            big = u64::MAX,
            small = i64::MIN,
            wide = 1u128 << 100,
            error = &io::Error::other("disk \"full\"") as &(dyn std::error::Error + 'static),
            "hello {}",
            "world"
        );
        let lines = out.take();
        assert_eq!(lines.len(), 1);
        let (text, line) = &lines[0];
        assert!(is_timestamp(&line["timestamp"]), "{text}");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["target"], "json_lines::test");
        assert_eq!(line["message"], "hello world");
        assert_eq!(line["count"], 3);
        assert_eq!(line["delta"], -7);
        assert_eq!(line["ratio"], 0.25);
        assert!(text.contains(r#""whole":2.0,"#), "{text}");
        assert!(line["nan"].is_null() && line["infinite"].is_null(), "{text}");
        assert_eq!(line["ok"], true);
        assert_eq!(line["name"], "a\"b\\c");
        assert_eq!(line["shown"], "x\ny");
        assert_eq!(line["debugged"], "Some(\"q\")");
        assert_eq!(line["http.route"], "/users/{id}");
        assert_eq!(line["url.path"], "/users/7");
        assert_eq!(line["type"], "raw");
        assert_eq!(line["big"], u64::MAX);
        assert_eq!(line["small"], i64::MIN);
        assert_eq!(line["wide"], (1u128 << 100).to_string());
        assert_eq!(line["error"], "disk \"full\"");
        assert!(line.get("request_id").is_none(), "{text}");
        assert_eq!(audit.take().len(), 1);

        // A value cannot forge a line.
        let evil = "\"}\n{\"level\":\"ERROR\",\"x\":\"\r\u{1b}[31m\u{0}";
        tracing::info!(evil, "{evil}");
        let lines = out.take();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0].1["level"], "INFO");
        assert_eq!(lines[0].1["evil"], evil);
        assert_eq!(lines[0].1["message"], evil);
        assert_eq!(audit.take().len(), 1);

        // The request id, from the current span, its ancestors or an explicit parent; the
        // event's own fields named like the line's keys are renamed; other spans' fields are
        // printed too.
        let request = tracing::error_span!(target: REQUEST_SPAN_TARGET, "request", request_id = %"req-1");
        let child = request.in_scope(|| tracing::info_span!("child", other = 1));
        request.in_scope(|| {
            child.in_scope(|| {
                tracing::info!(
                    timestamp = 1,
                    level = "own",
                    target = "t",
                    request_id = "mine",
                    message = "inside"
                );
                tracing::info!(parent: None, "orphan");
            });
        });
        child.in_scope(|| tracing::info!("child only"));
        tracing::info!(parent: &child, "explicit");
        for captured in [&out, &audit] {
            let lines = captured.take();
            let [(_, inside), (_, orphan), (_, child_only), (_, explicit)] = &lines[..] else {
                panic!("{lines:?}");
            };
            assert_eq!(inside["message"], "inside");
            assert_eq!(inside["request_id"], "req-1");
            assert_eq!(inside["fields.timestamp"], 1);
            assert_eq!(inside["fields.level"], "own");
            assert_eq!(inside["fields.target"], "t");
            assert_eq!(inside["fields.request_id"], "mine");
            assert_eq!(inside["level"], "INFO");
            assert_eq!(inside["other"], 1);
            assert!(orphan.get("request_id").is_none(), "{orphan}");
            assert_eq!(child_only["request_id"], "req-1");
            assert_eq!(explicit["request_id"], "req-1");
        }

        // A request id recorded after the span was created.
        let late = tracing::error_span!(
            target: REQUEST_SPAN_TARGET,
            "request",
            request_id = tracing::field::Empty
        );
        late.in_scope(|| tracing::info!("before"));
        late.record("request_id", "late-1");
        late.in_scope(|| tracing::info!("after"));
        let lines = out.take();
        assert!(lines[0].1.get("request_id").is_none());
        assert_eq!(lines[1].1["request_id"], "late-1");

        // Keys that would repeat (checked for every line by `take`).
        tracing::info!(a = 1, a = 2, "fields.level" = 3, level = 4, "dup");
        let lines = out.take();
        let line = &lines[0].1;
        assert_eq!((&line["a"], &line["a#2"]), (&1.into(), &2.into()), "{line}");
        assert_eq!(line["fields.level"], 3);
        assert_eq!(line["fields.level#2"], 4);

        // An event logged while formatting another: a scoped dispatcher (as here) drops it,
        // the global one delivers it (`with_line_buffer` is tested for that below); the outer
        // line is complete either way.
        request.in_scope(|| tracing::info!(value = ?Noisy, "outer"));
        let lines = out.take();
        let (_, outer) = lines.last().unwrap();
        assert_eq!(outer["message"], "outer");
        assert_eq!(outer["value"], "noisy");
        assert_eq!(outer["request_id"], "req-1");

        // A long line, then the reused buffer again.
        let long = "x".repeat(100_000);
        tracing::info!(long, "long");
        tracing::info!("short");
        let lines = out.take();
        assert_eq!(lines[0].1["long"], long.as_str());
        assert_eq!(lines[1].1["message"], "short");

        span_fields_are_flattened(&out);
        log_records_keep_their_target(&out);
        request_fields_are_on_every_later_line(&out);
    });
}

#[test]
fn a_line_formatted_while_formatting_another_gets_its_own_buffer() {
    let mut lines = Vec::new();
    with_line_buffer(|outer, _| {
        outer.push_str("outer ");
        with_line_buffer(|inner, _| {
            assert!(inner.is_empty());
            inner.push_str("inner");
            lines.push(inner.clone());
        });
        outer.push_str("line");
        lines.push(outer.clone());
    });
    with_line_buffer(|reused, _| {
        assert!(reused.is_empty() && reused.capacity() > 0);
    });
    assert_eq!(lines, ["inner", "outer line"]);
}

fn span_fields_are_flattened(out: &Captured) {
    let request = tracing::error_span!(
        target: REQUEST_SPAN_TARGET,
        "request",
        request_id = "req-2",
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
        span_id = tracing::field::Empty,
    );
    let outer = request.in_scope(|| {
        tracing::info_span!("outer", tenant_id = %"acme", shared = "outer", depth = 1u64, later = tracing::field::Empty)
    });
    let inner = outer.in_scope(|| {
        tracing::info_span!(
            "inner",
            shared = "inner",
            level = "span-level",
            request_id = "not-the-id",
            message = "span message",
            r#type = ?Some(1)
        )
    });
    inner.in_scope(|| tracing::info!(shared = "event", "first"));
    outer.record("later", true);
    request.record("span_id", "00f067aa0ba902b7");
    outer.record("depth", 2u64);
    inner.in_scope(|| tracing::info!("second"));
    let lines = out.take();
    let [(first_text, first), (second_text, second)] = &lines[..] else {
        panic!("{lines:?}");
    };
    assert_eq!(first["shared"], "event", "{first_text}");
    assert_eq!(first["tenant_id"], "acme");
    assert_eq!(first["depth"], 1);
    assert!(first.get("later").is_none());
    assert!(first.get("span_id").is_none());
    assert_eq!(first["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(first["message"], "first");
    assert_eq!(first["level"], "INFO");
    assert_eq!(first["fields.level"], "span-level");
    assert_eq!(first["fields.request_id"], "not-the-id");
    assert_eq!(first["request_id"], "req-2");
    assert_eq!(first["type"], "Some(1)");
    assert_eq!(second["shared"], "inner", "{second_text}");
    assert_eq!(second["message"], "second");
    assert_eq!(second["later"], true);
    assert_eq!(second["depth"], 2);
    assert_eq!(second["span_id"], "00f067aa0ba902b7");
    // Event fields, then the spans innermost first, the request span last.
    let order: Vec<&str> = [
        "\"message\"",
        "\"shared\"",
        "\"tenant_id\"",
        "\"request_id\"",
        "\"span_id\"",
    ]
    .into_iter()
    .collect();
    let positions: Vec<usize> = order.iter().map(|key| second_text.find(key).unwrap()).collect();
    assert!(
        positions.windows(2).all(|pair| pair[0] < pair[1]),
        "{second_text}"
    );

    // Many spans with many fields: still one object, no repeated key (checked by `take`).
    let mut spans = Vec::new();
    for depth in 0..5 {
        let span = tracing::info_span!(
            "deep",
            a = depth,
            b = depth,
            c = depth,
            d = depth,
            e = depth,
            f = depth,
            g = depth
        );
        spans.push(span);
    }
    let entered: Vec<_> = spans.iter().map(|span| span.enter()).collect();
    tracing::info!(a = "event", "deep");
    drop(entered);
    let lines = out.take();
    assert_eq!(lines[0].1["a"], "event");
    assert_eq!(lines[0].1["b"], 4, "the innermost span wins: {}", lines[0].0);
}

fn log_records_keep_their_target(out: &Captured) {
    tracing_log::format_trace(
        &log::Record::builder()
            .args(format_args!("from the log crate {}", 7))
            .level(log::Level::Warn)
            .target("some_library::pool")
            .module_path_static(Some("some_library::pool"))
            .file_static(Some("pool.rs"))
            .line(Some(12))
            .build(),
    )
    .unwrap();
    let lines = out.take();
    let [(text, line)] = &lines[..] else {
        panic!("{lines:?}");
    };
    assert_eq!(line["target"], "some_library::pool", "{text}");
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["message"], "from the log crate 7");
    assert!(!text.contains("log."), "{text}");
}

fn request_fields_are_on_every_later_line(out: &Captured) {
    use crate::request;
    // Under a scoped `Layered` subscriber the registry is found too.
    let request_span = tracing::error_span!(target: REQUEST_SPAN_TARGET, "request", request_id = "req-3");
    request_span.in_scope(|| {
        tracing::info!("before");
        tracing::info_span!("handler", tenant = "span").in_scope(|| {
            assert!(request::record(request::USER_ID, "u-7"));
            assert!(request::record("tenant", "request"));
            assert!(request::record("request_id", "forged"));
            assert!(request::record("attempt", 2u64));
            tracing::info!("inside");
        });
        assert!(request::record("attempt", 3u64));
        tracing::info!(attempt = 9, "after");
        let fields = request::fields();
        let keys: Vec<&str> = fields.iter().map(|field| field.key.as_ref()).collect();
        assert_eq!(keys, ["user.id", "tenant", "request_id", "attempt"]);
        assert_eq!(fields[3].value, request::FieldValue::U64(3));
    });
    // The access log's way: an explicit parent, from outside the span.
    tracing::info!(parent: &request_span, "request completed");
    assert!(request::fields().is_empty());
    let lines = out.take();
    let [(_, before), (_, inside), (_, after), (_, completed)] = &lines[..] else {
        panic!("{lines:?}");
    };
    assert!(before.get("user.id").is_none());
    assert_eq!(inside["user.id"], "u-7");
    assert_eq!(inside["tenant"], "span", "a span field beats a request field");
    assert_eq!(inside["attempt"], 2);
    assert_eq!(inside["request_id"], "req-3");
    assert_eq!(inside["fields.request_id"], "forged");
    assert_eq!(after["attempt"], 9, "the event's field wins");
    assert_eq!(after["tenant"], "request");
    assert_eq!(completed["user.id"], "u-7");
    assert_eq!(completed["attempt"], 3, "{lines:?}");
}

#[test]
fn a_span_s_fields_buffer_reused_by_a_later_span_holds_only_that_span_s_fields() {
    let out = Captured::default();
    let subscriber = tracing_subscriber::registry().with(JsonLines::new(out.clone()));
    tracing::subscriber::with_default(subscriber, || {
        // A long first span, closed: its buffer goes to the thread's spares.
        let first = tracing::info_span!(
            "first",
            tenant_id = "acme-corporation-with-a-long-name",
            depth = 1u64
        );
        first.in_scope(|| tracing::info!("in first"));
        drop(first);
        for round in 0..40u64 {
            let span = tracing::info_span!("next", round);
            span.in_scope(|| tracing::info!("in next"));
        }
        let lines = out.take();
        assert_eq!(lines.len(), 41);
        assert_eq!(lines[0].1["tenant_id"], "acme-corporation-with-a-long-name");
        for (round, (line, value)) in lines[1..].iter().enumerate() {
            assert_eq!(value["round"], round as u64, "{line}");
            assert!(
                value.get("tenant_id").is_none() && value.get("depth").is_none(),
                "{line}"
            );
        }
    });
}
