//! [`HttpClientCollector`]: encodes [`ClientSeries`] at scrape time.

use std::{fmt, sync::Arc};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabel, EncodeLabelSet, EncodeMetric, LabelSetEncoder},
    metrics::MetricType,
};

use super::series::{ClientSeries, Series};
use crate::{
    ERROR_TYPE, HTTP_CLIENT_REQUEST_DURATION, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, NO_ERROR_TYPE,
    NO_RESPONSE_STATUS, SERVER_ADDRESS,
};

/// Registered once per [`Metrics`](crate::Metrics); the family appears with its first call.
pub(crate) struct HttpClientCollector(pub(crate) Arc<ClientSeries>);

impl fmt::Debug for HttpClientCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientCollector").finish_non_exhaustive()
    }
}

impl Collector for HttpClientCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let series = self.0.series();
        if series.is_empty() {
            return Ok(());
        }
        let mut family = encoder.encode_descriptor(
            HTTP_CLIENT_REQUEST_DURATION,
            "Duration of outgoing HTTP requests, to the response head or the failure",
            None,
            MetricType::Histogram,
        )?;
        for one in &series {
            one.histogram.encode(family.encode_family(&SeriesLabels(one))?)?;
        }
        Ok(())
    }
}

struct SeriesLabels<'a>(&'a Series<'a>);

impl EncodeLabelSet for SeriesLabels<'_> {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), fmt::Error> {
        let series = self.0;
        (HTTP_REQUEST_METHOD, series.method.as_str()).encode(encoder.encode_label())?;
        (SERVER_ADDRESS, series.server_address).encode(encoder.encode_label())?;
        match series.status {
            Some(status) => (HTTP_RESPONSE_STATUS_CODE, status).encode(encoder.encode_label())?,
            None => (HTTP_RESPONSE_STATUS_CODE, NO_RESPONSE_STATUS).encode(encoder.encode_label())?,
        }
        (ERROR_TYPE, series.error_type.unwrap_or(NO_ERROR_TYPE)).encode(encoder.encode_label())
    }
}
