//! The settings of the middleware stack and the server: `BELFRY_*` and `SENTRY_TRACES_SAMPLE_RATE`.

use std::time::Duration;

use belfry_access_log::TrustedProxy;
use http::HeaderName;

use super::{parse_ratio, read::Reader, TRACES_SAMPLE_RATE};
use crate::Belfry;

/// What the environment says about the stack; `None`: the default. (The shutdown settings are
/// read and checked without the `health` feature too, and used only with it.)
#[derive(Clone, Debug, Default)]
#[cfg_attr(not(feature = "health"), allow(dead_code))]
pub(crate) struct ServerConfig {
    request_id_header: Option<HeaderName>,
    trust_request_id: Option<bool>,
    slow_request: Option<Duration>,
    /// `Some(None)`: turned off with `0`.
    hung_request: Option<Option<Duration>>,
    trusted_proxies: Option<Vec<TrustedProxy>>,
    server_timing: Option<bool>,
    trust_trace_context: Option<bool>,
    pub(crate) traces_sample_rate: Option<f64>,
    access_log_sample: Vec<(String, f64)>,
    access_log_keep_client_errors: Option<bool>,
    drain_delay: Option<Duration>,
    shutdown_timeout: Option<Duration>,
}

impl ServerConfig {
    pub(crate) fn read(read: &mut Reader<'_>) -> Self {
        Self {
            request_id_header: read.parse("BELFRY_REQUEST_ID_HEADER", "a header name"),
            trust_request_id: read.bool("BELFRY_TRUST_REQUEST_ID"),
            slow_request: read.millis("BELFRY_SLOW_REQUEST_MS"),
            hung_request: read
                .parse::<u64>(
                    "BELFRY_HUNG_REQUEST_MS",
                    "a whole number of milliseconds (0: off)",
                )
                .map(|ms| (ms > 0).then(|| Duration::from_millis(ms))),
            trusted_proxies: read.with("BELFRY_TRUSTED_PROXIES", parse_trusted_proxies),
            server_timing: read.bool("BELFRY_SERVER_TIMING"),
            trust_trace_context: read.bool("BELFRY_TRUST_TRACE_CONTEXT"),
            traces_sample_rate: read.ratio(TRACES_SAMPLE_RATE),
            access_log_sample: read
                .with("BELFRY_ACCESS_LOG_SAMPLE", parse_route_ratios)
                .unwrap_or_default(),
            access_log_keep_client_errors: read.bool("BELFRY_ACCESS_LOG_KEEP_CLIENT_ERRORS"),
            drain_delay: read.millis("BELFRY_DRAIN_DELAY_MS"),
            shutdown_timeout: read.millis("BELFRY_SHUTDOWN_TIMEOUT_MS"),
        }
    }

    /// Applies what is set to `belfry`, through its builder methods.
    pub(crate) fn apply(&self, mut belfry: Belfry) -> Belfry {
        if let Some(header) = &self.request_id_header {
            belfry = belfry.request_id_header(header.clone());
        }
        if let Some(trust) = self.trust_request_id {
            belfry = belfry.trust_incoming_request_id(trust);
        }
        if let Some(threshold) = self.slow_request {
            belfry = belfry.slow_request_threshold(threshold);
        }
        if let Some(threshold) = self.hung_request {
            belfry = belfry.hung_request_threshold(threshold);
        }
        if let Some(proxies) = &self.trusted_proxies {
            belfry = belfry.trusted_proxies(proxies.iter().cloned());
        }
        if let Some(enabled) = self.server_timing {
            belfry = belfry.server_timing(enabled);
        }
        if let Some(trust) = self.trust_trace_context {
            belfry = belfry.trust_incoming_trace_context(trust);
        }
        for (route, ratio) in &self.access_log_sample {
            belfry = belfry.access_log_sample_route(route.clone(), *ratio);
        }
        if let Some(keep) = self.access_log_keep_client_errors {
            belfry = belfry.access_log_keep_client_errors(keep);
        }
        #[cfg(feature = "health")]
        if let Some(delay) = self.drain_delay {
            belfry = belfry.drain_delay(delay);
        }
        #[cfg(feature = "health")]
        if let Some(timeout) = self.shutdown_timeout {
            belfry = belfry.shutdown_timeout(timeout);
        }
        belfry
    }
}

/// `10.0.0.0/8, 192.168.1.7`; the error names the entry at fault.
fn parse_trusted_proxies(list: &str) -> Result<Vec<TrustedProxy>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry.parse::<TrustedProxy>().map_err(|_| {
                format!("IP addresses or CIDR ranges separated by commas (`{entry}` is neither)")
            })
        })
        .collect()
}

/// `/users/{id}=0.01, /search=0.1` → `[("/users/{id}", 0.01), ("/search", 0.1)]`; the error
/// names the entry at fault.
fn parse_route_ratios(list: &str) -> Result<Vec<(String, f64)>, String> {
    const EXPECTED: &str =
        "route=ratio pairs separated by commas, each ratio from 0 to 1 (`/users/{id}=0.01`)";
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let wrong = || format!("{EXPECTED}; `{entry}` is not");
            let (route, ratio) = entry.rsplit_once('=').ok_or_else(wrong)?;
            let ratio = parse_ratio(ratio.trim()).map_err(|_| wrong())?;
            let route = route.trim();
            if !route.starts_with('/') {
                return Err(wrong());
            }
            Ok((route.to_owned(), ratio))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_ratio_pairs() {
        assert_eq!(
            parse_route_ratios("/users/{id}=0.01, /search=1"),
            Ok(vec![
                ("/users/{id}".to_owned(), 0.01),
                ("/search".to_owned(), 1.0)
            ])
        );
        assert_eq!(parse_route_ratios(" , "), Ok(vec![]));
        for wrong in ["/users", "/users=2", "users=0.5", "/users=half"] {
            let error = parse_route_ratios(wrong).unwrap_err();
            assert!(error.ends_with(&format!("`{wrong}` is not")), "{error}");
        }
    }

    #[test]
    fn a_wrong_proxy_is_named() {
        assert_eq!(
            parse_trusted_proxies("10.0.0.0/8, ::1").map(|list| list.len()),
            Ok(2)
        );
        let error = parse_trusted_proxies("10.0.0.0/8, 10.0.0.0/33").unwrap_err();
        assert!(error.contains("`10.0.0.0/33` is neither"), "{error}");
    }
}
