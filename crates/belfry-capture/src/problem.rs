//! The `500 Internal Server Error` answered for a panic: an RFC 9457 problem document.

use belfry_request_id::RequestId;
use belfry_trace_context::TraceContext;
use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

/// The content type of the problem document.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// Marks a response whose failure this crate already reported, so that a second capture layer
/// further out does not report it again.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AlreadyReported;

/// `{"type":"about:blank","title":"Internal Server Error","status":500,"request_id":"…","trace_id":"…"}`,
/// with `request_id` and `trace_id` only when the request has them: what a caller quotes to find
/// the request's log lines and its trace. Never anything of the panic.
pub(crate) fn problem_response<B: From<Bytes>>(
    request_id: Option<&RequestId>,
    trace: Option<&TraceContext>,
) -> Response<B> {
    let mut body = String::with_capacity(128);
    body.push_str(r#"{"type":"about:blank","title":"Internal Server Error","status":500"#);
    if let Some(id) = request_id {
        body.push_str(r#","request_id":"#);
        // Request ids are validated to a JSON-safe alphabet; escape anyway.
        body.push_str(&serde_json::Value::from(id.as_str()).to_string());
    }
    if let Some(trace) = trace {
        // Lowercase hex: nothing to escape.
        body.push_str(r#","trace_id":""#);
        body.push_str(trace.trace_id().to_hex().as_str());
        body.push('"');
    }
    body.push('}');
    let mut response = Response::new(B::from(Bytes::from(body)));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_with_and_without_request_id() {
        let id = RequestId::from_incoming(b"req-1").unwrap();
        let response: Response<Bytes> = problem_response(Some(&id), None);
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(
            response.body(),
            r#"{"type":"about:blank","title":"Internal Server Error","status":500,"request_id":"req-1"}"#
        );
        let response: Response<Bytes> = problem_response(None, None);
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"type": "about:blank", "title": "Internal Server Error", "status": 500})
        );
    }

    #[test]
    fn body_with_trace_id() {
        let trace = TraceContext::new_root(false);
        let response: Response<Bytes> = problem_response(None, Some(&trace));
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["trace_id"], trace.trace_id().to_string());
        assert_eq!(body["trace_id"].as_str().unwrap().len(), 32);
    }
}
