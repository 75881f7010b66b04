//! `cargo +nightly fuzz run request_id` (from `fuzz/`). The body, `belfry_fuzz::request_id`, is
//! shared with `tests/tests/reliability_hostile.rs`, which runs it on stable over a fixed corpus
//! and pseudo-random inputs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| belfry_fuzz::request_id(data));
