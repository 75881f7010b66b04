//! [`SpanQueue`]: finished spans on their way to the SDK's `BatchSpanProcessor`, bounded, with
//! every span that does not make it counted ([`dropped_spans`]).
//!
//! The batch processor exports on its own thread from a bounded queue, and drops what does not
//! fit — but keeps that count to itself. So spans are admitted here first: a span counts as
//! queued from [`SpanQueue::push`] until the exporter takes it in a batch
//! ([`CountingExporter`]); past the queue size, the span is dropped and counted, and the first
//! drop logs one WARN. The processor's own queue has the same size, so it never drops on its
//! own.

use std::{
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use opentelemetry_sdk::{
    error::OTelSdkResult,
    trace::{BatchSpanProcessor, SpanData, SpanExporter, SpanProcessor},
    Resource,
};

/// Spans dropped since start because the queue was full (the collector is slower than the
/// service, or unreachable for longer than the queue lasts).
static QUEUE_FULL: AtomicU64 = AtomicU64::new(0);
/// Spans in batches the collector did not accept (refused, unreachable, timed out).
static EXPORT_FAILED: AtomicU64 = AtomicU64::new(0);

/// Spans that were not delivered, by reason; see [`dropped_spans`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DroppedSpans {
    /// Dropped before export: the queue was full.
    pub queue_full: u64,
    /// Exported in a batch that failed (collector down, answering an error, or too slow).
    pub export_failed: u64,
}

impl DroppedSpans {
    /// Both reasons added up.
    pub fn total(&self) -> u64 {
        self.queue_full + self.export_failed
    }

    /// `(reason, count)` pairs, for a metric labelled by `reason` (`queue_full`,
    /// `export_failed`).
    pub fn by_reason(&self) -> [(&'static str, u64); 2] {
        [
            ("queue_full", self.queue_full),
            ("export_failed", self.export_failed),
        ]
    }
}

/// Spans not delivered since the process started, by reason (all zero when nothing is
/// exported).
///
/// ```
/// assert_eq!(belfry_otel::dropped_spans().total(), 0);
/// ```
pub fn dropped_spans() -> DroppedSpans {
    DroppedSpans {
        queue_full: QUEUE_FULL.load(Ordering::Relaxed),
        export_failed: EXPORT_FAILED.load(Ordering::Relaxed),
    }
}

/// The bounded way into the batch processor.
#[derive(Clone, Debug)]
pub(crate) struct SpanQueue {
    processor: Arc<BatchSpanProcessor>,
    queued: Arc<AtomicUsize>,
    capacity: usize,
}

impl SpanQueue {
    /// A batch processor (own thread) exporting with `exporter`, its queue `capacity` spans.
    pub(crate) fn new<E>(exporter: E, resource: &Resource, capacity: usize) -> Self
    where
        E: SpanExporter + 'static,
    {
        let queued = Arc::new(AtomicUsize::new(0));
        let mut exporter = CountingExporter {
            inner: exporter,
            queued: Arc::clone(&queued),
        };
        exporter.set_resource(resource);
        let config = opentelemetry_sdk::trace::BatchConfigBuilder::default()
            .with_max_queue_size(capacity)
            .build();
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(config)
            .build();
        Self {
            processor: Arc::new(processor),
            queued,
            capacity,
        }
    }

    /// Hands a finished span to the processor, or drops and counts it when the queue is full.
    pub(crate) fn push(&self, span: SpanData) {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            if QUEUE_FULL.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::warn!(
                    target: crate::TARGET,
                    queue_size = self.capacity,
                    "OpenTelemetry spans are being dropped: the export queue is full (the collector \
                     is slower than this service, or unreachable); counted in belfry_otel_spans_dropped_total. \
                     Said once."
                );
            }
            return;
        }
        self.processor.on_end(span);
    }

    /// Exports what is queued and stops the processor's thread, waiting at most `timeout`.
    pub(crate) fn shutdown(&self, timeout: Duration) -> OTelSdkResult {
        self.processor.shutdown_with_timeout(timeout)
    }
}

/// The OTLP exporter, counting spans out of the queue and spans whose export failed.
#[derive(Debug)]
struct CountingExporter<E> {
    inner: E,
    queued: Arc<AtomicUsize>,
}

impl<E: SpanExporter> SpanExporter for CountingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        self.queued.fetch_sub(spans, Ordering::AcqRel);
        let result = self.inner.export(batch).await;
        if result.is_err() {
            EXPORT_FAILED.fetch_add(spans as u64, Ordering::Relaxed);
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
