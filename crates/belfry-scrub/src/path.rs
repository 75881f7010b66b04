//! Paths: [`ScrubbedPath`], a request path whose segments bound to sensitive route parameters
//! are redacted.

use std::borrow::Cow;
use std::fmt;

use crate::policy::Rules;
use crate::rewrite::{edited_cow, write_edited, Edit};
use crate::{ScrubPolicy, REDACTED};

/// A request path with the segments bound to sensitive route parameters redacted, computed
/// lazily.
///
/// Created by [`ScrubPolicy::path`] from the path as requested (`/reset-password/SECRET123`) and
/// the route template it matched (`/reset-password/{token}`, axum's `MatchedPath`). A segment
/// bound to a parameter the policy deems sensitive ([`ScrubPolicy::is_sensitive_path_param`]) is
/// written as [`REDACTED`]; every other byte is kept as sent. Without a template, or when the
/// template has no sensitive parameter, `Display` writes the path with a single `write_str` and
/// [`to_cow`](Self::to_cow) borrows it.
///
/// Templates use axum's syntax (matchit): `{name}` binds one segment, `{*name}` the rest of the
/// path, `{{` and `}}` are literal braces. A segment mixing text and a sensitive parameter
/// (`/avatar-{token}`) is redacted whole. `Debug` also shows the scrubbed path.
///
/// ```
/// use belfry_scrub::ScrubPolicy;
///
/// let policy = ScrubPolicy::default();
/// let path = policy.path("/reset-password/SECRET123", Some("/reset-password/{token}"));
/// assert_eq!(path.to_string(), "/reset-password/[REDACTED]");
/// assert_eq!(format!("{path:?}"), r#""/reset-password/[REDACTED]""#);
///
/// let path = policy.path("/users/7/keys/k-1", Some("/users/{id}/keys/{key_id}"));
/// assert_eq!(path.to_string(), "/users/7/keys/[REDACTED]");
///
/// let path = policy.path("/files/a/b/c", Some("/files/{*secret_path}"));
/// assert_eq!(path.to_string(), "/files/[REDACTED]");
/// ```
#[derive(Clone, Copy)]
#[must_use = "a ScrubbedPath does nothing unless displayed"]
pub struct ScrubbedPath<'a> {
    rules: &'a Rules,
    path: &'a str,
    route: Option<&'a str>,
}

impl<'a> ScrubbedPath<'a> {
    pub(crate) fn new(policy: &'a ScrubPolicy, path: &'a str, route: Option<&'a str>) -> Self {
        Self {
            rules: &policy.rules,
            path,
            route,
        }
    }

    /// The scrubbed path; borrowed when nothing needed redacting.
    ///
    /// ```
    /// use std::borrow::Cow;
    /// use belfry_scrub::ScrubPolicy;
    ///
    /// let policy = ScrubPolicy::default();
    /// assert!(matches!(policy.path("/users/7", Some("/users/{id}")).to_cow(), Cow::Borrowed("/users/7")));
    /// assert_eq!(policy.path("/verify/123456", Some("/verify/{code}")).to_cow(), "/verify/[REDACTED]");
    /// ```
    pub fn to_cow(&self) -> Cow<'a, str> {
        match self.sensitive_template() {
            Some(template) => edited_cow(self.path, self.edits(template)),
            None => Cow::Borrowed(self.path),
        }
    }

    /// The template, if it has a sensitive parameter. A template met before is told apart by one
    /// string comparison (`TemplateVerdicts`); a new one by a pass over its bytes and a look at
    /// each parameter name (see `NameFilter`).
    #[inline]
    fn sensitive_template(&self) -> Option<&'a str> {
        self.route.filter(|template| {
            self.rules
                .template_verdicts
                .get(template, || has_sensitive_param(self.rules, template))
        })
    }

    fn edits(&self, template: &'a str) -> PathEdits<'a> {
        PathEdits {
            rules: self.rules,
            path: self.path,
            template,
            path_at: 0,
            template_at: 0,
        }
    }
}

impl fmt::Display for ScrubbedPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.sensitive_template() {
            Some(template) => write_edited(f, self.path, self.edits(template)),
            None => f.write_str(self.path),
        }
    }
}

impl fmt::Debug for ScrubbedPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.to_cow(), f)
    }
}

/// Walks the template and the path segment by segment (split on `/`), yielding an edit for each
/// non-empty path segment bound to a sensitive parameter.
struct PathEdits<'a> {
    rules: &'a Rules,
    path: &'a str,
    /// Empty when the template has no parameter.
    template: &'a str,
    path_at: usize,
    template_at: usize,
}

impl Iterator for PathEdits<'_> {
    type Item = Edit;

    fn next(&mut self) -> Option<Edit> {
        let (path, template) = (self.path.as_bytes(), self.template.as_bytes());
        while self.template_at < template.len() && self.path_at <= path.len() {
            let template_end = segment_end(template, self.template_at);
            let path_end = segment_end(path, self.path_at);
            let segment = &self.template[self.template_at..template_end];
            let path_start = self.path_at;
            self.template_at = template_end + 1;
            self.path_at = path_end + 1;
            match sensitive_binding(self.rules, segment) {
                Binding::None => {}
                Binding::Segment if path_end > path_start => {
                    return Some(redact(path_start..path_end));
                }
                Binding::Segment => {}
                Binding::Rest => {
                    self.template_at = template.len();
                    self.path_at = path.len() + 1;
                    return (path.len() > path_start).then(|| redact(path_start..path.len()));
                }
            }
        }
        None
    }
}

fn redact(range: std::ops::Range<usize>) -> Edit {
    Edit {
        range,
        replacement: REDACTED,
    }
}

/// Whether some `{name}` or `{*name}` of `template` is sensitive. This runs for every printed
/// path: the search for `{` goes eight bytes at a time and stays small (inlined), and the names
/// are looked at out of line, through `NameFilter` first.
#[inline]
fn has_sensitive_param(rules: &Rules, template: &str) -> bool {
    match find_open_brace(template.as_bytes(), 0) {
        Some(open) => has_sensitive_param_from(rules, template, open),
        None => false,
    }
}

/// [`has_sensitive_param`] from the first `{`, at `open`.
#[inline(never)]
fn has_sensitive_param_from(rules: &Rules, template: &str, first: usize) -> bool {
    let bytes = template.as_bytes();
    let mut next = Some(first);
    while let Some(open) = next {
        if bytes.get(open + 1) == Some(&b'{') {
            next = find_open_brace(bytes, open + 2);
            continue;
        }
        let mut start = open + 1;
        if bytes.get(start) == Some(&b'*') {
            start += 1;
        }
        let mut end = start;
        while end < bytes.len() && bytes[end] != b'}' {
            end += 1;
        }
        // `{`, `*` and `}` are ASCII: both ends are character boundaries.
        if rules.is_sensitive_path_param(&template[start..end]) {
            return true;
        }
        next = find_open_brace(bytes, end + 1);
    }
    false
}

/// The index of the first `{` in `bytes[from..]`, eight bytes at a time.
#[inline]
fn find_open_brace(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const BRACES: u64 = u64::from_ne_bytes([b'{'; 8]);
    let mut at = from;
    while at + 8 <= bytes.len() {
        let mut chunk = [0; 8];
        chunk.copy_from_slice(&bytes[at..at + 8]);
        let word = u64::from_le_bytes(chunk) ^ BRACES;
        // The lowest zero byte of `word` sets the lowest bit of `found` (no false positive below
        // the first zero byte), so the first `{` is found exactly.
        let found = word.wrapping_sub(ONES) & !word & HIGHS;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    while at < bytes.len() {
        if bytes[at] == b'{' {
            return Some(at);
        }
        at += 1;
    }
    None
}

/// The index of the `/` ending the segment starting at `start`, or `bytes.len()`.
fn segment_end(bytes: &[u8], start: usize) -> usize {
    bytes
        .get(start..)
        .and_then(|rest| rest.iter().position(|&b| b == b'/'))
        .map_or(bytes.len(), |offset| start + offset)
}

/// What a template segment binds, as far as redaction goes.
#[derive(Debug, PartialEq, Eq)]
enum Binding {
    /// A literal segment, or parameters that are not sensitive.
    None,
    /// A sensitive parameter binds (part of) this segment: the whole segment is redacted.
    Segment,
    /// A sensitive catch-all parameter: the rest of the path is redacted.
    Rest,
}

/// Reads the parameters of one template segment (`{name}`, `{*name}`, `{{`/`}}` escapes).
fn sensitive_binding(rules: &Rules, segment: &str) -> Binding {
    let bytes = segment.as_bytes();
    let mut at = 0;
    let mut binding = Binding::None;
    while at < bytes.len() {
        match bytes[at] {
            b'{' if bytes.get(at + 1) == Some(&b'{') => at += 2,
            b'{' => {
                let close = bytes[at..]
                    .iter()
                    .position(|&b| b == b'}')
                    .map_or(bytes.len(), |o| at + o);
                let name = &segment[at + 1..close];
                let (catch_all, name) = match name.strip_prefix('*') {
                    Some(name) => (true, name),
                    None => (false, name),
                };
                if rules.is_sensitive_path_param(name) {
                    if catch_all {
                        return Binding::Rest;
                    }
                    binding = Binding::Segment;
                }
                at = close + 1;
            }
            _ => at += 1,
        }
    }
    binding
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(path: &str, route: &str) -> String {
        let policy = ScrubPolicy::default();
        let displayed = policy.path(path, Some(route)).to_string();
        assert_eq!(
            displayed,
            policy.path(path, Some(route)).to_cow(),
            "Display and to_cow differ"
        );
        displayed
    }

    #[test]
    fn sensitive_parameters_are_redacted() {
        assert_eq!(
            scrub("/reset-password/SECRET123", "/reset-password/{token}"),
            "/reset-password/[REDACTED]"
        );
        for name in [
            "token",
            "password",
            "secret",
            "api_key",
            "code",
            "jwt",
            "pwd",
            "pass",
            "session_id",
        ] {
            let route = format!("/a/{{{name}}}/b");
            assert_eq!(scrub("/a/SECRET/b", &route), "/a/[REDACTED]/b", "{route}");
        }
        assert_eq!(
            scrub("/t/A/B", "/t/{token}/{refresh_token}"),
            "/t/[REDACTED]/[REDACTED]"
        );
        assert_eq!(scrub("/u/7/t/A", "/u/{id}/t/{Token}"), "/u/7/t/[REDACTED]");
    }

    #[test]
    fn other_parameters_and_literals_are_kept() {
        assert_eq!(scrub("/users/7", "/users/{id}"), "/users/7");
        assert_eq!(
            scrub("/tenants/acme/report", "/tenants/{tenant}/report"),
            "/tenants/acme/report"
        );
        assert_eq!(scrub("/token/abc", "/token/{id}"), "/token/abc");
        assert_eq!(scrub("/", "/"), "/");
        assert_eq!(scrub("", "/{token}"), "");
    }

    #[test]
    fn catch_all_parameters() {
        assert_eq!(scrub("/files/a/b.txt", "/files/{*path}"), "/files/a/b.txt");
        assert_eq!(scrub("/s/a/b", "/s/{*secret}"), "/s/[REDACTED]");
        assert_eq!(scrub("/s/", "/s/{*secret}"), "/s/");
    }

    #[test]
    fn mixed_segments_and_escapes() {
        assert_eq!(scrub("/avatar-abc.png", "/avatar-{token}.png"), "/[REDACTED]");
        assert_eq!(scrub("/{token}/x", "/{{token}}/{id}"), "/{token}/x");
        assert_eq!(scrub("/{a}/S", "/{{a}}/{secret}"), "/{a}/[REDACTED]");
        assert_eq!(scrub("/x/S", "/x/{token"), "/x/[REDACTED]");
    }

    #[test]
    fn brace_search() {
        let text = b"0123456789abcdef{}{x{";
        for from in 0..=text.len() + 1 {
            let expected = text
                .get(from..)
                .and_then(|rest| rest.iter().position(|&b| b == b'{'))
                .map(|offset| from + offset);
            assert_eq!(find_open_brace(text, from), expected, "from {from}");
        }
        assert_eq!(find_open_brace(&[0xfb; 16], 0), None);
        assert_eq!(
            find_open_brace(&[0x80, 0x7a, 0xfb, 0, 0, 0, 0, 0, 0x7b], 0),
            Some(8)
        );
        assert_eq!(find_open_brace(&[0x7c, 0x7a, 0x7b, 0x7b, 0, 0, 0, 0], 0), Some(2));
    }

    #[test]
    fn remembered_verdicts_hold_for_every_template() {
        // More templates than slots, so slots are shared: each must still be decided right,
        // the first time and after.
        let policy = ScrubPolicy::default();
        for round in 0..3 {
            for i in 0..100 {
                let (route, expected) = if i % 2 == 0 {
                    (format!("/r{i}/{{token}}"), format!("/r{i}/[REDACTED]"))
                } else {
                    (format!("/r{i}/{{id}}"), format!("/r{i}/S"))
                };
                let path = format!("/r{i}/S");
                assert_eq!(
                    policy.path(&path, Some(&route)).to_string(),
                    expected,
                    "{route} round {round}"
                );
            }
        }
    }

    #[test]
    fn a_thousand_templates_are_each_decided_once() {
        let verdicts = crate::policy::TemplateVerdicts::default();
        let templates: Vec<String> = (0..1000).map(|i| format!("/r{i}/items/{{id}}")).collect();
        let decided = std::cell::Cell::new(0);
        for _round in 0..3 {
            for template in &templates {
                verdicts.get(template, || {
                    decided.set(decided.get() + 1);
                    false
                });
            }
        }
        // Each decided the first time; afterwards, only the few whose probes all went to others.
        assert!(decided.get() >= 1000, "{}", decided.get());
        assert!(decided.get() <= 1000 + 2 * 5, "decided {} times", decided.get());
    }

    #[test]
    fn mismatched_shapes_do_not_panic() {
        assert_eq!(scrub("/a", "/a/{token}"), "/a");
        assert_eq!(scrub("/a/S/extra/more", "/a/{token}"), "/a/[REDACTED]/extra/more");
        assert_eq!(scrub("/a//b", "/a/{token}/b"), "/a//b");
        assert_eq!(scrub("a/b", "{token}/b"), "[REDACTED]/b");
    }

    #[test]
    fn without_a_template_the_path_is_kept() {
        let policy = ScrubPolicy::default();
        let path = policy.path("/reset-password/SECRET", None);
        assert!(matches!(path.to_cow(), Cow::Borrowed("/reset-password/SECRET")));
        assert_eq!(path.to_string(), "/reset-password/SECRET");
    }

    #[test]
    fn configurable() {
        let policy = ScrubPolicy::builder()
            .show_path_param("code")
            .redact_path_param("slug")
            .build();
        let path = policy.path("/p/ab12/x/y", Some("/p/{code}/x/{slug}"));
        assert_eq!(path.to_string(), "/p/ab12/x/[REDACTED]");
        assert!(policy.is_sensitive_query_param("code"));
        assert!(!policy.is_sensitive_query_param("slug"));
    }
}
