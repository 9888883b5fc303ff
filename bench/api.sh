#!/usr/bin/env bash
# Load benchmark of the REST API: requests/s and p50/p99 latency of
# GET /api/v1/runs/{id} and POST /api/v1/pipelines/{name}/runs under wrk
# on loopback, against a release `hangar serve` on the embedded SQLite
# store and on PostgreSQL (scripts/services.sh starts it). Each POST
# creates a run that the server's embedded workers then execute.
#   bench/api.sh                 # 10 s per measurement, 16 connections
#   DURATION=30s CONNECTIONS=64 bench/api.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hangar/target}"
ADMIN="${HANGAR_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-16}"
THREADS="${THREADS:-2}"
PORT="${PORT:-18731}"
PASSWORD="benchmark password 1234"

if ! command -v wrk >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get install -y -qq wrk >/dev/null
fi
cargo build -q --release --bin hangar
HANGAR="$CARGO_TARGET_DIR/release/hangar"
WORK="$(mktemp -d)"
DB="hangar_api_bench_$$"
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# Prints "requests/s p50 p99" from wrk's --latency report.
measure() {
  local out
  out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@")"
  local rps p50 p99
  rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
  p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
  local errors
  errors="$(awk '/Non-2xx or 3xx responses/ {print $5}' <<<"$out")"
  printf '%10s %10s %10s %8s\n' "$rps" "$p50" "$p99" "${errors:-0}"
}

run_backend() {
  local name="$1" home="$WORK/$1"
  mkdir -p "$home"
  local env=(HANGAR_LOG=warn HANGAR_RATE_LIMIT=off HANGAR_JWT_SECRET="bench-secret-0123456789abcdef0123456789")
  if [ "$name" = postgres ]; then
    psql "$ADMIN" -qc "CREATE DATABASE $DB" >/dev/null
    env+=(HANGAR_DATABASE_URL="${ADMIN%/*}/$DB")
    env "${env[@]}" "$HANGAR" --home "$home" migrate >/dev/null
  fi
  env "${env[@]}" "$HANGAR" --home "$home" users create --email bench@hangar.example --password "$PASSWORD" --admin 2>/dev/null
  env "${env[@]}" "$HANGAR" --home "$home" serve --bind "127.0.0.1:$PORT" --no-scheduler >"$WORK/$name.log" 2>&1 &
  SERVER=$!
  local base="http://127.0.0.1:$PORT"
  for _ in $(seq 100); do curl -sf "$base/ready" >/dev/null && break; sleep 0.1; done
  local token
  token="$(curl -sf -XPOST "$base/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"bench@hangar.example\",\"password\":\"$PASSWORD\"}" | json_field "['access_token']")"
  printf 'name: bench\ntasks:\n  hello:\n    uses: noop\n' |
    curl -sf -XPOST "$base/api/v1/pipelines" -H "authorization: Bearer $token" --data-binary @- >/dev/null
  local run
  run="$(curl -sf -XPOST "$base/api/v1/pipelines/bench/runs" -H "authorization: Bearer $token" | json_field "['run_id']")"
  sleep 1
  cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"params": {}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA
  printf '%-10s %-32s' "$name" "GET /api/v1/runs/{id}"
  measure -H "Authorization: Bearer $token" "$base/api/v1/runs/$run"
  printf '%-10s %-32s' "$name" "POST /api/v1/pipelines/{name}/runs"
  measure -s "$WORK/post.lua" "$base/api/v1/pipelines/bench/runs"
  local created done_runs
  created="$(curl -sf "$base/api/v1/runs?pipeline=bench&limit=1" -H "authorization: Bearer $token" | json_field "['total']")"
  sleep 2
  done_runs="$(curl -sf "$base/api/v1/runs?pipeline=bench&status=succeeded&limit=1" -H "authorization: Bearer $token" | json_field "['total']")"
  echo "           runs created: $created, succeeded 2 s after the load: $done_runs"
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
}

echo "wrk: $THREADS threads, $CONNECTIONS connections, $DURATION per line; $(nproc) cores; release build"
printf '%-10s %-32s %10s %10s %10s %8s\n' backend request "req/s" p50 p99 non-2xx
run_backend sqlite
run_backend postgres
