#!/usr/bin/env python3
"""Local AWS emulator for Fantooo: moto's server, made faithful enough for race tests.

Run:  .venv/bin/python local/emulator.py --host 127.0.0.1 --port 4599

One port serves DynamoDB, SQS, SSM and EventBridge (moto routes by the request's
signing service). Around moto's WSGI app sits a middleware that:

* serialises every request whose ``X-Amz-Target`` starts with ``DynamoDB`` under
  one global lock, because stock moto is not atomic (concurrent conditional
  writes can both succeed). SQS and everything else never take the lock (long
  polls would block DynamoDB). ``--interleave`` / ``FANTOOO_EMULATOR_INTERLEAVE=1``
  turns the lock off, to show that race tests fail on a non-atomic emulator;
* injects faults into ``DynamoDB_20120810.TransactWriteItems``: a
  ``TransactionCanceledException`` with a ``TransactionConflict`` reason (the
  write is not applied) at ``conflict_rate``, a ``ThrottlingException`` at
  ``throttle_rate``;
* injects faults into EventBridge ``AWSEvents.PutEvents``: at ``events_fail_rate``
  the call answers HTTP 500 ``InternalException`` and delivers nothing (so the
  outbox's "a send may fail" path runs in tests);
* counts requests per ``X-Amz-Target``;
* bills every DynamoDB request as DynamoDB would (``local/meter.py`` over
  ``local/capacity.py``): write units from the item before and after, doubled in
  a transaction, plus each index the item is projected into; read units from
  the items read. Each answer carries ``x-fantooo-consumed: {"wru", "rru", ...}``
  and ``GET /_fantooo/capacity`` sums them per operation.

Control endpoints (plain HTTP, no signing):

  GET  /_fantooo/health          -> 200 "ok"
  GET  /_fantooo/faults          -> {"conflict_rate", "throttle_rate", "events_fail_rate",
                                     "injected_conflicts", "injected_throttles",
                                     "injected_event_failures", "transact_calls",
                                     "interleave", "calls": {target: n}}
  POST /_fantooo/faults          <- {"conflict_rate": 0.1, "throttle_rate": 0.02,
                                     "transact_answer_delay_ms": 2500 (commit, then answer late),
                                     "events_fail_rate": 0.5}
                                    (every key optional; "interleave": bool also accepted)
  GET  /_fantooo/capacity        -> {"by_operation": {op: {"calls", "wru", "wru_table",
                                     "wru_index": {index: n}, "rru"}}, "recent": [...]}
  POST /_fantooo/reset-counters  -> zeroes the counters and the capacity report (rates stay)

Environment: FANTOOO_FAULT_CONFLICT_RATE, FANTOOO_FAULT_THROTTLE_RATE,
FANTOOO_FAULT_EVENTS_FAIL_RATE (default 0),
FANTOOO_EMULATOR_INTERLEAVE=1, FANTOOO_EMULATOR_SEED (for reproducible injection),
FANTOOO_EMULATOR_VERBOSE=1 (log every request, like stock moto),
FANTOOO_EMULATOR_FULL_COPY=1 (moto's own transaction rollback; see
install_item_level_rollback).

On start it prints one JSON line on stdout, {"event": "listening", "endpoint": ...};
with --port 0 the OS picks a free port and that line tells which.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import random
import signal
import sys
import threading
import time
import uuid
from typing import Any, Callable, Iterable

DYNAMODB_PREFIX = "DynamoDB"
TRANSACT_WRITE = "DynamoDB_20120810.TransactWriteItems"
PUT_EVENTS_PREFIX = "AWSEvents.PutEvents"
AMZ_JSON_1_1 = "application/x-amz-json-1.1"
CONTROL_PREFIX = "/_fantooo/"
AMZ_JSON = "application/x-amz-json-1.0"


# Latency samples kept per operation between counter resets (memory stays bounded).
LATENCY_SAMPLES = 100_000


def _percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99 of per-call latencies in ms (nearest rank), and how many calls."""
    ordered = sorted(samples)
    if not ordered:
        return {"n": 0}
    pick = lambda p: round(ordered[round((len(ordered) - 1) * p)], 2)  # noqa: E731
    return {"n": len(ordered), "p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99)}


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _env_rate(name: str) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return 0.0
    return _check_rate(name, float(raw))


def _check_rate(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number in [0, 1]")
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


class FaultState:
    """Rates, counters and the DynamoDB lock; shared by all server threads."""

    def __init__(self, conflict_rate: float, throttle_rate: float, interleave: bool,
                 seed: int | None, events_fail_rate: float = 0.0) -> None:
        self.conflict_rate = conflict_rate
        self.throttle_rate = throttle_rate
        self.events_fail_rate = events_fail_rate
        self.interleave = interleave
        # Commits a TransactWriteItems, then holds its answer this long: a write
        # that committed although the client timed out (outage tests).
        self.transact_answer_delay_ms = 0
        self.dynamodb_lock = threading.Lock()
        self._mutex = threading.Lock()  # guards counters, rates and the RNG
        self._rng = random.Random(seed)
        self.reset_counters()

    def reset_counters(self) -> None:
        with getattr(self, "_mutex", threading.Lock()):
            self.injected_conflicts = 0
            self.injected_throttles = 0
            self.injected_event_failures = 0
            self.transact_calls = 0
            self.calls: dict[str, int] = {}
            self.busy_ms: dict[str, float] = {}
            self.lock_wait_ms = 0.0
            # Per-call latency inside the emulator (lock wait + moto), for percentiles.
            self.latency_ms: dict[str, list[float]] = {}

    def record_time(self, target: str, wait_s: float, busy_s: float) -> None:
        """Time a DynamoDB call waited for the lock and then spent inside moto."""
        with self._mutex:
            self.busy_ms[target] = self.busy_ms.get(target, 0.0) + busy_s * 1000.0
            self.lock_wait_ms += wait_s * 1000.0
            samples = self.latency_ms.setdefault(target, [])
            if len(samples) < LATENCY_SAMPLES:
                samples.append((wait_s + busy_s) * 1000.0)

    def count_call(self, target: str) -> None:
        with self._mutex:
            self.calls[target] = self.calls.get(target, 0) + 1

    def draw_transact_fault(self, n_items: int) -> tuple[str | None, int]:
        """Counts a TransactWriteItems call and decides its fate.

        Returns ("conflict", index) / ("throttle", -1) / (None, -1).
        """
        with self._mutex:
            self.transact_calls += 1
            roll = self._rng.random()
            if roll < self.conflict_rate:
                self.injected_conflicts += 1
                return "conflict", self._rng.randrange(max(n_items, 1))
            if roll < self.conflict_rate + self.throttle_rate:
                self.injected_throttles += 1
                return "throttle", -1
            return None, -1

    def draw_events_fault(self) -> bool:
        """True when this PutEvents call is to fail (and is counted as injected)."""
        with self._mutex:
            if self.events_fail_rate > 0.0 and self._rng.random() < self.events_fail_rate:
                self.injected_event_failures += 1
                return True
            return False

    def snapshot(self) -> dict[str, Any]:
        with self._mutex:
            return {
                "conflict_rate": self.conflict_rate,
                "throttle_rate": self.throttle_rate,
                "events_fail_rate": self.events_fail_rate,
                "injected_conflicts": self.injected_conflicts,
                "injected_throttles": self.injected_throttles,
                "injected_event_failures": self.injected_event_failures,
                "transact_calls": self.transact_calls,
                "interleave": self.interleave,
                "transact_answer_delay_ms": self.transact_answer_delay_ms,
                "calls": dict(sorted(self.calls.items())),
                "busy_ms": {k: round(v, 1) for k, v in sorted(self.busy_ms.items())},
                "lock_wait_ms": round(self.lock_wait_ms, 1),
                "latency_ms": {k: _percentiles(v) for k, v in sorted(self.latency_ms.items())},
            }

    def update(self, body: dict[str, Any]) -> None:
        conflict = self.conflict_rate
        throttle = self.throttle_rate
        interleave = self.interleave
        events_fail = self.events_fail_rate
        if "events_fail_rate" in body:
            events_fail = _check_rate("events_fail_rate", body["events_fail_rate"])
        if "conflict_rate" in body:
            conflict = _check_rate("conflict_rate", body["conflict_rate"])
        if "throttle_rate" in body:
            throttle = _check_rate("throttle_rate", body["throttle_rate"])
        if "interleave" in body:
            if not isinstance(body["interleave"], bool):
                raise ValueError("interleave must be a boolean")
            interleave = body["interleave"]
        delay = self.transact_answer_delay_ms
        if "transact_answer_delay_ms" in body:
            delay = body["transact_answer_delay_ms"]
            if not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= 60_000:
                raise ValueError("transact_answer_delay_ms must be an integer from 0 to 60000")
        if conflict + throttle > 1.0:
            raise ValueError("conflict_rate + throttle_rate must be at most 1")
        unknown = set(body) - {"conflict_rate", "throttle_rate", "events_fail_rate", "interleave",
                               "transact_answer_delay_ms"}
        if unknown:
            raise ValueError(f"unknown keys: {sorted(unknown)}")
        with self._mutex:
            self.conflict_rate = conflict
            self.throttle_rate = throttle
            self.events_fail_rate = events_fail
            self.interleave = interleave
            self.transact_answer_delay_ms = delay


def _read_body(environ: dict[str, Any]) -> bytes:
    """Reads the whole request body and puts it back so moto can read it again."""
    stream = environ.get("wsgi.input")
    length_raw = environ.get("CONTENT_LENGTH") or ""
    if stream is None:
        body = b""
    elif length_raw.strip():
        body = stream.read(int(length_raw))
    elif environ.get("wsgi.input_terminated"):
        # Chunked upload: werkzeug's dechunking stream ends at the body's end.
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ["wsgi.input_terminated"] = True
    return body


def _respond(start_response: Callable, status: str, body: bytes,
             content_type: str, extra: list[tuple[str, str]] | None = None) -> list[bytes]:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    headers.extend(extra or [])
    start_response(status, headers)
    return [body]


def _json(start_response: Callable, status: str, payload: Any) -> list[bytes]:
    return _respond(start_response, status, json.dumps(payload).encode(), "application/json")


def _aws_error(start_response: Callable, payload: dict[str, Any]) -> list[bytes]:
    return _respond(
        start_response,
        "400 Bad Request",
        json.dumps(payload).encode(),
        AMZ_JSON,
        [("x-amzn-RequestId", uuid.uuid4().hex.upper())],
    )


def conflict_payload(n_items: int, conflict_index: int) -> dict[str, Any]:
    reasons: list[dict[str, str]] = []
    for i in range(max(n_items, 1)):
        if i == conflict_index:
            reasons.append({"Code": "TransactionConflict",
                            "Message": "Transaction is ongoing for the item"})
        else:
            reasons.append({"Code": "None"})
    codes = ", ".join(r["Code"] for r in reasons)
    return {
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "message": "Transaction cancelled, please refer cancellation reasons for specific "
                   f"reasons [{codes}]",
        "CancellationReasons": reasons,
    }


EVENTS_INTERNAL_PAYLOAD = {"__type": "InternalException", "message": "injected"}

THROTTLE_PAYLOAD = {
    "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
    "message": "Rate of requests exceeds the allowed throughput.",
}


class FantoooMiddleware:
    def __init__(self, app: Callable, state: FaultState) -> None:
        from meter import Meter

        self.app = app
        self.state = state
        self.meter = Meter()

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            return self._control(environ, start_response, path)

        target = environ.get("HTTP_X_AMZ_TARGET", "")
        self.state.count_call(target or f"{environ.get('REQUEST_METHOD', '?')} (no target)")

        if target == TRANSACT_WRITE:
            body = _read_body(environ)
            try:
                n_items = len(json.loads(body or b"{}").get("TransactItems") or [])
            except (ValueError, AttributeError):
                n_items = 0  # let moto produce its own validation error
            fault, index = self.state.draw_transact_fault(n_items)
            if fault == "conflict":
                return _aws_error(start_response, conflict_payload(n_items, index))
            if fault == "throttle":
                return _aws_error(start_response, THROTTLE_PAYLOAD)

        if target.startswith(PUT_EVENTS_PREFIX) and self.state.draw_events_fault():
            _read_body(environ)  # drain it: connections are kept alive
            return _respond(start_response, "500 Internal Server Error",
                            json.dumps(EVENTS_INTERNAL_PAYLOAD).encode(), AMZ_JSON_1_1,
                            [("x-amzn-RequestId", str(uuid.uuid4()))])

        if target.startswith(DYNAMODB_PREFIX) and not self.state.interleave:
            body = _read_body(environ)
            operation = target.split(".")[-1]
            started: list[Any] = []

            def deferred(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
                started.extend([status, headers])
                return lambda _data: None

            asked = time.perf_counter()
            with self.state.dynamodb_lock:
                entered = time.perf_counter()
                metering = self.meter.before(environ, operation, body)
                # Drain the response inside the lock, so the whole call is one step.
                result = self.app(environ, deferred)
                try:
                    answer = [b"".join(result)]
                finally:
                    close = getattr(result, "close", None)
                    if close:
                        close()
                    self.state.record_time(target, entered - asked, time.perf_counter() - entered)
                status, headers = (started + ["500 Internal Server Error", []])[:2]
                cost = self.meter.after(metering, status.startswith("200"), answer[0])
            if cost is not None:
                headers = list(headers) + [("x-fantooo-consumed", json.dumps(cost, separators=(",", ":")))]
            start_response(status, headers)
            delay = self.state.transact_answer_delay_ms if target == TRANSACT_WRITE else 0
            if delay:
                time.sleep(delay / 1000.0)  # committed; the answer is late (outside the lock)
            return answer
        return self.app(environ, start_response)

    def _control(self, environ: dict[str, Any], start_response: Callable,
                 path: str) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        name = path[len(CONTROL_PREFIX):].strip("/")
        body = _read_body(environ)  # always drain it: connections are kept alive
        if name == "health" and method in ("GET", "HEAD"):
            return _respond(start_response, "200 OK", b"ok", "text/plain")
        if name == "faults" and method == "GET":
            return _json(start_response, "200 OK", self.state.snapshot())
        if name == "faults" and method == "POST":
            try:
                payload = json.loads(body or b"{}")
                if not isinstance(payload, dict):
                    raise ValueError("body must be a JSON object")
                self.state.update(payload)
            except ValueError as err:
                return _json(start_response, "400 Bad Request", {"error": str(err)})
            return _json(start_response, "200 OK", self.state.snapshot())
        if name == "capacity" and method == "GET":
            return _json(start_response, "200 OK", self.meter.report())
        if name == "reset-counters" and method == "POST":
            self.state.reset_counters()
            self.meter.reset()
            return _json(start_response, "200 OK", self.state.snapshot())
        return _json(start_response, "404 Not Found", {"error": f"no {method} {path}"})


def install_item_level_rollback() -> None:
    """Makes moto's TransactWriteItems snapshot only the items it touches.

    Stock moto 5.2 deep-copies every table a transaction names before running it,
    to roll back on failure: time and memory grow with the table (and RSS kept
    growing here, ~90 KB per transaction on a small table). This wrapper records
    the touched items instead, turns the table deep copy into a no-op while the
    call runs, and puts the recorded items back when moto raises. It also rolls
    back on the errors moto raises mid-way without rolling back (two operations
    in one TransactItems element). Disable with --full-table-copy.
    """
    import copy as _copy
    import types

    import moto.dynamodb.models as ddb_models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    real_deepcopy = _copy.deepcopy
    tls = threading.local()

    def deepcopy(obj: Any, memo: Any = None) -> Any:
        if getattr(tls, "active", False) and isinstance(obj, Table):
            return obj
        return real_deepcopy(obj, memo)

    shim = types.ModuleType("copy")
    shim.__dict__.update(vars(_copy))
    shim.deepcopy = deepcopy  # type: ignore[attr-defined]
    ddb_models.copy = shim  # only this module's references to copy change

    original = ddb_models.DynamoDBBackend.transact_write_items

    def snapshot(backend: Any, transact_items: Any) -> list[tuple[Any, Any, Any, Any]]:
        snaps: list[tuple[Any, Any, Any, Any]] = []
        seen: set[tuple[int, Any, Any]] = set()
        for element in transact_items or []:
            if not isinstance(element, dict):
                continue
            for op_type, op in element.items():
                try:
                    table = backend.tables.get(op.get("TableName"))
                    if table is None:
                        continue
                    source = op["Item"] if op_type == "Put" else op["Key"]
                    hv = DynamoType(source[table.hash_key_attr])
                    rv = (DynamoType(source[table.range_key_attr])
                          if table.range_key_attr is not None else None)
                except (KeyError, TypeError, AttributeError, ValueError):
                    continue  # moto cannot write an item it cannot key either
                ident = (id(table), hv, rv)
                if ident in seen:
                    continue
                seen.add(ident)
                if rv is None:
                    current = table.items.get(hv)
                else:
                    by_hash = table.items.get(hv)
                    current = by_hash.get(rv) if by_hash else None
                snaps.append((table, hv, rv, real_deepcopy(current)))
        return snaps

    def restore(snaps: list[tuple[Any, Any, Any, Any]]) -> None:
        for table, hv, rv, item in reversed(snaps):
            if rv is None:
                if item is None:
                    table.items.pop(hv, None)
                else:
                    table.items[hv] = item
            elif item is None:
                by_hash = table.items.get(hv)
                if by_hash is not None:
                    by_hash.pop(rv, None)
            else:
                table.items[hv][rv] = item

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        snaps = snapshot(self, transact_items)
        tls.active = True
        try:
            return original(self, transact_items)
        except BaseException:
            restore(snaps)
            raise
        finally:
            tls.active = False

    ddb_models.DynamoDBBackend.transact_write_items = transact_write_items


def build_app(state: FaultState) -> Callable:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return FantoooMiddleware(DomainDispatcherApplication(create_backend_app), state)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4599, help="0 picks a free port")
    parser.add_argument("--interleave", action="store_true",
                        help="no DynamoDB lock (stock, non-atomic moto)")
    parser.add_argument("--conflict-rate", type=float, default=None)
    parser.add_argument("--throttle-rate", type=float, default=None)
    parser.add_argument("--events-fail-rate", type=float, default=None,
                        help="share of EventBridge PutEvents calls answered with HTTP 500")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.add_argument("--full-table-copy", action="store_true",
                        help="keep moto's own TransactWriteItems rollback (deep copy of the table)")
    args = parser.parse_args(argv)

    conflict = (_check_rate("--conflict-rate", args.conflict_rate)
                if args.conflict_rate is not None else _env_rate("FANTOOO_FAULT_CONFLICT_RATE"))
    throttle = (_check_rate("--throttle-rate", args.throttle_rate)
                if args.throttle_rate is not None else _env_rate("FANTOOO_FAULT_THROTTLE_RATE"))
    events_fail = (_check_rate("--events-fail-rate", args.events_fail_rate)
                   if args.events_fail_rate is not None
                   else _env_rate("FANTOOO_FAULT_EVENTS_FAIL_RATE"))
    seed_env = os.environ.get("FANTOOO_EMULATOR_SEED", "").strip()
    seed = args.seed if args.seed is not None else (int(seed_env) if seed_env else None)
    interleave = args.interleave or _env_flag("FANTOOO_EMULATOR_INTERLEAVE")
    verbose = args.verbose or _env_flag("FANTOOO_EMULATOR_VERBOSE")
    full_copy = args.full_table_copy or _env_flag("FANTOOO_EMULATOR_FULL_COPY")
    if not full_copy:
        install_item_level_rollback()

    from werkzeug.serving import make_server
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class Handler(MotoRequestHandler):
        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            if verbose:
                super().log_request(code, size)

    if not verbose:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)

    state = FaultState(conflict, throttle, interleave, seed, events_fail)
    server = make_server(args.host, args.port, build_app(state), threaded=True,
                         request_handler=Handler)
    port = server.socket.getsockname()[1]
    # moto builds a few self-referencing URLs from MOTO_PORT (SQS uses the request's host).
    os.environ.setdefault("MOTO_PORT", str(port))

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    print(json.dumps({
        "event": "listening",
        "endpoint": f"http://{args.host}:{port}",
        "interleave": interleave,
        "conflict_rate": conflict,
        "throttle_rate": throttle,
        "events_fail_rate": events_fail,
        "rollback": "table-copy" if full_copy else "item-level",
    }), flush=True)
    try:
        server.serve_forever()
    except SystemExit:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
