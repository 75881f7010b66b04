//! [`export_request`]: belfry's HTTP metrics ([`HttpSnapshot`]s) as one OTLP
//! `ExportMetricsServiceRequest`, built with the official generated messages
//! (opentelemetry-proto), named as the OpenTelemetry HTTP semantic conventions name them.

use std::time::{SystemTime, UNIX_EPOCH};

use belfry_metrics::{HistogramSnapshot, HttpSnapshot, UNMATCHED_ROUTE};
use opentelemetry_proto::tonic::{
    collector::metrics::v1::ExportMetricsServiceRequest,
    common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue},
    metrics::v1::{
        exemplar, metric::Data, number_data_point, AggregationTemporality, Exemplar, Histogram,
        HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    },
    resource::v1::Resource,
};

/// `http_server_request_duration_seconds` on `/metrics`: a histogram, in seconds.
pub const HTTP_SERVER_REQUEST_DURATION: &str = "http.server.request.duration";
/// `http_server_active_requests` on `/metrics`: an up-down counter (a non-monotonic sum).
pub const HTTP_SERVER_ACTIVE_REQUESTS: &str = "http.server.active_requests";
/// `http_client_request_duration_seconds` on `/metrics`: a histogram, in seconds.
pub const HTTP_CLIENT_REQUEST_DURATION: &str = "http.client.request.duration";

const METHOD: &str = "http.request.method";
const ROUTE: &str = "http.route";
const STATUS: &str = "http.response.status_code";
const SERVER_ADDRESS: &str = "server.address";
const ERROR_TYPE: &str = "error.type";

/// The request for `snapshots` (one per registry exported), read at `now`; metrics with no
/// series are left out.
pub(crate) fn export_request(
    resource: &Resource,
    scope: &InstrumentationScope,
    snapshots: &[HttpSnapshot],
    now: SystemTime,
) -> ExportMetricsServiceRequest {
    let now = nanos(now);
    let mut server = Vec::new();
    let mut active = Vec::new();
    let mut client = Vec::new();
    for snapshot in snapshots {
        let start = nanos(snapshot.start_time);
        server.extend(snapshot.server_requests.iter().map(|series| {
            let mut attributes = vec![string(METHOD, series.method)];
            // `http.route` only when there is one (the specification's "if available").
            if &*series.route != UNMATCHED_ROUTE {
                attributes.push(string(ROUTE, &series.route));
            }
            attributes.extend(series.status.map(|status| int(STATUS, i64::from(status))));
            histogram_point(attributes, &series.duration, start, now)
        }));
        active.extend(snapshot.active_requests.iter().map(|series| NumberDataPoint {
            attributes: vec![string(METHOD, series.method)],
            start_time_unix_nano: start,
            time_unix_nano: now,
            value: Some(number_data_point::Value::AsInt(series.in_flight)),
            ..Default::default()
        }));
        client.extend(snapshot.client_requests.iter().map(|series| {
            let mut attributes = vec![
                string(METHOD, series.method),
                string(SERVER_ADDRESS, &series.server_address),
            ];
            attributes.extend(series.status.map(|status| int(STATUS, i64::from(status))));
            attributes.extend(
                series
                    .error_type
                    .as_deref()
                    .map(|error| string(ERROR_TYPE, error)),
            );
            histogram_point(attributes, &series.duration, start, now)
        }));
    }
    let cumulative = AggregationTemporality::Cumulative as i32;
    let mut metrics = Vec::new();
    if !server.is_empty() {
        metrics.push(Metric {
            name: HTTP_SERVER_REQUEST_DURATION.to_owned(),
            description: "Duration of HTTP server requests, to the end of the response body.".to_owned(),
            unit: "s".to_owned(),
            data: Some(Data::Histogram(Histogram {
                data_points: server,
                aggregation_temporality: cumulative,
            })),
            ..Default::default()
        });
    }
    if !active.is_empty() {
        metrics.push(Metric {
            name: HTTP_SERVER_ACTIVE_REQUESTS.to_owned(),
            description: "Number of HTTP server requests in flight, response body included.".to_owned(),
            unit: "{request}".to_owned(),
            data: Some(Data::Sum(Sum {
                data_points: active,
                aggregation_temporality: cumulative,
                is_monotonic: false,
            })),
            ..Default::default()
        });
    }
    if !client.is_empty() {
        metrics.push(Metric {
            name: HTTP_CLIENT_REQUEST_DURATION.to_owned(),
            description: "Duration of outgoing HTTP requests, to the response head or the failure."
                .to_owned(),
            unit: "s".to_owned(),
            data: Some(Data::Histogram(Histogram {
                data_points: client,
                aggregation_temporality: cumulative,
            })),
            ..Default::default()
        });
    }
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource.clone()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope.clone()),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn histogram_point(
    attributes: Vec<KeyValue>,
    histogram: &HistogramSnapshot,
    start: u64,
    now: u64,
) -> HistogramDataPoint {
    HistogramDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: now,
        count: histogram.count(),
        sum: Some(histogram.sum),
        bucket_counts: histogram.counts.clone(),
        explicit_bounds: histogram.bounds.to_vec(),
        exemplars: histogram
            .exemplars
            .iter()
            .map(|sample| Exemplar {
                time_unix_nano: sample.time_unix_nanos,
                trace_id: sample.trace_id.to_vec(),
                value: Some(exemplar::Value::AsDouble(sample.value)),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use belfry_metrics::Metrics;
    use http::{Method, StatusCode};
    use std::time::Duration;

    fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
        attributes
            .iter()
            .find(|attribute| attribute.key == key)?
            .value
            .as_ref()?
            .value
            .as_ref()
    }

    #[test]
    fn client_calls_become_a_cumulative_histogram_with_semantic_convention_attributes() {
        let metrics = Metrics::new();
        let client = metrics.http_client();
        client.record(
            &Method::GET,
            "api",
            Some(StatusCode::OK),
            None,
            Duration::from_millis(3),
        );
        client.record(
            &Method::GET,
            "api",
            Some(StatusCode::OK),
            None,
            Duration::from_millis(30),
        );
        client.record(
            &Method::POST,
            "api",
            None,
            Some("timeout"),
            Duration::from_secs(5),
        );
        let request = export_request(
            &Resource::default(),
            &InstrumentationScope::default(),
            &[metrics.http_snapshot(), Metrics::new().http_snapshot()],
            SystemTime::now(),
        );
        let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
        assert_eq!(metrics.len(), 1, "no server series: only the client histogram");
        assert_eq!(
            (metrics[0].name.as_str(), metrics[0].unit.as_str()),
            (HTTP_CLIENT_REQUEST_DURATION, "s")
        );
        let Some(Data::Histogram(histogram)) = &metrics[0].data else {
            panic!("{:?}", metrics[0].data)
        };
        assert_eq!(
            histogram.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        let ok = &histogram.data_points[0];
        assert_eq!(ok.count, 2);
        assert_eq!(ok.bucket_counts.iter().sum::<u64>(), 2);
        assert_eq!(ok.bucket_counts.len(), ok.explicit_bounds.len() + 1);
        assert!((ok.sum.unwrap() - 0.033).abs() < 1e-9);
        assert!(ok.start_time_unix_nano <= ok.time_unix_nano);
        assert_eq!(
            attribute(&ok.attributes, STATUS),
            Some(&any_value::Value::IntValue(200))
        );
        assert_eq!(attribute(&ok.attributes, ERROR_TYPE), None);
        let failed = &histogram.data_points[1];
        assert_eq!(attribute(&failed.attributes, STATUS), None);
        assert_eq!(
            attribute(&failed.attributes, ERROR_TYPE),
            Some(&any_value::Value::StringValue("timeout".into()))
        );
    }

    #[test]
    fn nothing_recorded_means_no_metric() {
        let request = export_request(
            &Resource::default(),
            &InstrumentationScope::default(),
            &[Metrics::new().http_snapshot()],
            SystemTime::now(),
        );
        assert!(request.resource_metrics[0].scope_metrics[0].metrics.is_empty());
    }
}
