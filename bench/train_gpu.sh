#!/usr/bin/env bash
# GPU training throughput of a ~110M-parameter LLaMA-style model (12 layers,
# d_model 768, 12 heads, context 1024, batch 8, vocabulary 32000) in Hangar
# (burn-cuda) and in PyTorch on the same card, fp32 and bf16 mixed
# precision, with model FLOPs utilisation (6 x parameters x tokens/s against
# the card's dense bf16 peak).
#
# Two halves, because the GPU machine has PyTorch but no Rust toolchain:
#   bench/train_gpu.sh build   # here: builds the bench with --features cuda into bench/bin/
#   bench/train_gpu.sh run     # on the GPU machine (carry bench/bin), under ten minutes
# CUDARC_CUDA_VERSION (default 12040) pins the CUDA driver API the binary
# expects; any driver of that version or newer runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${STEPS:-20}"
SIZE=(--layers 12 --d-model 768 --heads 12 --context 1024 --batch 8 --vocab 32000)

build() {
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hangar/target}"
  export CUDARC_CUDA_VERSION="${CUDARC_CUDA_VERSION:-12040}"
  local exe
  exe="$(cargo bench -p hangar-train --features cuda --bench throughput --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "throughput":
        print(m["executable"])' | tail -1)"
  [ -n "$exe" ] || { echo "the cuda bench did not build; run: cargo bench -p hangar-train --features cuda --bench throughput --no-run" >&2; exit 1; }
  mkdir -p bench/bin
  cp "$exe" bench/bin/throughput-cuda
  strip bench/bin/throughput-cuda 2>/dev/null || true
  ls -l bench/bin/throughput-cuda
}

run() {
  command -v nvidia-smi >/dev/null || { echo "no nvidia-smi: run this on the GPU machine" >&2; exit 1; }
  [ -x bench/bin/throughput-cuda ] || { echo "bench/bin/throughput-cuda is missing: run 'bench/train_gpu.sh build' first and carry bench/bin" >&2; exit 1; }
  PY="${PYTHON:-python3}"
  # burn-cuda compiles its kernels with NVRTC at run time; PyTorch's wheels carry one.
  NVLIBS="$("$PY" -c 'import glob, os, nvidia; print(":".join(sorted(glob.glob(os.path.join(list(nvidia.__path__)[0], "*", "lib")))))' 2>/dev/null || true)"
  export LD_LIBRARY_PATH="${NVLIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  GPU="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)"
  echo "GPU: $GPU; torch $("$PY" -c 'import torch; print(torch.__version__, torch.version.cuda)')"
  : > /tmp/gpu-bench.txt
  for precision in fp32 bf16; do
    timeout 200 bench/bin/throughput-cuda "${SIZE[@]}" --steps "$STEPS" --device cuda --precision "$precision" 2>&1 |
      tail -2 | sed "s/^/hangar $precision: /" | tee -a /tmp/gpu-bench.txt || echo "hangar $precision: failed or timed out" | tee -a /tmp/gpu-bench.txt
    timeout 120 "$PY" bench/train_torch.py "${SIZE[@]}" --steps "$STEPS" --device cuda --dtype "$precision" |
      sed "s/^/torch $precision: /" | tee -a /tmp/gpu-bench.txt || echo "torch $precision: failed" | tee -a /tmp/gpu-bench.txt
  done
  "$PY" - "$GPU" <<'PY'
import json, re, sys
gpu = sys.argv[1]
# Dense bf16 tensor-core peaks (TFLOP/s) from NVIDIA's data sheets.
peak = 989.0 if ("H100" in gpu and "PCIe" not in gpu) or "H200" in gpu else 756.0 if "H100" in gpu else float("nan")
text = open("/tmp/gpu-bench.txt").read()
params = None
rows = {}
for line in text.splitlines():
    m = re.match(r"hangar (\w+): cuda: (\d+) tokens/s", line)
    if m:
        rows[("hangar", m[1])] = float(m[2])
    m = re.match(r"torch (\w+): (\{.*\})", line)
    if m:
        row = json.loads(m[2])
        rows[("torch", m[1])] = row["tokens_per_s"]
        params = row["parameters"]
print(f"\n{'precision':>9} {'hangar tok/s':>13} {'pytorch tok/s':>14} {'ratio':>6} {'hangar MFU':>11} {'pytorch MFU':>12}")
for p in ("fp32", "bf16"):
    h, t = rows.get(("hangar", p)), rows.get(("torch", p))
    mfu = lambda r: f"{600 * params * r / 1e12 / peak:.1f}%" if r and params else "-"
    ratio = f"{h / t:.2f}" if h and t else "-"
    print(f"{p:>9} {h or 0:>13.0f} {t or 0:>14.0f} {ratio:>6} {mfu(h):>11} {mfu(t):>12}")
print(f"MFU = 6 x {params} parameters x tokens/s / {peak} TFLOP/s (dense bf16 peak of {gpu.split(',')[0]})")
PY
}

case "${1:-}" in
  build) build ;;
  run) run ;;
  *) echo "usage: bench/train_gpu.sh build|run" >&2; exit 2 ;;
esac
