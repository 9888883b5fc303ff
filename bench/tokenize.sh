#!/usr/bin/env bash
# Tokenization side by side: Hangar (Rust tokenizers crate) and Hugging Face
# tokenizers in Python, same tokenizer.json, same texts, one thread each.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hangar/target}"
CORPUS="$(cd "${CORPUS:-../shared/corpus}" && pwd)"
DATA="$CARGO_TARGET_DIR/bench-data/tokenize"
export RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false

cargo bench -p hangar-operators --bench tokenize -- --corpus "$CORPUS" --dir "$DATA"

VENV="${VENV:-$CARGO_TARGET_DIR/bench-venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q tokenizers
"$VENV/bin/python" bench/tokenize_reference.py "$DATA"
