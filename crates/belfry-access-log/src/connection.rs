//! [`ConnectionStatus`]: whether the connection a request came on is known to be gone.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

/// Shared between a served connection and the requests it carries: set when the server saw the
/// connection go (the peer closed it, a read or write failed).
///
/// The access log reads it only when a request's response future or body is dropped before the
/// end: with it in the request's extensions and set, the line says `client.disconnected: true`;
/// without it (a server that does not tell, such as `axum::serve`), belfry cannot know why the
/// request was dropped and logs only `error.type: "cancelled"`. belfry's `serve` inserts one per
/// connection.
///
/// ```
/// use belfry_access_log::ConnectionStatus;
///
/// let status = ConnectionStatus::new();
/// let seen_by_a_request = status.clone();
/// assert!(!seen_by_a_request.is_closed());
/// status.mark_closed();
/// assert!(seen_by_a_request.is_closed());
/// ```
#[derive(Clone, Debug, Default)]
pub struct ConnectionStatus(Arc<AtomicBool>);

impl ConnectionStatus {
    /// An open connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// The server saw the connection go.
    pub fn mark_closed(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether the server saw the connection go.
    pub fn is_closed(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}
