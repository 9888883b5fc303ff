#!/usr/bin/env bash
# Chaos under load on PostgreSQL + S3: 100 runs on 4 workers while workers
# and the coordinator are SIGKILLed; figures in docs/reliability.md.
# RUNS, WORKERS and CHAOS_S change the load and the length of the chaos.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hangar/target}"
. scripts/services.sh
cargo build -q -p hangar
python3 bench/chaos.py "$CARGO_TARGET_DIR/debug/hangar"
