//! [`RequestHeaders`]: a request's URI and headers, kept in one buffer for the events it may
//! send.

use http::{HeaderMap, Uri};
#[cfg(test)]
use http::{HeaderName, HeaderValue};

/// The URI and headers of a request, copied into one buffer when the request starts and read
/// back (a [`Uri`], and [`entries`](RequestHeaders::entries)) only when an event or transaction
/// shows them: one allocation per request, where a `HeaderMap` clone costs two (its index and
/// entries) and promotes each header value not yet shared (another each), and a `Uri` clone
/// promotes its parts (and drops them at the end). The buffer is `URI length (u32) | URI`, then the entries in
/// the map's iteration order: a name's values stay together and in order. Each entry is `name
/// length (u32) | value length (u32) | sensitive (u8) | name | value`.
pub(crate) struct RequestHeaders {
    bytes: Vec<u8>,
}

const ENTRY_HEAD: usize = 9;

impl RequestHeaders {
    pub(crate) fn new(uri: &Uri, headers: &HeaderMap) -> Self {
        let mut kept = Self { bytes: Vec::new() };
        kept.fill(uri, headers);
        kept
    }

    /// The buffer's capacity: what a context kept for reuse holds on to.
    pub(crate) fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// Replaces what the buffer holds with `uri` and `headers`, reusing its allocation.
    pub(crate) fn fill(&mut self, uri: &Uri, headers: &HeaderMap) {
        let (scheme, authority) = (uri.scheme_str(), uri.authority().map(|a| a.as_str()));
        let path = uri.path_and_query().map_or("", |path| path.as_str());
        let uri_len = match (scheme, authority) {
            (Some(scheme), Some(authority)) => scheme.len() + 3 + authority.len(),
            (None, Some(authority)) => authority.len(),
            _ => 0,
        } + path.len();
        let bytes = &mut self.bytes;
        bytes.clear();
        if bytes.capacity() == 0 {
            // A new buffer: sized once. A reused one grows only for a larger request.
            let size = 4
                + uri_len
                + headers
                    .iter()
                    .map(|(name, value)| ENTRY_HEAD + name.as_str().len() + value.len())
                    .sum::<usize>();
            bytes.reserve_exact(size);
        }
        bytes.extend_from_slice(&(uri_len as u32).to_le_bytes());
        match (scheme, authority) {
            (Some(scheme), Some(authority)) => {
                bytes.extend_from_slice(scheme.as_bytes());
                bytes.extend_from_slice(b"://");
                bytes.extend_from_slice(authority.as_bytes());
            }
            (None, Some(authority)) => bytes.extend_from_slice(authority.as_bytes()),
            _ => {}
        }
        bytes.extend_from_slice(path.as_bytes());
        for (name, value) in headers {
            let (name, sensitive) = (name.as_str().as_bytes(), value.is_sensitive());
            // Lengths fit: hyper and h2 cap a header block far below 4 GiB.
            bytes.extend_from_slice(&(name.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&(value.len() as u32).to_le_bytes());
            bytes.push(u8::from(sensitive));
            bytes.extend_from_slice(name);
            bytes.extend_from_slice(value.as_bytes());
        }
    }

    fn uri_bytes(&self) -> &[u8] {
        let uri_len = u32::from_le_bytes(self.bytes[..4].try_into().unwrap()) as usize;
        &self.bytes[4..4 + uri_len]
    }

    /// The URI as it came.
    pub(crate) fn uri(&self) -> Uri {
        // It was a valid URI in the request.
        Uri::try_from(self.uri_bytes()).unwrap_or_default()
    }

    /// The headers as they came, in order, each `(name, value, marked sensitive)`: read from the
    /// buffer, no `HeaderMap` rebuilt.
    pub(crate) fn entries(&self) -> Entries<'_> {
        Entries {
            rest: &self.bytes[4 + self.uri_bytes().len()..],
        }
    }

    /// The headers as they came, with their sensitive marks, as a map.
    #[cfg(test)]
    fn to_header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value, sensitive) in self.entries() {
            let mut value = HeaderValue::from_bytes(value).unwrap();
            value.set_sensitive(sensitive);
            map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
        }
        map
    }
}

/// The headers of a [`RequestHeaders`]: see [`RequestHeaders::entries`].
#[derive(Clone)]
pub(crate) struct Entries<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Entries<'a> {
    type Item = (&'a str, &'a [u8], bool);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        if rest.len() < ENTRY_HEAD {
            return None;
        }
        let length = |at: usize| u32::from_le_bytes(rest[at..at + 4].try_into().unwrap()) as usize;
        let (name_len, value_len, sensitive) = (length(0), length(4), rest[8] != 0);
        let (name, value) = rest[ENTRY_HEAD..].split_at(name_len);
        let (value, next) = value.split_at(value_len);
        self.rest = next;
        // A `HeaderName`'s text: ASCII.
        Some((std::str::from_utf8(name).unwrap_or_default(), value, sensitive))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_come_back_as_they_came() {
        let mut headers = HeaderMap::new();
        headers.append("accept", HeaderValue::from_static("text/html"));
        headers.append("x-tenant", HeaderValue::from_static("acme"));
        headers.append("accept", HeaderValue::from_static("application/json"));
        let mut secret = HeaderValue::from_static("Bearer t");
        secret.set_sensitive(true);
        headers.append("authorization", secret);
        headers.append("x-empty", HeaderValue::from_static(""));

        let uri = Uri::from_static("/users/7?page=2");
        let back = RequestHeaders::new(&uri, &headers).to_header_map();
        assert_eq!(back, headers);
        let accept: Vec<_> = back.get_all("accept").iter().collect();
        assert_eq!(accept, ["text/html", "application/json"]);
        assert!(back["authorization"].is_sensitive());
        assert!(!back["accept"].is_sensitive());
        assert!(RequestHeaders::new(&uri, &HeaderMap::new())
            .to_header_map()
            .is_empty());
    }

    #[test]
    fn uris_come_back_as_they_came() {
        for uri in [
            "/",
            "/users/7?page=2&q=a%20b",
            "https://user:pw@example.com:8443/a?q=1",
            "http://example.com/",
            "example.com:443",
            "*",
        ] {
            let uri: Uri = uri.parse().unwrap();
            let mut headers = HeaderMap::new();
            headers.append("host", HeaderValue::from_static("example.com"));
            let mut kept = RequestHeaders::new(&uri, &headers);
            assert_eq!(kept.uri(), uri);
            assert_eq!(kept.to_header_map(), headers);
            // Reused for a smaller request, then a larger one.
            kept.fill(&Uri::from_static("/"), &HeaderMap::new());
            assert_eq!(kept.uri(), "/");
            assert!(kept.to_header_map().is_empty());
            let mut more = headers.clone();
            more.append(
                "x-long",
                HeaderValue::from_static("a long value to grow the buffer"),
            );
            kept.fill(&uri, &more);
            assert_eq!(kept.uri(), uri);
            assert_eq!(kept.to_header_map(), more);
        }
    }
}
