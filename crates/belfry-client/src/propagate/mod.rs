//! The tower middleware: [`PropagateLayer`] → [`Propagate`] → [`ResponseFuture`].

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::PropagateLayer;
pub use service::Propagate;
