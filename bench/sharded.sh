#!/usr/bin/env bash
# Scale run of the sharded data path: a synthetic corpus SCALE times the real
# one (bench/synthetic_corpus.py, from the real corpus's documents) through
# pipelines/airworthiness-sharded.yaml (ingest into shards → clean and filter
# per shard under map → dedup over all shards → dataset), on PostgreSQL with
# 1 and then 2 `hangar worker` processes (one task at a time each), artifacts
# on the local disk. Prints the wall time of each and where the time went.
#   bench/sharded.sh                       (SCALE=100: about 600 MB of text)
#   SCALE=10 SHARD_BYTES=8000000 bench/sharded.sh
#   TOKENIZER_SAMPLE_BYTES=80000000 bench/sharded.sh   (the tokenizer learns from ~80 MB)
# HANGAR_BIN= reuses a built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hangar/target}"
if [ -z "${HANGAR_BIN:-}" ]; then
  cargo build --release --bin hangar -q
  HANGAR_BIN="$CARGO_TARGET_DIR/release/hangar"
fi
. scripts/services.sh >/dev/null
SCALE="${SCALE:-100}"
SHARD_BYTES="${SHARD_BYTES:-16000000}"
# The tokenizer learns from about this many bytes of sections (0: all of them).
TOKENIZER_SAMPLE_BYTES="${TOKENIZER_SAMPLE_BYTES:-0}"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

"$HANGAR_BIN" --home "$work/real" run pipelines/airworthiness-data.yaml -q --json \
  -p corpus="${CORPUS:-../shared/corpus}" > "$work/real.json"
documents=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tasks"]["ingest"]["outputs"]["documents"]["uri"][len("file://"):])' "$work/real.json")
echo "== synthetic corpus, ${SCALE}x"
python3 bench/synthetic_corpus.py --documents "$documents" --scale "$SCALE" --out "$work/corpus"
echo "corpus: $(du -sh "$work/corpus" | cut -f1) in $(ls "$work/corpus" | wc -l) files"

for workers in 1 2; do
  db="hangar_sharded_${workers}_$$"
  psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $db" >/dev/null
  export HANGAR_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
  export HANGAR_ARTIFACTS="$work/artifacts-$workers"
  "$HANGAR_BIN" --home "$work/admin" migrate >/dev/null
  pids=()
  for i in $(seq 1 "$workers"); do
    "$HANGAR_BIN" --home "$work/worker-$workers-$i" worker --no-coordinate --concurrency 1 > "$work/worker-$workers-$i.log" 2>&1 &
    pids+=($!)
  done
  start=$(date +%s.%N)
  "$HANGAR_BIN" --home "$work/coordinator" run pipelines/airworthiness-sharded.yaml --no-workers -q --json \
    -p corpus="$work/corpus" -p shard_bytes="$SHARD_BYTES" -p tokenizer_sample_bytes="$TOKENIZER_SAMPLE_BYTES" \
    > "$work/run-$workers.json" 2> "$work/run-$workers.log"
  end=$(date +%s.%N)
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pids=()
  python3 - "$work/run-$workers.json" "$workers" "$start" "$end" <<'PY'
import json, re, sys
run = json.load(open(sys.argv[1])); workers = sys.argv[2]
wall = float(sys.argv[4]) - float(sys.argv[3])
print(f"== {workers} worker(s): {run['status']} in {wall:.1f} s wall")
tasks = run["tasks"]
for task in ["ingest", "clean", "filter", "signatures", "clusters", "dedup", "tokenizer", "samples", "dataset"]:
    t = tasks[task]
    instances = [v for k, v in tasks.items() if re.fullmatch(re.escape(task) + r"\[\d+\]", k)]
    if instances:
        times = sorted(v["duration_s"] for v in instances)
        print(f"  {task:8} {t['duration_s']:7.1f} s wall  {len(instances)} instances: "
              f"sum {sum(times):.1f} s, median {times[len(times)//2]:.2f} s, max {times[-1]:.2f} s")
    else:
        print(f"  {task:8} {t['duration_s']:7.1f} s")
PY
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE $db" >/dev/null
done
