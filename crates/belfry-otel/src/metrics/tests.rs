use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use belfry_metrics::Metrics;
use http::{Method, StatusCode};
use opentelemetry_proto::tonic::{
    collector::metrics::v1::ExportMetricsServiceRequest, metrics::v1::metric::Data,
};
use prost::Message;

use super::failed_metric_exports;
use crate::{OtelSettings, SignalSettings};

type Received = Arc<Mutex<Vec<ExportMetricsServiceRequest>>>;

/// A loopback collector answering `status` to every POST, decoding what it gets; serves a
/// few connections (keep-alive), then stops accepting.
fn collector(status: u16) -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}/v1/metrics", listener.local_addr().unwrap());
    let received = Received::default();
    let record = Arc::clone(&received);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            loop {
                let mut length = 0;
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap();
                        }
                    }
                }
                if line != "\r\n" {
                    break; // connection closed
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                record
                    .lock()
                    .unwrap()
                    .push(ExportMetricsServiceRequest::decode(&body[..]).unwrap());
                let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                stream.write_all(answer.as_bytes()).unwrap();
            }
        }
    });
    (endpoint, received)
}

/// The count of the one `http.client.request.duration` point of `request`, if any.
fn client_count(request: &ExportMetricsServiceRequest) -> Option<u64> {
    let metric = request.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .find(|metric| metric.name == super::HTTP_CLIENT_REQUEST_DURATION)?;
    match &metric.data {
        Some(Data::Histogram(histogram)) => Some(histogram.data_points[0].count),
        _ => None,
    }
}

fn record_call(metrics: &Metrics) {
    metrics.http_client().record(
        &Method::GET,
        "api",
        Some(StatusCode::OK),
        None,
        Duration::from_millis(2),
    );
}

#[test]
fn metrics_are_pushed_every_interval_and_once_more_at_shutdown() {
    let (endpoint, received) = collector(200);
    let metrics = Metrics::new();
    let otel = OtelSettings::new()
        .service_name("metrics-test")
        .metrics(SignalSettings::new(endpoint))
        .export_metrics_every(Duration::from_millis(50))
        .start()
        .unwrap()
        .unwrap();
    let exporter = otel.metrics.clone().unwrap();
    exporter.export(&metrics);
    exporter.export(&metrics.clone()); // the same registry: exported once
    record_call(&metrics);
    record_call(&metrics);

    let deadline = Instant::now() + Duration::from_secs(10);
    while !received
        .lock()
        .unwrap()
        .iter()
        .any(|r| client_count(r) == Some(2))
    {
        assert!(Instant::now() < deadline, "no periodic export");
        std::thread::sleep(Duration::from_millis(20));
    }
    {
        let received = received.lock().unwrap();
        let request = &received[0];
        let resource = request.resource_metrics[0].resource.as_ref().unwrap();
        assert!(resource.attributes.iter().any(|kv| kv.key == "service.name"));
        assert_eq!(
            request.resource_metrics[0].scope_metrics[0]
                .scope
                .as_ref()
                .unwrap()
                .name,
            "belfry"
        );
        let points = &request.resource_metrics[0].scope_metrics[0].metrics;
        assert_eq!(points.len(), 1, "one registry, one client series");
    }

    record_call(&metrics);
    let started = Instant::now();
    drop(otel.guard);
    assert!(started.elapsed() < Duration::from_secs(5));
    let last = received.lock().unwrap().last().and_then(client_count);
    assert_eq!(last, Some(3), "the flush at shutdown sends the latest values");
}

#[test]
fn a_collector_answering_an_error_is_counted_as_rejected() {
    let (endpoint, received) = collector(503);
    let metrics = Metrics::new();
    record_call(&metrics);
    let before = failed_metric_exports().rejected;
    let otel = OtelSettings::new()
        .metrics(SignalSettings::new(endpoint))
        .start()
        .unwrap()
        .unwrap();
    otel.metrics.as_ref().unwrap().export(&metrics);
    drop(otel.guard); // the one export, at shutdown
    assert_eq!(received.lock().unwrap().len(), 1);
    assert!(failed_metric_exports().rejected > before);
}

#[test]
fn nothing_recorded_sends_nothing() {
    let (endpoint, received) = collector(200);
    let otel = OtelSettings::new()
        .metrics(SignalSettings::new(endpoint))
        .start()
        .unwrap()
        .unwrap();
    otel.metrics.as_ref().unwrap().export(&Metrics::new());
    drop(otel.guard);
    assert!(received.lock().unwrap().is_empty());
}
