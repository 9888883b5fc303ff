#!/usr/bin/env bash
# LoRA fine-tuning of SmolLM2-135M-Instruct on the CPU, side by side in one
# run: Hangar (the flagship's finetune task, burn) and PyTorch + peft on the
# same base (dequantized from the same GGUF), the same LoRA (rank 8, alpha
# 16, q/k/v/o), the same batch shape (4 x 128 tokens) and thread count.
#   bench/finetune.sh [STEPS] [THREADS...]      (default: 8 steps, 1 and 2 threads)
# Prints the median tokens/s of each; the first step of each is a warm-up.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${1:-8}"; shift || true
THREADS=("$@"); [ "${#THREADS[@]}" -gt 0 ] || THREADS=(1 2)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hangar/target}"
. scripts/reference/setup.sh
"$HANGAR_REFERENCE_PYTHON" -c 'import peft' 2>/dev/null || "$HANGAR_REFERENCE_PYTHON" -m pip install --quiet peft==0.21.2
# HANGAR_BIN: a hangar binary already built (the dev profile optimises the
# train crate and every dependency: the training loop runs at release speed).
if [ -z "${HANGAR_BIN:-}" ]; then
  cargo build --release --bin hangar -q
  HANGAR_BIN="$CARGO_TARGET_DIR/release/hangar"
fi
for threads in "${THREADS[@]}"; do
  home="$(mktemp -d)"
  RAYON_NUM_THREADS="$threads" MATMUL_NUM_THREADS="$threads" "$HANGAR_BIN" --home "$home" run pipelines/airworthiness.yaml \
    -q -p base_model="$HANGAR_TEST_GGUF" -p steps="$((STEPS + 1))" -p seq=128 -p max_questions=1 >/dev/null 2>&1 || true
  metrics="$(find "$home/artifacts/runs" -path '*finetune*' -name metrics.jsonl | head -1)"
  hangar="$(python3 - "$metrics" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rates = [r["tokens_per_s"] for r in rows if "tokens_per_s" in r][1:]
print(f"{statistics.median(rates):.1f}")
PY
)"
  torch="$("$HANGAR_REFERENCE_PYTHON" scripts/reference/finetune_torch.py "$HANGAR_TEST_GGUF" "$threads" "$STEPS" 2>/dev/null | tail -1)"
  torch_rate="$(python3 -c 'import json,sys; print("%.1f" % json.loads(sys.argv[1])["tokens_per_s"])' "$torch")"
  printf 'threads %s: hangar %s tok/s, pytorch+peft %s tok/s, ratio %s\n' "$threads" "$hangar" "$torch_rate" \
    "$(python3 -c "print(f'{$hangar/$torch_rate:.2f}x')")"
  rm -rf "$home"
done
