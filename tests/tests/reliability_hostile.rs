//! Hostile request ids, headers and log injection, end to end against the demo; and the fuzz
//! targets' bodies (`fuzz/src/lib.rs`) over a fixed corpus and pseudo-random inputs, so they run
//! on stable in every `cargo test` (libFuzzer itself needs nightly: see docs/reliability.md).
//!
//! Figures: `cargo test -p belfry-tests --test reliability_hostile -- --nocapture`.

#[path = "../../fuzz/src/lib.rs"]
mod fuzz_bodies;

/// Checked independently of the crate under test: a weakened validator cannot vouch for itself.
use fuzz_bodies::is_documented_request_id as is_valid_request_id;

use std::time::{Duration, Instant};

use belfry_tests::{get, raw_request, Demo, HttpResponse};
use serde_json::Value;

const LOG_WAIT: Duration = Duration::from_secs(10);
/// Pseudo-random inputs per fuzz body.
const RANDOM_INPUTS: usize = 4000;

/// xorshift64*: reproducible inputs without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Bytes built from pieces that matter to the code under test, and random bytes.
    fn input(&mut self, pieces: &[&[u8]], max_pieces: usize) -> Vec<u8> {
        let mut input = Vec::new();
        for _ in 0..self.below(max_pieces + 1) {
            if self.below(4) == 0 {
                input.push(self.next() as u8);
            } else {
                input.extend_from_slice(pieces[self.below(pieces.len())]);
            }
        }
        input
    }
}

const QUERY_PIECES: &[&[u8]] = &[
    b"token",
    b"access_",
    b"page",
    b"=",
    b"=",
    b"&",
    b"&",
    b";",
    b"%",
    b"%6",
    b"%65",
    b"%74",
    b"%5F",
    b"%ZZ",
    b"%ff",
    b"+",
    b"key",
    b"sig",
    b"x",
    b"2",
    b"\n",
    b"@",
    b"/",
    b"?",
    b"#",
    b":",
    b"~",
    b"\xc3\xa9",
    b"\xff",
    b"[REDACTED]",
    b"https://",
    b"u:p@",
    b"X-Amz-Signature",
    b"code",
    b"session",
];

const HEADER_PIECES: &[&[u8]] = &[
    b"\n",
    b"\n",
    b":",
    b":",
    b"authorization",
    b"cookie",
    b"x-api-key",
    b"x-custom",
    b"token",
    b"-",
    b"session",
    b"accept",
    b"user-agent",
    b"Bearer ",
    b"abc",
    b" ",
    b"\t",
    b"\xff",
    b"\xc3\xa9",
    b"\x7f",
    b"\r",
    b"\0",
    b"~",
];

const ID_PIECES: &[&[u8]] = &[
    b"a",
    b"Z",
    b"0",
    b"-",
    b"_",
    b".",
    b":",
    b"~",
    b"+",
    b"=",
    b"/",
    b"@",
    b"abcdefghij0123456789",
    b" ",
    b"\"",
    b"\r\n",
    b"\0",
    b"\xff",
    b"\xc3\xa9",
    b";",
    b"%",
    b"{",
    b"\\",
    b"\x7f",
];

fn corpus_ids() -> Vec<Vec<u8>> {
    let mut ids: Vec<Vec<u8>> = [
        &b""[..],
        b"a",
        b"0190a8c4-7d4e-7b1a-9c3e-2f7a1b2c3d4e",
        b"client-7:retry/2@edge",
        b"has space",
        b"line\r\nbreak",
        b"nul\0byte",
        b"caf\xc3\xa9",
        b"\xff\xfe",
        b"\"}{\"level\":\"ERROR\"",
        b"a%0d%0ab",
        b"tab\there",
        b"del\x7f",
    ]
    .iter()
    .map(|id| id.to_vec())
    .collect();
    for length in [127, 128, 129, 10_000] {
        ids.push(vec![b'a'; length]);
    }
    ids
}

fn corpus_queries() -> Vec<Vec<u8>> {
    [
        &b""[..],
        b"q=rust&access_token=abc&page=2",
        b"acc%65ss_token=x;lang=en",
        b"token=a=b==&q=1",
        b"token=&password&q=",
        b"&&;=",
        b"%ff%fe=x&%fftoken%fe=y",
        b"tok%=x&token%G1=y&%4",
        b"X-Amz-Signature=abc&X-Amz-Credential=def",
        b"prefix\nsecret\nsuffix",
        b"\x05a=1&b\npass@word\nuser:name",
        b"https://u:p@host/p?token=t#access_token=f",
        b"q=h\xc3\xa9llo&t\xc3\xb8ken=x",
        b"[REDACTED]=[REDACTED]",
    ]
    .iter()
    .map(|query| query.to_vec())
    .collect()
}

fn corpus_headers() -> Vec<Vec<u8>> {
    [
        &b""[..],
        b"\xffaccept:*/*\nuser-agent:curl/8",
        b"\x00authorization:Bearer abc\ncookie:sid=1",
        b"x-raw:a\xff\xfeb\nx-secret-raw:\xff",
        b"\x0fset-cookie:a=1\nset-cookie:b=2\nvary:accept\nvary:origin",
        b"bad name:x\n:empty\nok:\x7f\nnul:a\x00b",
        b"x-refresh-token:t\nmy-api-key-2:k\nx-session-id:s",
    ]
    .iter()
    .map(|headers| headers.to_vec())
    .collect()
}

#[test]
fn fuzz_bodies_hold_on_a_fixed_corpus_and_pseudo_random_inputs() {
    /// Name, body, fixed corpus, pieces for pseudo-random inputs, most pieces per input.
    type Target = (
        &'static str,
        fn(&[u8]),
        Vec<Vec<u8>>,
        &'static [&'static [u8]],
        usize,
    );
    let targets: [Target; 3] = [
        ("request_id", fuzz_bodies::request_id, corpus_ids(), ID_PIECES, 40),
        (
            "scrub_query",
            fuzz_bodies::scrub_query,
            corpus_queries(),
            QUERY_PIECES,
            40,
        ),
        (
            "scrub_headers",
            fuzz_bodies::scrub_headers,
            corpus_headers(),
            HEADER_PIECES,
            60,
        ),
    ];
    for (name, body, corpus, pieces, max_pieces) in targets {
        let started = Instant::now();
        for input in &corpus {
            body(input);
        }
        let mut rng = Rng(0x5eed_0000 + name.len() as u64);
        for _ in 0..RANDOM_INPUTS {
            body(&rng.input(pieces, max_pieces));
        }
        println!(
            "fuzz bodies: {name}: {} corpus + {RANDOM_INPUTS} pseudo-random inputs in {:.2} s",
            corpus.len(),
            started.elapsed().as_secs_f64()
        );
    }
}

/// What the response's id must be.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// This incoming id, kept.
    Keep(&'static str),
    /// A generated UUID v7.
    Generated,
    /// hyper may refuse the request (400); otherwise a generated UUID v7.
    RefusedOrGenerated,
    /// hyper may refuse the request (400); otherwise any valid id that is not the hostile bytes.
    RefusedOrValid,
}

fn assert_uuid_v7(id: &str, label: &str) {
    let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|_| panic!("{label}: {id:?} is not a UUID"));
    assert_eq!(uuid.get_version_num(), 7, "{label}: {id}");
}

fn check(label: &str, path: &str, expect: Expect, hostile: &[u8], response: &HttpResponse) {
    let ids = response.headers_named("x-request-id");
    let hostile_text = String::from_utf8_lossy(hostile);
    assert!(
        response.header("set-cookie").is_none(),
        "{label}: a header was injected: {response:?}"
    );
    if response.status == 400 {
        assert!(
            matches!(expect, Expect::RefusedOrGenerated | Expect::RefusedOrValid),
            "{label}: refused: {response:?}"
        );
        for id in ids {
            assert!(is_valid_request_id(id.as_bytes()), "{label}: echoed {id:?}");
        }
        return;
    }
    let status = if path == "/panic" { 500 } else { 200 };
    assert_eq!(response.status, status, "{label} {path}: {response:?}");
    assert_eq!(ids.len(), 1, "{label}: exactly one id out: {ids:?}");
    let id = ids[0];
    assert!(
        is_valid_request_id(id.as_bytes()),
        "{label}: echoed an invalid id {id:?}"
    );
    match expect {
        Expect::Keep(kept) => assert_eq!(id, kept, "{label}"),
        Expect::Generated | Expect::RefusedOrGenerated => assert_uuid_v7(id, label),
        Expect::RefusedOrValid => assert_ne!(id, hostile_text, "{label}"),
    }
    assert_eq!(
        response.json()["request_id"],
        id,
        "{label}: the body carries the same id"
    );
}

#[test]
fn hostile_request_ids_never_echo_anything_invalid() {
    let started = Instant::now();
    let demo = Demo::builder().env("SENTRY_DSN", "").start();
    let duplicates_same = b"x-request-id: dup\r\n".repeat(50);
    let duplicates_distinct: Vec<u8> = (0..50)
        .flat_map(|n| format!("x-request-id: dup-{n}\r\n").into_bytes())
        .collect();
    let long = [b"x-request-id: ".as_slice(), &[b'a'; 10_000], b"\r\n"].concat();
    let long_mixed = [b"x-request-id: ".as_slice(), &b"ab:/".repeat(2_500), b"\r\n"].concat();
    let exact = [b"x-request-id: ".as_slice(), &[b'b'; 128], b"\r\n"].concat();
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "CRLF injection",
            b"x-request-id: evil\r\nset-cookie: pwned=1\r\n".to_vec(),
            Expect::Keep("evil"),
        ),
        (
            "bare CR",
            b"x-request-id: a\rb\r\n".to_vec(),
            Expect::RefusedOrGenerated,
        ),
        (
            "bare LF",
            b"x-request-id: a\nb\r\n".to_vec(),
            Expect::RefusedOrValid,
        ),
        (
            "obs-fold",
            b"x-request-id: abc\r\n def\r\n".to_vec(),
            Expect::RefusedOrValid,
        ),
        (
            "NUL",
            b"x-request-id: a\0b\r\n".to_vec(),
            Expect::RefusedOrGenerated,
        ),
        (
            "DEL",
            b"x-request-id: a\x7fb\r\n".to_vec(),
            Expect::RefusedOrGenerated,
        ),
        ("tab", b"x-request-id: a\tb\r\n".to_vec(), Expect::Generated),
        ("10 kB", long, Expect::Generated),
        ("10 kB of valid bytes", long_mixed, Expect::Generated),
        (
            "128 bytes",
            exact,
            Expect::Keep(Box::leak("b".repeat(128).into_boxed_str())),
        ),
        (
            "non-UTF-8",
            b"x-request-id: \xff\xfe\xc3\x28\r\n".to_vec(),
            Expect::Generated,
        ),
        (
            "UTF-8",
            "x-request-id: caf\u{e9}\r\n".as_bytes().to_vec(),
            Expect::Generated,
        ),
        ("50 identical", duplicates_same, Expect::Generated),
        ("50 distinct", duplicates_distinct, Expect::Generated),
        (
            "encoded CRLF",
            b"x-request-id: a%0d%0ab\r\n".to_vec(),
            Expect::Generated,
        ),
        (
            "JSON breaking",
            b"x-request-id: \"}{\"level\":\"ERROR\"\r\n".to_vec(),
            Expect::Generated,
        ),
        ("empty", b"x-request-id:\r\n".to_vec(), Expect::Generated),
        (
            "padded",
            b"x-request-id:    padded   \r\n".to_vec(),
            Expect::Keep("padded"),
        ),
        (
            "upper-case name",
            b"X-REQUEST-ID: Upper-1\r\n".to_vec(),
            Expect::Keep("Upper-1"),
        ),
    ];
    let mut refused = Vec::new();
    for (label, header, expect) in &cases {
        for path in ["/users/1", "/panic"] {
            let mut request =
                format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n").into_bytes();
            request.extend_from_slice(header);
            request.extend_from_slice(b"\r\n");
            let response = raw_request(demo.address(), &request);
            if response.status == 400 && path == "/users/1" {
                refused.push(*label);
            }
            let hostile = header
                .strip_prefix(b"x-request-id: ")
                .map_or(&header[..], |rest| rest.strip_suffix(b"\r\n").unwrap_or(rest));
            check(label, path, *expect, hostile, &response);
        }
    }
    assert_eq!(
        get(&demo.url("/health/live"), &[]).status,
        200,
        "alive after the hostile requests"
    );
    // Every line is JSON, and every id printed is a valid one.
    for line in demo.logs().json() {
        if let Some(id) = line.get("request_id") {
            let id = id.as_str().expect("a string id");
            assert!(is_valid_request_id(id.as_bytes()), "logged an invalid id: {line}");
        }
    }
    println!(
        "hostile ids: {} cases x 2 routes ({}), no panic, every id out valid; refused by hyper (400): {refused:?}; \
         {:.1} s",
        cases.len(),
        cases.iter().map(|(label, _, _)| *label).collect::<Vec<_>>().join(", "),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn log_injection_cannot_forge_a_log_line() {
    let started = Instant::now();
    let demo = Demo::builder().env("SENTRY_DSN", "").start();
    // A backslash and a quote to escape, and a literal `\n` that must stay two characters.
    let fake_agent = r#"x\"}\n{"level":"ERROR","fake":true,"message":"forged"}"#;
    // (request target, status). A raw `{` or `"` is accepted in a path but not in a query (400 from
    // hyper, before any layer): the queries carry them percent-encoded, as they are logged.
    let targets = [
        (r#"/users/1%0A{"level":"ERROR","fake":true}"#, 400),
        (r#"/no/such%0D%0A{"level":"ERROR","fake":true}"#, 404),
        (
            "/slow?ms=1&q=%0A%7B%22level%22:%22ERROR%22,%22fake%22:true%7D",
            200,
        ),
        ("/panic?q=%22%7D%7B%22fake%22:true%7D", 500),
        ("/users/2", 200),
    ];
    let mut ids = Vec::new();
    for (n, (target, status)) in targets.iter().enumerate() {
        let id = format!("inject-{}-{n}", std::process::id());
        let request = format!(
            "GET {target} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\nx-request-id: {id}\r\n\
             user-agent: {fake_agent}\r\n\r\n"
        );
        let response = raw_request(demo.address(), request.as_bytes());
        assert_eq!(response.status, *status, "{target}: {response:?}");
        ids.push((id, *target));
    }
    // Wait for each request's access log line, read as text: if a line were broken, parsing it
    // would not find it.
    let deadline = Instant::now() + LOG_WAIT;
    let logged = |id: &str| {
        demo.logs()
            .all()
            .iter()
            .any(|line| line.contains(id) && line.contains("request completed"))
    };
    while !ids.iter().all(|(id, _)| logged(id)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let lines = demo.logs().all();
    for line in &lines {
        // One JSON object per line, nothing before or after it.
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|error| panic!("not one JSON value: {error}: {line}"));
        let object = value
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {line}"));
        assert!(
            !object.contains_key("fake"),
            "a forged field at top level: {line}"
        );
        assert_ne!(
            object.get("message").and_then(Value::as_str),
            Some("forged"),
            "{line}"
        );
    }
    for (id, target) in &ids {
        let line = demo
            .logs()
            .wait_for_request(id, "request completed", LOG_WAIT)
            .unwrap_or_else(|| panic!("{target}: no access log line"));
        // The hostile text is there, inside string fields.
        assert_eq!(line["user_agent.original"], fake_agent, "{line}");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        assert_eq!(line["url.path"], path, "{line}");
        if !query.is_empty() {
            assert_eq!(line["url.query"], query, "{line}");
        }
    }
    println!(
        "log injection: {} hostile requests, {} stdout lines, all single JSON objects, no forged field; {:.1} s",
        targets.len(),
        lines.len(),
        started.elapsed().as_secs_f64()
    );
}
