"""Hugging Face tokenizers (Python) on the tokenizer and texts written by
`cargo bench -p hangar-operators --bench tokenize`; one thread, and a check
that both produce the same token ids.

    TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1 python bench/tokenize_reference.py DIR
"""

import json
import sys
import time

from tokenizers import Tokenizer


def main():
    folder = sys.argv[1]
    tokenizer = Tokenizer.from_file(f"{folder}/tokenizer.json")
    texts = [json.loads(line) for line in open(f"{folder}/texts.jsonl", encoding="utf-8")]
    size = sum(len(t.encode("utf-8")) for t in texts)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        for text in texts:
            tokenizer.encode(text, add_special_tokens=False)
        times.append(time.perf_counter() - started)
    seconds = sorted(times)[len(times) // 2]
    expected = json.load(open(f"{folder}/ids.json"))
    same = sum(tokenizer.encode(t, add_special_tokens=False).ids == e for t, e in zip(texts, expected))
    print(f"{'HF tokenizers (Python)':<34} {seconds:>8.3f} s {size / 1e6 / seconds:>8.2f} MB/s; identical ids for {same}/{len(texts)} documents")


if __name__ == "__main__":
    main()
