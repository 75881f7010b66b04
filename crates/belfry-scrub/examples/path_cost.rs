//! Instructions per scrubbed path, for callgrind: the access log writes `url.path` through
//! [`ScrubPolicy::path`] on every request, so a template without sensitive parameters must cost
//! next to nothing.
//!
//! ```text
//! cargo build --release -p belfry-scrub --example path_cost
//! valgrind --tool=callgrind target/release/examples/path_cost 100000
//! valgrind --tool=callgrind target/release/examples/path_cost 200000
//! ```
//!
//! The difference of the two totals divided by 100,000 is the cost of one call (`to_cow` on
//! `/users/7` matched by `/users/{id}`, as the access log does), start-up cancelled out.

use std::hint::black_box;

use belfry_scrub::ScrubPolicy;

fn main() {
    let calls: u64 = std::env::args()
        .nth(1)
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(100_000);
    let template = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "/users/{id}".to_owned());
    let policy = ScrubPolicy::default();
    let path = String::from("/users/7");
    let mut bytes = 0;
    // `-`: no template, the cost of the loop itself.
    let route = (template != "-").then_some(template.as_str());
    for _ in 0..calls {
        let scrubbed = policy.path(black_box(&path), black_box(route));
        bytes += black_box(scrubbed.to_cow()).len();
    }
    println!("{calls} calls, {bytes} bytes");
}
