#!/usr/bin/env bash
# Fuzzes Hangar's parsers with AFL++ (cargo-afl, on the stable toolchain):
#   fuzz/afl/run.sh [SECONDS] [TARGET...]    (default: 600 s, every target)
# Seeds: fuzz/seeds/TARGET plus the example corpus's files of that format.
# Prints, per target, executions, paths, crashes and hangs from AFL++'s stats.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET="${1:-600}"; shift || true
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_FUZZ:-$HOME/.cache/hangar/fuzz-target}"
command -v cargo-afl >/dev/null 2>&1 || cargo install cargo-afl --locked
cargo afl config --build >/dev/null 2>&1 || true
cargo afl build --release -q
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(spec cron pdf docx html xml json jsonl csv text)
declare -A extensions=([spec]=yaml [pdf]=pdf [docx]=docx [html]=html [xml]=xml [json]=json [csv]=csv [text]="txt md")
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
for target in "${targets[@]}"; do
  seeds="$(mktemp -d)"; out="out/$target"
  cp ../seeds/"$target"/* "$seeds"/ 2>/dev/null || true
  for ext in ${extensions[$target]:-}; do
    find ../../examples/corpus -name "*.$ext" -size -200k -exec cp {} "$seeds"/ \;
  done
  rm -rf "$out"; mkdir -p out
  # 2 GiB of memory per execution, 10 s per input: over either is a finding.
  cargo afl fuzz -V "$SECONDS_PER_TARGET" -m 2048 -t 10000 -i "$seeds" -o "$out" \
    -- "$CARGO_TARGET_DIR/release/hangar-fuzz-afl" "$target" >"$out.log" 2>&1 || true
  stats="$out/default/fuzzer_stats"
  value() { grep "^$1 " "$stats" | sed 's/.*: //'; }
  printf '%-6s %10s execs in %5s s  %6s paths  %s crashes  %s hangs\n' "$target" \
    "$(value execs_done)" "$(value run_time)" "$(value corpus_count)" "$(value saved_crashes)" "$(value saved_hangs)"
done
