"""Schemathesis hooks for local/fuzz.sh: every generated Paystack webhook body is
signed with the local secret (x-paystack-signature = hex HMAC-SHA512 of the exact
bytes sent), so the fuzz reaches the webhook's handling, not only its 401."""

import hashlib
import hmac
import json
import os

import schemathesis

SECRET = os.environ.get("PAYSTACK_SECRET_KEY", "sk_test_fantooo_local").encode()


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if case.operation.path != "/webhooks/paystack":
        return
    body = case.body
    if isinstance(body, bytes):
        raw = body
    else:
        try:
            raw = json.dumps(body, separators=(",", ":")).encode()
        except TypeError:
            raw = b""
    case.body = raw
    headers = dict(case.headers or {})
    headers["x-paystack-signature"] = hmac.new(SECRET, raw, hashlib.sha512).hexdigest()
    headers["Content-Type"] = "application/json"
    case.headers = headers
