#!/usr/bin/env python3
"""A local stand-in for the Paystack API, for tests and the local stack.

Run:  .venv/bin/python local/paystack_standin.py --host 127.0.0.1 --port 0 \
          --secret sk_test_fantooo_local [--latency-ms 50]

Point the backend at it with PAYSTACK_BASE_URL=<endpoint>. It answers the one
Paystack call the backend makes, with Paystack's real shapes:

  GET /transaction/verify/{reference}     header Authorization: Bearer <secret>
    wrong or missing key -> 401 {"status": false, "message": "Invalid key"}
    unknown reference    -> 400 {"status": false, "message": "Transaction reference not found"}
    known reference      -> 200 {"status": true, "message": "Verification successful",
                                 "data": {"id": <int>, "status": ..., "reference": ...,
                                          "amount": <int, KES cents>, "currency": "KES",
                                          "gateway_response": ..., "paid_at": <ISO 8601 or null>,
                                          "channel": "card", "customer": {"email": ...}}}

Control endpoints (no key), for tests to set the scene and look at what happened:

  PUT    /_standin/transactions/{reference}
         <- {"status": "success|failed|abandoned|ongoing|pending|...", "amount": 50000,
             "currency": "KES", "gateway_response": "...", "email": "...", "paid_at": "..."}
         "amount" is required (integer cents); the rest is optional ("status"
         defaults to "success", "currency" to "KES", "gateway_response" to
         Paystack's usual text for the status, "paid_at" to now for a success and
         null otherwise). Setting a known reference again replaces it and keeps
         its id. -> 200 the "data" object verify will return.
  DELETE /_standin/transactions           -> 204; forgets every transaction and zeroes the call counts
  GET    /_standin/calls                  -> {"verify": {reference: n}} (every verify request,
                                             whatever its answer)
  DELETE /_standin/calls                  -> 204; zeroes the call counts
  GET    /_standin/health                 -> 200 {"status": "ok"}

--latency-ms delays every verify answer (not the control endpoints), to show
time-outs and slow paths. Logs nothing per request.

On start it prints one JSON line on stdout, {"event": "listening", "endpoint": ...};
with --port 0 the OS picks a free port and that line tells which.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VERIFY_PREFIX = "/transaction/verify/"
TRANSACTIONS = "/_standin/transactions"
MAX_BODY = 64 * 1024

# Paystack's transaction statuses; the backend handles the first five.
STATUSES = ("success", "failed", "abandoned", "ongoing", "pending",
            "processing", "queued", "reversed")
GATEWAY_RESPONSES = {
    "success": "Successful",
    "failed": "Declined",
    "abandoned": "The transaction was not completed",
    "ongoing": "Transaction in progress",
    "pending": "Transaction in progress",
    "processing": "Transaction in progress",
    "queued": "Transaction in progress",
    "reversed": "Reversed",
}


def _now_iso() -> str:
    """Paystack's format: 2024-05-01T10:00:00.000Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StandinState:
    """Transactions and call counts; shared by all server threads."""

    def __init__(self, secret: str, latency_ms: int) -> None:
        self.secret = secret
        self.latency_ms = latency_ms
        self._lock = threading.Lock()
        self._next_id = 1_000_001
        self.transactions: dict[str, dict[str, Any]] = {}
        self.verify_calls: dict[str, int] = {}

    def put(self, reference: str, body: dict[str, Any]) -> dict[str, Any]:
        """Validates a control body and stores the transaction; raises ValueError."""
        unknown = set(body) - {"status", "amount", "currency", "gateway_response", "email", "paid_at"}
        if unknown:
            raise ValueError(f"unknown keys: {sorted(unknown)}")
        status = body.get("status", "success")
        if status not in STATUSES:
            raise ValueError(f"status must be one of {list(STATUSES)}")
        amount = body.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise ValueError("amount is required: a non-negative integer (KES cents)")
        for key in ("currency", "gateway_response", "email"):
            if key in body and not isinstance(body[key], str):
                raise ValueError(f"{key} must be a string")
        paid_at = body.get("paid_at", _now_iso() if status == "success" else None)
        if paid_at is not None and not isinstance(paid_at, str):
            raise ValueError("paid_at must be a string or null")
        with self._lock:
            old = self.transactions.get(reference)
            if old is None:
                tx_id = self._next_id
                self._next_id += 1
            else:
                tx_id = old["id"]
            data = {
                "id": tx_id,
                "status": status,
                "reference": reference,
                "amount": amount,
                "currency": body.get("currency", "KES"),
                "gateway_response": body.get("gateway_response", GATEWAY_RESPONSES[status]),
                "paid_at": paid_at,
                "channel": "card",
                "customer": {"email": body.get("email", "customer@example.com")},
            }
            self.transactions[reference] = data
            return json.loads(json.dumps(data))

    def verify(self, reference: str) -> dict[str, Any] | None:
        with self._lock:
            data = self.transactions.get(reference)
            return json.loads(json.dumps(data)) if data is not None else None

    def count_verify(self, reference: str) -> None:
        with self._lock:
            self.verify_calls[reference] = self.verify_calls.get(reference, 0) + 1

    def calls(self) -> dict[str, Any]:
        with self._lock:
            return {"verify": dict(sorted(self.verify_calls.items()))}

    def clear(self, transactions: bool) -> None:
        with self._lock:
            if transactions:
                self.transactions.clear()
            self.verify_calls.clear()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like Paystack; every answer has a length
    server_version = "paystack-standin"
    state: StandinState  # set on the subclass in main()

    # ---------------------------------------------------------------- plumbing

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass  # quiet

    def _body(self) -> bytes | None:
        """Reads the whole body (keep-alive needs it drained); None when too big."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = MAX_BODY + 1  # unreadable: answer, then close the connection
        if length > MAX_BODY:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, payload: Any | None) -> None:
        body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        if status != 204:  # a 204 carries no Content-Length (RFC 9110)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _path(self) -> str:
        return urllib.parse.urlsplit(self.path).path

    # ---------------------------------------------------------------- routes

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        if self._body() is None:
            return self._send(413, {"status": False, "message": "Body too large"})
        path = self._path()
        if path.startswith(VERIFY_PREFIX) and len(path) > len(VERIFY_PREFIX):
            return self._verify(urllib.parse.unquote(path[len(VERIFY_PREFIX):]))
        if path == "/_standin/calls":
            return self._send(200, self.state.calls())
        if path == "/_standin/health":
            return self._send(200, {"status": "ok"})
        return self._not_found(path)

    def do_PUT(self) -> None:  # noqa: N802
        raw = self._body()
        if raw is None:
            return self._send(413, {"status": False, "message": "Body too large"})
        path = self._path()
        prefix = TRANSACTIONS + "/"
        if not (path.startswith(prefix) and len(path) > len(prefix)):
            return self._not_found(path)
        reference = urllib.parse.unquote(path[len(prefix):])
        try:
            body = json.loads(raw or b"null")
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            data = self.state.put(reference, body)
        except ValueError as err:  # json.JSONDecodeError is a ValueError
            return self._send(400, {"status": False, "message": str(err)})
        return self._send(200, data)

    def do_DELETE(self) -> None:  # noqa: N802
        if self._body() is None:
            return self._send(413, {"status": False, "message": "Body too large"})
        path = self._path()
        if path == TRANSACTIONS:
            self.state.clear(transactions=True)
            return self._send(204, None)
        if path == "/_standin/calls":
            self.state.clear(transactions=False)
            return self._send(204, None)
        return self._not_found(path)

    def do_POST(self) -> None:  # noqa: N802
        if self._body() is None:
            return self._send(413, {"status": False, "message": "Body too large"})
        return self._not_found(self._path())

    def _not_found(self, path: str) -> None:
        self._send(404, {"status": False, "message": f"No route {self.command} {path}"})

    def _verify(self, reference: str) -> None:
        self.state.count_verify(reference)
        if self.state.latency_ms > 0:
            time.sleep(self.state.latency_ms / 1000)
        if self.headers.get("Authorization", "") != f"Bearer {self.state.secret}":
            return self._send(401, {"status": False, "message": "Invalid key"})
        data = self.state.verify(reference)
        if data is None:
            return self._send(400, {"status": False, "message": "Transaction reference not found"})
        return self._send(200, {"status": True, "message": "Verification successful", "data": data})


class Server(ThreadingHTTPServer):
    daemon_threads = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4610, help="0 picks a free port")
    parser.add_argument("--secret", default=os.environ.get("PAYSTACK_SECRET_KEY", "sk_test_fantooo_local"),
                        help="the secret key verify accepts as Bearer token "
                             "(default $PAYSTACK_SECRET_KEY or sk_test_fantooo_local)")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay of every verify answer")
    args = parser.parse_args(argv)
    if args.latency_ms < 0:
        parser.error("--latency-ms must be >= 0")
    if not args.secret:
        parser.error("--secret must not be empty")

    handler = type("BoundHandler", (Handler,), {"state": StandinState(args.secret, args.latency_ms)})
    server = Server((args.host, args.port), handler)
    port = server.server_address[1]

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    print(json.dumps({"event": "listening", "endpoint": f"http://{args.host}:{port}"}), flush=True)
    try:
        server.serve_forever()
    except SystemExit:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
