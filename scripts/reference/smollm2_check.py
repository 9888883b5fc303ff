"""Checks Hangar's import of a GGUF model against an independent
implementation: llama.cpp's `gguf` package dequantizes and `transformers`
builds the model and the tokenizer from the same file.

usage: smollm2_check.py GGUF CASE_DIR
CASE_DIR holds what the Rust test produced: case.json, Hangar's imported
model folder (model/) and the logits of each prompt (logits_N.f32).
Prints one JSON summary line and exits 1 on any disagreement.
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

gguf = Path(sys.argv[1])
case_dir = Path(sys.argv[2])
case = json.loads((case_dir / "case.json").read_text())
torch.set_num_threads(2)
torch.manual_seed(0)

tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
model.eval()
problems = []
summary = {}

# Weights: dequantized values, row order and names.
ours = load_file(case_dir / "model" / "model.safetensors")
reference = {k: v.detach().numpy() for k, v in model.state_dict().items()}
if "lm_head.weight" in reference and "lm_head.weight" not in ours:
    reference.pop("lm_head.weight")  # tied to the embedding
missing = sorted(set(reference) ^ set(ours))
if missing:
    problems.append(f"tensor names differ: {missing[:5]}")
worst = 0.0
for name in sorted(set(reference) & set(ours)):
    a, b = ours[name], reference[name]
    if a.shape != b.shape:
        problems.append(f"{name}: shape {a.shape} vs {b.shape}")
        continue
    worst = max(worst, float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)))
summary["weights_max_relative_difference"] = worst
if worst > 1e-6:
    problems.append(f"weights differ by {worst:.2e} relative")

# Tokenizer: ids of the corpus lines.
mismatched = []
for line, ids in zip(case["lines"], case["line_ids"]):
    theirs = tokenizer.encode(line, add_special_tokens=False)
    if theirs != ids:
        mismatched.append(line[:80])
summary["lines"] = len(case["lines"])
summary["lines_with_different_ids"] = len(mismatched)
if mismatched:
    problems.append(f"{len(mismatched)} lines tokenize differently, e.g. {mismatched[:3]}")

# Logits and greedy continuations.
summary["prompts"] = []
for index, prompt in enumerate(case["prompts"]):
    if "messages" in prompt:
        rendered = tokenizer.apply_chat_template(prompt["messages"], add_generation_prompt=True, tokenize=False)
        if rendered != prompt["text"]:
            problems.append(f"prompt {index}: the chat template renders differently:\n  ours:   {prompt['text']!r}\n  theirs: {rendered!r}")
    ids = tokenizer.encode(prompt["text"], add_special_tokens=False)
    if ids != prompt["ids"]:
        problems.append(f"prompt {index} tokenizes differently")
    with torch.no_grad():
        logits = model(torch.tensor([prompt["ids"]])).logits[0].numpy()
    ours_logits = np.fromfile(case_dir / f"logits_{index}.f32", dtype="<f4").reshape(logits.shape)
    relative = float(np.abs(ours_logits - logits).max() / np.abs(logits).max())
    with torch.no_grad():
        generated = model.generate(
            torch.tensor([prompt["ids"]]), max_new_tokens=32, do_sample=False,
            eos_token_id=prompt["end_ids"], pad_token_id=prompt["end_ids"][0],
        )[0][len(prompt["ids"]):].tolist()
    while generated and generated[-1] in prompt["end_ids"]:
        generated.pop()
    text = tokenizer.decode(generated, skip_special_tokens=True)
    same = text == prompt["greedy"]
    summary["prompts"].append({"prompt": prompt["text"], "logits_max_relative_difference": relative,
                               "greedy_identical": same, "reference_continuation": text})
    if relative > 1e-3:
        problems.append(f"prompt {index}: logits differ by {relative:.2e} relative")
    if not same:
        problems.append(f"prompt {index}: greedy continuation differs:\n  ours:   {prompt['greedy']!r}\n  theirs: {text!r}")

summary["problems"] = problems
print(json.dumps(summary, ensure_ascii=False))
sys.exit(1 if problems else 0)
