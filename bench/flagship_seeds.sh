#!/usr/bin/env bash
# The default flagship under several seeds, on one home (the data tasks are
# shared; each seed fine-tunes and evaluates anew), then the margin of the
# tuned model over its base against the spread over seeds, on ROUGE-L and on
# the citation questions (every kind that asks for a citation: requirement →
# citation, title → citation).
#   bench/flagship_seeds.sh [SEED...]            (default: 1 2 3)
#   CORPUS=../shared/corpus bench/flagship_seeds.sh 1 2 3     (the real corpus)
# Extra flagship params go in FLAGSHIP_PARAMS, e.g. "-p steps=80 -p max_questions=60".
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=("$@"); [ "${#SEEDS[@]}" -gt 0 ] || SEEDS=(1 2 3)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hangar/target}"
. scripts/reference/setup.sh
if [ -z "${HANGAR_BIN:-}" ]; then
  cargo build --release --bin hangar -q
  HANGAR_BIN="$CARGO_TARGET_DIR/release/hangar"
fi
home="${HANGAR_SEEDS_HOME:-$(mktemp -d)}"
work="$(mktemp -d)"
reports=()
for seed in "${SEEDS[@]}"; do
  spec="$work/airworthiness-seed$seed.yaml"
  sed "s/^seed: .*/seed: $seed/" pipelines/airworthiness.yaml > "$spec"
  start=$(date +%s)
  # shellcheck disable=SC2086
  "$HANGAR_BIN" --home "$home" run "$spec" -q --json -p base_model="$HANGAR_TEST_GGUF" \
    -p corpus="${CORPUS:-examples/corpus}" ${FLAGSHIP_PARAMS:-} > "$work/run$seed.json" || true
  uri="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tasks"]["evaluate"]["outputs"]["report"]["uri"])' "$work/run$seed.json")"
  echo "seed $seed: $(( $(date +%s) - start )) s, report ${uri#file://}" >&2
  reports+=("${uri#file://}/report.json")
done
python3 - "${SEEDS[@]}" -- "${reports[@]}" <<'PY'
import json, statistics, sys
args = sys.argv[1:]
cut = args.index("--")
seeds, paths = args[:cut], args[cut + 1:]
def citation(by_kind):
    kinds = [v for k, v in by_kind.items() if k.endswith("_to_citation")]
    n = sum(v.get("count", 0) for v in kinds)
    s = sum(v.get("score", 0) * v.get("count", 0) for v in kinds)
    return (s / n if n else float("nan")), int(n)

rows = []
for seed, path in zip(seeds, paths):
    r = json.load(open(path))
    base = r["base"]
    bc, n = citation(base["by_kind"])
    tc, _ = citation(r["by_kind"])
    rows.append((seed, base["metrics"]["rougeL"], r["metrics"]["rougeL"], bc, tc, n, len(r["items"])))
print(f"{'seed':>4}  {'questions':>9}  {'rougeL base':>11}  {'rougeL tuned':>12}  {'citations base':>14}  {'citations tuned':>15}  (of)")
for seed, rb, rt, cb, ct, n, q in rows:
    print(f"{seed:>4}  {q:>9}  {rb:>11.4f}  {rt:>12.4f}  {cb:>14.4f}  {ct:>15.4f}  ({n})")
for name, b, t in (("rougeL", 1, 2), ("citations", 3, 4)):
    margins = [row[t] - row[b] for row in rows]
    tuned = [row[t] for row in rows]
    spread = max(tuned) - min(tuned)
    mean = statistics.mean(margins)
    verdict = "margin > spread" if min(margins) > 0 and mean > spread else "margin NOT above the spread"
    print(f"{name}: mean margin {mean:+.4f} (min {min(margins):+.4f}), spread of the tuned model over seeds {spread:.4f}: {verdict}")
PY
