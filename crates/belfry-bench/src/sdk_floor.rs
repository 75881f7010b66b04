//! [`OneInTenTransactionsLayer`]: the least a Sentry integration with performance transactions
//! does on the serving thread, for the [`Variant::SentryHubTransactions`](crate::Variant)
//! reference — sentry-core's own cost, with nothing of belfry's or sentry-tower's around it.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    task::{ready, Context, Poll},
};

use pin_project_lite::pin_project;
use sentry::{Hub, Transaction, TransactionContext};
use tower::{Layer, Service};

/// One request in ten (the 1st, the 11th, … of the layer and its clones) gets a performance
/// transaction, as [`TRACES_SAMPLE_RATE`](crate::TRACES_SAMPLE_RATE) asks, decided by a counter
/// so that every run samples the same share: started sampled on the current hub, named
/// `GET /users/{id}`, set as the scope's span (for the events of the request to link to it),
/// finished when the response is ready. Nothing else is put on it — no request, no tag, no
/// status — so what it costs is sentry-core's floor for a transaction.
///
/// Inside sentry-tower's `NewSentryLayer`, whose hub per request is current in `call`.
///
/// ```
/// use std::sync::Arc;
///
/// use axum::{body::Body, routing::get, Router};
/// use belfry_bench::OneInTenTransactionsLayer;
/// use http::Request;
/// use sentry::SentryFutureExt;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let transport = sentry::test::TestTransport::new();
/// let mut options = sentry::ClientOptions::new().traces_sample_rate(0.1);
/// options.dsn = Some("https://public@sentry.invalid/1".parse().unwrap());
/// options.transport = Some(Arc::new(transport.clone()));
/// let hub = Arc::new(sentry::Hub::new(Some(Arc::new(options.into())), Default::default()));
///
/// let app = Router::new().route("/", get(|| async { "hi" })).layer(OneInTenTransactionsLayer::new());
/// for _ in 0..20 {
///     let request = Request::get("/").body(Body::empty()).unwrap();
///     let response = app.clone().oneshot(request).bind_hub(hub.clone()).await.unwrap();
///     assert_eq!(response.status(), 200);
/// }
/// let sent = transport.fetch_and_clear_envelopes();
/// assert_eq!(sent.len(), 2, "the 1st and the 11th request");
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct OneInTenTransactionsLayer {
    requests: Arc<AtomicU64>,
}

impl OneInTenTransactionsLayer {
    /// A layer whose count starts at zero (its first request gets a transaction).
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for OneInTenTransactionsLayer {
    type Service = OneInTenTransactions<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OneInTenTransactions {
            inner,
            requests: self.requests.clone(),
        }
    }
}

/// The service of [`OneInTenTransactionsLayer`].
#[derive(Clone, Debug)]
pub struct OneInTenTransactions<S> {
    inner: S,
    requests: Arc<AtomicU64>,
}

impl<S, R> Service<R> for OneInTenTransactions<S>
where
    S: Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TransactionFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let transaction = self
            .requests
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(10)
            .then(|| {
                let hub = Hub::current();
                let mut context = TransactionContext::new("GET /users/{id}", "http.server");
                context.set_sampled(true);
                let transaction = hub.start_transaction(context);
                hub.configure_scope(|scope| scope.set_span(Some(transaction.clone().into())));
                transaction
            });
        TransactionFuture {
            inner: self.inner.call(request),
            transaction,
        }
    }
}

pin_project! {
    /// The response future of [`OneInTenTransactions`]: finishes the transaction, if any, when
    /// the inner future is ready.
    pub struct TransactionFuture<F> {
        #[pin]
        inner: F,
        transaction: Option<Transaction>,
    }
}

impl<F: Future> Future for TransactionFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = ready!(this.inner.poll(cx));
        if let Some(transaction) = this.transaction.take() {
            transaction.finish();
        }
        Poll::Ready(output)
    }
}
