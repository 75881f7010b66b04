//! Ready-made checks: [`TcpCheck`] and [`HttpCheck`].
//!
//! For anything else (a database ping, a queue depth...) write a closure with
//! [`check_fn`](crate::check_fn) or implement [`HealthCheck`](crate::HealthCheck).

mod http;
mod tcp;

pub use self::http::{HttpCheck, InvalidHttpCheckUrl};
pub use self::tcp::TcpCheck;
