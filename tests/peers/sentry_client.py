"""Calls a URL as a service instrumented with the official Sentry SDK would.

Usage: sentry_client.py URL

Starts a transaction with the SDK (no DSN: nothing is sent anywhere) and sends a GET with
urllib inside it: the SDK's own `http.client` integration adds its propagation headers
(`sentry-trace`, `baggage`), as in any service using the SDK. Prints one JSON object: the trace
id, the headers the SDK would propagate, and the response status and body.
"""

import json
import sys
import urllib.error
import urllib.request

import sentry_sdk


def main() -> None:
    url = sys.argv[1]
    sentry_sdk.init(dsn=None, traces_sample_rate=1.0)
    with sentry_sdk.start_transaction(name="call demo", op="http.client") as transaction:
        headers = dict(sentry_sdk.get_current_scope().iter_trace_propagation_headers())
        request = urllib.request.Request(url)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        trace_id = transaction.trace_id
    print(json.dumps({"trace_id": trace_id, "sent": headers, "status": status, "body": body.decode("utf-8", "replace")}))


if __name__ == "__main__":
    main()
