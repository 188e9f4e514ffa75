# Shared by local/up and local/test: the venv, the emulator, the table and queues,
# and the environment the API server and tests read. Source it; don't run it.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
STATE="$ROOT/.local-state"
mkdir -p "$STATE"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# build_workspace [cargo flags]: the one debug build every script asks for. Cargo
# unifies features over the packages it is asked to build, so `-p fantooo-local`
# and `--workspace --all-targets` compile the AWS SDK twice, in time and disk (the
# second copy took 50 crates and gigabytes). Every script builds this selection.
build_workspace() {
  if [ -t 2 ]; then cargo build --workspace --all-targets "$@"; else cargo build --workspace --all-targets --quiet "$@"; fi
}

# Creates ./.venv with the pinned tools if it is missing or out of date.
ensure_venv() {
  local stamp="$VENV/.requirements"
  if [ -x "$PY" ] && cmp -s "$ROOT/local/requirements.txt" "$stamp"; then return; fi
  log "installing the emulator and tools into .venv (pinned, local/requirements.txt)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/local/requirements.txt"
  cp "$ROOT/local/requirements.txt" "$stamp"
}

# start_emulator PORT LOGFILE [extra args]: starts local/emulator.py, waits until
# it listens, and sets EMULATOR_PID and AWS_ENDPOINT_URL.
start_emulator() {
  local port="$1" logfile="$2"; shift 2
  "$PY" "$ROOT/local/emulator.py" --host 127.0.0.1 --port "$port" "$@" >"$logfile" 2>&1 &
  EMULATOR_PID=$!
  for _ in $(seq 1 100); do
    if grep -q '"listening"' "$logfile" 2>/dev/null; then break; fi
    if ! kill -0 "$EMULATOR_PID" 2>/dev/null; then cat "$logfile" >&2; return 1; fi
    sleep 0.1
  done
  local endpoint
  endpoint=$("$PY" -c 'import json,sys; print(next(json.loads(l)["endpoint"] for l in open(sys.argv[1]) if "listening" in l))' "$logfile")
  export AWS_ENDPOINT_URL="$endpoint"
}

# Table, queues, event bus and media bucket from infra/template.yaml; exports
# TABLE_NAME, ASSIGNMENT_QUEUE_URL, EVENT_BUS_NAME, EVENTS_TAP_QUEUE_URL (a
# local-only queue that receives every event published on the bus, so tests can
# see deliveries), MEDIA_BUCKET, MEDIA_PUBLIC_URL (<endpoint>/<bucket>) and
# MEDIA_QUEUE_URL (the bucket's notifications, which the API server consumes).
bootstrap_resources() {
  local table="$1" out
  out=$("$PY" "$ROOT/local/bootstrap.py" --endpoint "$AWS_ENDPOINT_URL" --table "$table" --queue-prefix "$table")
  export TABLE_NAME="$table"
  local line
  line=$(printf '%s' "$out" | tail -n 1)
  field() { printf '%s' "$line" | "$PY" -c 'import json,sys; print(json.loads(sys.stdin.read()).get(sys.argv[1], ""))' "$1"; }
  ASSIGNMENT_QUEUE_URL=$(field assignment_queue_url)
  EVENT_BUS_NAME=$(field event_bus_name)
  EVENTS_TAP_QUEUE_URL=$(field events_tap_queue_url)
  MEDIA_BUCKET=$(field media_bucket)
  MEDIA_PUBLIC_URL=$(field media_public_url)
  MEDIA_QUEUE_URL=$(field media_queue_url)
  export ASSIGNMENT_QUEUE_URL EVENT_BUS_NAME EVENTS_TAP_QUEUE_URL MEDIA_BUCKET MEDIA_PUBLIC_URL MEDIA_QUEUE_URL
}

# start_paystack_standin LOGFILE: Paystack's verify API on loopback (no network
# here); sets STANDIN_PID and exports PAYSTACK_BASE_URL.
start_paystack_standin() {
  local logfile="$1"
  "$PY" "$ROOT/local/paystack_standin.py" --host 127.0.0.1 --port 0 --secret "$PAYSTACK_SECRET_KEY" >"$logfile" 2>&1 &
  STANDIN_PID=$!
  for _ in $(seq 1 100); do
    if grep -q '"listening"' "$logfile" 2>/dev/null; then break; fi
    if ! kill -0 "$STANDIN_PID" 2>/dev/null; then cat "$logfile" >&2; return 1; fi
    sleep 0.1
  done
  PAYSTACK_BASE_URL=$("$PY" -c 'import json,sys; print(next(json.loads(l)["endpoint"] for l in open(sys.argv[1]) if "listening" in l))' "$logfile")
  export PAYSTACK_BASE_URL
}

# What the API server reads locally (secrets come from SSM on Lambda).
export_local_env() {
  export AWS_REGION="${AWS_REGION:-af-south-1}"
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
  export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
  export AWS_EC2_METADATA_DISABLED=true
  export TOKEN_SIGNING_KEY="${TOKEN_SIGNING_KEY:-local-token-signing-key-0123456789abcdef}"
  export PAYSTACK_SECRET_KEY="${PAYSTACK_SECRET_KEY:-sk_test_fantooo_local}"
  export ADMIN_SETUP_TOKEN="${ADMIN_SETUP_TOKEN:-local-setup-token}"
  export PAYSTACK_PUBLIC_KEY="${PAYSTACK_PUBLIC_KEY:-pk_test_fantooo_local}"
  export RATE_LIMIT_PER_IP_PER_MINUTE="${RATE_LIMIT_PER_IP_PER_MINUTE:-300}"
  export RATE_LIMIT_PER_USERNAME_PER_MINUTE="${RATE_LIMIT_PER_USERNAME_PER_MINUTE:-10}"
  # Looser than on AWS (docs/decisions.md, "Timeouts"): the emulator serialises
  # every DynamoDB call and slows as the table grows.
  export DB_ATTEMPT_TIMEOUT_MS="${DB_ATTEMPT_TIMEOUT_MS:-10000}"
  export DB_OPERATION_TIMEOUT_MS="${DB_OPERATION_TIMEOUT_MS:-20000}"
  export REQUEST_TIMEOUT_MS="${REQUEST_TIMEOUT_MS:-25000}"
  # The local schedules run on the template's own rates (local/src/jobs.rs).
  FANTOOO_SCHEDULES=$("$PY" "$ROOT/local/bootstrap.py" --print-schedules)
  export FANTOOO_SCHEDULES
  export RUST_LOG="${RUST_LOG:-info}"
  # For the Lambda binaries run by hand (local/invoke, init_time.py), which need
  # them set. The local API server ignores them: it is its own gateway and always
  # uses its own port (local/src/main.rs).
  export REALTIME_URL="${REALTIME_URL:-ws://127.0.0.1:${FANTOOO_PORT:-3000}/ws}"
  export REALTIME_ENDPOINT="${REALTIME_ENDPOINT:-http://127.0.0.1:${FANTOOO_PORT:-3000}}"
}

# wait_for_api URL PID: until GET /health answers, or the server died.
wait_for_api() {
  local url="$1" pid="$2"
  for _ in $(seq 1 300); do
    if curl -fsS "$url/health" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.1
  done
  return 1
}

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
