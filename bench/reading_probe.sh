#!/usr/bin/env bash
# Does the tuned flagship recall what it read? Its evaluation again, with the
# reading passages of the held-out sections asked in their own train prompts
# (a `questions:` file), printing each prompt, what was trained and what the
# model answers. Run it on a home where the flagship already ran with SEED:
# the data tasks and the fine-tune are cached, only evaluate runs again.
#   bench/reading_probe.sh HOME [SEED]     (SEED: the pipeline's, default 42)
#   e.g. HANGAR_SEEDS_HOME=/tmp/seeds bench/flagship_seeds.sh 1; bench/reading_probe.sh /tmp/seeds 1
set -euo pipefail
cd "$(dirname "$0")/.."
home="$1"; seed="${2:-42}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hangar/target}"
. scripts/reference/setup.sh
HANGAR_BIN="${HANGAR_BIN:-$CARGO_TARGET_DIR/release/hangar}"
work="$(mktemp -d)"
sft="$(dirname "$(ls -t "$home"/artifacts/runs/*/dataset/a*/dataset/sft/train.jsonl | head -1)")"
python3 - "$sft" > "$work/probe.jsonl" <<'PY'
import json, sys
sft = sys.argv[1]
held_out = {json.loads(l)["provenance"]["section"] for l in open(f"{sft}/test.jsonl") if l.strip()}
for line in open(f"{sft}/train.jsonl"):
    chat = json.loads(line)
    if chat["kind"] == "reading" and chat["provenance"]["section"] in held_out:
        prompt, passage = (m["content"] for m in chat["messages"])
        print(json.dumps({"question": prompt, "answer": passage, "kind": "reading"}, ensure_ascii=False))
PY
sed -e "s/^seed: .*/seed: $seed/" \
    -e 's#^      max_questions: "${{ params.max_questions }}"$#&\n      questions: '"$work"'/probe.jsonl#' \
    pipelines/airworthiness.yaml > "$work/probe.yaml"
grep -q "questions: $work/probe.jsonl" "$work/probe.yaml"
"$HANGAR_BIN" --home "$home" run "$work/probe.yaml" -q --json -p base_model="$HANGAR_TEST_GGUF" > "$work/run.json"
report="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tasks"]["evaluate"]["outputs"]["report"]["uri"])' "$work/run.json")"
python3 - "${report#file://}/report.json" <<'PY'
import json, sys
for item in json.load(open(sys.argv[1]))["items"]:
    line = lambda text: " | ".join(text.splitlines())[:160]
    print(f"prompt:  {item['question']}\ntrained: {line(item['reference'])}\nanswer:  {line(item['answer'])}\n")
PY
