//! The `/metrics` endpoint: [`Metrics::router`].

mod negotiate;
mod prometheus_text;

use axum::{
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use http::{header::CONTENT_TYPE, HeaderMap, HeaderValue, StatusCode};

use self::{negotiate::Format, prometheus_text::to_prometheus_text};
use crate::{Metrics, METRICS_PATH, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE};

impl Metrics {
    /// A router serving `GET` [`METRICS_PATH`]: the [`render`](Self::render)ed exposition as
    /// [`OPENMETRICS_CONTENT_TYPE`] to clients that ask for it (Prometheus does), and the same
    /// metrics in the Prometheus text format ([`PROMETHEUS_TEXT_CONTENT_TYPE`]) to the others
    /// (`curl … | promtool check metrics`). Both end with `# EOF`.
    ///
    /// Merge it into the application's router *before* [`layer`](Self::layer), so scrapes are
    /// measured like any route. Merging it after the layer would also replace the layered 404
    /// fallback with an unlayered one (axum keeps the merged router's default fallback), leaving
    /// unmatched requests unmeasured; to keep scrapes out of the HTTP metrics, merge the other
    /// way round: `metrics.router().merge(app.layer(metrics.layer()))`.
    ///
    /// ```
    /// use axum::{body::Body, Router};
    /// use belfry_metrics::{Metrics, OPENMETRICS_CONTENT_TYPE};
    /// use http::Request;
    /// use http_body_util::BodyExt;
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let metrics = Metrics::new();
    /// let app: Router = Router::new().merge(metrics.router()).layer(metrics.layer());
    /// let scrape = Request::get("/metrics")
    ///     .header("accept", "application/openmetrics-text; version=1.0.0")
    ///     .body(Body::empty())
    ///     .unwrap();
    /// let response = app.oneshot(scrape).await.unwrap();
    /// assert_eq!(response.headers()["content-type"], OPENMETRICS_CONTENT_TYPE);
    /// let body = response.into_body().collect().await.unwrap().to_bytes();
    /// assert!(body.ends_with(b"# EOF\n"));
    /// # }
    /// ```
    pub fn router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let metrics = self.clone();
        Router::new().route(
            METRICS_PATH,
            get(move |headers: HeaderMap| {
                let response = exposition(&metrics, Format::negotiate(&headers));
                async move { response }
            }),
        )
    }
}

/// The scrape response.
fn exposition(metrics: &Metrics, format: Format) -> Response {
    let Ok(openmetrics) = metrics.try_render() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "a metrics collector failed\n").into_response();
    };
    let (content_type, body) = match format {
        Format::OpenMetrics => (OPENMETRICS_CONTENT_TYPE, openmetrics),
        Format::PrometheusText => (PROMETHEUS_TEXT_CONTENT_TYPE, to_prometheus_text(&openmetrics)),
    };
    ([(CONTENT_TYPE, HeaderValue::from_static(content_type))], body).into_response()
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, routing::get, Router};
    use http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use crate::Metrics;

    async fn send(app: &Router, path: &str) {
        let response = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    }

    fn app() -> Router {
        Router::new().route("/users/{id}", get(|| async { "user" }))
    }

    #[tokio::test]
    async fn merged_before_the_layer_scrapes_and_404s_are_measured() {
        let metrics = Metrics::new();
        let app = app().merge(metrics.router()).layer(metrics.layer());
        for path in ["/users/1", "/missing", "/metrics"] {
            send(&app, path).await;
        }
        let text = metrics.render();
        for route in ["/users/{id}", "", "/metrics"] {
            assert!(
                text.contains(&format!(r#"http_route="{route}","#)),
                "{route:?} in\n{text}"
            );
        }
    }

    #[tokio::test]
    async fn merged_into_the_layered_app_scrapes_are_not_measured_but_404s_are() {
        let metrics = Metrics::new();
        let app = metrics.router().merge(app().layer(metrics.layer()));
        for path in ["/users/1", "/missing", "/metrics"] {
            send(&app, path).await;
        }
        let text = metrics.render();
        assert!(text.contains(r#"http_route="/users/{id}","#));
        assert!(text.contains(r#"http_route="","#));
        assert!(!text.contains(r#"http_route="/metrics""#));
    }
}
