#!/usr/bin/env bash
# Fuzz the running API against infra/openapi.yaml with schemathesis.
#
#   bash local/fuzz.sh http://127.0.0.1:3000 [extra schemathesis run args...]
#
# Registers a fresh member first (POST /auth/register) and sends its access token
# on every request, so the member routes are exercised past authentication.
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
: > "$WORKDIR/schemathesis.toml"
export HYPOTHESIS_STORAGE_DIRECTORY="$WORKDIR/.hypothesis"
cd "$WORKDIR"

"$ST" --config-file "$WORKDIR/schemathesis.toml" run "$SPEC" \
    --url "$BASE_URL" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "${FUZZ_MAX_EXAMPLES:-30}" \
    "${GENERATION[@]}" \
    --workers "${FUZZ_WORKERS:-1}" \
    --request-timeout 30 \
    --max-redirects 0 \
    --exclude-by '/x-fuzz-skip == true' \
    --header "Authorization: Bearer $TOKEN" \
    --no-color \
    "${PHASES[@]}" \
    "$@"
