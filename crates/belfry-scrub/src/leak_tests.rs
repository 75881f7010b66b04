//! Property tests across the crate: secrets planted at random positions and in random encodings
//! in URLs, header maps and paths; none may survive scrubbing, in any encoding (test only).
//!
//! Every secret starts with `ZZ`, and nothing else generated contains a `Z`: an output that,
//! once percent-decoded as often as it was encoded, contains `ZZ` leaked a secret.

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use proptest::sample::select;

use crate::{HeaderMode, ScrubPolicy};

const MARKER: &str = "ZZ";

fn secret() -> impl Strategy<Value = String> {
    "ZZ[A-Y0-9]{4,12}"
}

/// Percent-decodes `text` up to four times (as deep as the scrubber follows).
fn fully_decoded(text: &str) -> String {
    let mut text = text.to_owned();
    for _ in 0..4 {
        text = percent_encoding::percent_decode_str(&text)
            .decode_utf8_lossy()
            .into_owned();
    }
    text
}

fn leaks(text: &str) -> bool {
    text.contains(MARKER) || fully_decoded(text).contains(MARKER)
}

/// Encodes every byte outside the unreserved set, with upper- or lowercase hex; and, when
/// `letters`, ASCII letters too.
fn encoded(text: &str, lowercase: bool, letters: bool) -> String {
    text.bytes()
        .map(|b| {
            let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
            if unreserved && !(letters && b.is_ascii_alphabetic()) {
                (b as char).to_string()
            } else if lowercase {
                format!("%{b:02x}")
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

const SENSITIVE_NAMES: &[&str] = &[
    "token",
    "access_token",
    "jwt",
    "pwd",
    "pass",
    "password",
    "secret",
    "api_key",
    "apikey",
    "code",
    "sig",
    "X-Amz-Signature",
    "id_token",
    "session_id",
    "PHPSESSID",
    "SAMLResponse",
    "client_assertion",
    "ticket",
    "otp",
];

const CARRIER_NAMES: &[&str] = &[
    "redirect",
    "next",
    "return_to",
    "url",
    "continue",
    "r",
    "target",
    "state",
];

/// A URL holding a secret somewhere: in its userinfo, a sensitive query value, its fragment.
fn url_with_secret() -> impl Strategy<Value = String> {
    let base = select(
        &[
            "https://app.example/cb",
            "/cb",
            "http://app.example:8080/a/b",
            "/",
        ][..],
    );
    let name = select(SENSITIVE_NAMES);
    (base, name, secret(), 0..4u8).prop_map(|(base, name, secret, place)| match place {
        0 if base.starts_with("http") => base.replacen("://", &format!("://alice:{secret}@"), 1),
        1 => format!("{base}#{name}={secret}&state=ok"),
        _ => format!("{base}?page=2&{name}={secret}"),
    })
}

/// A query holding secrets directly and in URLs nested in values, encoded zero to two times.
fn query_with_nested_secrets() -> impl Strategy<Value = String> {
    let nested = (
        select(CARRIER_NAMES),
        url_with_secret(),
        0..3usize,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(carrier, url, times, lowercase, letters)| {
            let mut value = url;
            for _ in 0..times {
                value = encoded(&value, lowercase, letters);
            }
            format!("{carrier}={value}")
        });
    let direct = (select(SENSITIVE_NAMES), secret(), any::<bool>()).prop_map(|(name, secret, encode)| {
        let name = if encode {
            encoded(name, false, true)
        } else {
            name.to_owned()
        };
        format!("{name}={secret}")
    });
    let pair = prop_oneof![
        nested,
        direct,
        Just("page=2".to_owned()),
        Just("q=r%C3%A9sum%C3%A9".to_owned())
    ];
    proptest::collection::vec(pair, 1..6).prop_map(|pairs| pairs.join("&"))
}

/// Credential headers as gateways send them.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-forwarded-authorization",
    "x-goog-iap-jwt-assertion",
    "apikey",
    "x-api-key",
    "cf-access-jwt-assertion",
    "cf-access-client-secret",
    "x-amzn-oidc-accesstoken",
    "x-amzn-oidc-data",
    "x-amzn-oidc-identity",
    "x-hub-signature-256",
    "x-auth-request-access-token",
    "x-forwarded-access-token",
    "x-forwarded-client-cert",
    "x-ms-client-principal",
    "x-endpoint-api-userinfo",
    "ocp-apim-subscription-key",
    "x-jwt-assertion",
    "cookie",
    "x-vault-token",
    "stripe-signature",
];

const URL_HEADER_NAMES: &[&str] = &[
    "referer",
    "origin",
    "x-original-uri",
    "x-forwarded-uri",
    "x-rewrite-url",
    "x-original-url",
    "x-envoy-original-path",
    "x-my-callback-url",
    "x-auth-redirect-uri",
];

fn headers_with_secrets() -> impl Strategy<Value = HeaderMap> {
    let credential = (
        select(CREDENTIAL_HEADERS),
        select(&["Bearer ", "", "Basic ", "sha256="][..]),
        secret(),
    )
        .prop_map(|(name, scheme, secret)| (name.to_owned(), format!("{scheme}{secret}")));
    let url = (
        select(URL_HEADER_NAMES),
        url_with_secret(),
        query_with_nested_secrets(),
    )
        .prop_map(|(name, url, query)| {
            let value = if url.contains('?') {
                format!("{url}&{query}")
            } else {
                format!("{url}?{query}")
            };
            (name.to_owned(), value)
        });
    let host = (select(&["host", "x-forwarded-host"][..]), secret())
        .prop_map(|(name, secret)| (name.to_owned(), format!("alice:{secret}@api.example:8443")));
    let forwarded = (secret(), any::<bool>()).prop_map(|(secret, quoted)| {
        let host = if quoted {
            format!("\"u:{secret}@api.example\"")
        } else {
            format!("u:{secret}@api.example")
        };
        (
            "forwarded".to_owned(),
            format!("for=192.0.2.60;proto=https;host={host}, for=198.51.100.1"),
        )
    });
    let entry = prop_oneof![credential, url, host, forwarded];
    proptest::collection::vec(entry, 1..8).prop_map(|entries| {
        let mut headers = HeaderMap::new();
        for (name, value) in entries {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(&value).unwrap(),
            );
        }
        headers.append(http::header::USER_AGENT, HeaderValue::from_static("curl/8.5"));
        headers
    })
}

/// A route template, a path matching it with secrets in the sensitive segments, and the path
/// the policy must print.
fn path_with_secrets() -> impl Strategy<Value = (String, String, String)> {
    let literal = select(&["users", "reset-password", "v1", "files", "token", "secret"][..])
        .prop_map(|name| (name.to_owned(), name.to_owned(), name.to_owned()));
    let sensitive = (select(SENSITIVE_NAMES), secret(), any::<bool>()).prop_map(|(name, secret, encode)| {
        let segment = if encode {
            encoded(&secret, true, true)
        } else {
            secret
        };
        (format!("{{{name}}}"), segment, crate::REDACTED.to_owned())
    });
    let plain = (select(&["id", "tenant", "slug", "page"][..]), "[a-y0-9.-]{1,8}")
        .prop_map(|(name, value)| (format!("{{{name}}}"), value.clone(), value));
    let tail = prop_oneof![
        Just(None),
        (select(SENSITIVE_NAMES), secret()).prop_map(|(name, secret)| Some((
            format!("{{*{name}}}"),
            format!("{secret}/x/{secret}"),
            crate::REDACTED.to_owned()
        ))),
    ];
    (
        proptest::collection::vec(prop_oneof![literal, sensitive, plain], 1..6),
        tail,
    )
        .prop_map(|(segments, tail)| {
            let (mut template, mut path, mut expected) = (String::new(), String::new(), String::new());
            for (t, p, e) in segments.into_iter().chain(tail) {
                template.push('/');
                template.push_str(&t);
                path.push('/');
                path.push_str(&p);
                expected.push('/');
                expected.push_str(&e);
            }
            (template, path, expected)
        })
}

proptest! {
    #[test]
    fn no_secret_survives_in_urls(url in url_with_secret(), query in query_with_nested_secrets()) {
        let policy = ScrubPolicy::default();
        let full = if url.contains('?') { format!("{url}&{query}") } else { format!("{url}?{query}") };
        let displayed = policy.url(&full).to_string();
        prop_assert!(!leaks(&displayed), "{full}\n{displayed}");
        prop_assert_eq!(policy.url(&full).to_cow(), displayed.as_str());
        let displayed = policy.query(&query).to_string();
        prop_assert!(!leaks(&displayed), "{query}\n{displayed}");
        prop_assert!(displayed.contains("page=2") || !query.contains("page=2"));
    }

    #[test]
    fn no_secret_survives_in_headers(headers in headers_with_secrets()) {
        for policy in [ScrubPolicy::default(), ScrubPolicy::builder().header_mode(HeaderMode::DenyList).build()] {
            for (name, value) in policy.headers(&headers) {
                let (displayed, cow) = (value.to_string(), value.to_cow());
                prop_assert_eq!(&displayed, &cow);
                prop_assert!(!leaks(&displayed), "{name}: {:?}\n{displayed}", headers.get(name));
                if name == http::header::USER_AGENT {
                    prop_assert_eq!(displayed, "curl/8.5");
                }
            }
        }
    }

    #[test]
    fn no_secret_survives_in_paths((template, path, expected) in path_with_secrets()) {
        let policy = ScrubPolicy::default();
        let scrubbed = policy.path(&path, Some(&template));
        let displayed = scrubbed.to_string();
        prop_assert!(!leaks(&displayed), "{template} {path}\n{displayed}");
        prop_assert_eq!(&displayed, &expected);
        prop_assert_eq!(scrubbed.to_cow(), expected);
    }
}
