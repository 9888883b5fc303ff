"""The same LLaMA-style model and training step as hangar-train, in PyTorch,
for a side-by-side throughput figure (bench/train.sh runs both).

RMSNorm, rotary positions (rotate-half), SwiGLU, causal attention, tied
embeddings, AdamW with gradient clipping; random tokens. fp32 on the CPU;
on CUDA (--device cuda) fp32 or bf16 autocast (--dtype bf16), with
PyTorch's fused scaled-dot-product attention as a PyTorch user would write it.
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope(seq, head_dim, device, theta=10000.0):
    inv = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=device).float() / head_dim)
    angles = torch.outer(torch.arange(seq, device=device).float(), inv)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos()[None, None], angles.sin()[None, None]


def rotate(x, cos, sin):
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class Block(nn.Module):
    def __init__(self, d, heads, ffn):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.gate, self.up = nn.Linear(d, ffn, bias=False), nn.Linear(d, ffn, bias=False)
        self.down = nn.Linear(ffn, d, bias=False)
        self.n1, self.n2 = RMSNorm(d), RMSNorm(d)

    def forward(self, x, cos, sin):
        b, s, d = x.shape
        hd = d // self.heads
        h = self.n1(x)
        split = lambda t: t.view(b, s, self.heads, hd).transpose(1, 2)
        q, k, v = rotate(split(self.q(h)), cos, sin), rotate(split(self.k(h)), cos, sin), split(self.v(h))
        if x.is_cuda:
            attn = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            scores = (q @ k.transpose(2, 3)) / math.sqrt(hd)
            mask = torch.triu(torch.ones(s, s, dtype=torch.bool), 1)
            attn = scores.masked_fill(mask, float("-inf")).softmax(-1) @ v
        x = x + self.o(attn.transpose(1, 2).reshape(b, s, d))
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self, vocab, d, layers, heads, ffn):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(Block(d, heads, ffn) for _ in range(layers))
        self.norm = RMSNorm(d)
        self.heads = heads

    def forward(self, tokens):
        s = tokens.shape[1]
        cos, sin = rope(s, self.embed.weight.shape[1] // self.heads, tokens.device)
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x, cos, sin)
        return self.norm(x) @ self.embed.weight.T


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--context", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--vocab", type=int, default=8000)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ffn", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    a = p.parse_args()
    device = torch.device(a.device)
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    ffn = a.ffn or (a.d_model * 8 // 3 + 63) // 64 * 64
    model = Llama(a.vocab, a.d_model, a.layers, a.heads, ffn).to(device)
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=a.dtype == "bf16")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    params = sum(t.numel() for t in model.parameters())
    rates = []
    for step in range(a.steps):
        tokens = torch.randint(0, a.vocab, (a.batch, a.context + 1), device=device)
        started = time.perf_counter()
        with autocast:
            logits = model(tokens[:, :-1])
        loss = F.cross_entropy(logits.float().reshape(-1, a.vocab), tokens[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss.item()
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(a.batch * a.context / (time.perf_counter() - started))
    rate = statistics.median(rates[2:])
    print(json.dumps({"threads": a.threads, "device": a.device, "dtype": a.dtype, "parameters": params, "tokens_per_s": rate,
                      "gflops": 6 * params * rate / 1e9, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
