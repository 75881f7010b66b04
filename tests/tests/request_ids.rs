//! Request ids and JSON logs, end to end against the demo binary.

use std::time::Duration;

use belfry_tests::{get, raw_request, Demo};

const LOG_WAIT: Duration = Duration::from_secs(10);

fn assert_uuid_v7(id: &str) {
    let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|_| panic!("{id:?} is not a UUID"));
    assert_eq!(uuid.get_version_num(), 7, "{id} is not a UUID v7");
}

#[test]
fn request_ids_are_generated_kept_or_replaced() {
    let demo = Demo::start();

    let response = get(&demo.url("/"), &[]);
    assert_eq!(response.status, 200);
    assert_uuid_v7(response.header("x-request-id").expect("x-request-id"));

    let response = get(&demo.url("/"), &[("x-request-id", "client-7:retry/2@edge")]);
    assert_eq!(response.header("x-request-id"), Some("client-7:retry/2@edge"));

    let too_long = "a".repeat(129);
    for invalid in [
        "has space",
        "\"quoted\"",
        "semi;colon",
        too_long.as_str(),
        "<script>",
    ] {
        let response = get(&demo.url("/"), &[("x-request-id", invalid)]);
        let id = response.header("x-request-id").expect("x-request-id");
        assert_ne!(id, invalid);
        assert_uuid_v7(id);
    }

    // Requests no client library would send: an empty id, non-UTF-8 bytes, a control byte,
    // a repeated header.
    let hostile: [&[u8]; 4] = [
        b"x-request-id: \r\n",
        b"x-request-id: caf\xc3\xa9\r\n",
        b"x-request-id: a\x01b\r\n",
        b"x-request-id: one\r\nx-request-id: two\r\n",
    ];
    for header in hostile {
        let mut request = b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n".to_vec();
        request.extend_from_slice(header);
        request.extend_from_slice(b"\r\n");
        let response = raw_request(demo.address(), &request);
        if response.status == 200 {
            let ids = response.headers_named("x-request-id");
            assert_eq!(ids.len(), 1, "{ids:?}");
            assert_uuid_v7(ids[0]);
        } else {
            // hyper may refuse a header with a control byte outright; it must not echo it.
            assert_eq!(response.status, 400, "{response:?}");
        }
    }
}

#[test]
fn handler_log_line_carries_the_response_request_id() {
    let demo = Demo::start();
    let response = get(&demo.url("/users/42"), &[]);
    assert_eq!(response.status, 200);
    let id = response.header("x-request-id").expect("x-request-id").to_owned();
    assert_eq!(
        response.json()["request_id"],
        id.as_str(),
        "the handler extracted the same id"
    );

    let line = demo
        .logs()
        .wait_for_request(&id, "user looked up", LOG_WAIT)
        .unwrap_or_else(|| panic!("no `user looked up` line for {id}: {:?}", demo.logs().all()));
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["user_id"], 42);
    assert_eq!(line["target"], "belfry_demo::routes");
    let timestamp = line["timestamp"].as_str().expect("timestamp");
    assert!(
        timestamp.ends_with('Z') && timestamp.contains('T'),
        "RFC 3339 UTC: {timestamp}"
    );

    let matching: Vec<_> = demo
        .logs()
        .all()
        .into_iter()
        .filter(|line| line.contains("user looked up"))
        .collect();
    assert_eq!(matching.len(), 1, "exactly one line: {matching:?}");
    // Every stdout line is one JSON object.
    demo.logs().json();
}

#[test]
fn every_stdout_line_is_json_through_a_clean_shutdown() {
    let mut demo = Demo::start();
    for path in ["/", "/users/1", "/nope", "/health/live"] {
        get(&demo.url(path), &[]);
    }
    demo.terminate();
    let status = demo
        .wait_exit(Duration::from_secs(20))
        .expect("demo exits after SIGTERM");
    assert!(status.success(), "exit status {status}");
    let lines = demo.logs().json();
    assert!(
        lines.iter().any(|line| line["message"] == "stopped"),
        "the last line was flushed: {lines:?}"
    );
}
