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
use crate::{
    metrics::Exemplars, Metrics, METRICS_PATH, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE,
};

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
    let exemplars = match format {
        Format::OpenMetrics => Exemplars::Include,
        Format::PrometheusText => Exemplars::Omit,
    };
    let Ok(openmetrics) = metrics.try_render(exemplars) else {
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
    use belfry_trace_context::TraceContext;
    use http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use crate::{Metrics, HTTP_DURATION_BUCKETS, HTTP_SERVER_REQUEST_DURATION};

    /// `(content type, body)` of a scrape with this `Accept` header.
    async fn scrape(app: &Router, accept: Option<&str>) -> String {
        let mut request = Request::get("/metrics");
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    }

    /// Sends a request served in `trace`, as belfry's trace-context layer makes it current.
    async fn send_traced(app: &Router, path: &str, trace: &TraceContext) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = trace.clone().scope(app.clone().oneshot(request)).await.unwrap();
        response.into_body().collect().await.unwrap();
    }

    /// The `le` bound of a bucket line.
    fn bucket_bound(line: &str) -> f64 {
        let le = line.split("le=\"").nth(1).unwrap().split('"').next().unwrap();
        if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().unwrap()
        }
    }

    const OPENMETRICS: &str = "application/openmetrics-text;version=1.0.0";

    #[tokio::test]
    async fn sampled_requests_leave_their_trace_id_as_an_exemplar_on_their_bucket() {
        let metrics = Metrics::new();
        let app = metrics.router().merge(app().layer(metrics.layer()));
        let sampled = TraceContext::new_root(true);
        let unsampled = TraceContext::new_root(false);
        send_traced(&app, "/users/1", &sampled).await;
        send_traced(&app, "/users/2", &unsampled).await;

        let openmetrics = scrape(&app, Some(OPENMETRICS)).await;
        let with_exemplar: Vec<&str> = openmetrics.lines().filter(|line| line.contains(" # {")).collect();
        assert_eq!(with_exemplar.len(), 1, "{openmetrics}");
        let line = with_exemplar[0];
        assert!(
            line.starts_with(&format!("{HTTP_SERVER_REQUEST_DURATION}_bucket{{")),
            "{line}"
        );
        assert!(line.contains(r#"http_route="/users/{id}""#), "{line}");
        let (sample, exemplar) = line.split_once(" # ").unwrap();
        let count: u64 = sample.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(count >= 1, "{line}");
        let expected_label = format!(r#"{{trace_id="{}"}}"#, sampled.trace_id());
        let mut parts = exemplar.split(' ');
        assert_eq!(parts.next(), Some(expected_label.as_str()));
        let value: f64 = parts.next().unwrap().parse().unwrap();
        let timestamp: f64 = parts.next().unwrap().parse().unwrap();
        assert_eq!(parts.next(), None);
        // The exemplar sits on the first bucket whose bound holds its value.
        let bound = bucket_bound(line);
        assert!(value <= bound, "{line}");
        let below = HTTP_DURATION_BUCKETS
            .iter()
            .copied()
            .filter(|b| *b < bound)
            .fold(0.0, f64::max);
        assert!(value > below || below == 0.0, "{line}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!((now - timestamp).abs() < 60.0, "{timestamp} vs {now}");
        assert!(!openmetrics.contains(&unsampled.trace_id().to_string()));

        // The Prometheus text format has no exemplars; `render` (OpenMetrics) has them.
        let text = scrape(&app, None).await;
        assert!(!text.contains(" # {"), "{text}");
        assert!(!text.contains(&sampled.trace_id().to_string()));
        assert!(metrics.render().contains(&expected_label));
    }

    #[tokio::test]
    async fn unsampled_requests_leave_no_exemplar_and_the_last_sampled_one_wins() {
        let metrics = Metrics::new();
        let app = metrics.router().merge(app().layer(metrics.layer()));
        send_traced(&app, "/users/1", &TraceContext::new_root(false)).await;
        send(&app, "/users/2").await; // no trace context at all
        let openmetrics = scrape(&app, Some(OPENMETRICS)).await;
        assert!(!openmetrics.contains(" # {"), "{openmetrics}");

        let first = TraceContext::new_root(true);
        let last = TraceContext::new_root(true);
        send_traced(&app, "/users/3", &first).await;
        send_traced(&app, "/users/4", &last).await;
        let openmetrics = scrape(&app, Some(OPENMETRICS)).await;
        // Both fast requests share the first bucket, where the later one replaced the earlier.
        let exemplars = openmetrics.matches(" # {").count();
        assert!(exemplars >= 1, "{openmetrics}");
        assert!(
            openmetrics.contains(&last.trace_id().to_string()),
            "{openmetrics}"
        );
        if exemplars == 1 {
            assert!(!openmetrics.contains(&first.trace_id().to_string()));
        }
    }

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
