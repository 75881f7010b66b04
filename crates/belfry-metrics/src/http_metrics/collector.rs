//! [`HttpServerCollector`]: encodes [`HttpServerMetrics`] at scrape time.

use std::{fmt, sync::Arc};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabel, EncodeLabelSet, EncodeMetric, LabelSetEncoder},
    metrics::MetricType,
};

use super::{method::MethodLabel, server::HttpServerMetrics};
use crate::{
    exemplar::ScrapeExemplars, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE,
    HTTP_SERVER_ACTIVE_REQUESTS, HTTP_SERVER_REQUEST_DURATION, NO_RESPONSE_STATUS,
};

/// Registered once per [`Metrics`](crate::Metrics); reads the atomics at scrape time.
#[derive(Debug)]
pub(crate) struct HttpServerCollector(pub(crate) Arc<HttpServerMetrics>);

impl Collector for HttpServerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let routes = self.0.routes();
        let series: Vec<_> = routes
            .iter()
            .map(|route| (route.route(), route.series()))
            .collect();
        if series.iter().any(|(_, series)| !series.is_empty()) {
            let mut family = encoder.encode_descriptor(
                HTTP_SERVER_REQUEST_DURATION,
                "Duration of HTTP server requests, to the end of the response body",
                None,
                MetricType::Histogram,
            )?;
            let exemplars = ScrapeExemplars::armed();
            for (route, series) in &series {
                for one in series {
                    let labels = SeriesLabels {
                        method: one.method,
                        route,
                        status: one.status,
                    };
                    one.histogram.encode(family.encode_family(&labels)?)?;
                    if exemplars {
                        let mut buckets = one.histogram.exemplars();
                        buckets.resize(one.histogram.bucket_count(), None);
                        ScrapeExemplars::record(buckets);
                    }
                }
            }
        }

        let active: Vec<_> = self.0.active().snapshot().collect();
        if !active.is_empty() {
            let mut family = encoder.encode_descriptor(
                HTTP_SERVER_ACTIVE_REQUESTS,
                "Number of HTTP server requests in flight, response body included",
                None,
                MetricType::Gauge,
            )?;
            for (method, count) in active {
                let labels = [(HTTP_REQUEST_METHOD, method.as_str())];
                family.encode_family(&labels)?.encode_gauge(&count)?;
            }
        }
        Ok(())
    }
}

/// Labels of one duration series.
struct SeriesLabels<'a> {
    method: MethodLabel,
    route: &'a str,
    status: Option<u16>,
}

impl EncodeLabelSet for SeriesLabels<'_> {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), fmt::Error> {
        (HTTP_REQUEST_METHOD, self.method.as_str()).encode(encoder.encode_label())?;
        (HTTP_ROUTE, self.route).encode(encoder.encode_label())?;
        match self.status {
            Some(status) => (HTTP_RESPONSE_STATUS_CODE, status).encode(encoder.encode_label()),
            None => (HTTP_RESPONSE_STATUS_CODE, NO_RESPONSE_STATUS).encode(encoder.encode_label()),
        }
    }
}
