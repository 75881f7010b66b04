"""Calls a URL as a service instrumented with the official OpenTelemetry SDK would.

Usage: otel_client.py URL [TRACESTATE]

Starts a span with the SDK's tracer, injects its context with the SDK's W3C propagator
(`traceparent`, and `tracestate` when given) and sends a GET. Prints one JSON object:
the client's trace id and span id (lowercase hex), the headers sent, and the response
status, headers and body.
"""

import json
import sys
import urllib.error
import urllib.request

from opentelemetry import context, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator


def main() -> None:
    url = sys.argv[1]
    trace_state = sys.argv[2] if len(sys.argv) > 2 else None
    provider = TracerProvider(sampler=ALWAYS_ON)
    tracer = provider.get_tracer("belfry-e2e-client")
    parent = context.get_current()
    if trace_state:
        # A remote parent carrying the tracestate, as if this client continued a trace itself.
        root = tracer.start_span("root")
        root_context = root.get_span_context()
        remote = SpanContext(
            trace_id=root_context.trace_id,
            span_id=root_context.span_id,
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
            trace_state=TraceState.from_header([trace_state]),
        )
        parent = trace.set_span_in_context(NonRecordingSpan(remote))
    with tracer.start_as_current_span("call demo", context=parent) as span:
        headers: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(headers)
        span_context = span.get_span_context()
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, body, response_headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, body, response_headers = error.code, error.read(), error.headers
    print(
        json.dumps(
            {
                "trace_id": format(span_context.trace_id, "032x"),
                "span_id": format(span_context.span_id, "016x"),
                "sent": headers,
                "status": status,
                "headers": {name.lower(): value for name, value in response_headers.items()},
                "body": body.decode("utf-8", "replace"),
            }
        )
    )


if __name__ == "__main__":
    main()
