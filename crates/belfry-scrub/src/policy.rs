//! [`ScrubPolicy`]: which headers and query parameters are sensitive.

use std::sync::{Arc, LazyLock, OnceLock};

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::{
    headers::{is_url_header, Treatment},
    ScrubPolicyBuilder, ScrubbedHeaderValue, ScrubbedHeaders, ScrubbedPath, ScrubbedQuery, ScrubbedUrl,
};

static DEFAULT_POLICY: LazyLock<ScrubPolicy> = LazyLock::new(|| ScrubPolicyBuilder::new().build());

/// Decides which headers and query parameters are sensitive, and hands out
/// lazy adaptors that print request data with those values redacted.
///
/// Build it once (with [`ScrubPolicy::default`] or [`ScrubPolicy::builder`])
/// and share it: cloning is cheap (an [`Arc`] inside).
///
/// The default policy redacts the headers and query parameters listed in the
/// [crate documentation](crate), and removes URL userinfo.
///
/// ```
/// use belfry_scrub::ScrubPolicy;
/// use http::header;
///
/// let policy = ScrubPolicy::default();
/// assert!(policy.is_sensitive_header(&header::COOKIE));
/// assert!(!policy.is_sensitive_header(&header::ACCEPT));
/// assert!(policy.is_sensitive_query_param("access_token"));
/// assert_eq!(policy.query("page=2&sig=abc").to_string(), "page=2&sig=[REDACTED]");
/// ```
#[derive(Clone, Debug)]
pub struct ScrubPolicy {
    pub(crate) rules: Arc<Rules>,
}

impl Default for ScrubPolicy {
    /// The default policy. Every call returns a clone of one shared policy.
    fn default() -> Self {
        DEFAULT_POLICY.clone()
    }
}

impl ScrubPolicy {
    /// Starts a [`ScrubPolicyBuilder`] holding the default lists.
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    ///
    /// let policy = ScrubPolicy::builder()
    ///     .redact_query_param("state")
    ///     .build();
    /// assert_eq!(policy.query("state=xyz").to_string(), "state=[REDACTED]");
    /// ```
    pub fn builder() -> ScrubPolicyBuilder {
        ScrubPolicyBuilder::new()
    }

    /// Returns `true` if the header `name` carries credentials (its values are shown as
    /// [`REDACTED`](crate::REDACTED) in either [`HeaderMode`]): listed, or its name contains a
    /// sensitive substring, and not exempted with [`ScrubPolicyBuilder::show_header`].
    ///
    /// Cheap: `HeaderName`s are already lowercase, so this compares and
    /// searches bytes without allocating.
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    /// use http::{header, HeaderName};
    ///
    /// let policy = ScrubPolicy::default();
    /// assert!(policy.is_sensitive_header(&header::AUTHORIZATION));
    /// assert!(policy.is_sensitive_header(&HeaderName::from_static("x-refresh-token")));
    /// assert!(!policy.is_sensitive_header(&header::USER_AGENT));
    /// ```
    pub fn is_sensitive_header(&self, name: &HeaderName) -> bool {
        self.rules.is_sensitive_header(name.as_str())
    }

    /// Returns `true` if values of the query parameter `name` must be
    /// redacted. `name` is an already decoded name; matching ignores ASCII
    /// case and does not allocate.
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    ///
    /// let policy = ScrubPolicy::default();
    /// assert!(policy.is_sensitive_query_param("Access_Token"));
    /// assert!(policy.is_sensitive_query_param("X-Amz-Signature"));
    /// assert!(!policy.is_sensitive_query_param("page"));
    /// ```
    pub fn is_sensitive_query_param(&self, name: &str) -> bool {
        self.rules.is_sensitive_query_param(name)
    }

    /// Returns `true` if a path segment bound to the route parameter `name` (`token` in
    /// `/reset-password/{token}`) must be redacted: the query parameter names of
    /// [`is_sensitive_query_param`](Self::is_sensitive_query_param), changed by
    /// [`ScrubPolicyBuilder::redact_path_param`] and [`ScrubPolicyBuilder::show_path_param`].
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    ///
    /// let policy = ScrubPolicy::default();
    /// assert!(policy.is_sensitive_path_param("token"));
    /// assert!(policy.is_sensitive_path_param("api_key"));
    /// assert!(!policy.is_sensitive_path_param("id"));
    /// ```
    pub fn is_sensitive_path_param(&self, name: &str) -> bool {
        self.rules.is_sensitive_path_param(name)
    }

    /// Scrubs a request path lazily, given the route template it matched (axum's
    /// `MatchedPath`, such as `/reset-password/{token}`): a segment bound to a sensitive
    /// parameter ([`is_sensitive_path_param`](Self::is_sensitive_path_param)) is written as
    /// [`REDACTED`](crate::REDACTED). Without a template, the path is shown as is.
    ///
    /// No work is done unless the result is displayed; then a template without parameters
    /// costs one byte search, and a path with nothing to redact is written with a single
    /// `write_str`. See [`ScrubbedPath`].
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    ///
    /// let policy = ScrubPolicy::default();
    /// assert_eq!(
    ///     policy.path("/reset-password/SECRET123", Some("/reset-password/{token}")).to_string(),
    ///     "/reset-password/[REDACTED]",
    /// );
    /// assert_eq!(policy.path("/users/7", Some("/users/{id}")).to_string(), "/users/7");
    /// ```
    pub fn path<'a>(&'a self, path: &'a str, route: Option<&'a str>) -> ScrubbedPath<'a> {
        ScrubbedPath::new(self, path, route)
    }

    /// Scrubs a query string (without the leading `?`) lazily.
    ///
    /// Pairs are separated by `&` or `;`. Names are percent-decoded (and `+`
    /// read as a space) before matching, lossily if the escapes are not
    /// UTF-8. A sensitive pair's non-empty value becomes [`REDACTED`]; every
    /// other byte is kept as sent.
    ///
    /// [`REDACTED`]: crate::REDACTED
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    ///
    /// let policy = ScrubPolicy::default();
    /// let query = policy.query("q=rust&acc%65ss_token=abc;lang=en");
    /// assert_eq!(query.to_string(), "q=rust&acc%65ss_token=[REDACTED];lang=en");
    /// ```
    pub fn query<'a>(&'a self, query: &'a str) -> ScrubbedQuery<'a> {
        ScrubbedQuery::new(self, query)
    }

    /// Scrubs a URL or request target lazily: removes userinfo
    /// (`user:pass@`) and scrubs the query like [`ScrubPolicy::query`].
    ///
    /// Accepts absolute URLs (`https://host/p?q`), origin-form request targets
    /// (`/p?q`) and authority-form targets (`host:443`). A fragment is
    /// scrubbed like a query, as OAuth implicit flows put tokens there.
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    ///
    /// let policy = ScrubPolicy::default();
    /// assert_eq!(
    ///     policy.url("https://user:pass@host/p?token=t&q=1").to_string(),
    ///     "https://host/p?token=[REDACTED]&q=1",
    /// );
    /// assert_eq!(policy.url("/p?password=x").to_string(), "/p?password=[REDACTED]");
    /// ```
    pub fn url<'a>(&'a self, url: &'a str) -> ScrubbedUrl<'a> {
        ScrubbedUrl::new(self, url)
    }

    /// Iterates over `headers` lazily, yielding each name with its value
    /// redacted if the header is sensitive. A header with several values is
    /// yielded once per value.
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    /// use http::{header, HeaderMap, HeaderValue};
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert(header::COOKIE, HeaderValue::from_static("sid=abc"));
    /// let policy = ScrubPolicy::default();
    /// let (name, value) = policy.headers(&headers).next().unwrap();
    /// assert_eq!(name, header::COOKIE);
    /// assert_eq!(value.to_string(), "[REDACTED]");
    /// ```
    pub fn headers<'a>(&'a self, headers: &'a HeaderMap) -> ScrubbedHeaders<'a> {
        ScrubbedHeaders::new(self, headers)
    }

    /// Scrubs one header value: redacted if `name` is sensitive or the value is marked sensitive
    /// ([`HeaderValue::set_sensitive`], as tower-http's `SetSensitiveHeaders` layers do),
    /// otherwise shown (lossily if it is not UTF-8).
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    /// use http::{header, HeaderValue};
    ///
    /// let policy = ScrubPolicy::default();
    /// let value = HeaderValue::from_static("Basic dXNlcjpwYXNz");
    /// assert!(policy.header_value(&header::AUTHORIZATION, &value).is_redacted());
    /// let mut agent = HeaderValue::from_static("curl/8");
    /// assert_eq!(policy.header_value(&header::USER_AGENT, &agent).to_string(), "curl/8");
    /// agent.set_sensitive(true);
    /// assert_eq!(policy.header_value(&header::USER_AGENT, &agent).to_string(), "[REDACTED]");
    /// ```
    pub fn header_value<'a>(&'a self, name: &HeaderName, value: &'a HeaderValue) -> ScrubbedHeaderValue<'a> {
        self.raw_header_value(name.as_str(), value.as_bytes(), value.is_sensitive())
    }

    /// [`header_value`](Self::header_value) for a header kept as bytes (a name as
    /// [`HeaderName::as_str`] spells it, its value, and whether it was marked sensitive): no
    /// `HeaderName` or `HeaderValue` to rebuild. A name with upper-case letters is looked up in
    /// lower case, as header names compare.
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    ///
    /// let policy = ScrubPolicy::default();
    /// assert_eq!(policy.raw_header_value("accept", b"*/*", false).to_string(), "*/*");
    /// assert!(policy.raw_header_value("Authorization", b"Bearer t", false).is_redacted());
    /// assert!(policy.raw_header_value("accept", b"*/*", true).is_redacted());
    /// assert_eq!(policy.raw_header_value("referer", b"https://a/cb?code=c", false).to_cow(), "https://a/cb?code=[REDACTED]");
    /// ```
    pub fn raw_header_value<'a>(
        &'a self,
        name: &str,
        value: &'a [u8],
        sensitive: bool,
    ) -> ScrubbedHeaderValue<'a> {
        let treatment = if sensitive {
            Treatment::Redacted
        } else if name.bytes().any(|byte| byte.is_ascii_uppercase()) {
            self.rules.header_treatment(&name.to_ascii_lowercase())
        } else {
            self.rules.header_treatment(name)
        };
        ScrubbedHeaderValue::new(value, self, treatment)
    }

    /// Returns `true` if the values of the header `name` are shown (scrubbed as a URL if the
    /// header carries one) by [`headers`](Self::headers) and
    /// [`header_value`](Self::header_value): not a credential, and, in
    /// [`HeaderMode::AllowList`], on the allow-list.
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    /// use http::{header, HeaderName};
    ///
    /// let policy = ScrubPolicy::default();
    /// assert!(policy.is_shown_header(&header::USER_AGENT));
    /// assert!(!policy.is_shown_header(&HeaderName::from_static("x-tenant")));
    /// assert!(!policy.is_shown_header(&header::AUTHORIZATION));
    /// ```
    pub fn is_shown_header(&self, name: &HeaderName) -> bool {
        !matches!(
            self.rules.header_treatment(name.as_str()),
            Treatment::Redacted | Treatment::Filtered
        )
    }

    /// How whole header maps are shown: [`HeaderMode::AllowList`] unless the builder said
    /// otherwise.
    ///
    /// ```
    /// use belfry_scrub::{HeaderMode, ScrubPolicy};
    ///
    /// assert_eq!(ScrubPolicy::default().header_mode(), HeaderMode::AllowList);
    /// ```
    pub fn header_mode(&self) -> HeaderMode {
        self.rules.header_mode
    }
}

/// How [`ScrubPolicy::headers`] and [`ScrubPolicy::header_value`] treat headers that are not
/// credentials. Credentials ([`ScrubPolicy::is_sensitive_header`]) are [`REDACTED`] in both.
///
/// [`REDACTED`]: crate::REDACTED
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HeaderMode {
    /// The default: only the headers on the allow-list are shown (the list in the
    /// [crate documentation](crate), changed with [`ScrubPolicyBuilder::show_header`],
    /// [`ScrubPolicyBuilder::redact_header`] and [`ScrubPolicyBuilder::show_only_headers`]);
    /// every other header keeps its name and is sent as [`FILTERED`](crate::FILTERED). A header
    /// a gateway adds tomorrow is hidden until someone decides it is safe.
    #[default]
    AllowList,
    /// Every header is shown except the credentials: the deny-list, for tools that need to see
    /// everything and accept that a credential header belfry does not know by name is shown.
    DenyList,
}

/// The compiled lists, all lowercase and without redundant entries.
#[derive(Debug)]
pub(crate) struct Rules {
    pub(crate) header_mode: HeaderMode,
    pub(crate) sensitive_headers: NameSet,
    pub(crate) sensitive_header_substrings: Substrings,
    pub(crate) shown_headers: NameSet,
    pub(crate) allowed_headers: NameSet,
    pub(crate) sensitive_query_params: Vec<Box<str>>,
    pub(crate) sensitive_query_param_substrings: Substrings,
    pub(crate) shown_query_params: Vec<Box<str>>,
    pub(crate) sensitive_path_params: Vec<Box<str>>,
    pub(crate) shown_path_params: Vec<Box<str>>,
    /// Whether route templates seen before have a sensitive parameter.
    pub(crate) template_verdicts: TemplateVerdicts,
}

/// What [`ScrubbedPath`] decided for the route templates it met: a template seen before is
/// told apart by a hash and a string comparison instead of a pass over it and a look at each of
/// its parameter names. [`TEMPLATE_SLOTS`] slots, a template in the first free one of
/// [`TEMPLATE_PROBES`] from its hash, so that an application's routes — a thousand, and more —
/// are each decided once; a template finding its probes taken by others is decided afresh each
/// time. Slots are written once (the template is copied then), read without locks.
pub(crate) struct TemplateVerdicts {
    slots: Box<[TemplateSlot]>,
}

/// How many templates are remembered, not the slots (they are thousands).
impl std::fmt::Debug for TemplateVerdicts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let remembered = self.slots.iter().filter(|slot| slot.get().is_some()).count();
        f.debug_struct("TemplateVerdicts")
            .field("remembered", &remembered)
            .finish_non_exhaustive()
    }
}

/// A template seen, and whether it has a sensitive parameter; written once.
type TemplateSlot = OnceLock<(Box<str>, bool)>;

/// Slots of [`TemplateVerdicts`] (32 bytes each: 64 KiB per policy, allocated once).
const TEMPLATE_SLOTS: usize = 2048;

/// Slots looked at per template, from its hash on.
const TEMPLATE_PROBES: usize = 8;

impl Default for TemplateVerdicts {
    fn default() -> Self {
        Self {
            slots: (0..TEMPLATE_SLOTS).map(|_| OnceLock::new()).collect(),
        }
    }
}

impl TemplateVerdicts {
    /// Whether `template` has a sensitive parameter, from its slot or from `decide`.
    #[inline]
    pub(crate) fn get(&self, template: &str, decide: impl FnOnce() -> bool) -> bool {
        let first = Self::hash(template.as_bytes()) % TEMPLATE_SLOTS;
        for probe in 0..TEMPLATE_PROBES {
            let slot = &self.slots[(first + probe) % TEMPLATE_SLOTS];
            match slot.get() {
                Some((seen, verdict)) if **seen == *template => return *verdict,
                Some(_) => continue,
                None => {
                    let verdict = decide();
                    // Taken meanwhile by another thread (with this template or another): the
                    // verdict stands all the same.
                    let _ = slot.set((template.into(), verdict));
                    return verdict;
                }
            }
        }
        decide()
    }

    /// The length and the first and last eight bytes (fewer for a shorter template), mixed:
    /// templates of one shape (`/r1/items/{id}`, `/r2/items/{id}`) differ in one of them.
    #[inline]
    fn hash(bytes: &[u8]) -> usize {
        let (head, tail) = match (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) {
            (Some(head), Some(tail)) => (u64::from_le_bytes(*head), u64::from_le_bytes(*tail)),
            // Shorter than eight bytes: rare for a template, and cheap either way.
            _ => (bytes.iter().fold(0, |word, &byte| word << 8 | u64::from(byte)), 0),
        };
        let mixed = (head ^ tail.rotate_left(29) ^ bytes.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (mixed >> 32) as usize
    }
}

/// A quick "certainly contains none" test for parameter names against the sensitive
/// substrings: the set of the first three bytes (ASCII-lowercased, hashed into 4096 bits) of
/// every substring. A name with none of them at any position contains no substring. Route
/// templates are checked on every printed path; with the filter, `{id}` or `{user_id}` costs a
/// few instructions instead of a search for every substring.
#[derive(Debug)]
pub(crate) struct NameFilter {
    bits: [u64; 64],
}

impl NameFilter {
    /// `None` if a substring is shorter than three bytes.
    pub(crate) fn new<'a>(substrings: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let mut bits = [0u64; 64];
        for substring in substrings {
            let &[first, second, third, ..] = substring.as_bytes() else {
                return None;
            };
            let index = Self::index(first, second, third);
            bits[index / 64] |= 1 << (index % 64);
        }
        Some(Self { bits })
    }

    #[inline]
    fn index(first: u8, second: u8, third: u8) -> usize {
        let [first, second, third] = [first, second, third].map(|b| usize::from(b.to_ascii_lowercase()));
        ((first << 6) ^ (second << 3) ^ third) & 4095
    }

    /// `false` when `name` certainly contains no substring.
    #[inline]
    pub(crate) fn may_contain(&self, name: &str) -> bool {
        name.as_bytes().windows(3).any(|window| {
            let index = Self::index(window[0], window[1], window[2]);
            self.bits[index / 64] & (1 << (index % 64)) != 0
        })
    }
}

/// Substrings that make a name sensitive (lowercase), with the [`NameFilter`] that rules most
/// names out in a few instructions before any is searched for. Dereferences to the list.
#[derive(Debug)]
pub(crate) struct Substrings {
    list: Vec<Box<str>>,
    /// `None` when a substring is too short for it.
    pub(crate) filter: Option<NameFilter>,
}

impl Substrings {
    pub(crate) fn new(list: Vec<Box<str>>) -> Self {
        let filter = NameFilter::new(list.iter().map(|substring| &**substring));
        Self { list, filter }
    }

    /// Whether `name` contains one of the substrings, ignoring ASCII case.
    #[inline]
    pub(crate) fn found_in(&self, name: &str) -> bool {
        self.filter.as_ref().is_none_or(|filter| filter.may_contain(name))
            && self
                .list
                .iter()
                .any(|substring| contains_ignore_ascii_case(name, substring))
    }
}

impl std::ops::Deref for Substrings {
    type Target = [Box<str>];

    fn deref(&self) -> &[Box<str>] {
        &self.list
    }
}

/// Exact names (header names: lowercase), sorted by length, then bytes: a look-up is a binary
/// search, not a comparison with every name (the allow-list has about thirty).
#[derive(Debug, Default)]
pub(crate) struct NameSet {
    sorted: Box<[Box<str>]>,
}

impl NameSet {
    pub(crate) fn new(mut names: Vec<Box<str>>) -> Self {
        names.sort_unstable_by(|a, b| (a.len(), a.as_bytes()).cmp(&(b.len(), b.as_bytes())));
        names.dedup();
        Self {
            sorted: names.into_boxed_slice(),
        }
    }

    #[inline]
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.sorted
            .binary_search_by(|listed| (listed.len(), listed.as_bytes()).cmp(&(name.len(), name.as_bytes())))
            .is_ok()
    }

    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        self.sorted.iter().map(|name| &**name)
    }
}

impl Rules {
    /// `name` must be lowercase, as `HeaderName`s are.
    fn is_sensitive_header(&self, name: &str) -> bool {
        !self.shown_headers.contains(name)
            && (self.sensitive_headers.contains(name) || self.sensitive_header_substrings.found_in(name))
    }

    /// `name` must be lowercase, as `HeaderName`s are.
    pub(crate) fn header_treatment(&self, name: &str) -> Treatment {
        if self.is_sensitive_header(name) {
            Treatment::Redacted
        } else if self.header_mode == HeaderMode::AllowList
            && !self.allowed_headers.contains(name)
            && !self.shown_headers.contains(name)
        {
            Treatment::Filtered
        } else if name == "forwarded" {
            Treatment::Forwarded
        } else if is_url_header(name) {
            Treatment::Url
        } else {
            Treatment::Shown
        }
    }

    pub(crate) fn is_sensitive_query_param(&self, name: &str) -> bool {
        !self.is_shown_query_param(name) && self.matches_sensitive_query_param(name)
    }

    #[inline]
    pub(crate) fn is_sensitive_path_param(&self, name: &str) -> bool {
        let listed = |list: &[Box<str>]| list.iter().any(|listed| listed.eq_ignore_ascii_case(name));
        !listed(&self.shown_path_params)
            && (listed(&self.sensitive_path_params) || self.is_sensitive_query_param(name))
    }

    /// Whether `name` is exempted by [`ScrubPolicyBuilder::show_query_param`].
    pub(crate) fn is_shown_query_param(&self, name: &str) -> bool {
        self.shown_query_params
            .iter()
            .any(|shown| shown.eq_ignore_ascii_case(name))
    }

    /// Whether `name` is listed or contains a sensitive substring, ignoring
    /// exemptions.
    pub(crate) fn matches_sensitive_query_param(&self, name: &str) -> bool {
        self.sensitive_query_params
            .iter()
            .any(|listed| listed.eq_ignore_ascii_case(name))
            || self.sensitive_query_param_substrings.found_in(name)
    }
}

/// ASCII case-insensitive substring search, without allocating.
pub(crate) fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    let (haystack, needle) = (haystack.as_bytes(), needle.as_bytes());
    match needle.first() {
        None => true,
        Some(_) if needle.len() > haystack.len() => false,
        Some(first) => haystack
            .windows(needle.len())
            .any(|window| window[0].eq_ignore_ascii_case(first) && window.eq_ignore_ascii_case(needle)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::builder::{
        DEFAULT_SENSITIVE_HEADERS, DEFAULT_SENSITIVE_HEADER_SUBSTRINGS, DEFAULT_SENSITIVE_QUERY_PARAMS,
        DEFAULT_SENSITIVE_QUERY_PARAM_SUBSTRINGS,
    };

    #[test]
    fn a_name_set_holds_exactly_its_names() {
        let names = crate::builder::DEFAULT_ALLOWED_HEADERS;
        let set = NameSet::new(names.iter().chain(names).map(|&name| Box::from(name)).collect());
        assert_eq!(set.iter().count(), names.len(), "duplicates kept once");
        for name in names {
            assert!(set.contains(name), "{name}");
            // Same length or one longer or shorter, and not listed: not found.
            for near in [
                format!("{name}x"),
                name[1..].to_owned(),
                format!("x{}", &name[1..]),
            ] {
                assert_eq!(set.contains(&near), names.contains(&near.as_str()), "{near}");
            }
        }
        assert!(!NameSet::default().contains("accept"));
    }

    fn header(name: &str) -> HeaderName {
        HeaderName::from_bytes(name.as_bytes()).unwrap()
    }

    #[test]
    fn default_sensitive_headers() {
        let policy = ScrubPolicy::default();
        for name in DEFAULT_SENSITIVE_HEADERS {
            assert!(policy.is_sensitive_header(&header(name)), "{name}");
        }
        for name in [
            "x-refresh-token",
            "x-client-secret",
            "x-password",
            "x-session-id",
            "my-api-key-2",
        ] {
            assert!(policy.is_sensitive_header(&header(name)), "{name}");
        }
        for name in ["accept", "user-agent", "content-type", "x-request-id", "host"] {
            assert!(!policy.is_sensitive_header(&header(name)), "{name}");
        }
    }

    #[test]
    fn default_sensitive_query_params() {
        let policy = ScrubPolicy::default();
        for name in DEFAULT_SENSITIVE_QUERY_PARAM_SUBSTRINGS
            .iter()
            .chain(DEFAULT_SENSITIVE_QUERY_PARAMS)
        {
            assert!(policy.is_sensitive_query_param(name), "{name}");
            assert!(policy.is_sensitive_query_param(&name.to_uppercase()), "{name}");
        }
        for name in ["access_token", "ClientSecret", "x-amz-credential", "oauth"] {
            assert!(policy.is_sensitive_query_param(name), "{name}");
        }
        for name in ["page", "q", "lang", "sort", "", "limit", "filter"] {
            assert!(!policy.is_sensitive_query_param(name), "{name}");
        }
    }

    #[test]
    fn default_is_shared() {
        let (a, b) = (ScrubPolicy::default(), ScrubPolicy::default());
        assert!(Arc::ptr_eq(&a.rules, &b.rules));
    }

    /// The matching without the filter.
    fn matches_unfiltered(rules: &Rules, name: &str) -> bool {
        rules
            .sensitive_query_param_substrings
            .iter()
            .any(|substring| contains_ignore_ascii_case(name, substring))
            || rules
                .sensitive_query_params
                .iter()
                .any(|listed| listed.eq_ignore_ascii_case(name))
    }

    #[test]
    fn the_name_filter_rejects_common_names_and_no_sensitive_one() {
        let policy = ScrubPolicy::default();
        let filter = policy
            .rules
            .sensitive_query_param_substrings
            .filter
            .as_ref()
            .expect("the default lists have a filter");
        for name in [
            "id", "tenant", "slug", "uuid", "org", "lang", "page", "user_id", "order_id",
        ] {
            assert!(!filter.may_contain(name), "{name}");
        }
        for name in DEFAULT_SENSITIVE_QUERY_PARAM_SUBSTRINGS {
            assert!(
                filter.may_contain(name) && filter.may_contain(&name.to_uppercase()),
                "{name}"
            );
        }
        let short = ScrubPolicy::builder()
            .redact_query_params_containing("xy")
            .build();
        assert!(short.rules.sensitive_query_param_substrings.filter.is_none());
        assert!(short.is_sensitive_query_param("boxy"));
    }

    #[test]
    fn the_header_filter_rejects_common_headers_and_no_sensitive_one() {
        let policy = ScrubPolicy::default();
        let filter = policy
            .rules
            .sensitive_header_substrings
            .filter
            .as_ref()
            .expect("the default lists have a filter");
        for name in ["accept", "host", "content-type", "x-request-id", "traceparent"] {
            assert!(!filter.may_contain(name), "{name}");
        }
        for name in DEFAULT_SENSITIVE_HEADER_SUBSTRINGS {
            assert!(filter.may_contain(name), "{name}");
            assert!(policy.rules.is_sensitive_header(&format!("x-{name}-y")), "{name}");
        }
        let short = ScrubPolicy::builder().redact_headers_containing("xy").build();
        assert!(short.rules.sensitive_header_substrings.filter.is_none());
        assert!(short.rules.is_sensitive_header("x-boxy"));
    }

    proptest::proptest! {
        #[test]
        fn the_header_filter_never_changes_the_outcome(
            name in "([a-z0-9-]|token|key|auth|sig|jwt|otp|sessid|cookie){0,8}",
            extra in "[a-z]{2,6}",
        ) {
            for policy in [ScrubPolicy::default(), ScrubPolicy::builder().redact_headers_containing(&extra).build()] {
                let rules = &policy.rules;
                let unfiltered = !rules.shown_headers.iter().any(|shown| shown == name)
                    && (rules.sensitive_headers.iter().any(|listed| listed == name)
                        || rules.sensitive_header_substrings.iter().any(|substring| name.contains(&**substring)));
                proptest::prop_assert_eq!(rules.is_sensitive_header(&name), unfiltered, "{}", name);
            }
        }

        #[test]
        fn the_name_filter_never_changes_the_outcome(
            name in "([a-zA-Z_.-]|%[0-9a-fA-F]{2}|é|token|KEY|Sig|pw|jwt|otp|sessid){0,8}",
            extra in "[a-z]{2,6}",
        ) {
            for policy in [ScrubPolicy::default(), ScrubPolicy::builder().redact_query_param(&extra).redact_query_params_containing(&extra).build()] {
                proptest::prop_assert_eq!(
                    policy.rules.matches_sensitive_query_param(&name),
                    matches_unfiltered(&policy.rules, &name),
                    "{}", name
                );
            }
        }
    }

    #[test]
    fn case_insensitive_substring_search() {
        assert!(contains_ignore_ascii_case("Access_TOKEN", "token"));
        assert!(contains_ignore_ascii_case("token", "token"));
        assert!(!contains_ignore_ascii_case("tok", "token"));
        assert!(!contains_ignore_ascii_case("tøken", "token"));
        assert!(contains_ignore_ascii_case("ü-key-ü", "KEY"));
        assert!(contains_ignore_ascii_case("", ""));
    }
}
