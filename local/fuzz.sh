#!/usr/bin/env bash
# Fuzz the running API against infra/openapi.yaml with schemathesis.
#
#   bash local/fuzz.sh http://127.0.0.1:3000 [extra schemathesis run args...]
#
# Fuzzes each route with a valid credential of a principal that may call it, in
# four runs: a fresh member's token (POST /auth/register) on the public and member
# routes, a demo operator's token (POST /operator/login) on the operator routes, a
# super admin's token (local/admin_session.py: the setup on a fresh stack) on the
# admin routes, and the Paystack webhook with every generated body signed
# (local/fuzz_hooks.py). POST /realtime/ticket takes any principal's token, so
# it is in all three token runs (member, operator and admin).
# A route that answers only 401/403 in its run (schemathesis' missing_auth
# warning) fails the fuzz: it was never reached.
# Talks to nothing but the given base URL. Deterministic: the same schema and the
# same server give the same requests.
#
# Operations marked `x-fuzz-skip: true` in the spec are left out (DELETE /me
# would delete the fuzzing member, and every later request would get 401).
#
# Knobs (environment): FUZZ_MAX_EXAMPLES (default 30 per operation),
# FUZZ_SEED (default 20240601, used when FUZZ_DETERMINISTIC=0),
# FUZZ_DETERMINISTIC (default 1: --generation-deterministic),
# FUZZ_WORKERS (default 1), FUZZ_PHASES (default: all phases).
# Exits non-zero when schemathesis finds a failure or the setup fails.
set -euo pipefail

if [[ $# -lt 1 || "$1" == -* ]]; then
    echo "usage: bash local/fuzz.sh http://127.0.0.1:PORT [extra schemathesis run args...]" >&2
    exit 2
fi
BASE_URL="${1%/}"
shift

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SPEC="$ROOT/infra/openapi.yaml"
if [[ -x "$ROOT/.venv/bin/schemathesis" ]]; then
    ST="$ROOT/.venv/bin/schemathesis"
    PY="$ROOT/.venv/bin/python"
else
    ST="$(command -v schemathesis || true)"
    PY="$(command -v python3)"
fi
if [[ -z "$ST" ]]; then
    echo "fuzz.sh: schemathesis not found (create .venv with it, or put it on PATH)" >&2
    exit 2
fi

# Only the given server: no proxies from the environment, no schemathesis config.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
export NO_PROXY='*' no_proxy='*'

# --- a fresh member and its access token -------------------------------------
USERNAME="fuzz_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
BODY="$(printf '{"username":"%s","password":"fuzz-pass-1","age":30,"gender":"other","looking_for":"both","location":"Nairobi"}' "$USERNAME")"
RESPONSE_FILE="$(mktemp)"
trap 'rm -f "$RESPONSE_FILE"' EXIT

STATUS="$(curl -sS --noproxy '*' --max-time 30 -o "$RESPONSE_FILE" -w '%{http_code}' \
    -X POST "$BASE_URL/auth/register" \
    -H 'Content-Type: application/json' --data "$BODY")" || {
    echo "fuzz.sh: cannot reach $BASE_URL" >&2
    exit 2
}
if [[ "$STATUS" != "201" ]]; then
    echo "fuzz.sh: POST /auth/register answered $STATUS, expected 201:" >&2
    cat "$RESPONSE_FILE" >&2
    echo >&2
    exit 2
fi
TOKEN="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$RESPONSE_FILE")"
echo "fuzz.sh: registered member $USERNAME"

# --- schemathesis -------------------------------------------------------------
# Deterministic mode derandomises generation and implies no example database;
# otherwise a fixed seed, and still no database (nothing written to .hypothesis/).
GENERATION=(--seed "${FUZZ_SEED:-20240601}" --generation-database none)
if [[ "${FUZZ_DETERMINISTIC:-1}" == "1" ]]; then
    GENERATION=(--generation-deterministic)
fi
PHASES=()
if [[ -n "${FUZZ_PHASES:-}" ]]; then
    PHASES=(--phases "$FUZZ_PHASES")
fi

# Run from a fresh scratch directory with an empty config file, so no
# schemathesis.toml, crash cache (.schemathesis/) or Hypothesis state
# (.hypothesis/) from an earlier run changes what this run sends, and nothing is
# written into the repository.
WORKDIR="$(mktemp -d)"
trap 'rm -f "$RESPONSE_FILE"; rm -rf "$WORKDIR"' EXIT
export HYPOTHESIS_STORAGE_DIRECTORY="$WORKDIR/.hypothesis"
cd "$WORKDIR"

# missing_auth: a route that only ever answered 401/403 was never fuzzed.
printf '[warnings]\nfail-on = ["missing_auth"]\n' > "$WORKDIR/schemathesis.toml"

# A demo operator's token, fetched right before the operator run (access tokens
# live 15 minutes; the member run may take a while on 2 cores).
operator_token() {
    local status
    status="$(curl -sS --noproxy '*' --max-time 30 -o "$RESPONSE_FILE" -w '%{http_code}' \
        -X POST "$BASE_URL/operator/login" -H 'Content-Type: application/json' \
        --data '{"email":"op2@demo.local","password":"demo-operator-1"}')"
    if [[ "$status" != "200" ]]; then
        echo "fuzz.sh: POST /operator/login answered $status, expected 200" >&2
        return 1
    fi
    "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$RESPONSE_FILE"
}

fuzz() {
    local label="$1"; shift
    echo "fuzz.sh: $label"
    "$ST" --config-file "$WORKDIR/schemathesis.toml" run "$SPEC" \
        --url "$BASE_URL" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
        --max-examples "${FUZZ_MAX_EXAMPLES:-30}" \
        "${GENERATION[@]}" \
        --workers "${FUZZ_WORKERS:-1}" \
        --request-timeout 30 \
        --max-redirects 0 \
        --exclude-by '/x-fuzz-skip == true' \
        --no-color \
        "${PHASES[@]}" \
        "$@"
}

# Every run goes ahead; the worst result is the fuzz's.
failed=0
fuzz "public and member routes, as a member" \
    --exclude-path-regex '^/operator/(?!login$)|^/admin/(?!login$)|^/webhooks/' \
    --header "Authorization: Bearer $TOKEN" "$@" || failed=1
OP_TOKEN="$(operator_token)" || exit 2
fuzz "operator routes, as an operator" \
    --include-path-regex '^/operator/|^/realtime/ticket$' \
    --header "Authorization: Bearer $OP_TOKEN" "$@" || failed=1
ADMIN_TOKEN="$("$PY" "$ROOT/local/admin_session.py" "$BASE_URL")" || exit 2
fuzz "admin routes, as a super admin" \
    --include-path-regex '^/admin/(?!login$)|^/realtime/ticket$' \
    --header "Authorization: Bearer $ADMIN_TOKEN" "$@" || failed=1
(
    export SCHEMATHESIS_HOOKS=fuzz_hooks PYTHONPATH="$ROOT/local${PYTHONPATH:+:$PYTHONPATH}"
    # One operation with no links: the stateful phase has nothing to chain.
    [[ ${#PHASES[@]} -eq 0 ]] && PHASES=(--phases examples,coverage,fuzzing)
    fuzz "the Paystack webhook, every body signed" --include-path-regex '^/webhooks/paystack$' "$@"
) || failed=1
exit "$failed"
