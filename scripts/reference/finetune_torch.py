"""The PyTorch + peft side of bench/finetune.sh: LoRA (rank 8, alpha 16, on
q/k/v/o) on SmolLM2-135M-Instruct dequantized to fp32 from the same GGUF,
AdamW at lr 1e-3, batches of 4 x 128 tokens, on N threads. Prints the
median tokens/s over the timed steps (the first step is a warm-up).

usage: finetune_torch.py GGUF THREADS STEPS
"""
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

gguf, threads, steps = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], lora_dropout=0.0))
model.train()
optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
batch, seq = 4, 128
times = []
for step in range(steps + 1):
    ids = torch.randint(0, model.config.vocab_size, (batch, seq))
    start = time.perf_counter()
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    if step > 0:
        times.append(time.perf_counter() - start)
median = statistics.median(times)
print(json.dumps({"threads": threads, "steps": steps, "median_step_s": median, "tokens_per_s": batch * seq / median}))
