//! The HTTP RED middleware: [`HttpMetricsLayer`] → [`HttpMetrics`] → [`ResponseFuture`] →
//! [`MetricsBody`], recording into [`HttpServerMetrics`].

mod active;
mod active_request;
mod body;
mod collector;
mod future;
mod layer;
mod method;
mod route_cache;
mod route_series;
mod server;
mod service;

pub use body::MetricsBody;
pub(crate) use collector::HttpServerCollector;
pub use future::ResponseFuture;
pub use layer::HttpMetricsLayer;
pub(crate) use method::MethodLabel;
pub(crate) use server::HttpServerMetrics;
pub use service::HttpMetrics;

#[cfg(test)]
mod tests;
