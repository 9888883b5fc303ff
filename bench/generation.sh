#!/usr/bin/env bash
# Generation speed of the same ~7.4M-parameter LLaMA in Hangar (KV cache,
# batched decoding, burn ndarray) and in transformers (PyTorch, CPU, fp32):
# greedy, 128 new tokens, batch 1 and batch 8. The two take turns for
# ROUNDS rounds of RUNS runs each, so that the machine's drift falls on
# both; the table shows the median over rounds of each round's median.
#   bench/generation.sh
#   SMOLLM2=1 bench/generation.sh     (SmolLM2-135M-Instruct, imported from the reference GGUF)
#   SMOLLM2=1 HANGAR_GENERATION_WEIGHTS=bf16 bench/generation.sh   (both engines with bf16 weights)
# PROFILE=dev builds with the dev profile (the train crate and every
# dependency are optimised there too) instead of a release build of burn;
# HANGAR_BIN= reuses a built hangar for the import.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hangar/target}"
# The reference venv (pinned torch and transformers), made once by the test set-up.
. scripts/reference/setup.sh
PYTHON="$HANGAR_REFERENCE_PYTHON"
DIR="$(mktemp -d)"
trap 'rm -rf "$DIR"' EXIT
MODEL_DIR="$DIR/model"
PROFILE="${PROFILE:-release}"
HANGAR="${HANGAR_BIN:-$CARGO_TARGET_DIR/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")/hangar}"
if [ "${SMOLLM2:-}" = 1 ]; then
  # The real 135M model: imported once by Hangar into a scratch home; both
  # engines read the same Hugging Face folder.
  [ -n "${HANGAR_BIN:-}" ] || cargo build --profile "$PROFILE" --bin hangar -q
  "$HANGAR" --home "$DIR/home" models import "$HANGAR_TEST_GGUF" --name smollm2 >/dev/null
  key="$("$HANGAR" --home "$DIR/home" models show smollm2 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["artifact_key"])')"
  MODEL_DIR="$DIR/home/artifacts/$key"
  export HANGAR_GENERATION_MODEL="$MODEL_DIR"
fi
RUNS="${RUNS:-3}"
ROUNDS="${ROUNDS:-3}"
cargo bench -q --profile "$PROFILE" -p hangar-train --bench generation --no-run 2>/dev/null
for _ in $(seq "$ROUNDS"); do
  cargo bench -q --profile "$PROFILE" -p hangar-train --bench generation -- "$DIR/model" "$RUNS" 2>/dev/null | tee -a "$DIR/hangar.jsonl"
  "$PYTHON" bench/generation_torch.py "$MODEL_DIR" "$RUNS" "$(nproc)" 2>/dev/null | tee -a "$DIR/torch.jsonl"
done
python3 - "$DIR" <<'PY'
import json, statistics, sys
d = sys.argv[1]

def medians(path):
    rows = {}
    for r in map(json.loads, open(path)):
        rows.setdefault(r["batch"], []).append(r)
    return {b: {k: statistics.median(r[k] for r in rs) for k in ("tokens_per_s", "first_token_ms")}
            for b, rs in rows.items()}

h, t = medians(f"{d}/hangar.jsonl"), medians(f"{d}/torch.jsonl")
print(f"\n{'batch':>5} {'hangar tok/s':>13} {'transformers tok/s':>19} {'ratio':>6} {'hangar TTFT ms':>15} {'transformers TTFT ms':>21}")
for b in sorted(h):
    print(f"{b:>5} {h[b]['tokens_per_s']:>13.0f} {t[b]['tokens_per_s']:>19.0f} {h[b]['tokens_per_s'] / t[b]['tokens_per_s']:>6.2f} {h[b]['first_token_ms']:>15.1f} {t[b]['first_token_ms']:>21.1f}")
PY
