#!/usr/bin/env bash
# Backup and restore of a deployment that ran the flagship on the real corpus:
# the time and size of a first (full) backup, of a second (incremental) one,
# of --verify, and of a restore into an empty home.
#   bench/backup.sh                              (the real corpus, 20 fine-tune steps)
#   CORPUS=examples/corpus STEPS=50 bench/backup.sh
# HANGAR_BIN= reuses a built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hangar/target}"
. scripts/reference/setup.sh >/dev/null
if [ -z "${HANGAR_BIN:-}" ]; then
  cargo build --release --bin hangar -q
  HANGAR_BIN="$CARGO_TARGET_DIR/release/hangar"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
home="$work/home"
dest="$work/backups"
"$HANGAR_BIN" --home "$home" run pipelines/airworthiness.yaml -q --json -p base_model="$HANGAR_TEST_GGUF" \
  -p corpus="${CORPUS:-../shared/corpus}" -p steps="${STEPS:-20}" -p max_questions=8 > "$work/run.json" || true
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("flagship:", r["status"], {t: v["status"] for t, v in r["tasks"].items()})' "$work/run.json"
echo "home: $(du -sh "$home/hangar.db" | cut -f1) database, $(du -sh "$home/artifacts" | cut -f1) artifacts in $(find "$home/artifacts" -type f | wc -l) files"
timed() { local start end; start=$(date +%s.%N); "$@"; end=$(date +%s.%N); python3 -c "print(f'{$end - $start:.2f} s wall')"; }
echo "== first backup";  timed "$HANGAR_BIN" --home "$home" backup "$dest" --json
echo "== second backup"; timed "$HANGAR_BIN" --home "$home" backup "$dest" --json
echo "== verify";        timed "$HANGAR_BIN" --home "$home" restore "$dest" --verify --json
echo "backup folder: $(du -sh "$dest" | cut -f1)"
echo "== restore into an empty home"; timed "$HANGAR_BIN" --home "$work/restored" restore "$dest" --json
diff <("$HANGAR_BIN" --home "$home" runs --json) <("$HANGAR_BIN" --home "$work/restored" runs --json) && echo "runs: identical"
