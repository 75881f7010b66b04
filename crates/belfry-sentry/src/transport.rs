//! belfry's Sentry transport: the SDK's ureq transport thread, rebuilt so that every envelope it
//! does not deliver is counted by why ([`drops`](crate::drops)).
//!
//! The SDK's `TransportThread` keeps the outcome of each send to itself (it records losses only in
//! client reports, sent to Sentry with a later envelope — if one ever goes). This one is the same
//! design with the outcome kept: a bounded queue ([`QUEUE_CAPACITY`] envelopes, as the SDK's) in
//! front of one sending thread; the SDK's [`RateLimiter`] reads `X-Sentry-Rate-Limits`,
//! `Retry-After` and 429s, and while it says wait, envelopes are dropped without being sent; the
//! SDK's envelope serialisation and auth header. Losses are still recorded for the SDK's client
//! reports too.
//!
//! - queue full → `queue_full`;
//! - Sentry answered 429, or a rate limit is in force → `rate_limited`;
//! - another 4xx/5xx, a timeout (every send is bounded by the flush timeout), a connection error →
//!   `send_failed`.
//!
//! After a 5xx, a timeout or a connection error the thread **backs off**: for 1 s, doubling with
//! each failure in a row up to [`MAX_BACKOFF`] (60 s), envelopes are counted `send_failed` without
//! a send; the first answer that is not a 5xx ends it. A Sentry that is failing is not sent every
//! event again (the SDK sends each one), and the service does not spend its CPU on sends that
//! fail: what is lost is the same events, counted the same way.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc::{sync_channel, Receiver, SyncSender, TrySendError},
        Arc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use sentry::{
    client_report::{Reason as LossReason, Recorder},
    protocol::{EnvelopeFilterCallbacks, EnvelopeItem},
    transports::{RateLimiter, RateLimitingCategory},
    Envelope, Transport, TransportFactory, TransportOptions,
};

use crate::drops::{self, DropReason, Kind};

/// Envelopes queued for the sending thread at most, as in the SDK's own transports.
pub(crate) const QUEUE_CAPACITY: usize = 30;

/// The longest wait after failed sends.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The wait after failed sends: 1 s after one, doubling with each failure in a row up to
/// [`MAX_BACKOFF`].
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    until: Option<Instant>,
}

impl Backoff {
    /// Whether a send at `now` is held back.
    fn holds(&self, now: Instant) -> bool {
        self.until.is_some_and(|until| now < until)
    }

    fn failed(&mut self, now: Instant) {
        let wait = Duration::from_secs(1)
            .saturating_mul(1 << self.failures.min(6))
            .min(MAX_BACKOFF);
        self.failures = self.failures.saturating_add(1);
        self.until = Some(now + wait);
    }

    fn answered(&mut self) {
        *self = Self::default();
    }
}

/// Builds a [`CountingTransport`] for the client (a [`TransportFactory`], so that it gets the
/// SDK's client-report recorder), each send bounded by `send_timeout` (at least 100 ms).
pub(crate) struct CountingTransportFactory {
    pub(crate) send_timeout: Duration,
}

impl TransportFactory for CountingTransportFactory {
    fn create_transport_with_options(&self, options: TransportOptions) -> Arc<dyn Transport> {
        let timeout = self.send_timeout.max(Duration::from_millis(100));
        Arc::new(CountingTransport::new(options, timeout))
    }
}

enum Task {
    Send(Box<Envelope>),
    Flush(SyncSender<()>),
    Shutdown,
}

/// The transport; see the [module docs](self).
pub(crate) struct CountingTransport {
    sender: SyncSender<Task>,
    shutdown: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    recorder: Recorder,
}

impl CountingTransport {
    fn new(options: TransportOptions, timeout: Duration) -> Self {
        let recorder = options.client_report_recorder.clone();
        let sender_thread = Sender::new(&options, timeout, recorder.clone());
        let (sender, receiver) = sync_channel(QUEUE_CAPACITY);
        let shutdown = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&shutdown);
        let handle = std::thread::Builder::new()
            .name("belfry-sentry-transport".to_owned())
            .spawn(move || sender_thread.run(receiver, &stop))
            .ok();
        Self {
            sender,
            shutdown,
            handle,
            recorder,
        }
    }
}

impl Transport for CountingTransport {
    fn send_envelope(&self, envelope: Envelope) {
        match self.sender.try_send(Task::Send(Box::new(envelope))) {
            Ok(()) => {}
            Err(TrySendError::Full(Task::Send(envelope))) => {
                count(&envelope, DropReason::QueueFull);
                self.recorder
                    .record_lost_data(&*envelope, LossReason::QueueOverflow);
            }
            Err(TrySendError::Disconnected(Task::Send(envelope))) => {
                count(&envelope, DropReason::SendFailed);
                self.recorder
                    .record_lost_data(&*envelope, LossReason::InternalError);
            }
            Err(_) => {}
        }
    }

    fn flush(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let (done, finished) = sync_channel(1);
        // `try_send`, retried until the deadline: a full queue behind a hung Sentry must not block
        // the caller past `timeout` (the SDK's own flush would wait for a free slot forever).
        let mut task = Task::Flush(done);
        loop {
            match self.sender.try_send(task) {
                Ok(()) => break,
                Err(TrySendError::Full(again)) if std::time::Instant::now() < deadline => {
                    task = again;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => return false,
            }
        }
        finished
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .is_ok()
    }

    fn shutdown(&self, timeout: Duration) -> bool {
        self.flush(timeout)
    }
}

impl Drop for CountingTransport {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::SeqCst);
        let _ = self.sender.send(Task::Shutdown);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Counts the events and transactions of `envelope` as dropped for `reason`.
fn count(envelope: &Envelope, reason: DropReason) {
    let (mut events, mut transactions) = (0, 0);
    for item in envelope.items() {
        match item {
            EnvelopeItem::Event(_) => events += 1,
            EnvelopeItem::Transaction(_) => transactions += 1,
            _ => {}
        }
    }
    drops::record(Kind::Event, reason, events);
    drops::record(Kind::Transaction, reason, transactions);
}

/// What the sending thread needs.
struct Sender {
    agent: ureq::Agent,
    url: String,
    auth: String,
    recorder: Recorder,
}

impl Sender {
    fn new(options: &TransportOptions, timeout: Duration, recorder: Recorder) -> Self {
        let proxy = match options.dsn.scheme() {
            sentry::types::Scheme::Https => options.https_proxy.as_deref().or(options.http_proxy.as_deref()),
            _ => options.http_proxy.as_deref(),
        }
        .and_then(|proxy| ureq::Proxy::new(proxy).ok());
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .proxy(proxy)
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            agent,
            url: options.dsn.envelope_api_url().to_string(),
            auth: options.dsn.to_auth(Some(&options.user_agent)).to_string(),
            recorder,
        }
    }

    fn run(self, receiver: Receiver<Task>, shutdown: &AtomicBool) {
        let mut limits = RateLimiter::new();
        let mut backoff = Backoff::default();
        for task in receiver {
            if shutdown.load(Ordering::SeqCst) {
                return;
            }
            let envelope = match task {
                Task::Send(envelope) => *envelope,
                Task::Flush(done) => {
                    let _ = done.send(());
                    continue;
                }
                Task::Shutdown => return,
            };
            let Some(envelope) = self.within_limits(envelope, &limits) else {
                continue;
            };
            if backoff.holds(Instant::now()) {
                count(&envelope, DropReason::SendFailed);
                self.recorder
                    .record_lost_data(&envelope, LossReason::NetworkError);
                continue;
            }
            if self.send(envelope, &mut limits) {
                backoff.answered();
            } else {
                backoff.failed(Instant::now());
            }
        }
    }

    /// The items of `envelope` no rate limit holds back; the others are counted.
    fn within_limits(&self, envelope: Envelope, limits: &RateLimiter) -> Option<Envelope> {
        envelope.filter(EnvelopeFilterCallbacks::new(
            |item: &EnvelopeItem| limits.is_enabled(category(item)),
            |item: EnvelopeItem| {
                let kind = match item {
                    EnvelopeItem::Event(_) => Some(Kind::Event),
                    EnvelopeItem::Transaction(_) => Some(Kind::Transaction),
                    _ => None,
                };
                if let Some(kind) = kind {
                    drops::record(kind, DropReason::RateLimited, 1);
                }
                self.recorder
                    .record_lost_data(&item, LossReason::RatelimitBackoff);
            },
        ))
    }

    /// Sends `envelope`; false when Sentry failed (5xx), did not answer in time or could not be
    /// reached.
    fn send(&self, envelope: Envelope, limits: &mut RateLimiter) -> bool {
        let mut body = Vec::new();
        if envelope.to_writer(&mut body).is_err() {
            count(&envelope, DropReason::SendFailed);
            self.recorder
                .record_lost_data(&envelope, LossReason::InternalError);
            return true;
        }
        let response = self
            .agent
            .post(&self.url)
            .header("X-Sentry-Auth", &self.auth)
            .send(&body[..]);
        match response {
            Ok(mut response) => {
                let header = |name: &str| response.headers().get(name).and_then(|value| value.to_str().ok());
                if let Some(limits_header) = header("x-sentry-rate-limits") {
                    limits.update_from_sentry_header(limits_header);
                } else if let Some(retry_after) = header("retry-after") {
                    limits.update_from_retry_after(retry_after);
                } else if response.status() == 429 {
                    limits.update_from_429();
                }
                let status = response.status().as_u16();
                // Read (bounded by the agent's timeout) so the connection can be reused.
                let _ = response.body_mut().read_to_vec();
                if status == 429 {
                    // The server records this loss itself: no client report.
                    count(&envelope, DropReason::RateLimited);
                } else if (400..=599).contains(&status) {
                    count(&envelope, DropReason::SendFailed);
                    self.recorder.record_lost_data(&envelope, LossReason::SendError);
                }
                status < 500
            }
            Err(_) => {
                count(&envelope, DropReason::SendFailed);
                self.recorder
                    .record_lost_data(&envelope, LossReason::NetworkError);
                false
            }
        }
    }
}

fn category(item: &EnvelopeItem) -> RateLimitingCategory {
    match item {
        EnvelopeItem::Event(_) => RateLimitingCategory::Error,
        EnvelopeItem::SessionUpdate(_) | EnvelopeItem::SessionAggregates(_) => RateLimitingCategory::Session,
        EnvelopeItem::Transaction(_) => RateLimitingCategory::Transaction,
        EnvelopeItem::Attachment(_) => RateLimitingCategory::Attachment,
        _ => RateLimitingCategory::Any,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_in_a_row_double_the_wait_up_to_a_minute_and_an_answer_ends_it() {
        let start = Instant::now();
        let mut backoff = Backoff::default();
        assert!(!backoff.holds(start), "nothing held before a failure");
        let mut waits = Vec::new();
        for _ in 0..9 {
            backoff.failed(start);
            let wait = backoff.until.expect("a wait") - start;
            assert!(backoff.holds(start + wait - Duration::from_millis(1)));
            assert!(!backoff.holds(start + wait));
            waits.push(wait.as_secs());
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        backoff.answered();
        assert!(!backoff.holds(start));
        backoff.failed(start);
        assert_eq!(backoff.until, Some(start + Duration::from_secs(1)));
    }
}
