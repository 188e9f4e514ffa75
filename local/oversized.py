#!/usr/bin/env python3
"""No route answers 5xx to an oversized string, in any string field.

For every operation in infra/openapi.yaml (but those marked x-fuzz-skip), with a
valid credential of a principal that may call it (a fresh member, a demo operator,
a super admin (local/admin_session.py), a signed body for the Paystack webhook), sends one request per string field (path
parameter, query parameter, header parameter, top-level body property) with that
field 5,000 characters long and the others plain. Every answer must be below 500
and carry the JSON error body when it is an error. Exit 1 on the first failure.

  .venv/bin/python local/oversized.py http://127.0.0.1:3000
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sys
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
LONG = "a" * 5000
SECRET = os.environ.get("PAYSTACK_SECRET_KEY", "sk_test_fantooo_local").encode()


def resolve(spec: dict, node: dict) -> dict:
    while isinstance(node, dict) and "$ref" in node:
        target = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def plain(schema: dict):
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    return {"string": "x", "integer": 1, "number": 1.0, "boolean": True, "array": [], "object": {}}.get(kind, "x")


def session(base: str) -> tuple[str, str, str]:
    username = "big_" + secrets.token_hex(5)
    body = {"username": username, "password": "pass-word-1", "age": 30, "gender": "other",
            "looking_for": "both", "location": "Nairobi"}
    member = requests.post(f"{base}/auth/register", json=body, timeout=30).json()["token"]
    op = requests.post(f"{base}/operator/login", json={"email": "op1@demo.local", "password": "demo-operator-1"},
                       timeout=30).json()["token"]
    sys.path.insert(0, str(ROOT / "local"))
    from admin_session import token as admin_token

    return member, op, admin_token(base)


def main() -> int:
    base = sys.argv[1].rstrip("/")
    spec = yaml.safe_load((ROOT / "infra" / "openapi.yaml").read_text())
    member, operator, admin = session(base)
    sent = 0
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete") or op.get("x-fuzz-skip"):
                continue
            params = [resolve(spec, p) for p in item.get("parameters", []) + op.get("parameters", [])]
            body_schema = resolve(spec, ((op.get("requestBody") or {}).get("content") or {})
                                  .get("application/json", {}).get("schema", {}))
            props = {k: resolve(spec, v) for k, v in (body_schema.get("properties") or {}).items()}
            base_body = {k: plain(v) for k, v in props.items()} if props or body_schema else None
            fields = [("param", p) for p in params if resolve(spec, p.get("schema", {})).get("type", "string") == "string"]
            fields += [("body", k) for k, v in props.items() if v.get("type") == "string"]
            for where, field in fields:
                path_values = {p["name"]: "x" for p in params if p.get("in") == "path"}
                query, headers = {}, {}
                body = dict(base_body) if base_body is not None else None
                if where == "param":
                    loc, name = field.get("in"), field["name"]
                    if loc == "path":
                        path_values[name] = LONG
                    elif loc == "query":
                        query[name] = LONG
                    elif loc == "header":
                        headers[name] = LONG
                else:
                    body[field] = LONG
                url = base + path.format(**path_values)
                if path.startswith("/operator/") and path != "/operator/login":
                    headers["Authorization"] = f"Bearer {operator}"
                elif path.startswith("/admin/") and path != "/admin/login":
                    headers["Authorization"] = f"Bearer {admin}"
                elif path != "/webhooks/paystack":
                    headers["Authorization"] = f"Bearer {member}"
                raw = json.dumps(body).encode() if body is not None else b""
                if path == "/webhooks/paystack" and "x-paystack-signature" not in headers:
                    headers["x-paystack-signature"] = hmac.new(SECRET, raw, hashlib.sha512).hexdigest()
                headers["Content-Type"] = "application/json"
                res = requests.request(method.upper(), url, params=query, headers=headers, data=raw, timeout=60)
                sent += 1
                what = f"{method.upper()} {path} with {where} {field if isinstance(field, str) else field['name']} at 5,000 chars"
                if res.status_code >= 500:
                    print(f"oversized: {what} answered {res.status_code}: {res.text[:300]}", file=sys.stderr)
                    return 1
                if res.status_code >= 400 and not (res.headers.get("content-type", "").startswith("application/json")
                                                   and "error" in res.json()):
                    print(f"oversized: {what} answered {res.status_code} without the JSON error body", file=sys.stderr)
                    return 1
    print(f"oversized: {sent} requests, every answer below 500 with the JSON error body")
    return 0


if __name__ == "__main__":
    sys.exit(main())
