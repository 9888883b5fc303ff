#!/usr/bin/env bash
# BLEU and ROUGE throughput against sacrebleu and rouge-score on the same
# 10,000 synthetic pairs, in one run: scores side by side and the speed-up.
#   bench/metrics.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hangar/target}"
VENV="${VENV:-$HOME/.cache/hangar/metrics-venv}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import sacrebleu, rouge_score" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet sacrebleu rouge-score
fi
DIR="$(mktemp -d)"
trap 'rm -rf "$DIR"' EXIT
"$VENV/bin/python" bench/metrics.py "$DIR/hyp.txt" "$DIR/ref.txt" "${PY_RUNS:-3}" > "$DIR/python.jsonl"
cargo bench -q -p hangar-metrics --bench metrics --no-run 2>/dev/null
RAYON_NUM_THREADS=1 cargo bench -q -p hangar-metrics --bench metrics -- "$DIR/hyp.txt" "$DIR/ref.txt" "${RUNS:-7}" 2>/dev/null > "$DIR/rust1.jsonl"
cargo bench -q -p hangar-metrics --bench metrics -- "$DIR/hyp.txt" "$DIR/ref.txt" "${RUNS:-7}" 2>/dev/null > "$DIR/rust.jsonl"
"$VENV/bin/python" - "$DIR" <<'PY'
import json, sys
d = sys.argv[1]
py = {r["metric"]: r for r in map(json.loads, open(f"{d}/python.jsonl"))}
rs = {r["metric"]: r for r in map(json.loads, open(f"{d}/rust.jsonl"))}
r1 = {r["metric"]: r for r in map(json.loads, open(f"{d}/rust1.jsonl"))}
import os
print(f"10,000 pairs, medians; sacrebleu {py['bleu'].get('version', '')} / rouge-score vs hangar-metrics on 1 thread and on {os.cpu_count()}")
print(f"{'metric':>14} {'python ms':>10} {'1 thread':>9} {'speed-up':>9} {'all cores':>10} {'speed-up':>9}  {'python score':>16} {'hangar score':>16}")
for m in ("bleu", "rouge", "rouge_stemmed"):
    key = "score" if m == "bleu" else "rougeL"
    p, a, r = py[m], r1[m], rs[m]
    print(f"{m:>14} {p['ms']:>10.1f} {a['ms']:>9.2f} {p['ms'] / a['ms']:>8.0f}x {r['ms']:>10.2f} {p['ms'] / r['ms']:>8.0f}x  {p[key]:>16.12f} {r[key]:>16.12f}")
PY
