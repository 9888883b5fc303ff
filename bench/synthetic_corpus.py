#!/usr/bin/env python3
"""A synthetic corpus N times the size of a real one, for scale runs: never committed.

Reads the documents an `ingest` of the real corpus wrote (JSONL) and writes
JSONL files of new documents with the same statistics: the same languages in
the same shares, document lengths drawn from the real ones, paragraphs drawn
from real documents of the same language with their numbers changed (so they
are new text, not copies), and the real share of near-duplicates (a new
document that is an earlier one with a few paragraphs edited), so dedup has
the work it would have on real data.

    python3 bench/synthetic_corpus.py --documents DOCS.jsonl --scale 100 --out DIR
"""
import argparse
import json
import os
import random
import re

NUMBER = re.compile(r"\d+")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", required=True, help="JSONL an ingest of the real corpus wrote")
    parser.add_argument("--scale", type=float, default=100.0, help="times the real corpus's bytes")
    parser.add_argument("--out", required=True, help="folder for the JSONL files")
    parser.add_argument("--file-mb", type=int, default=32, help="size of each written file")
    parser.add_argument("--near-duplicates", type=float, default=0.08, help="share of edited copies")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    docs = [json.loads(line) for line in open(args.documents, encoding="utf-8") if line.strip()]
    real_bytes = sum(len(d["text"].encode()) for d in docs)
    by_lang = {}
    for d in docs:
        by_lang.setdefault(d.get("lang") or "und", []).append(d)
    paragraphs = {
        lang: [p for d in group for p in d["text"].split("\n\n") if p.strip()] for lang, group in by_lang.items()
    }
    target = int(real_bytes * args.scale)
    os.makedirs(args.out, exist_ok=True)

    written, index, part = 0, 0, 0
    recent = []
    out = None
    while written < target:
        if out is None or out.tell() >= args.file_mb << 20:
            if out:
                out.close()
            out = open(os.path.join(args.out, f"synthetic-{part:04d}.jsonl"), "w", encoding="utf-8")
            part += 1
        model = rng.choice(docs)
        lang = model.get("lang") or "und"
        if recent and rng.random() < args.near_duplicates:
            # An earlier document with one paragraph in ten rewritten.
            base = rng.choice(recent)["text"].split("\n\n")
            for i in range(len(base)):
                if rng.random() < 0.1:
                    base[i] = renumber(rng.choice(paragraphs[lang]), rng)
            text = "\n\n".join(base)
        else:
            wanted = max(1, len(model["text"].split("\n\n")))
            text = "\n\n".join(renumber(rng.choice(paragraphs[lang]), rng) for _ in range(wanted))
        doc = {
            "id": f"syn-{index:08d}",
            "title": renumber(model.get("title") or "", rng),
            "lang": lang,
            "text": text,
            "source": f"synthetic/{index:08d}",
        }
        line = json.dumps(doc, ensure_ascii=False)
        out.write(line + "\n")
        written += len(text.encode())
        index += 1
        recent.append(doc)
        if len(recent) > 2000:
            recent.pop(0)
    if out:
        out.close()
    print(json.dumps({"real_documents": len(docs), "real_text_bytes": real_bytes, "documents": index,
                      "text_bytes": written, "files": part}))


def renumber(text, rng):
    return NUMBER.sub(lambda m: str(rng.randint(1, 10 ** len(m.group())) - 1), text)


if __name__ == "__main__":
    main()
