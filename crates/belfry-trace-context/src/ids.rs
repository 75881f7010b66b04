//! [`TraceId`] and [`SpanId`]: the W3C identifiers, their strict lowercase-hex form, and their
//! generation from a per-thread random generator.

use std::{cell::Cell, fmt, hash::BuildHasher, ops::Deref};

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Value of each byte as a lowercase hex digit, `0xff` for anything else (uppercase included:
/// W3C Trace Context allows lowercase only).
const HEX_VALUE: [u8; 256] = {
    let mut table = [0xff_u8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Decodes exactly `2 * N` lowercase hex digits.
#[inline]
pub(crate) fn decode_hex<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    if N.is_multiple_of(4) {
        // Ids: eight digits at a time.
        for (quad, chunk) in out.chunks_exact_mut(4).zip(hex.chunks_exact(8)) {
            let chunk: [u8; 8] = chunk.try_into().ok()?;
            quad.copy_from_slice(&decode_8_hex_digits(chunk)?);
        }
        return Some(out);
    }
    let mut invalid = 0u8;
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let high = HEX_VALUE[pair[0] as usize];
        let low = HEX_VALUE[pair[1] as usize];
        // Both are 0..=15 when valid; any 0xff sets the high bit.
        invalid |= high | low;
        *byte = (high << 4) | (low & 0x0f);
    }
    (invalid & 0xf0 == 0).then_some(out)
}

/// Decodes eight lowercase hex digits into four bytes, in one 64-bit word (SWAR): about a third
/// of the instructions of a table lookup per digit.
#[inline]
fn decode_8_hex_digits(digits: [u8; 8]) -> Option<[u8; 4]> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let x = u64::from_le_bytes(digits);
    if x & HIGH != 0 {
        return None;
    }
    // For bytes below 0x80, adding `0x80 - lo` sets a byte's high bit exactly when it is `>= lo`,
    // and never carries into the next byte.
    let at_least = |lo: u8| x.wrapping_add(ONES * u64::from(0x80 - lo)) & HIGH;
    let digit = at_least(b'0') & !at_least(b'9' + 1);
    let letter = at_least(b'a') & !at_least(b'f' + 1);
    if digit | letter != HIGH {
        return None;
    }
    // '0'..='9' are 0x30..=0x39 and 'a'..='f' 0x61..=0x66: the low nibble, plus 9 for letters.
    let nibbles = (x & (ONES * 0x0f)) + (letter >> 7) * 9;
    // Pack pairs of nibbles into bytes, then the four bytes together (little-endian order).
    let pairs = ((nibbles << 4) | (nibbles >> 8)) & 0x00ff_00ff_00ff_00ff;
    let quads = (pairs | (pairs >> 8)) & 0x0000_ffff_0000_ffff;
    Some(((quads | (quads >> 16)) as u32).to_le_bytes())
}

/// Writes `bytes` as lowercase hex into `out`, which is exactly twice as long.
#[inline]
pub(crate) fn encode_hex(bytes: &[u8], out: &mut [u8]) {
    debug_assert_eq!(out.len(), bytes.len() * 2);
    // Four bytes (eight digits) at a time in one `u64`, then any rest from the table.
    let mut quads = bytes.chunks_exact(4);
    let mut outs = out.chunks_exact_mut(8);
    for (quad, digits) in (&mut quads).zip(&mut outs) {
        let quad: [u8; 4] = quad.try_into().expect("chunks of four");
        digits.copy_from_slice(&eight_hex_digits(u32::from_be_bytes(quad)));
    }
    for (pair, byte) in outs.into_remainder().chunks_exact_mut(2).zip(quads.remainder()) {
        pair[0] = HEX_DIGITS[(byte >> 4) as usize];
        pair[1] = HEX_DIGITS[(byte & 0x0f) as usize];
    }
}

/// The eight lowercase hex digits of `value`, most significant first: each nibble spread into
/// a byte of a `u64`, then `'0'` added, and `'a' - '9' - 1` more where the nibble is 10 or more.
#[inline]
fn eight_hex_digits(value: u32) -> [u8; 8] {
    let x = u64::from(value);
    let x = ((x & 0xffff_0000) << 16) | (x & 0x0000_ffff);
    let x = ((x & 0x0000_ff00_0000_ff00) << 8) | (x & 0x0000_00ff_0000_00ff);
    let nibbles = ((x & 0x00f0_00f0_00f0_00f0) << 4) | (x & 0x000f_000f_000f_000f);
    let letters = ((nibbles + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    (nibbles + 0x3030_3030_3030_3030 + letters * (b'a' - b'9' - 1) as u64).to_be_bytes()
}

/// An identifier in lowercase hex, on the stack: `N` is 32 for a [`TraceId`], 16 for a
/// [`SpanId`]. Dereferences to `str`, so it can be logged or used as a label without allocating.
///
/// ```
/// use belfry_trace_context::TraceId;
///
/// let id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
/// let hex = id.to_hex();
/// assert_eq!(hex.as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(hex.len(), 32);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hex<const N: usize>([u8; N]);

impl<const N: usize> Hex<N> {
    /// The digits as a string slice.
    pub fn as_str(&self) -> &str {
        // SAFETY: only ever filled by `encode_hex`, with ASCII hex digits: valid UTF-8 (checked
        // in debug builds). Unchecked: the check cost ~50 instructions per id, on every request.
        debug_assert!(self.0.iter().all(u8::is_ascii_hexdigit));
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The digits as bytes.
    pub fn as_bytes(&self) -> &[u8; N] {
        &self.0
    }
}

impl<const N: usize> Deref for Hex<N> {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> AsRef<str> for Hex<N> {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> fmt::Display for Hex<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> fmt::Debug for Hex<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $len:literal, $hex_len:literal, $random:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name([u8; $len]);

        impl $name {
            /// The all-zero id, which W3C Trace Context defines as invalid.
            pub const INVALID: Self = Self([0; $len]);

            /// Wraps raw bytes. The result may be [invalid](Self::is_valid) (all zero).
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The raw bytes, most significant first (the order of the hex form).
            pub const fn to_bytes(self) -> [u8; $len] {
                self.0
            }

            /// Parses the hex form strictly: exactly
            #[doc = concat!(stringify!($hex_len))]
            /// lowercase hex digits, not all zero. Anything else is `None`.
            pub fn from_hex(hex: &str) -> Option<Self> {
                Self::from_hex_bytes(hex.as_bytes())
            }

            #[inline]
            pub(crate) fn from_hex_bytes(hex: &[u8]) -> Option<Self> {
                decode_hex::<$len>(hex).map(Self).filter(Self::is_valid)
            }

            /// Whether the id is valid: not all zero.
            #[inline]
            pub fn is_valid(&self) -> bool {
                self.0 != [0; $len]
            }

            /// A fresh random, valid id from the per-thread generator (no lock, no system call
            /// after the first id of each thread).
            pub fn random() -> Self {
                let random: fn() -> Self = $random;
                random()
            }

            /// The id in lowercase hex, on the stack.
            pub fn to_hex(&self) -> Hex<$hex_len> {
                let mut out = [0u8; $hex_len];
                encode_hex(&self.0, &mut out);
                Hex(out)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.to_hex().as_str())
            }
        }

        impl fmt::LowerHex for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.to_hex().as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.to_hex().as_str())
            }
        }
    };
}

id_type!(
    /// A trace id: 16 bytes, written as 32 lowercase hex digits. Shared by every span of one
    /// trace, across services.
    ///
    /// ```
    /// use belfry_trace_context::TraceId;
    ///
    /// let id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    /// assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    /// assert_eq!(format!("{id:x}"), "4bf92f3577b34da6a3ce929d0e0e4736");
    /// assert_eq!(id.to_bytes()[0], 0x4b);
    /// assert!(id.is_valid());
    ///
    /// // Strict: uppercase, wrong length, signs and the all-zero id are rejected.
    /// assert!(TraceId::from_hex("4BF92F3577B34DA6A3CE929D0E0E4736").is_none());
    /// assert!(TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e473").is_none());
    /// assert!(TraceId::from_hex("+bf92f3577b34da6a3ce929d0e0e4736").is_none());
    /// assert!(TraceId::from_hex("00000000000000000000000000000000").is_none());
    /// assert!(!TraceId::INVALID.is_valid());
    ///
    /// assert_ne!(TraceId::random(), TraceId::random());
    /// ```
    TraceId,
    16,
    32,
    || loop {
        let [high, low] = random_u64s();
        let id = TraceId(((u128::from(high) << 64) | u128::from(low)).to_be_bytes());
        if id.is_valid() {
            return id;
        }
    }
);

id_type!(
    /// A span id: 8 bytes, written as 16 lowercase hex digits. Each request served, and each
    /// downstream call made, has its own.
    ///
    /// ```
    /// use belfry_trace_context::SpanId;
    ///
    /// let id = SpanId::from_hex("00f067aa0ba902b7").unwrap();
    /// assert_eq!(id.to_string(), "00f067aa0ba902b7");
    /// assert_eq!(id.to_bytes(), [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
    /// assert!(SpanId::from_hex("00F067AA0BA902B7").is_none());
    /// assert!(SpanId::from_hex("0000000000000000").is_none());
    /// assert!(SpanId::from_hex("00f067aa0ba902b").is_none());
    /// assert!(SpanId::random().is_valid());
    /// ```
    SpanId,
    8,
    16,
    || loop {
        let id = SpanId(next_u64().to_be_bytes());
        if id.is_valid() {
            return id;
        }
    }
);

thread_local! {
    /// wyrand state, seeded once per thread from std's `RandomState` (itself seeded from the
    /// operating system's random source, with distinct keys per thread).
    static RANDOM_STATE: Cell<u64> = Cell::new(fresh_seed());
}

/// `N` × 64 random bits from this thread's generator, with one thread-local access.
#[inline]
pub(crate) fn random_u64s<const N: usize>() -> [u64; N] {
    RANDOM_STATE
        .try_with(|state| {
            let mut out = [0; N];
            let mut seed = state.get();
            for word in &mut out {
                seed = seed.wrapping_add(0xa076_1d64_78bd_642f);
                *word = wymix(seed);
            }
            state.set(seed);
            out
        })
        // Only during thread teardown: fresh seeds.
        .unwrap_or_else(|_| std::array::from_fn(|_| fresh_seed()))
}

#[inline]
fn wymix(seed: u64) -> u64 {
    let product = u128::from(seed) * u128::from(seed ^ 0xe703_7ed1_a0b4_28db);
    ((product >> 64) as u64) ^ (product as u64)
}

fn fresh_seed() -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64)
}

/// The next 64 random bits of this thread's wyrand generator. Not cryptographic: ids need to be
/// unique, not secret.
#[inline]
pub(crate) fn next_u64() -> u64 {
    let [word] = random_u64s();
    word
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_strictness() {
        let id = TraceId::from_bytes([0xab; 16]);
        assert_eq!(TraceId::from_hex(&id.to_string()), Some(id));
        for bad in [
            "",
            "ab",
            &"a".repeat(31),
            &"a".repeat(33),
            &"A".repeat(32),
            &"g".repeat(32),
        ] {
            assert_eq!(TraceId::from_hex(bad), None, "{bad:?}");
        }
        assert_eq!(
            format!("{:?}", SpanId::from_bytes([1; 8])),
            "SpanId(0101010101010101)"
        );
    }

    #[test]
    fn encoding_eight_digits_at_a_time_matches_the_table() {
        let mut value = 0x0123_4567_89ab_cdefu64;
        for _ in 0..10_000 {
            value ^= value << 13;
            value ^= value >> 7;
            value ^= value << 17;
            let bytes = value.to_be_bytes();
            for len in [1, 3, 4, 5, 8] {
                let mut out = vec![0u8; len * 2];
                encode_hex(&bytes[..len], &mut out);
                let expected: String = bytes[..len].iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(std::str::from_utf8(&out).unwrap(), expected);
            }
        }
        let every_byte: Vec<u8> = (0..=255u8).collect();
        let mut out = vec![0u8; 512];
        encode_hex(&every_byte, &mut out);
        let expected: String = every_byte.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(std::str::from_utf8(&out).unwrap(), expected);
    }

    #[test]
    fn eight_digits_at_a_time_match_the_table() {
        for b in 0..=255u8 {
            let valid = b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
            for at in 0..8 {
                let mut digits = *b"0123abcd";
                digits[at] = b;
                let swar = decode_hex::<4>(&digits);
                assert_eq!(swar.is_some(), valid, "{b:#x} at {at}");
                if valid {
                    let expected: Vec<u8> = digits
                        .chunks(2)
                        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
                        .collect();
                    assert_eq!(swar.unwrap().as_slice(), expected.as_slice());
                }
            }
        }
        let all: Vec<u8> = (0..=255u8).collect();
        let hex: String = all.iter().map(|b| format!("{b:02x}")).collect();
        for chunk in hex.as_bytes().chunks(32) {
            let decoded = decode_hex::<16>(chunk).unwrap();
            let mut again = [0u8; 32];
            encode_hex(&decoded, &mut again);
            assert_eq!(&again, chunk);
        }
    }

    #[test]
    fn every_byte_is_classified() {
        for b in 0..=255u8 {
            let valid = b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
            assert_eq!(decode_hex::<1>(&[b, b'1']).is_some(), valid, "{b:#x}");
            assert_eq!(decode_hex::<1>(&[b'1', b]).is_some(), valid, "{b:#x}");
        }
    }

    #[test]
    fn random_ids_differ() {
        let ids: std::collections::HashSet<_> = (0..1000).map(|_| SpanId::random()).collect();
        assert_eq!(ids.len(), 1000);
        let other_thread = std::thread::spawn(TraceId::random).join().unwrap();
        assert_ne!(other_thread, TraceId::random());
    }
}
