//! Access-log sampling (off by default): a share of the successful, fast requests of chosen
//! routes is written; everything that says something went wrong is always written.
//!
//! Always written, whatever the ratio: 5xx responses, requests that failed or were cancelled
//! (`error.type`, `client.disconnected`), slow requests (at or over their slow threshold), hung
//! ones (at or over the hung threshold), and 4xx responses when
//! [`AccessLogLayer::always_log_client_errors`](crate::AccessLogLayer::always_log_client_errors)
//! says so. Only the `request completed` line is sampled: metrics (belfry-metrics) count every
//! request, and the `request still running` warning is never sampled.
//!
//! A route without a ratio is written in full. The draw is a thread-local xorshift, a few
//! instructions, made only for a line that could be left out.

use http::StatusCode;

/// Per-route ratios; empty: sampling is off and costs one branch per request.
#[derive(Clone, Debug, Default)]
pub(crate) struct AccessLogSampling {
    routes: Vec<(String, f64)>,
    pub(crate) always_client_errors: bool,
}

impl AccessLogSampling {
    /// Sets `route`'s ratio (replacing an earlier one), clamped to 0..=1.
    pub(crate) fn set(&mut self, route: String, ratio: f64) {
        let ratio = if ratio.is_nan() {
            1.0
        } else {
            ratio.clamp(0.0, 1.0)
        };
        self.routes.retain(|(existing, _)| *existing != route);
        self.routes.push((route, ratio));
    }

    pub(crate) fn is_off(&self) -> bool {
        self.routes.is_empty()
    }

    /// Whether the line of a successful, fast request to `route` with `status` is written.
    pub(crate) fn writes(&self, route: Option<&str>, status: Option<StatusCode>) -> bool {
        if self.always_client_errors && status.is_some_and(|status| status.is_client_error()) {
            return true;
        }
        let ratio = route.and_then(|route| self.routes.iter().find(|(r, _)| r == route));
        match ratio {
            None => true,
            Some((_, ratio)) => belfry_trace_context::random_chance(*ratio),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{convert::Infallible, time::Duration};

    use bytes::Bytes;
    use http::{Request, Response};
    use http_body_util::{BodyExt, Full};
    use tower::{service_fn, Layer, ServiceExt};

    use crate::{
        record::tests::{capture_events, matched_path},
        AccessLogLayer,
    };

    /// `request completed` lines for `statuses` served on `/users/{id}` through `layer`.
    fn lines(layer: AccessLogLayer, statuses: &[u16]) -> Vec<String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let route = matched_path("/users/{id}");
        let (events, ()) = capture_events(|| {
            for &status in statuses {
                let service = layer.clone().layer(service_fn(move |_: Request<()>| async move {
                    let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
                    *response.status_mut() = StatusCode::from_u16(status).unwrap();
                    Ok::<_, Infallible>(response)
                }));
                let mut request = Request::get("/users/1").body(()).unwrap();
                request.extensions_mut().insert(route.clone());
                runtime.block_on(async {
                    let response = service.oneshot(request).await.unwrap();
                    let _ = response.into_body().collect().await;
                });
            }
        });
        events
            .into_iter()
            .filter(|event| event.starts_with("request completed"))
            .collect()
    }

    #[test]
    fn a_sampled_route_keeps_its_errors_and_slow_requests() {
        let statuses: Vec<u16> = (0..300).map(|n| [200, 200, 404, 503][n % 4]).collect();
        let sampled = AccessLogLayer::new().sample_route("/users/{id}", 0.0);
        let written = lines(sampled.clone(), &statuses);
        assert_eq!(written.len(), 75, "only the 503s: {written:?}");
        assert!(written.iter().all(|line| line.contains("status_code=503")));
        // 4xx kept when configured.
        let written = lines(sampled.clone().always_log_client_errors(true), &statuses);
        assert_eq!(written.len(), 150);
        // Slow requests are always written (every request is slow at a threshold of 0).
        let written = lines(sampled.slow_threshold(Duration::ZERO), &statuses);
        assert_eq!(written.len(), 300);
        // Off: every line.
        assert_eq!(lines(AccessLogLayer::new(), &statuses).len(), 300);
    }

    #[test]
    fn routes_without_a_ratio_are_written_and_ratios_are_kept() {
        let mut sampling = AccessLogSampling::default();
        assert!(sampling.is_off());
        sampling.set("/users/{id}".into(), 0.25);
        sampling.set("/never".into(), 0.0);
        assert!(!sampling.is_off());
        let ok = Some(StatusCode::OK);
        assert!((0..1000).all(|_| sampling.writes(Some("/other"), ok)));
        assert!((0..1000).all(|_| sampling.writes(None, ok)));
        assert!((0..1000).all(|_| !sampling.writes(Some("/never"), ok)));
        let kept = (0..100_000)
            .filter(|_| sampling.writes(Some("/users/{id}"), ok))
            .count();
        assert!((23_000..27_000).contains(&kept), "{kept}");
        // 4xx: sampled, unless configured to be kept.
        assert!(!sampling.writes(Some("/never"), Some(StatusCode::NOT_FOUND)));
        sampling.always_client_errors = true;
        assert!(sampling.writes(Some("/never"), Some(StatusCode::NOT_FOUND)));
    }
}
