"""sacrebleu and rouge-score on the same pairs as Hangar's metrics bench:
writes 10,000 synthetic pairs (scripts/metrics_fixtures.py's generator) to
the two files given, then times the reference implementations (median of
RUNS runs) and prints JSON lines."""
import json
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
import metrics_fixtures as gen  # noqa: E402
import sacrebleu  # noqa: E402
from rouge_score import rouge_scorer  # noqa: E402

hyp_path, ref_path = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
rng = random.Random(7)
refs = [gen.sentence(rng).replace("\n", " ") for _ in range(10_000)]
hyps = [gen.mutate(rng, r) for r in refs]
with open(hyp_path, "w", encoding="utf-8") as f:
    f.write("\n".join(hyps) + "\n")
with open(ref_path, "w", encoding="utf-8") as f:
    f.write("\n".join(refs) + "\n")


def median_ms(work):
    times, value = [], None
    for _ in range(runs):
        started = time.perf_counter()
        value = work()
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times), value


# A fresh metric object per run: sacrebleu caches tokenized lines inside its tokenizer.
ms, score = median_ms(lambda: sacrebleu.corpus_bleu(hyps, [refs], force=True).score)
print(json.dumps({"metric": "bleu", "ms": ms, "score": score, "version": sacrebleu.__version__}))
for stemmer in (False, True):
    def work():
        scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=stemmer)
        return statistics.fmean(scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(hyps, refs))
    ms, value = median_ms(work)
    print(json.dumps({"metric": "rouge_stemmed" if stemmer else "rouge", "ms": ms, "rougeL": value}))
