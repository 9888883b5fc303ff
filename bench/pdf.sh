#!/usr/bin/env bash
# PDF text extraction side by side: Hangar, pdftotext and pdfminer.six on the
# corpus PDFs (read in place from ../shared/corpus).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hangar/target}"
CORPUS="$(cd "${CORPUS:-../shared/corpus}" && pwd)"
command -v pdftotext >/dev/null || { echo "pdftotext is missing: apt-get install poppler-utils" >&2; exit 1; }

cargo bench -p hangar-operators --bench pdf -- --corpus "$CORPUS"

VENV="${VENV:-$CARGO_TARGET_DIR/bench-venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q pdfminer.six
"$VENV/bin/python" bench/pdf_reference.py "$CORPUS"
