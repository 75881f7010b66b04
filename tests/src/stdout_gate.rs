//! [`StdoutGate`]: holds back the reading of a demo's stdout, so the pipe fills and the demo's
//! writes to stdout block, as with a log driver that stopped reading.

use std::{
    sync::{Arc, Condvar, Mutex},
    time::Duration,
};

/// Open: the demo's stdout is read as it comes. Closed: it is not read at all (the pipe, 64 KiB
/// on Linux, fills up, and then the demo's writes block) until opened again.
#[derive(Clone, Default)]
pub struct StdoutGate {
    closed: Arc<(Mutex<bool>, Condvar)>,
}

impl StdoutGate {
    /// Stops reading after the line being read.
    pub fn close(&self) {
        *self.closed.0.lock().unwrap() = true;
    }

    /// Reads again.
    pub fn open(&self) {
        *self.closed.0.lock().unwrap() = false;
        self.closed.1.notify_all();
    }

    /// Blocks while the gate is closed, at most `limit` (then opens it: a test that forgot to
    /// cannot leave the reader stuck).
    pub(crate) fn wait_open(&self, limit: Duration) {
        let (closed, changed) = &*self.closed;
        let (mut guard, timeout) = changed
            .wait_timeout_while(closed.lock().unwrap(), limit, |closed| *closed)
            .unwrap();
        if timeout.timed_out() {
            *guard = false;
        }
    }
}
