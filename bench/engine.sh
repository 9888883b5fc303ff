#!/usr/bin/env bash
# Engine overhead on the embedded store and on PostgreSQL with 1, 2 and 4
# worker pools, side by side in one go; then Windmill's shape of test:
# independent 100 ms tasks, one task at a time per worker.
# PostgreSQL must be running (scripts/services.sh starts it); a fresh
# database is created for the run and dropped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hangar/target}"
ADMIN="${HANGAR_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
REPEAT="${REPEAT:-5}"
DB="hangar_bench_$$"
psql "$ADMIN" -qc "CREATE DATABASE $DB"
trap 'psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"' EXIT
URL="${ADMIN%/*}/$DB"

bench() { cargo bench -q -p hangar-engine --bench engine -- "$@" 2>/dev/null; echo; }
bench --repeat "$REPEAT"
bench --database-url "$URL" --workers 1,2,4 --repeat "$REPEAT"
bench --database-url "$URL" --workers 1,2,4 --remote --repeat "$REPEAT"
bench --database-url "$URL" --workers 1,2,4 --remote --concurrency 1 --task-ms 100 --workloads wide --repeat 1
