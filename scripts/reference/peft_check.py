"""Checks a LoRA adapter exported by Hangar against Hugging Face PEFT:
`PeftModel.from_pretrained` applies it to the base, and its logits must be
Hangar's own (the adapted model before merging) and those of the merged
model Hangar exported beside it.

usage: peft_check.py CASE_DIR
CASE_DIR holds base/ (the base model folder), tuned/ (the merged export,
with the adapter in tuned/adapter/) and case.json ({"tokens": [...],
"logits": [...]}: Hangar's logits, row-major [tokens, vocab]).
Prints one JSON line and exits 1 on any disagreement.
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

case_dir = Path(sys.argv[1])
case = json.loads((case_dir / "case.json").read_text())
torch.set_num_threads(2)
tokens = torch.tensor([case["tokens"]])


def logits(model):
    model.eval()
    with torch.no_grad():
        return model(tokens).logits[0].numpy().astype(np.float64)


base = logits(AutoModelForCausalLM.from_pretrained(case_dir / "base", dtype=torch.float32))
adapted_model = PeftModel.from_pretrained(
    AutoModelForCausalLM.from_pretrained(case_dir / "base", dtype=torch.float32), case_dir / "tuned" / "adapter"
)
adapted = logits(adapted_model)
merged = logits(AutoModelForCausalLM.from_pretrained(case_dir / "tuned", dtype=torch.float32))
ours = np.array(case["logits"], dtype=np.float64).reshape(adapted.shape)

summary = {
    "adapter_moves_logits": float(np.abs(adapted - base).max()),
    "peft_vs_hangar": float(np.abs(adapted - ours).max()),
    "peft_vs_merged": float(np.abs(adapted - merged).max()),
    "scale": float(np.abs(ours).max()),
}
problems = []
tolerance = 1e-4 * max(1.0, summary["scale"])
if summary["adapter_moves_logits"] < 1e-3:
    problems.append("the adapter leaves the base's logits as they were: nothing was applied")
if summary["peft_vs_hangar"] > tolerance:
    problems.append(f"PEFT's logits differ from Hangar's by {summary['peft_vs_hangar']}")
if summary["peft_vs_merged"] > tolerance:
    problems.append(f"PEFT's logits differ from the merged export's by {summary['peft_vs_merged']}")
summary["problems"] = problems
print(json.dumps(summary))
sys.exit(1 if problems else 0)
