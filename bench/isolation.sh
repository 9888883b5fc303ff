#!/usr/bin/env bash
# Per-task cost of running attempts in child processes (hangar serve's
# default) against --in-process, side by side; figures in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hangar/target}"
# The dev profile (dependencies optimised, as in the tests): what is measured
# is process start, database connection and the protocol, not operator code.
cargo build -q -p hangar
python3 bench/isolation.py "$CARGO_TARGET_DIR/debug/hangar"
