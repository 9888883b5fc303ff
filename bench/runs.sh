#!/usr/bin/env bash
# Many runs at once through the API: N runs of a 5-task no-op pipeline
# submitted together (POST /api/v1/pipelines/NAME/runs, 16 at a time) to a
# release `hangar serve --no-workers` on PostgreSQL, executed by two
# `hangar worker` processes; the clock runs from the first POST until every
# run has ended. Prints tasks/s for each N, in one go.
#   bench/runs.sh                  # N = 100, 1000, 10000
#   RUNS="100 1000" bench/runs.sh
#   WORKER_FLAGS=--in-process bench/runs.sh   # attempts inside the worker processes
# HANGAR_BIN= reuses a built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hangar/target}"
ADMIN="${HANGAR_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
RUNS="${RUNS:-100 1000 10000}"
WORKERS="${WORKERS:-2}"
PORT="${PORT:-18732}"
PASSWORD="benchmark password 1234"
if [ -z "${HANGAR_BIN:-}" ]; then
  cargo build -q --release --bin hangar
  HANGAR_BIN="$CARGO_TARGET_DIR/release/hangar"
fi
WORK="$(mktemp -d)"
PIDS=()
DB=""
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  [ -n "$DB" ] && psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "$(nproc) cores; serve --no-workers + $WORKERS hangar worker ${WORKER_FLAGS:-} processes on PostgreSQL; 5-task no-op chain per run"
printf '%8s %8s %10s %10s %12s\n' runs tasks "submit s" "total s" "tasks/s"
for n in $RUNS; do
  DB="hangar_runs_bench_$$_$n"
  psql "$ADMIN" -qc "CREATE DATABASE $DB" >/dev/null
  export HANGAR_DATABASE_URL="${ADMIN%/*}/$DB" HANGAR_ARTIFACTS="$WORK/artifacts-$n"
  export HANGAR_LOG=warn HANGAR_RATE_LIMIT=off HANGAR_JWT_SECRET="bench-secret-0123456789abcdef0123456789"
  "$HANGAR_BIN" --home "$WORK/home" migrate >/dev/null
  "$HANGAR_BIN" --home "$WORK/home" users create --email bench@hangar.example --password "$PASSWORD" --admin >/dev/null 2>&1
  "$HANGAR_BIN" --home "$WORK/home" serve --bind "127.0.0.1:$PORT" --no-scheduler --no-workers >"$WORK/serve-$n.log" 2>&1 &
  PIDS=($!)
  for i in $(seq 1 "$WORKERS"); do
    # shellcheck disable=SC2086
    "$HANGAR_BIN" --home "$WORK/worker-$i" worker --no-coordinate ${WORKER_FLAGS:-} >"$WORK/worker-$n-$i.log" 2>&1 &
    PIDS+=($!)
  done
  python3 - "$n" "$PORT" "$PASSWORD" <<'PY'
import json, sys, time, urllib.request
from concurrent.futures import ThreadPoolExecutor
n, port, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
base = f"http://127.0.0.1:{port}"
def call(method, path, body=None, token=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read() or b"null")
for _ in range(200):
    try:
        urllib.request.urlopen(base + "/ready", timeout=1); break
    except Exception:
        time.sleep(0.1)
token = call("POST", "/api/v1/auth/login", {"email": "bench@hangar.example", "password": password})["access_token"]
spec = "name: five\ntasks:\n" + "".join(
    f"  t{i}: {{ uses: noop{', needs: [t%d]' % (i - 1) if i else ''} }}\n" for i in range(5))
call("POST", "/api/v1/pipelines", token=token, raw=spec.encode())
start = time.time()
with ThreadPoolExecutor(16) as pool:
    list(pool.map(lambda _: call("POST", "/api/v1/pipelines/five/runs", {"params": {}}, token), range(n)))
submitted = time.time() - start
while True:
    done = sum(call("GET", f"/api/v1/runs?pipeline=five&status={s}&limit=1", token=token)["total"]
               for s in ("succeeded", "failed", "cancelled"))
    if done >= n:
        break
    time.sleep(0.2)
total = time.time() - start
ok = call("GET", "/api/v1/runs?pipeline=five&status=succeeded&limit=1", token=token)["total"]
assert ok == n, f"{ok} of {n} runs succeeded"
print(f"{n:8d} {5 * n:8d} {submitted:10.1f} {total:10.1f} {5 * n / total:12.1f}")
PY
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
  PIDS=()
  psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
  DB=""
done
