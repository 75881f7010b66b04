//! The request as Sentry shows it, scrubbed.

use std::{borrow::Cow, cell::RefCell};

use belfry_scrub::ScrubPolicy;
#[cfg(test)]
use http::HeaderMap;
use http::{header, Method, Uri};
use sentry::protocol::{self, Url};

thread_local! {
    /// The last `scheme://authority` this thread turned into a URL, and that URL (userinfo
    /// removed): requests to one service name one host, and parsing it (IDNA included) is most
    /// of a URL's parse.
    static LAST_BASE: RefCell<Option<(String, Url)>> = const { RefCell::new(None) };
}

/// `target` (origin-form, scrubbed) on `scheme://authority`, the base parsed once per thread for
/// a run of requests to the same authority.
fn url_on(scheme: &str, authority: &str, target: &str, scrub: &ScrubPolicy) -> Option<Url> {
    if !target.starts_with('/') || target.starts_with("//") {
        // Not a path a base can take as is (`//host/…` would name another host): parsed whole.
        return scrub
            .url(&format!("{scheme}://{authority}{target}"))
            .to_string()
            .parse()
            .ok();
    }
    let join = |base: &Url| base.join(target).ok();
    LAST_BASE
        .try_with(|last| {
            let mut last = last.borrow_mut();
            if let Some((key, base)) = last.as_ref() {
                if key.len() == scheme.len() + 3 + authority.len()
                    && key.starts_with(scheme)
                    && key.ends_with(authority)
                {
                    return join(base);
                }
            }
            let base: Url = scrub
                .url(&format!("{scheme}://{authority}/"))
                .to_string()
                .parse()
                .ok()?;
            let url = join(&base);
            *last = Some((format!("{scheme}://{authority}"), base));
            url
        })
        .ok()
        .flatten()
}

/// A `HeaderMap`'s headers as [`sentry_request`] takes them.
#[cfg(test)]
pub(crate) fn map_entries(headers: &HeaderMap) -> impl Iterator<Item = (&str, &[u8], bool)> + Clone {
    let entries: Vec<_> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes(), value.is_sensitive()))
        .collect();
    entries.into_iter()
}

/// The request as Sentry shows it: method, URL and headers scrubbed by `scrub`, no cookies, no
/// body. The URL's path has the segments bound to sensitive parameters of `route` (the route
/// template) redacted; its userinfo is removed and its query scrubbed. Headers follow the
/// policy's [`HeaderMode`](belfry_scrub::HeaderMode), by default the allow-list: credentials keep
/// their name with the value `[REDACTED]`, headers off the list `[Filtered]`.
///
/// `headers`: each `(name, value, marked sensitive)`, names spelled as
/// [`HeaderName::as_str`](http::HeaderName::as_str) spells them; a value marked sensitive is
/// redacted whatever its name.
pub(crate) fn sentry_request<'h>(
    method: &Method,
    uri: &Uri,
    headers: impl Iterator<Item = (&'h str, &'h [u8], bool)> + Clone,
    route: Option<&str>,
    scrub: &ScrubPolicy,
) -> protocol::Request {
    let authority = uri.authority().map(|authority| authority.as_str()).or_else(|| {
        let (_, host, _) = headers.clone().find(|(name, ..)| *name == header::HOST)?;
        std::str::from_utf8(host).ok()
    });
    // Borrowed all the way when nothing needs scrubbing (`to_cow`, not `to_string`).
    let query_string = uri.query().map(|query| scrub.query(query).to_cow());
    let url = authority.and_then(|authority| {
        let scheme = uri.scheme_str().unwrap_or("http");
        let path = scrub.path(uri.path(), route).to_cow();
        let target = match &query_string {
            Some(query) => Cow::Owned(format!("{path}?{query}")),
            None => path,
        };
        url_on(scheme, authority, &target, scrub)
    });
    let mut scrubbed = protocol::Map::new();
    for (name, value, sensitive) in headers {
        let value = scrub.raw_header_value(name, value, sensitive);
        scrubbed
            .entry(name.to_owned())
            .and_modify(|joined: &mut String| {
                joined.push_str(", ");
                joined.push_str(&value.to_cow());
            })
            .or_insert_with(|| value.to_cow().into_owned());
    }
    protocol::Request {
        url,
        method: Some(method.as_str().to_owned()),
        query_string: query_string.map(Cow::into_owned),
        headers: scrubbed,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use http::Request;

    use super::*;

    #[test]
    fn request_is_scrubbed() {
        let request = Request::get("/cb?access_token=s3cr3t&page=2")
            .header("host", "api.example.com")
            .header("authorization", "Bearer s3cr3t")
            .header("cookie", "sid=s3cr3t")
            .header("accept", "text/html")
            .header("accept", "application/json")
            .body(())
            .unwrap();
        let sentry_request = sentry_request(
            request.method(),
            request.uri(),
            map_entries(request.headers()),
            Some("/cb"),
            &ScrubPolicy::default(),
        );
        assert_eq!(
            sentry_request.url.unwrap().as_str(),
            "http://api.example.com/cb?access_token=[REDACTED]&page=2"
        );
        assert_eq!(
            sentry_request.query_string.as_deref(),
            Some("access_token=[REDACTED]&page=2")
        );
        assert_eq!(sentry_request.method.as_deref(), Some("GET"));
        assert_eq!(sentry_request.headers["authorization"], "[REDACTED]");
        assert_eq!(sentry_request.headers["cookie"], "[REDACTED]");
        assert_eq!(sentry_request.headers["accept"], "text/html, application/json");
        assert!(sentry_request.cookies.is_none() && sentry_request.data.is_none());
    }

    #[test]
    fn a_value_the_application_marked_sensitive_is_redacted() {
        // As tower-http's `SetSensitiveRequestHeadersLayer` marks them, and as the request's
        // header buffer keeps the mark.
        let mut request = Request::get("/")
            .header("host", "api.example.com")
            .body(())
            .unwrap();
        let mut agent = http::HeaderValue::from_static("curl/8 (build 7f3a secret)");
        agent.set_sensitive(true);
        request.headers_mut().insert(header::USER_AGENT, agent);
        let kept = crate::request_headers::RequestHeaders::new(request.uri(), request.headers());
        let sentry_request = sentry_request(
            request.method(),
            request.uri(),
            kept.entries(),
            None,
            &ScrubPolicy::default(),
        );
        assert_eq!(sentry_request.headers["user-agent"], "[REDACTED]");
        assert_eq!(sentry_request.headers["host"], "api.example.com");
        assert_eq!(sentry_request.url.unwrap().as_str(), "http://api.example.com/");
    }

    #[test]
    fn each_request_s_url_has_its_own_host_on_a_thread_that_saw_another() {
        let policy = ScrubPolicy::default();
        let url = |host: &str, target: &str| {
            let request = Request::get(target).header("host", host).body(()).unwrap();
            sentry_request(
                request.method(),
                request.uri(),
                map_entries(request.headers()),
                None,
                &policy,
            )
            .url
            .map(|url| url.to_string())
        };
        let cases = [
            ("a.example", "/x?q=1", "http://a.example/x?q=1"),
            ("a.example:8080", "/y", "http://a.example:8080/y"),
            ("u:S3CR3T@b.example", "/z", "http://b.example/z"),
            ("b.example", "/z?token=t", "http://b.example/z?token=[REDACTED]"),
            ("b.example", "//c.example/p", "http://b.example//c.example/p"),
        ];
        // Twice: the second time every host's base is cached or replaced on this thread.
        for _ in 0..2 {
            for (host, target, expected) in cases {
                assert_eq!(url(host, target).as_deref(), Some(expected), "{host} {target}");
            }
        }
    }

    #[test]
    fn absolute_uri_and_missing_host() {
        let request = Request::get("https://user:pw@example.com/a?q=1")
            .body(())
            .unwrap();
        let url = sentry_request(
            request.method(),
            request.uri(),
            map_entries(request.headers()),
            None,
            &ScrubPolicy::default(),
        )
        .url
        .unwrap();
        assert_eq!(url.as_str(), "https://example.com/a?q=1");
        let request = Request::get("/no-host").body(()).unwrap();
        assert!(sentry_request(
            request.method(),
            request.uri(),
            map_entries(request.headers()),
            None,
            &ScrubPolicy::default()
        )
        .url
        .is_none());
    }

    #[test]
    fn path_parameters_and_headers_off_the_allow_list_are_hidden() {
        let request = Request::get("/reset-password/S3CR3T?page=2&redirect=%2Fcb%3Fjwt%3DS3CR3T")
            .header("host", "alice:S3CR3T@api.example.com")
            .header("user-agent", "curl/8")
            .header("x-tenant", "acme")
            .header("x-goog-iap-jwt-assertion", "S3CR3T")
            .header("x-original-uri", "/reset-password/S3CR3T?token=S3CR3T")
            .header("forwarded", "for=192.0.2.1;host=\"u:S3CR3T@api.example.com\"")
            .body(())
            .unwrap();
        let route = Some("/reset-password/{token}");
        let default = sentry_request(
            request.method(),
            request.uri(),
            map_entries(request.headers()),
            route,
            &ScrubPolicy::default(),
        );
        assert_eq!(
            default.url.as_ref().unwrap().as_str(),
            "http://api.example.com/reset-password/[REDACTED]?page=2&redirect=%2Fcb%3Fjwt%3D[REDACTED]"
        );
        assert_eq!(default.headers["user-agent"], "curl/8");
        assert_eq!(default.headers["host"], "api.example.com");
        assert_eq!(default.headers["x-tenant"], "[Filtered]");
        assert_eq!(default.headers["x-original-uri"], "[Filtered]");
        assert_eq!(default.headers["forwarded"], "[Filtered]");
        assert_eq!(default.headers["x-goog-iap-jwt-assertion"], "[REDACTED]");

        let deny_list = ScrubPolicy::builder()
            .header_mode(belfry_scrub::HeaderMode::DenyList)
            .build();
        let shown = sentry_request(
            request.method(),
            request.uri(),
            map_entries(request.headers()),
            route,
            &deny_list,
        );
        assert_eq!(shown.headers["x-tenant"], "acme");
        assert_eq!(
            shown.headers["x-original-uri"],
            "/reset-password/S3CR3T?token=[REDACTED]"
        );
        assert_eq!(
            shown.headers["forwarded"],
            "for=192.0.2.1;host=\"api.example.com\""
        );
        assert_eq!(shown.headers["x-goog-iap-jwt-assertion"], "[REDACTED]");
        let text = |request: &protocol::Request| {
            format!(
                "{:?} {:?} {:?}",
                request.url, request.query_string, request.headers
            )
        };
        assert!(!text(&default).contains("S3CR3T"), "{}", text(&default));
        // In the deny-list mode, the one left is the path of X-Original-URI: no route template
        // says which of its segments are parameters.
        assert_eq!(text(&shown).matches("S3CR3T").count(), 1, "{}", text(&shown));
    }
}
