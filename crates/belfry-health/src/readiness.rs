//! The [`ReadinessGate`]: whether the app has started and is not draining.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// The lifecycle state held by a [`ReadinessGate`].
///
/// ```
/// use belfry_health::{ReadinessGate, ReadinessState};
///
/// let gate = ReadinessGate::new();
/// assert_eq!(gate.state(), ReadinessState::Starting);
/// assert_eq!(ReadinessState::Draining.as_str(), "draining");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadinessState {
    /// Still starting up (warming caches, running migrations...): not ready.
    Starting,
    /// Started: ready, as far as the gate is concerned (the readiness
    /// checks must pass too).
    Ready,
    /// Shutting down: not ready, for good, so load balancers stop sending
    /// traffic.
    Draining,
}

impl ReadinessState {
    /// The state as it appears in `/health/ready` bodies: `"starting"`,
    /// `"ready"` or `"draining"`.
    ///
    /// ```
    /// assert_eq!(belfry_health::ReadinessState::Starting.as_str(), "starting");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ReadinessState::Starting => "starting",
            ReadinessState::Ready => "ready",
            ReadinessState::Draining => "draining",
        }
    }

    fn from_u8(value: u8) -> Self {
        match value {
            STARTING => ReadinessState::Starting,
            READY => ReadinessState::Ready,
            _ => ReadinessState::Draining,
        }
    }
}

impl fmt::Display for ReadinessState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const STARTING: u8 = 0;
const READY: u8 = 1;
const DRAINING: u8 = 2;

/// A shared switch that `/health/ready` consults before any check: the app is
/// only ready once it has been marked started, and never again once it is
/// draining.
///
/// Clones share the same state. [`Health`](crate::Health) owns one (see
/// [`Health::readiness`](crate::Health::readiness)); hand a clone to
/// [`GracefulShutdownBuilder::readiness`](crate::GracefulShutdownBuilder::readiness)
/// so that a shutdown signal flips readiness at once.
///
/// ```
/// use belfry_health::{ReadinessGate, ReadinessState};
///
/// let gate = ReadinessGate::new();
/// assert!(!gate.is_ready());
///
/// gate.mark_started();
/// assert!(gate.is_ready());
///
/// gate.mark_draining();
/// gate.mark_started(); // draining is final
/// assert_eq!(gate.state(), ReadinessState::Draining);
/// ```
#[derive(Clone)]
pub struct ReadinessGate {
    state: Arc<AtomicU8>,
}

impl ReadinessGate {
    /// A gate in the [`Starting`](ReadinessState::Starting) state.
    ///
    /// ```
    /// assert!(!belfry_health::ReadinessGate::new().is_ready());
    /// ```
    pub fn new() -> Self {
        Self::with_state(STARTING)
    }

    /// A gate that is already [`Ready`](ReadinessState::Ready), for apps
    /// with nothing to warm up.
    ///
    /// ```
    /// assert!(belfry_health::ReadinessGate::started().is_ready());
    /// ```
    pub fn started() -> Self {
        Self::with_state(READY)
    }

    fn with_state(state: u8) -> Self {
        Self {
            state: Arc::new(AtomicU8::new(state)),
        }
    }

    /// Marks the app started: `Starting` becomes `Ready`. Does nothing once
    /// draining.
    ///
    /// ```
    /// let gate = belfry_health::ReadinessGate::new();
    /// gate.mark_started();
    /// assert!(gate.is_ready());
    /// ```
    pub fn mark_started(&self) {
        let _ = self
            .state
            .compare_exchange(STARTING, READY, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Marks the app draining: it will answer not-ready from now on.
    ///
    /// ```
    /// let gate = belfry_health::ReadinessGate::started();
    /// gate.mark_draining();
    /// assert!(!gate.is_ready());
    /// ```
    pub fn mark_draining(&self) {
        self.state.store(DRAINING, Ordering::Release);
    }

    /// The current state.
    ///
    /// ```
    /// use belfry_health::{ReadinessGate, ReadinessState};
    /// assert_eq!(ReadinessGate::started().state(), ReadinessState::Ready);
    /// ```
    pub fn state(&self) -> ReadinessState {
        ReadinessState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Whether the state is [`Ready`](ReadinessState::Ready).
    ///
    /// ```
    /// assert!(!belfry_health::ReadinessGate::new().is_ready());
    /// ```
    pub fn is_ready(&self) -> bool {
        self.state() == ReadinessState::Ready
    }
}

impl Default for ReadinessGate {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ReadinessGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReadinessGate").field(&self.state()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle() {
        let gate = ReadinessGate::new();
        let clone = gate.clone();
        assert_eq!(gate.state(), ReadinessState::Starting);
        clone.mark_started();
        assert_eq!(gate.state(), ReadinessState::Ready);
        gate.mark_started();
        assert_eq!(gate.state(), ReadinessState::Ready);
        clone.mark_draining();
        assert_eq!(gate.state(), ReadinessState::Draining);
        gate.mark_started();
        assert_eq!(gate.state(), ReadinessState::Draining);
    }

    #[test]
    fn draining_before_start() {
        let gate = ReadinessGate::new();
        gate.mark_draining();
        gate.mark_started();
        assert!(!gate.is_ready());
    }
}
