"""Python datasketch on the corpus written by `cargo bench -p hangar-operators --bench dedup`.

MinHash with 128 permutations over word 5-grams (lower-cased runs of letters
and digits, as Hangar shingles them), MinHashLSH, union-find over every
candidate pair, the first document of each cluster kept. Scored against the
same ground truth as Hangar, with the same recall definition.

    python bench/dedup_reference.py DIR [--threshold 0.8] [--bands B --rows R]
"""

import argparse
import json
import re
import resource
import time

from datasketch import MinHash, MinHashLSH

WORD = re.compile(r"[0-9a-z]+")


def shingles(text, n=5):
    words = WORD.findall(text.lower())
    if len(words) < n:
        return [" ".join(words).encode()]
    return [" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)]


def find(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--bands", type=int)
    parser.add_argument("--rows", type=int)
    parser.add_argument("--perm", type=int, default=128)
    args = parser.parse_args()

    corpus = f"{args.dir}/corpus.jsonl"
    started = time.perf_counter()
    size = 0
    ids = []
    if args.bands and args.rows:
        lsh = MinHashLSH(num_perm=args.perm, params=(args.bands, args.rows))
        label = f"{args.bands}x{args.rows} bands"
    else:
        lsh = MinHashLSH(threshold=args.threshold, num_perm=args.perm)
        label = f"threshold {args.threshold}"
    parent = []
    with open(corpus, "rb") as handle:
        for line in handle:
            size += len(line)
            doc = json.loads(line)
            m = MinHash(num_perm=args.perm)
            m.update_batch(shingles(doc["text"]))
            index = len(ids)
            ids.append(doc["id"])
            parent.append(index)
            for other in lsh.query(m):
                a, b = find(parent, index), find(parent, other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            lsh.insert(index, m)
    removed = {}
    for i in range(len(ids)):
        root = find(parent, i)
        if root != i:
            removed[ids[i]] = ids[root]
    seconds = time.perf_counter() - started

    truth = json.load(open(f"{args.dir}/truth.json"))
    planted = found = false = 0
    for item in truth:
        if item["planted"] == "original":
            false += item["id"] in removed
        else:
            planted += 1
            if removed.get(item["id"]) == item["of"]:
                found += 1
            elif item["id"] in removed:
                false += 1
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"datasketch {label}, {args.perm} perms: {size / 1e6 / seconds:.2f} MB/s ({seconds:.1f} s), "
        f"cluster recall {found / planted:.4f}, false removals {false}, peak RSS {peak_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
