//! Tests driving the layer with `oneshot`, on the harness belfry-sentry's tests share
//! ([`crate::test_support`]).

mod reporter;
mod responses;

pub(crate) use tracing::Level;

pub(crate) use crate::{test_support::*, CaptureLayer, ErrorReport};

/// Installs the recording subscriber and the panic hook, once.
pub(crate) fn setup() {
    install(tracing_subscriber::layer::Identity::new());
}
