"""transformers on the weights Hangar's generation bench wrote: greedy,
128 new tokens, one request and eight together, fp32 on the CPU (bf16 with
HANGAR_GENERATION_WEIGHTS=bf16, as Hangar's bench then); time to first token
and tokens/s (medians), as JSON lines."""
import json
import os
import statistics
import sys
import time

import torch
from transformers import LlamaForCausalLM

model_dir = sys.argv[1]
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
threads = int(sys.argv[3]) if len(sys.argv) > 3 else torch.get_num_threads()
torch.set_num_threads(threads)
dtype = torch.bfloat16 if os.environ.get("HANGAR_GENERATION_WEIGHTS") == "bf16" else torch.float32
model = LlamaForCausalLM.from_pretrained(model_dir, torch_dtype=dtype).eval()
vocab = model.config.vocab_size
NEW = 128


def prompt(i):
    return [(i * 131 + k * 17) % vocab for k in range(16)]


with torch.inference_mode():
    for batch in (1, 8):
        ids = torch.tensor([prompt(i) for i in range(batch)])
        mask = torch.ones_like(ids)
        kwargs = dict(attention_mask=mask, do_sample=False, pad_token_id=0, eos_token_id=None)
        model.generate(ids, max_new_tokens=8, min_new_tokens=8, **kwargs)  # warm-up
        rates, firsts = [], []
        for _ in range(runs):
            started = time.perf_counter()
            model.generate(ids, max_new_tokens=1, min_new_tokens=1, **kwargs)
            firsts.append(time.perf_counter() - started)
            started = time.perf_counter()
            out = model.generate(ids, max_new_tokens=NEW, min_new_tokens=NEW, **kwargs)
            seconds = time.perf_counter() - started
            assert out.shape[1] - ids.shape[1] == NEW
            rates.append(NEW * batch / seconds)
        print(json.dumps({"engine": "transformers", "batch": batch, "threads": threads, "dtype": str(dtype).removeprefix("torch."),
                          "tokens_per_s": statistics.median(rates),
                          "first_token_ms": statistics.median(firsts) * 1e3,
                          "transformers": __import__("transformers").__version__, "torch": torch.__version__}))
