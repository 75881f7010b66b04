//! The [`RequestId`] value: validation of incoming ids and generation of UUID v7 ids.

use std::{
    cell::RefCell,
    fmt,
    time::{SystemTime, UNIX_EPOCH},
};

use bytes::{Bytes, BytesMut};
use http::HeaderValue;
use tower_http::request_id::MakeRequestId;

/// The longest incoming request id that is accepted, in bytes.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Bytes allowed in an incoming request id: `A-Z a-z 0-9 - _ . : ~ + = / @`.
const ALLOWED: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b':' | b'~' | b'+' | b'=' | b'/' | b'@');
        byte += 1;
    }
    table
};

/// Returns whether `bytes` is an acceptable request id: 1 to [`MAX_REQUEST_ID_LEN`] bytes of
/// `A-Z a-z 0-9 - _ . : ~ + = / @`.
///
/// Anything else (empty, too long, spaces, quotes, control bytes, non-ASCII) is rejected, so an
/// id that passes is safe to echo in a header, print in a log line or put in a JSON body.
///
/// ```
/// use belfry_request_id::is_valid_request_id;
///
/// assert!(is_valid_request_id(b"0190a8c4-7d4e-7b1a-9c3e-2f7a1b2c3d4e"));
/// assert!(is_valid_request_id(b"client:42/retry@2"));
/// assert!(!is_valid_request_id(b""));
/// assert!(!is_valid_request_id(b"has space"));
/// assert!(!is_valid_request_id(b"line\r\nbreak"));
/// assert!(!is_valid_request_id("caf\u{e9}".as_bytes()));
/// assert!(!is_valid_request_id(&[b'a'; 129]));
/// ```
pub fn is_valid_request_id(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.len() <= MAX_REQUEST_ID_LEN && bytes.iter().all(|&b| ALLOWED[b as usize])
}

/// The id of one request, as sent in the `x-request-id` header.
///
/// The [`RequestIdLayer`](crate::RequestIdLayer) puts one in the request extensions before the
/// handler runs; handlers get it with the axum extractor (`RequestId` implements
/// `FromRequestParts`). It is always valid: see [`is_valid_request_id`].
///
/// ```
/// use belfry_request_id::RequestId;
///
/// let id = RequestId::from_incoming(b"req-42").unwrap();
/// assert_eq!(id.as_str(), "req-42");
/// assert_eq!(id.to_string(), "req-42");
/// assert!(RequestId::from_incoming(b"bad id").is_none());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// Accepts an incoming id if it is valid (see [`is_valid_request_id`]).
    pub fn from_incoming(bytes: &[u8]) -> Option<Self> {
        if is_valid_request_id(bytes) {
            HeaderValue::from_bytes(bytes).ok().map(Self)
        } else {
            None
        }
    }

    /// Accepts a header value as the id if it is valid, without copying it.
    ///
    /// ```
    /// use belfry_request_id::RequestId;
    /// use http::HeaderValue;
    ///
    /// let id = RequestId::from_header_value(HeaderValue::from_static("abc")).unwrap();
    /// assert_eq!(id.header_value(), "abc");
    /// ```
    pub fn from_header_value(value: HeaderValue) -> Option<Self> {
        is_valid_request_id(value.as_bytes()).then_some(Self(value))
    }

    /// An id already known to be valid: one made by [`MakeRequestUuidV7`].
    pub(crate) fn from_valid(value: HeaderValue) -> Self {
        debug_assert!(is_valid_request_id(value.as_bytes()));
        Self(value)
    }

    /// Generates a fresh UUID v7 id (time-ordered, so ids sort like the log lines they mark).
    ///
    /// One allocation: the 36 bytes of the id, shared by every clone.
    ///
    /// ```
    /// use belfry_request_id::RequestId;
    ///
    /// let id = RequestId::new_v7();
    /// let uuid = uuid::Uuid::parse_str(id.as_str()).unwrap();
    /// assert_eq!(uuid.get_version_num(), 7);
    /// ```
    pub fn new_v7() -> Self {
        Self(uuid_v7_header_value())
    }

    /// The id as text. Always ASCII.
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor validated the bytes (`is_valid_request_id`: a subset of
        // ASCII, checked again in debug builds): valid UTF-8. Unchecked: `HeaderValue::to_str`
        // scans the id byte by byte, on every request.
        debug_assert!(is_valid_request_id(self.0.as_bytes()));
        unsafe { std::str::from_utf8_unchecked(self.0.as_bytes()) }
    }

    /// The id as a header value, ready to be sent.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }

    /// Consumes the id, returning the header value.
    pub fn into_header_value(self) -> HeaderValue {
        self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequestId").field(&self.as_str()).finish()
    }
}

impl AsRef<str> for RequestId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<RequestId> for tower_http::request_id::RequestId {
    fn from(id: RequestId) -> Self {
        Self::new(id.0)
    }
}

/// Ids whose text shares one allocation, per thread: [`ID_CHUNK_LEN`] ids, each a slice of it
/// (a shared [`Bytes`]: clones and drops only move a counter; the chunk is freed with its last
/// id). One allocation per 32 ids instead of one per id; an id kept long keeps its chunk's
/// 1,152 bytes alive, no more.
const ID_CHUNK_LEN: usize = 32;

thread_local! {
    /// Per-thread UUID v7 context: `Uuid::now_v7` would take a process-wide lock on every id.
    /// Ids stay time-ordered to the millisecond across threads and strictly ordered within one.
    static UUID_V7_CONTEXT: uuid::ContextV7 = const { uuid::ContextV7::new() };
    /// The rest of this thread's current chunk of id text (see [`ID_CHUNK_LEN`]).
    static ID_CHUNK: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

fn uuid_v7_header_value() -> HeaderValue {
    const LENGTH: usize = uuid::fmt::Hyphenated::LENGTH;
    // `Timestamp::from_unix` with the clock's own seconds and nanoseconds: `Timestamp::now`
    // turns them into one 128-bit count and divides it back.
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let uuid = UUID_V7_CONTEXT.with(|context| {
        let at = uuid::Timestamp::from_unix(context, since_epoch.as_secs(), since_epoch.subsec_nanos());
        uuid::Uuid::new_v7(at)
    });
    let mut text = [0u8; LENGTH];
    uuid.hyphenated().encode_lower(&mut text);
    let bytes = ID_CHUNK
        .try_with(|chunk| {
            let mut chunk = chunk.borrow_mut();
            if chunk.capacity() < LENGTH {
                *chunk = BytesMut::with_capacity(LENGTH * ID_CHUNK_LEN);
            }
            chunk.extend_from_slice(&text);
            chunk.split().freeze()
        })
        // The thread is ending (its locals are gone): an allocation of its own.
        .unwrap_or_else(|_| Bytes::copy_from_slice(&text));
    // SAFETY: a lower-case hyphenated UUID is ASCII hex digits and `-`: valid UTF-8, and valid
    // header value bytes (checked in debug builds by `from_maybe_shared_unchecked` itself).
    unsafe { HeaderValue::from_maybe_shared_unchecked(bytes) }
}

/// The default id generator: a UUID v7 per request, implementing tower-http's [`MakeRequestId`].
///
/// ```
/// use belfry_request_id::MakeRequestUuidV7;
/// use tower_http::request_id::MakeRequestId;
///
/// let id = MakeRequestUuidV7.make_request_id(&http::Request::new(())).unwrap();
/// assert_eq!(id.header_value().len(), 36);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct MakeRequestUuidV7;

impl MakeRequestId for MakeRequestUuidV7 {
    fn make_request_id<B>(
        &mut self,
        _request: &http::Request<B>,
    ) -> Option<tower_http::request_id::RequestId> {
        Some(tower_http::request_id::RequestId::new(uuid_v7_header_value()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_allowed_byte_is_accepted_and_nothing_else() {
        let allowed = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:~+=/@";
        for b in 0..=255u8 {
            assert_eq!(is_valid_request_id(&[b]), allowed.contains(&b), "byte {b:#x}");
        }
    }

    #[test]
    fn length_bounds() {
        assert!(is_valid_request_id(&[b'a'; MAX_REQUEST_ID_LEN]));
        assert!(!is_valid_request_id(&[b'a'; MAX_REQUEST_ID_LEN + 1]));
        assert!(!is_valid_request_id(b""));
    }

    #[test]
    fn generated_ids_are_valid_ordered_v7() {
        let first = RequestId::new_v7();
        let second = RequestId::new_v7();
        assert!(is_valid_request_id(first.as_str().as_bytes()));
        let a = uuid::Uuid::parse_str(first.as_str()).unwrap();
        let b = uuid::Uuid::parse_str(second.as_str()).unwrap();
        assert_eq!(a.get_version_num(), 7);
        assert!(a < b, "ids generated on one thread are strictly ordered");
    }

    #[test]
    fn ids_sharing_a_chunk_keep_their_own_text() {
        // Across several chunks: every id kept, each still its own valid, distinct UUID after
        // the ids generated after it filled and replaced the chunk it came from.
        let ids: Vec<RequestId> = (0..ID_CHUNK_LEN * 3 + 5).map(|_| RequestId::new_v7()).collect();
        let mut texts: Vec<&str> = ids.iter().map(RequestId::as_str).collect();
        for text in &texts {
            assert_eq!(
                uuid::Uuid::parse_str(text).unwrap().get_version_num(),
                7,
                "{text}"
            );
        }
        assert!(texts.windows(2).all(|pair| pair[0] < pair[1]), "strictly ordered");
        texts.dedup();
        assert_eq!(texts.len(), ids.len());
        // One id outliving its chunk's other ids.
        let kept = ids[1].clone();
        let text = kept.as_str().to_owned();
        drop(ids);
        (0..ID_CHUNK_LEN).for_each(|_| drop(RequestId::new_v7()));
        assert_eq!(kept.as_str(), text);
    }
}
