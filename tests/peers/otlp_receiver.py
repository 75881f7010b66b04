"""An OTLP/HTTP receiver for the end-to-end tests, decoding with the official protocol
definitions (the opentelemetry-proto package): POST /v1/traces, /v1/logs, /v1/metrics with a
protobuf body (gzip accepted) is parsed as ExportTraceServiceRequest, ExportLogsServiceRequest or
ExportMetricsServiceRequest and written as one JSON line,
{"signal": "traces", "request": <MessageToDict of the request>}, to the output file. Ids
(traceId, spanId, parentSpanId), which MessageToDict gives as base64, are written as lowercase
hex, as in traceparent and belfry's logs.

Usage: otlp_receiver.py OUTPUT_FILE [MODE]
  MODE  normal (default): answer 200 with an empty Export*ServiceResponse
        503: read the request, answer 503 Service Unavailable, record nothing
        blackhole: accept connections, never read nor answer

Listens on 127.0.0.1, port 0; prints {"port": N} on stdout once it listens. Runs until killed.
"""

import base64
import gzip
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

SIGNALS = {
    "/v1/traces": ("traces", ExportTraceServiceRequest, ExportTraceServiceResponse),
    "/v1/logs": ("logs", ExportLogsServiceRequest, ExportLogsServiceResponse),
    "/v1/metrics": ("metrics", ExportMetricsServiceRequest, ExportMetricsServiceResponse),
}

ID_KEYS = ("traceId", "spanId", "parentSpanId")


def hex_ids(value):
    """The decoded request with its id fields as hex."""
    if isinstance(value, dict):
        return {
            key: base64.b64decode(item).hex() if key in ID_KEYS and isinstance(item, str) else hex_ids(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [hex_ids(item) for item in value]
    return value


output_path = sys.argv[1]
mode = sys.argv[2] if len(sys.argv) > 2 else "normal"
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        if mode == "503":
            self.answer(503, b"", "text/plain")
            return
        signal = SIGNALS.get(self.path)
        if signal is None:
            self.answer(404, b"", "text/plain")
            return
        name, request_type, response_type = signal
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        request = request_type()
        request.ParseFromString(body)
        line = json.dumps({"signal": name, "request": hex_ids(MessageToDict(request))})
        with lock, open(output_path, "a") as output:
            output.write(line + "\n")
        self.answer(200, response_type().SerializeToString(), "application/x-protobuf")

    def answer(self, status, body, content_type):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def blackhole():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    print(json.dumps({"port": listener.getsockname()[1]}), flush=True)
    held = []
    while True:
        connection, _ = listener.accept()
        held.append(connection)  # never read, never answered, never closed


if mode == "blackhole":
    blackhole()
else:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    server.serve_forever()
