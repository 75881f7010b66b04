//! The access log's events, recorded by a global subscriber (tracing's callsite cache is
//! process-wide, so a thread-local one would race with the other tests). Each test uses its own
//! paths and reads only its own events.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Mutex, OnceLock},
    time::Duration,
};

use axum::{body::Body, extract::ConnectInfo, http::StatusCode, routing::get, Router};
use belfry_access_log::{AccessLogLayer, TrustedProxy};
use http::Request;
use http_body_util::BodyExt;
use tower::ServiceExt;
use tracing_subscriber::{layer::SubscriberExt, Layer};

#[derive(Clone, Debug)]
struct Recorded {
    level: tracing::Level,
    message: String,
    fields: BTreeMap<String, String>,
}

impl Recorded {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

struct Recorder;

struct FieldsVisitor<'a>(&'a mut BTreeMap<String, String>);

impl tracing::field::Visit for FieldsVisitor<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

fn events() -> &'static Mutex<Vec<Recorded>> {
    static EVENTS: OnceLock<Mutex<Vec<Recorded>>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(Recorder);
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        Mutex::new(Vec::new())
    })
}

impl<S: tracing::Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut FieldsVisitor(&mut fields));
        let message = fields.remove("message").unwrap_or_default();
        events().lock().unwrap().push(Recorded {
            level: *event.metadata().level(),
            message,
            fields,
        });
    }
}

/// The events whose `url.path` is `path`.
fn events_for(path: &str) -> Vec<Recorded> {
    events()
        .lock()
        .unwrap()
        .iter()
        .filter(|event| event.field("url.path") == Some(path))
        .cloned()
        .collect()
}

fn completed_for(path: &str) -> Recorded {
    let completed: Vec<_> = events_for(path)
        .into_iter()
        .filter(|event| event.message == "request completed")
        .collect();
    assert_eq!(
        completed.len(),
        1,
        "one `request completed` for {path}: {completed:?}"
    );
    completed.into_iter().next().unwrap()
}

fn app(layer: AccessLogLayer) -> Router {
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route(
            "/fail",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }),
        )
        .route(
            "/sleep/{ms}",
            get(|axum::extract::Path(ms): axum::extract::Path<u64>| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                "slept"
            }),
        )
        .route("/health/live", get(|| async { "ok" }))
        .route(
            "/health/ready",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "draining") }),
        )
        .layer(layer)
}

async fn send(app: Router, request: Request<Body>) -> http::Response<Body> {
    let response = app.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    http::Response::from_parts(parts, Body::from(bytes))
}

fn get_request(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn matched_route_is_logged_with_its_template() {
    events();
    let mut request = Request::get("/users/7?page=2")
        .header("user-agent", "curl/8.0")
        .body(Body::empty())
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([203, 0, 113, 9], 4000))));
    let response = send(app(AccessLogLayer::new()), request).await;
    assert_eq!(response.status(), 200);

    let event = completed_for("/users/7");
    assert_eq!(event.level, tracing::Level::INFO);
    assert_eq!(event.field("http.route"), Some("/users/{id}"));
    assert_eq!(event.field("http.request.method"), Some("GET"));
    assert_eq!(event.field("url.query"), Some("page=2"));
    assert_eq!(event.field("http.response.status_code"), Some("200"));
    assert_eq!(event.field("user_agent.original"), Some("curl/8.0"));
    assert_eq!(event.field("client.address"), Some("203.0.113.9"));
    assert_eq!(event.field("client.disconnected"), None);
    let duration: f64 = event.field("duration_ms").unwrap().parse().unwrap();
    assert!(
        duration > 0.0 && duration < 10_000.0,
        "measured, in milliseconds: {duration}"
    );
    assert_eq!(event.field("http.response.body.size"), Some("4"));
    assert_eq!(event.field("error.type"), None);
}

#[tokio::test]
async fn head_is_complete_without_a_body() {
    events();
    // axum answers HEAD on a GET route with the body dropped unpolled, as hyper does.
    let request = Request::head("/users/1101").body(Body::empty()).unwrap();
    let response = app(AccessLogLayer::new()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    drop(response);
    let event = completed_for("/users/1101");
    assert_eq!(event.field("http.request.method"), Some("HEAD"));
    assert_eq!(event.field("http.response.status_code"), Some("200"));
    assert_eq!(event.field("client.disconnected"), None);
    assert_eq!(event.field("error.type"), None);
}

#[tokio::test]
async fn unmatched_path_has_no_route() {
    events();
    let response = send(app(AccessLogLayer::new()), get_request("/no/such/path-1")).await;
    assert_eq!(response.status(), 404);
    let event = completed_for("/no/such/path-1");
    assert_eq!(event.field("http.route"), None);
    assert_eq!(event.field("http.response.status_code"), Some("404"));
}

#[tokio::test]
async fn query_secrets_are_scrubbed() {
    events();
    send(
        app(AccessLogLayer::new()),
        get_request("/users/8?access_token=s3cr3t&page=2"),
    )
    .await;
    let event = completed_for("/users/8");
    let query = event.field("url.query").unwrap();
    assert!(!query.contains("s3cr3t"), "{query}");
    assert_eq!(query, "access_token=[REDACTED]&page=2");
}

#[tokio::test]
async fn levels_follow_status_and_duration() {
    events();
    send(app(AccessLogLayer::new()), get_request("/fail")).await;
    assert_eq!(completed_for("/fail").level, tracing::Level::ERROR);

    let layer = AccessLogLayer::new().slow_threshold(Duration::from_millis(30));
    send(app(layer.clone()), get_request("/sleep/60")).await;
    let slow = completed_for("/sleep/60");
    assert_eq!(slow.level, tracing::Level::WARN);
    assert!(slow.field("duration_ms").unwrap().parse::<f64>().unwrap() >= 60.0);

    let layer = layer.slow_threshold_for_route("/sleep/{ms}", Duration::from_secs(10));
    send(app(layer), get_request("/sleep/61")).await;
    assert_eq!(
        completed_for("/sleep/61").level,
        tracing::Level::INFO,
        "the route's own threshold"
    );

    send(app(AccessLogLayer::new()), get_request("/health/live")).await;
    assert_eq!(
        completed_for("/health/live").level,
        tracing::Level::INFO,
        "no route is quiet unless told"
    );
    let quiet = AccessLogLayer::new().quiet_routes(["/health/live", "/health/ready"]);
    send(app(quiet.clone()), get_request("/health/live")).await;
    send(app(quiet), get_request("/health/ready")).await;
    let last = |path| events_for(path).last().expect("logged").level;
    assert_eq!(last("/health/live"), tracing::Level::DEBUG, "probes are quiet");
    assert_eq!(
        last("/health/ready"),
        tracing::Level::WARN,
        "a quiet route's 5xx is a state, not a failure"
    );
}

#[tokio::test]
async fn hung_requests_are_reported_while_running() {
    events();
    let layer = AccessLogLayer::new().hung_threshold(Some(Duration::from_millis(40)));
    send(app(layer), get_request("/sleep/400")).await;
    let events = events_for("/sleep/400");
    let messages: Vec<_> = events.iter().map(|event| event.message.as_str()).collect();
    assert_eq!(
        messages,
        ["request still running", "request completed"],
        "{events:?}"
    );
    let hung = &events[0];
    assert_eq!(hung.level, tracing::Level::WARN);
    assert_eq!(hung.field("http.route"), Some("/sleep/{ms}"));
    let elapsed: f64 = hung.field("elapsed_ms").unwrap().parse().unwrap();
    assert!(
        (40.0..400.0).contains(&elapsed),
        "reported while running: {elapsed}"
    );
}

#[tokio::test]
async fn a_client_that_leaves_is_logged() {
    events();
    let request = get_request("/sleep/5000");
    let future = app(AccessLogLayer::new()).oneshot(request);
    // The client goes away after 20 ms: the response future is dropped.
    assert!(tokio::time::timeout(Duration::from_millis(20), future)
        .await
        .is_err());
    // Nothing said the connection went: cancelled, not disconnected.
    let event = completed_for("/sleep/5000");
    assert_eq!(event.field("error.type"), Some("cancelled"));
    assert_eq!(event.field("client.disconnected"), None);
    assert_eq!(event.field("http.response.status_code"), None);

    // A server that saw the connection go says so (belfry's `serve` does).
    let mut request = get_request("/users/9");
    let connection = belfry_access_log::ConnectionStatus::new();
    request.extensions_mut().insert(connection.clone());
    let response = app(AccessLogLayer::new()).oneshot(request).await.unwrap();
    connection.mark_closed();
    drop(response);
    let event = completed_for("/users/9");
    assert_eq!(event.field("error.type"), Some("cancelled"));
    assert_eq!(event.field("client.disconnected"), Some("true"));
    assert_eq!(event.field("http.response.status_code"), Some("200"));
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    events();
    let request = |path: &str| {
        let mut request = Request::get(path)
            .header("x-forwarded-for", "198.51.100.7")
            .body(Body::empty())
            .unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 2], 4000))));
        request
    };
    send(app(AccessLogLayer::new()), request("/users/10")).await;
    assert_eq!(
        completed_for("/users/10").field("client.address"),
        Some("10.0.0.2")
    );

    let trusted: TrustedProxy = "10.0.0.0/8".parse().unwrap();
    send(
        app(AccessLogLayer::new().trusted_proxies([trusted])),
        request("/users/11"),
    )
    .await;
    assert_eq!(
        completed_for("/users/11").field("client.address"),
        Some("198.51.100.7")
    );
}

#[tokio::test]
async fn server_timing_header_is_opt_in() {
    events();
    let response = send(app(AccessLogLayer::new()), get_request("/users/12")).await;
    assert!(response.headers().get("server-timing").is_none());
    let response = send(
        app(AccessLogLayer::new().server_timing(true)),
        get_request("/users/13"),
    )
    .await;
    let value = response.headers()["server-timing"].to_str().unwrap();
    assert!(value.starts_with("app;dur="), "{value}");
}

#[tokio::test]
async fn applied_around_the_router_it_says_so_once() {
    events();
    // The mistake: the layer around the router, where no route has matched yet.
    let router = Router::new().route("/orders/{id}", get(|| async { "order" }));
    let misapplied = tower::ServiceBuilder::new()
        .layer(AccessLogLayer::new())
        .service(router);
    for id in [1, 2] {
        let response = misapplied
            .clone()
            .oneshot(get_request(&format!("/orders/{id}")))
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    }
    assert_eq!(completed_for("/orders/1").field("http.route"), None);
    let warnings: Vec<_> = events()
        .lock()
        .unwrap()
        .iter()
        .filter(|event| event.message.contains("without a route template"))
        .cloned()
        .collect();
    assert_eq!(warnings.len(), 1, "said once: {warnings:?}");
    assert_eq!(warnings[0].level, tracing::Level::WARN);
}
