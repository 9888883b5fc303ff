"""Writes a GGUF file with one tensor of each ggml type Hangar dequantizes,
made of random blocks, and beside it what llama.cpp's own `gguf` package
dequantizes each to (raw little-endian f32), for the import tests to match.

usage: quant_fixture.py OUT_DIR
"""
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T, GGUFWriter, quants
from gguf.constants import GGML_QUANT_SIZES

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(7)
ROWS, COLS = 4, 512

writer = GGUFWriter(str(out / "quants.gguf"), "llama")
for qtype in [T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q4_K, T.Q5_K, T.Q6_K]:
    name = qtype.name
    if qtype == T.F32:
        raw = rng.standard_normal((ROWS, COLS)).astype(np.float32)
        values = raw
    elif qtype == T.F16:
        raw = rng.standard_normal((ROWS, COLS)).astype(np.float16)
        values = raw.astype(np.float32)
    else:
        block, size = GGML_QUANT_SIZES[qtype]
        # Random bits everywhere, then sane half-precision scales: every
        # field of every block is exercised without infinities or NaNs.
        data = rng.integers(0, 256, size=(ROWS, COLS // block * size), dtype=np.uint8)
        blocks = data.reshape(ROWS, COLS // block, size)
        if qtype == T.BF16:
            blocks = rng.standard_normal((ROWS, COLS)).astype(np.float32).view(np.uint32) >> 16
            blocks = blocks.astype(np.uint16).view(np.uint8).reshape(ROWS, COLS * 2)
            data = blocks
        else:
            scale_offsets = {
                T.Q8_0: [0], T.Q4_0: [0], T.Q5_0: [0], T.Q4_1: [0, 2], T.Q5_1: [0, 2],
                T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [size - 2],
            }[qtype]
            for offset in scale_offsets:
                halves = (rng.standard_normal(blocks.shape[:2]) * 0.05).astype(np.float16)
                blocks[:, :, offset:offset + 2] = halves.view(np.uint8).reshape(*blocks.shape[:2], 2)
            data = blocks.reshape(ROWS, -1)
        raw = data
        values = quants.dequantize(data, qtype).astype(np.float32)
    writer.add_tensor(name, raw, raw_dtype=None if qtype in (T.F32, T.F16) else qtype)
    values.reshape(ROWS, COLS).astype("<f4").tofile(out / f"{name}.f32")
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()
print("wrote", out)
