#!/usr/bin/env bash
# CPU training throughput of the same model (4 layers, d_model 256, 4 heads,
# context 256, batch 8, vocabulary 8000, fp32) in Hangar (burn, ndarray) and in
# PyTorch (installed in a venv), 1 and 2 threads, in one run; with the
# achieved FLOP/s (6 x parameters x tokens/s) against this CPU's peak.
#   bench/train.sh            # STEPS=12 by default
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hangar/target}"
STEPS="${STEPS:-12}"
VENV="${VENV:-$HOME/.cache/hangar/torch-venv}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet torch numpy
fi

# Peak fp32 FLOP/s: cores x clock x (FMA lanes x 2 x FMA units), 2 FMA units assumed.
MHZ="$(awk -F: '/cpu MHz/ {print $2; exit}' /proc/cpuinfo | tr -d ' ')"
# AVX-512 counts 16 fp32 lanes per FMA on Intel; AMD Zen 4 runs it as two 256-bit halves (8).
if grep -q avx512f /proc/cpuinfo && ! grep -q AuthenticAMD /proc/cpuinfo; then LANES=16; elif grep -q avx2 /proc/cpuinfo; then LANES=8; else LANES=4; fi
MODEL="$(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ //')"
PER_CORE="$(python3 -c "print(round($MHZ * 1e6 * $LANES * 2 * 2 / 1e9, 1))")"
echo "CPU: $MODEL, ${MHZ} MHz, $(nproc) cores; peak about $PER_CORE GFLOP/s per core (fp32, ${LANES}-lane FMA x 2)"
echo

# The matrix kernels (matrixmultiply) size their own pool once per process from
# MATMUL_NUM_THREADS (default: physical cores), so each thread count runs apart.
cargo bench -q -p hangar-train --bench throughput --no-run 2>/dev/null
for threads in 1 2; do
  MATMUL_NUM_THREADS=$threads cargo bench -q -p hangar-train --bench throughput -- --steps "$STEPS" --threads "$threads" 2>/dev/null
done | tee /tmp/hangar-train-bench.txt
for threads in 1 2; do
  "$VENV/bin/python" bench/train_torch.py --steps "$STEPS" --threads "$threads"
done | tee /tmp/torch-train-bench.txt
echo
python3 - "$PER_CORE" <<'PY'
import json, re, sys
per_core = float(sys.argv[1])
hangar = {int(m[0]): float(m[1]) for m in re.findall(r"threads (\d+): (\d+) tokens/s", open("/tmp/hangar-train-bench.txt").read())}
torch = {row["threads"]: row for row in map(json.loads, open("/tmp/torch-train-bench.txt"))}
print(f"{'threads':>7} {'hangar tok/s':>13} {'pytorch tok/s':>14} {'ratio':>6} {'hangar % peak':>14} {'pytorch % peak':>15}")
for t in sorted(hangar):
    h, p = hangar[t], torch[t]["tokens_per_s"]
    params = torch[t]["parameters"]
    peak = per_core * t
    print(f"{t:>7} {h:>13.0f} {p:>14.0f} {h / p:>6.2f} {600 * params * h / 1e9 / peak:>13.1f}% {600 * params * p / 1e9 / peak:>14.1f}%")
PY
