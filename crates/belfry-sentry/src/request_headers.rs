//! [`RequestHeaders`]: a request's headers, kept in one buffer for the events it may send.

use http::{HeaderMap, HeaderName, HeaderValue};

/// The headers of a request, copied into one buffer when the request starts and turned back into
/// a [`HeaderMap`] only when an event or transaction shows them: one allocation per request,
/// where a `HeaderMap` clone costs two (its index and entries) and promotes each header value
/// not yet shared (another each). Entries in the map's iteration order: a name's values stay
/// together and in order. Each entry is `name length (u32) | value length (u32) | sensitive (u8)
/// | name | value`.
pub(crate) struct RequestHeaders {
    bytes: Box<[u8]>,
}

const ENTRY_HEAD: usize = 9;

impl RequestHeaders {
    pub(crate) fn new(headers: &HeaderMap) -> Self {
        let size = headers
            .iter()
            .map(|(name, value)| ENTRY_HEAD + name.as_str().len() + value.len())
            .sum();
        let mut bytes = Vec::with_capacity(size);
        for (name, value) in headers {
            let (name, sensitive) = (name.as_str().as_bytes(), value.is_sensitive());
            // Lengths fit: hyper and h2 cap a header block far below 4 GiB.
            bytes.extend_from_slice(&(name.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&(value.len() as u32).to_le_bytes());
            bytes.push(u8::from(sensitive));
            bytes.extend_from_slice(name);
            bytes.extend_from_slice(value.as_bytes());
        }
        Self {
            bytes: bytes.into_boxed_slice(),
        }
    }

    /// The headers as they came, with their sensitive marks.
    pub(crate) fn to_header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        let mut rest = &self.bytes[..];
        while rest.len() >= ENTRY_HEAD {
            let length = |at: usize| u32::from_le_bytes(rest[at..at + 4].try_into().unwrap()) as usize;
            let (name_len, value_len, sensitive) = (length(0), length(4), rest[8] != 0);
            let (name, value) = rest[ENTRY_HEAD..].split_at(name_len);
            let (value, next) = value.split_at(value_len);
            rest = next;
            // Both were valid in the request.
            if let (Ok(name), Ok(mut value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
            {
                value.set_sensitive(sensitive);
                map.append(name, value);
            }
        }
        map
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

        let back = RequestHeaders::new(&headers).to_header_map();
        assert_eq!(back, headers);
        let accept: Vec<_> = back.get_all("accept").iter().collect();
        assert_eq!(accept, ["text/html", "application/json"]);
        assert!(back["authorization"].is_sensitive());
        assert!(!back["accept"].is_sensitive());
        assert!(RequestHeaders::new(&HeaderMap::new()).to_header_map().is_empty());
    }
}
