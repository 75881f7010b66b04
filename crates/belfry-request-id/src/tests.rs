use std::convert::Infallible;

use http::{Request, Response};
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};

use crate::{RequestId, RequestIdLayer};

fn echo_service(
    layer: RequestIdLayer,
) -> impl Service<Request<()>, Response = Response<String>, Error = Infallible> + Clone {
    ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(|request: Request<()>| async move {
            let id = request
                .extensions()
                .get::<RequestId>()
                .expect("id in extensions")
                .clone();
            tracing::info!("handler ran");
            Ok::<_, Infallible>(Response::new(id.to_string()))
        }))
}

async fn response_id(layer: RequestIdLayer, ids: &[&[u8]]) -> (String, String) {
    let mut request = Request::get("/");
    for id in ids {
        request = request.header("x-request-id", http::HeaderValue::from_bytes(id).unwrap());
    }
    let response = echo_service(layer)
        .oneshot(request.body(()).unwrap())
        .await
        .unwrap();
    let header = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    (header, response.into_body())
}

fn assert_generated(id: &str) {
    let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|_| panic!("{id:?} is not a UUID"));
    assert_eq!(uuid.get_version_num(), 7);
}

#[tokio::test]
async fn valid_incoming_id_is_echoed_and_seen_by_the_handler() {
    let (header, seen) = response_id(RequestIdLayer::new(), &[b"trace:abc/1@x"]).await;
    assert_eq!(header, "trace:abc/1@x");
    assert_eq!(seen, header);
}

#[tokio::test]
async fn missing_id_is_generated() {
    let (header, seen) = response_id(RequestIdLayer::new(), &[]).await;
    assert_generated(&header);
    assert_eq!(seen, header);
}

#[tokio::test]
async fn invalid_incoming_ids_are_replaced() {
    let too_long = [b'a'; 129];
    let cases: [&[u8]; 8] = [
        b"",
        b"has space",
        b"\"quoted\"",
        b"tab\there",
        &too_long,
        b"caf\xc3\xa9",
        b"semi;colon",
        b"<script>",
    ];
    for case in cases {
        let (header, seen) = response_id(RequestIdLayer::new(), &[case]).await;
        assert_generated(&header);
        assert_eq!(seen, header);
    }
}

#[tokio::test]
async fn duplicate_headers_are_replaced() {
    let (header, _) = response_id(RequestIdLayer::new(), &[b"one", b"two"]).await;
    assert_generated(&header);
}

#[tokio::test]
async fn untrusted_incoming_ids_are_replaced() {
    let (header, _) = response_id(RequestIdLayer::new().trust_incoming(false), &[b"client-chosen"]).await;
    assert_generated(&header);
}

#[tokio::test]
async fn custom_header_name() {
    let layer = RequestIdLayer::new().header_name(http::HeaderName::from_static("x-correlation-id"));
    let request = Request::get("/")
        .header("x-correlation-id", "corr-1")
        .body(())
        .unwrap();
    let response = echo_service(layer).oneshot(request).await.unwrap();
    assert_eq!(response.headers()["x-correlation-id"], "corr-1");
    assert!(response.headers().get("x-request-id").is_none());
}

#[tokio::test]
async fn a_response_header_set_by_the_handler_is_kept() {
    let service = ServiceBuilder::new()
        .layer(RequestIdLayer::new())
        .service(service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(
                Response::builder()
                    .header("x-request-id", "upstream")
                    .body(())
                    .unwrap(),
            )
        }));
    let response = service.oneshot(Request::new(())).await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "upstream");
}

#[tokio::test]
async fn an_invalid_id_from_a_custom_generator_is_replaced_and_a_valid_one_kept() {
    #[derive(Clone)]
    struct Fixed(&'static str);

    impl tower_http::request_id::MakeRequestId for Fixed {
        fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<tower_http::request_id::RequestId> {
            Some(tower_http::request_id::RequestId::new(
                http::HeaderValue::from_static(self.0),
            ))
        }
    }

    for (generated, valid) in [("job-7", true), ("has space", false)] {
        let service = ServiceBuilder::new()
            .layer(RequestIdLayer::new().make_request_id(Fixed(generated)))
            .service(service_fn(|_: Request<()>| async {
                Ok::<_, Infallible>(Response::new(()))
            }));
        let response = service.oneshot(Request::new(())).await.unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap();
        if valid {
            assert_eq!(id, generated);
        } else {
            assert_generated(id);
        }
    }
}
