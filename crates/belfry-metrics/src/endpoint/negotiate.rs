//! [`Format`]: which exposition format a scraper asked for.

use http::{header::ACCEPT, HeaderMap};

/// Exposition format of a scrape response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    OpenMetrics,
    PrometheusText,
}

impl Format {
    /// OpenMetrics when the `Accept` header ranks `application/openmetrics-text` at least as high
    /// as `text/plain` (Prometheus asks this way); the Prometheus text format otherwise,
    /// including without an `Accept` header.
    pub(crate) fn negotiate(headers: &HeaderMap) -> Self {
        let mut openmetrics = 0.0f32;
        let mut text = 0.0f32;
        let ranges = headers
            .get_all(ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok());
        for range in ranges.flat_map(|value| value.split(',')) {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let quality = parts
                .filter_map(|param| param.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => openmetrics = openmetrics.max(quality),
                "text/plain" | "text/*" | "*/*" => text = text.max(quality),
                _ => {}
            }
        }
        if openmetrics > 0.0 && openmetrics >= text {
            Self::OpenMetrics
        } else {
            Self::PrometheusText
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiate(accept: &[&str]) -> Format {
        let mut headers = HeaderMap::new();
        for value in accept {
            headers.append(ACCEPT, value.parse().unwrap());
        }
        Format::negotiate(&headers)
    }

    #[test]
    fn prometheus_gets_openmetrics() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                          version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(negotiate(&[prometheus]), Format::OpenMetrics);
        assert_eq!(
            negotiate(&["Application/OpenMetrics-Text; version=1.0.0"]),
            Format::OpenMetrics
        );
    }

    #[test]
    fn everyone_else_gets_text() {
        assert_eq!(negotiate(&[]), Format::PrometheusText);
        assert_eq!(negotiate(&["*/*"]), Format::PrometheusText);
        assert_eq!(
            negotiate(&["text/plain;version=0.0.4,application/openmetrics-text;q=0.5"]),
            Format::PrometheusText
        );
        assert_eq!(
            negotiate(&["application/openmetrics-text;q=0"]),
            Format::PrometheusText
        );
        assert_eq!(negotiate(&["application/json"]), Format::PrometheusText);
    }
}
