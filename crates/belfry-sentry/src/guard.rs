//! [`ClientGuard`]: keeps the Sentry client up, and flushes it on drop within a bound.

use std::time::Duration;

/// Keeps the Sentry client up; dropping it flushes, and never takes much longer than the flush
/// timeout.
///
/// The SDK's own guard flushes for up to the flush timeout and then drops the transport, whose
/// thread (belfry's transport) stops after the send in progress, itself
/// bounded by the flush timeout. (The SDK's own transport thread first worked through every
/// envelope still queued, up to 30, each bounded only by the send timeout: half a minute with a
/// Sentry that accepts connections and never answers.) The SDK's guard is still dropped on a
/// thread of its own, and waited for at most the flush timeout plus one second; after that,
/// shutdown goes on and what is left is dropped with the process.
pub struct ClientGuard {
    guard: Option<sentry::ClientInitGuard>,
    flush_timeout: Duration,
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        let (done, finished) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("belfry-sentry-flush".to_owned())
            .spawn(move || {
                drop(guard);
                let _ = done.send(());
            });
        if spawned.is_ok() {
            let _ = finished.recv_timeout(self.flush_timeout + Duration::from_secs(1));
        }
    }
}

impl ClientGuard {
    pub(crate) fn new(guard: sentry::ClientInitGuard, flush_timeout: Duration) -> Self {
        Self {
            guard: Some(guard),
            flush_timeout,
        }
    }
}

impl std::fmt::Debug for ClientGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientGuard")
            .field("flush_timeout", &self.flush_timeout)
            .finish_non_exhaustive()
    }
}
