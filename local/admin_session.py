#!/usr/bin/env python3
"""Prints a super admin's access token for the API at BASE_URL (fuzz and oversized).

On a stack where no admin exists yet (local/test's fresh one), it runs the setup
(POST /setup with ADMIN_SETUP_TOKEN) for FANTOOO_CHECK_ADMIN_EMAIL; on one where
setup is done, it logs that admin in. Exits 2 when neither works (a stack whose
first admin is someone else's: set FANTOOO_CHECK_ADMIN_EMAIL/_PASSWORD to one).

  .venv/bin/python local/admin_session.py http://127.0.0.1:3000
"""

from __future__ import annotations

import os
import sys

import requests

EMAIL = os.environ.get("FANTOOO_CHECK_ADMIN_EMAIL", "checks-admin@fantooo.local")
PASSWORD = os.environ.get("FANTOOO_CHECK_ADMIN_PASSWORD", "checks-admin-pass-1")


def token(base: str) -> str:
    if requests.get(f"{base}/setup", timeout=30).json().get("available"):
        body = {"name": "Checks", "email": EMAIL, "password": PASSWORD,
                "setup_token": os.environ.get("ADMIN_SETUP_TOKEN", "local-setup-token")}
        res = requests.post(f"{base}/setup", json=body, timeout=30)
        if res.status_code not in (201, 409):
            raise SystemExit(f"admin_session: POST /setup answered {res.status_code}: {res.text[:200]}")
    res = requests.post(f"{base}/admin/login", json={"email": EMAIL, "password": PASSWORD}, timeout=30)
    if res.status_code != 200:
        print(f"admin_session: POST /admin/login as {EMAIL} answered {res.status_code}: set "
              "FANTOOO_CHECK_ADMIN_EMAIL and FANTOOO_CHECK_ADMIN_PASSWORD to a super admin", file=sys.stderr)
        sys.exit(2)
    return res.json()["token"]


if __name__ == "__main__":
    print(token(sys.argv[1].rstrip("/")))
