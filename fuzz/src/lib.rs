//! The bodies of the fuzz targets, as plain functions of arbitrary bytes.
//!
//! `cargo +nightly fuzz run <target>` drives them with libFuzzer (see `fuzz_targets/`), and the
//! stable test `tests/tests/reliability_hostile.rs` includes this file (`#[path]`) and runs them
//! over a fixed corpus and a few thousand pseudo-random inputs, so they are never dead code.
//!
//! Each function panics when a property fails. The planted secrets are marked with `~`: every `~`
//! is removed from the fuzzer's bytes first, so a `~` in the output can only be a planted secret
//! that survived.

use belfry_request_id::{is_valid_request_id, RequestId, MAX_REQUEST_ID_LEN};
use belfry_scrub::{ScrubPolicy, FILTERED, REDACTED};
use http::{HeaderMap, HeaderName, HeaderValue};

/// The longest incoming request id `docs/architecture.md` documents.
const DOCUMENTED_MAX_LEN: usize = 128;

/// The bytes `docs/architecture.md` documents for an incoming request id.
const DOCUMENTED_ID_BYTES: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:~+=/@";

/// Marks a planted secret; removed from everything else.
const MARK: char = '~';

/// Query parameter names the default policy must redact, spelled as clients send them.
pub const SENSITIVE_QUERY_NAMES: &[&str] = &[
    "token",
    "access_token",
    "ACCESS_TOKEN",
    "acc%65ss_token",
    "%74oken",
    "refresh%5Ftoken",
    "password",
    "Password",
    "passwd",
    "client_secret",
    "api_key",
    "api%5Fkey",
    "apikey",
    "key",
    "code",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "AWSAccessKeyId",
    "Signature",
    "X-Goog-Signature",
    "sig",
    "session",
    "sessionid",
    "auth",
    "oauth_verifier",
    "credential",
    "my+api_key",
];

/// Header names the default policy must redact.
pub const SENSITIVE_HEADER_NAMES: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
    "x-csrf-token",
    "x-session-token",
    "x-client-secret",
    "x-password",
];

/// Whether `id` is an acceptable request id as documented (1 to 128 bytes of
/// `A-Z a-z 0-9 - _ . : ~ + = / @`), checked independently of `belfry_request_id`.
pub fn is_documented_request_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= DOCUMENTED_MAX_LEN
        && id.iter().all(|byte| DOCUMENTED_ID_BYTES.contains(byte))
}

/// `request_id`: the validator accepts exactly the documented ids, and an accepted id is kept
/// byte for byte and safe to echo in a header, a log line and a JSON string.
pub fn request_id(data: &[u8]) {
    assert_eq!(MAX_REQUEST_ID_LEN, DOCUMENTED_MAX_LEN);
    let documented = is_documented_request_id(data);
    let valid = is_valid_request_id(data);
    assert_eq!(valid, documented, "is_valid_request_id({data:?})");
    let id = RequestId::from_incoming(data);
    assert_eq!(id.is_some(), valid, "from_incoming({data:?})");
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let from_header = RequestId::from_header_value(value);
        assert_eq!(from_header.is_some(), valid, "from_header_value({data:?})");
    }
    if let Some(id) = id {
        assert_eq!(id.as_str().as_bytes(), data);
        assert_eq!(id.header_value().as_bytes(), data);
        assert_eq!(id.to_string(), id.as_str());
        assert!(
            !id.as_str()
                .contains(['"', '\\', '\r', '\n', ' ', '<', '>', '{', '}']),
            "{id:?} would need escaping"
        );
    }
}

/// `scrub_query`: for any query and URL, no panic, `Display == to_cow`, only values of pairs
/// change (replaced by `[REDACTED]`, or scrubbed inside when they hold a URL or a query),
/// scrubbing is idempotent; and a secret planted after a sensitive name
/// (in a query, a URL query, a fragment or URL userinfo) never survives.
pub fn scrub_query(data: &[u8]) {
    let policy = ScrubPolicy::default();
    let text = String::from_utf8_lossy(data).replace(MARK, "");

    let scrubbed = policy.query(&text).to_string();
    assert_eq!(
        scrubbed,
        policy.query(&text).to_cow(),
        "Display != to_cow for {text:?}"
    );
    let _ = format!("{:?}", policy.query(&text));
    assert_only_values_redacted(&text, &scrubbed);
    assert_eq!(
        policy.query(&scrubbed).to_string(),
        scrubbed,
        "not idempotent for {text:?}"
    );

    let url = policy.url(&text).to_string();
    assert_eq!(
        url,
        policy.url(&text).to_cow(),
        "Display != to_cow for URL {text:?}"
    );
    let _ = format!("{:?}", policy.url(&text));

    // Planted: `prefix & NAME=~~secret~~ & suffix`, with the parts taken from the input.
    let choice = data.first().copied().unwrap_or(0) as usize;
    let name = SENSITIVE_QUERY_NAMES[choice % SENSITIVE_QUERY_NAMES.len()];
    let mut parts = text.splitn(3, '\n');
    let (prefix, secret, suffix) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    // A separator in the secret would end the pair: what follows is another pair, not the value.
    let secret: String = secret.chars().filter(|c| !matches!(c, '&' | ';' | '#')).collect();
    let planted = format!("{MARK}{MARK}{secret}{MARK}{MARK}");
    let query = format!("{prefix}&{name}={planted}&{suffix}");
    let scrubbed = policy.query(&query).to_string();
    assert!(
        !scrubbed.contains(MARK),
        "the secret survived in the query {query:?}: {scrubbed:?}"
    );
    assert!(
        scrubbed.contains(&format!("&{name}={REDACTED}&")),
        "{query:?} -> {scrubbed:?}"
    );

    // The same in a URL: query, fragment and userinfo.
    let path: String = prefix.chars().filter(|c| !matches!(c, '?' | '#')).collect();
    let user: String = suffix
        .chars()
        .filter(|c| !matches!(c, '/' | '?' | '#' | '@'))
        .collect();
    let password: String = secret.chars().filter(|c| !matches!(c, '/' | '?')).collect();
    let url = format!(
        "https://{user}:{MARK}{password}{MARK}@example.com/{path}?{name}={planted}&page=2#{name}={planted}"
    );
    let scrubbed = policy.url(&url).to_string();
    assert!(
        !scrubbed.contains(MARK),
        "the secret survived in the URL {url:?}: {scrubbed:?}"
    );
    assert!(
        scrubbed.starts_with("https://example.com/"),
        "{url:?} -> {scrubbed:?}"
    );
    assert!(scrubbed.contains("&page=2#"), "{url:?} -> {scrubbed:?}");
}

/// Splits a query into its separators and pairs, as the scrubber reads it.
fn pairs(query: &str) -> (Vec<&str>, Vec<char>) {
    let pairs = query.split(['&', ';']).collect();
    let separators = query.chars().filter(|c| matches!(c, '&' | ';')).collect();
    (pairs, separators)
}

fn assert_only_values_redacted(original: &str, scrubbed: &str) {
    let (before, separators_before) = pairs(original);
    let (after, separators_after) = pairs(scrubbed);
    assert_eq!(
        separators_before, separators_after,
        "{original:?} -> {scrubbed:?}"
    );
    for (before, after) in before.iter().zip(&after) {
        if before == after {
            continue;
        }
        let (name, value) = before
            .split_once('=')
            .unwrap_or_else(|| panic!("a pair without a value changed: {before:?} -> {after:?}"));
        assert!(
            !value.is_empty(),
            "an empty value changed: {before:?} -> {after:?}"
        );
        // Redacted whole, or scrubbed inside (a URL or query nested in the value).
        assert!(
            (after.starts_with(&format!("{name}=")) && after.contains(REDACTED))
                || after.len() < before.len(),
            "{original:?} -> {scrubbed:?}"
        );
    }
}

/// `scrub_headers`: arbitrary headers (lines `name:value`, raw bytes) plus planted sensitive ones:
/// one item per value, sensitive values shown as `[REDACTED]`, headers off the allow-list as
/// `[Filtered]`, others shown as sent (lossy UTF-8; headers carrying URLs scrubbed),
/// `Display == to_cow`, and no planted secret in the items or in `Debug`.
pub fn scrub_headers(data: &[u8]) {
    let policy = ScrubPolicy::default();
    let data: Vec<u8> = data.iter().copied().filter(|&byte| byte != MARK as u8).collect();
    let mut headers = HeaderMap::new();
    for line in data.split(|&byte| byte == b'\n') {
        let Some(colon) = line.iter().position(|&byte| byte == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(&line[colon + 1..]),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    let mask = data.first().copied().unwrap_or(0xff);
    let secret: Vec<u8> = data
        .iter()
        .copied()
        .filter(|&byte| byte.is_ascii_alphanumeric())
        .take(32)
        .collect();
    for (index, name) in SENSITIVE_HEADER_NAMES.iter().enumerate() {
        if index < 8 && mask & (1 << index) == 0 {
            continue;
        }
        let mut value = vec![MARK as u8, MARK as u8];
        value.extend_from_slice(&secret);
        value.push(MARK as u8);
        headers.append(
            *name,
            HeaderValue::from_bytes(&value).expect("a valid header value"),
        );
    }

    let mut items = 0;
    for (name, value) in policy.headers(&headers) {
        items += 1;
        let shown = value.to_string();
        assert_eq!(shown, value.to_cow(), "Display != to_cow for {name}");
        // The default policy shows only allow-listed headers: a credential is `[REDACTED]`,
        // any other header off the list `[Filtered]`.
        assert_eq!(value.is_redacted(), !policy.is_shown_header(name), "{name}");
        if SENSITIVE_HEADER_NAMES.contains(&name.as_str()) {
            assert!(value.is_redacted(), "{name} is sensitive");
        }
        if value.is_redacted() {
            let hidden = if policy.is_sensitive_header(name) {
                REDACTED
            } else {
                FILTERED
            };
            assert_eq!(shown, hidden, "{name}");
        } else if !belfry_scrub::is_url_header(name.as_str()) && name != "forwarded" {
            let sent = headers
                .get_all(name)
                .iter()
                .any(|sent| String::from_utf8_lossy(sent.as_bytes()) == shown);
            assert!(sent, "{name}: {shown:?} was not sent");
        }
        assert!(
            !shown.contains(MARK),
            "a planted secret survived in {name}: {shown:?}"
        );
    }
    assert_eq!(items, headers.len(), "one item per value");
    let debug = format!("{:?}", policy.headers(&headers));
    assert!(
        !debug.contains(MARK),
        "a planted secret survived in Debug: {debug}"
    );
}
