#!/usr/bin/env bash
# Dedup side by side: Hangar and Python datasketch on the same synthetic
# corpus (50,000 documents of ~2 KB with planted exact and near duplicates).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hangar/target}"
DOCS="${DOCS:-50000}"
DATA="$CARGO_TARGET_DIR/bench-data/dedup"

cargo bench -p hangar-operators --bench dedup -- --docs "$DOCS" --dir "$DATA"

VENV="${VENV:-$CARGO_TARGET_DIR/bench-venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q "datasketch==2.*"
"$VENV/bin/python" bench/dedup_reference.py "$DATA" --threshold 0.8
"$VENV/bin/python" bench/dedup_reference.py "$DATA" --bands 14 --rows 8
