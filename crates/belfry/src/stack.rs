//! [`Belfry`]: the one builder that composes belfry's layers in the order they need.

use axum::Router;
use belfry_request_id::RequestIdLayer;
use http::HeaderName;
use tower_layer::Layer;

use crate::config::{env_bool, env_var, ConfigError};

/// Belfry's whole middleware stack, configured once and applied to a [`Router`] with
/// [`wrap`](Self::wrap).
///
/// The layers, outermost first — the order is encoded here and nowhere else:
///
/// 1. **Request id** ([`RequestIdLayer`]): picks the id and opens the `request` span, so
///    everything below logs with `request_id`, and stamps the id on the final response.
///
/// `wrap` applies the stack with [`Router::layer`], so it runs after routing, for every route
/// and the fallback: the route template (`MatchedPath`) is known to every layer.
///
/// ```
/// use axum::{routing::get, Router};
/// use belfry::Belfry;
///
/// let app: Router = Belfry::new().wrap(Router::new().route("/", get(|| async { "hello" })));
/// ```
#[derive(Clone, Debug)]
pub struct Belfry {
    request_id: RequestIdLayer,
}

impl Default for Belfry {
    fn default() -> Self {
        Self::new()
    }
}

impl Belfry {
    /// The defaults: see docs/configuration.md.
    pub fn new() -> Self {
        Self {
            request_id: RequestIdLayer::new(),
        }
    }

    /// The defaults, overridden by environment variables:
    ///
    /// | variable | meaning | default |
    /// | --- | --- | --- |
    /// | `BELFRY_REQUEST_ID_HEADER` | header carrying the request id | `x-request-id` |
    /// | `BELFRY_TRUST_REQUEST_ID` | keep valid incoming ids | `true` |
    ///
    /// ```
    /// let belfry = belfry::Belfry::from_env().expect("valid settings");
    /// ```
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut belfry = Self::new();
        if let Some(header) = env_var::<HeaderName>("BELFRY_REQUEST_ID_HEADER", "a header name")? {
            belfry = belfry.request_id_header(header);
        }
        if let Some(trust) = env_bool("BELFRY_TRUST_REQUEST_ID")? {
            belfry = belfry.trust_incoming_request_id(trust);
        }
        Ok(belfry)
    }

    /// Reads and writes the request id in `header` (default `x-request-id`).
    pub fn request_id_header(mut self, header: HeaderName) -> Self {
        self.request_id = self.request_id.header_name(header);
        self
    }

    /// Whether valid incoming request ids are kept (default `true`).
    pub fn trust_incoming_request_id(mut self, trust: bool) -> Self {
        self.request_id = self.request_id.trust_incoming(trust);
        self
    }

    /// The stack as one tower layer. Apply it with [`Router::layer`] (as [`wrap`](Self::wrap)
    /// does), not around the router: outside the router the route template is unknown.
    pub fn layer(&self) -> BelfryLayer {
        BelfryLayer {
            request_id: self.request_id.clone(),
        }
    }

    /// Applies the stack to every route of `router` and to its fallback. Call it last, after
    /// every route, `nest` and `merge`: routes added afterwards are not covered.
    pub fn wrap<S>(&self, router: Router<S>) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        router.layer(self.layer())
    }
}

/// [`Belfry`]'s stack as a tower layer; see [`Belfry::layer`].
#[derive(Clone, Debug)]
pub struct BelfryLayer {
    request_id: RequestIdLayer,
}

impl<S> Layer<S> for BelfryLayer {
    type Service = belfry_request_id::SetRequestId<S, belfry_request_id::MakeRequestUuidV7>;

    fn layer(&self, inner: S) -> Self::Service {
        self.request_id.layer(inner)
    }
}
