#!/usr/bin/env python3
"""Local init time of a Lambda binary: from exec to its first poll for an event.

Serves a stand-in Lambda Runtime API on loopback, starts the function binary with
the Lambda environment pointing at it, and times the first
GET /2018-06-01/runtime/invocation/next. The poll is never answered; the process
is killed and started again. Prints JSON {function: {"median_ms", "p90_ms", "runs"}}.

usage: init_time.py [--runs N] [--ssm] BINARY...   (environment: TABLE_NAME etc.)
With --ssm the secrets are SecureString parameters in the emulator (as on AWS),
so init includes the three SSM reads; without it they come from the environment.
"""
from __future__ import annotations

import argparse
import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time

first_poll = threading.Event()


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server naming)
        if self.path.endswith("/runtime/invocation/next"):
            first_poll.set()
            time.sleep(5)  # hold the long poll; the process is killed meanwhile
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


def put_parameters(env: dict) -> dict:
    import boto3

    ssm = boto3.client("ssm", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ.get("AWS_REGION", "af-south-1"))
    out = dict(env)
    for name in ("TOKEN_SIGNING_KEY", "PAYSTACK_SECRET_KEY", "ADMIN_SETUP_TOKEN"):
        param = f"/fantooo/bench/{name.lower()}"
        ssm.put_parameter(Name=param, Value=env[name], Type="SecureString", Overwrite=True)
        out[f"{name}_PARAM"] = param
        out.pop(name, None)
    return out


def measure(binary: str, env: dict, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        first_poll.clear()
        start = time.perf_counter()
        proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ok = first_poll.wait(timeout=20)
        elapsed = (time.perf_counter() - start) * 1000
        proc.kill()
        _, err = proc.communicate()
        if not ok:
            sys.exit(f"{binary} never polled for an event:\n{err.decode(errors='replace')[-2000:]}")
        times.append(elapsed)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--ssm", action="store_true")
    ap.add_argument("binaries", nargs="+")
    args = ap.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": "bench",
        "RUST_LOG": "warn",
    })
    if args.ssm:
        env = put_parameters(env)
    report = {}
    for binary in args.binaries:
        env["AWS_LAMBDA_FUNCTION_NAME"] = os.path.basename(binary)
        times = sorted(measure(binary, env, args.runs))
        report[os.path.basename(binary)] = {
            "median_ms": round(statistics.median(times), 1),
            "p90_ms": round(times[int(0.9 * (len(times) - 1))], 1),
            "runs": len(times),
        }
    print(json.dumps(report, indent=2))
    server.shutdown()


if __name__ == "__main__":
    main()
