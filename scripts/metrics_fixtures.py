#!/usr/bin/env python3
"""Regenerates operators/metrics/tests/fixtures/reference.json: synthetic
sentence pairs (English and Chinese, made up here from a fixed seed) scored
by the reference implementations, sacrebleu and rouge-score, and a word list
stemmed by NLTK's Porter stemmer (the one rouge-score uses).

    python3 -m venv /tmp/metrics-venv
    /tmp/metrics-venv/bin/pip install sacrebleu rouge-score
    /tmp/metrics-venv/bin/python scripts/metrics_fixtures.py
"""
import json
import os
import random

import nltk
import rouge_score
import sacrebleu
from nltk.stem.porter import PorterStemmer
from rouge_score import rouge_scorer

OUT = os.path.join(os.path.dirname(__file__), "..", "operators", "metrics", "tests", "fixtures", "reference.json")

STEMS = ["load", "wing", "flap", "engine", "cabin", "rotor", "brake", "fuel", "gust", "stall", "pilot", "seat",
         "door", "spar", "rib", "skin", "bolt", "weld", "crack", "test", "certif", "inspect", "oper", "requir",
         "general", "relat", "condition", "determin", "demonstr", "compli", "apply", "carry", "hop", "fall",
         "file", "control", "limit", "struct", "analy", "ration", "sensit", "hope", "agree", "feed", "bleed"]
SUFFIXES = ["", "s", "es", "ed", "ing", "er", "ers", "ation", "ational", "ations", "ization", "izer", "ive",
            "iveness", "fulness", "ousness", "ousli", "entli", "eli", "alli", "abli", "bli", "aliti", "iviti",
            "biliti", "logi", "ical", "icate", "ative", "alize", "iciti", "ful", "ness", "al", "ance", "ence",
            "able", "ible", "ant", "ement", "ment", "ent", "ion", "sion", "tion", "ou", "ism", "ate", "iti",
            "ous", "ize", "ies", "ied", "y", "ly", "ll", "e", "eed", "sses", "ss"]
WORDS = ["the", "a", "of", "shall", "must", "be", "each", "airplane", "rotorcraft", "not", "less", "than",
         "limit", "ultimate", "factor", "of", "safety", "applicant", "show", "compliance", "with", "this",
         "section", "paragraph", "(a)", "(b)(2)", "§", "23.2230", "25.301", "1.5", "3.8g", "-1.52", "10,000",
         "ft.", "kg", "lbs", "e.g.,", "i.e.", "U.S.", "FAA", "CAAC", "AD", "2024-05-12", "&amp;", "&lt;",
         "&quot;", "don't", "it's", "--", "...", "/", "+/-", "[1]", "{x}", "~", "`", "@", "#", "$", "%",
         "dying", "skies", "news", "proceed", "exceeded", "succeeding", "innings", "happily", "generalizations",
         "Ｐａｒｔ", "２３", "naïve", "Ångström", "İstanbul", "K-factor", "x86-64", "3-5", "a-b", "12.5-13.0"]
ZH = list("飞机适航审定要求结构载荷系数安全燃油系统发动机旋翼航空器应当符合本条规定的验证试验检查维修手册限制")
ZH_PUNCT = ["，", "。", "、", "；", "：", "（", "）", "“", "”", "《", "》", "——", " ", "CCAR", "-23", "第", "23.2230", "条", "1.5", "g"]


def english_words(rng, n):
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.45:
            out.append(rng.choice(WORDS))
        else:
            word = rng.choice(STEMS) + rng.choice(SUFFIXES)
            out.append(word.capitalize() if rng.random() < 0.1 else word)
    return out


def sentence(rng):
    n = rng.randint(0, 30) if rng.random() < 0.05 else rng.randint(3, 30)
    words = english_words(rng, n)
    text = " ".join(words)
    if rng.random() < 0.3:
        text = text.replace(" ,", ",").replace(" .", ".")
    if words and rng.random() < 0.5:
        text += rng.choice([".", ",", "!", "?", ";", " .", ""])
    if rng.random() < 0.05:
        text = "  " + text + " \t"
    return text


def mutate(rng, text, chinese=False):
    tokens = list(text) if chinese else text.split(" ")
    out = []
    for t in tokens:
        r = rng.random()
        if r < 0.12:
            continue
        if r < 0.22:
            out.append(rng.choice(ZH + ZH_PUNCT) if chinese else rng.choice(english_words(rng, 1)))
        else:
            out.append(t)
        if rng.random() < 0.05:
            out.append(rng.choice(ZH) if chinese else rng.choice(WORDS))
    return ("" if chinese else " ").join(out)


def chinese(rng):
    parts = []
    for _ in range(rng.randint(4, 40)):
        parts.append(rng.choice(ZH) if rng.random() < 0.75 else rng.choice(ZH_PUNCT))
    return "".join(parts)


def bleu_case(name, hyps, refs, tokenize):
    score = sacrebleu.corpus_bleu(hyps, refs, tokenize=tokenize)
    return {"name": name, "tokenize": tokenize, "hypotheses": hyps, "references": refs,
            "score": score.score, "counts": score.counts, "totals": score.totals,
            "sys_len": score.sys_len, "ref_len": score.ref_len, "bp": score.bp}


def rouge_case(name, hyps, refs, stemmer):
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=stemmer)
    lines = []
    for h, r in zip(hyps, refs):
        s = scorer.score(r, h)
        lines.append([s["rouge1"].fmeasure, s["rouge2"].fmeasure, s["rougeL"].fmeasure])
    return {"name": name, "stemmer": stemmer, "hypotheses": hyps, "references": refs, "lines": lines}


def main():
    rng = random.Random(20261126)
    refs = [sentence(rng) for _ in range(400)]
    hyps = [mutate(rng, r) for r in refs]
    second = [mutate(rng, r) for r in refs]
    zh_refs = [chinese(rng) for _ in range(300)]
    zh_hyps = [mutate(rng, r, chinese=True) for r in zh_refs]
    bleu = [
        bleu_case("english, one reference", hyps, [refs], "13a"),
        bleu_case("english, two references", hyps, [refs, second], "13a"),
        bleu_case("chinese, zh", zh_hyps, [zh_refs], "zh"),
        bleu_case("chinese under 13a", zh_hyps, [zh_refs], "13a"),
        bleu_case("no tokenizer", hyps, [refs], "none"),
    ]
    # Small corpora exercise smoothing, brevity and empty lines one by one.
    for i in range(60):
        k = rng.randint(1, 3)
        rs = [sentence(rng) for _ in range(k)]
        hs = [mutate(rng, r) if rng.random() < 0.8 else "" for r in rs]
        bleu.append(bleu_case(f"small corpus {i}", hs, [rs], "13a"))
    rouge = [rouge_case("english", hyps, refs, False), rouge_case("english, stemmed", hyps, refs, True),
             rouge_case("mixed, stemmed", zh_hyps[:50] + hyps[:50], zh_refs[:50] + refs[:50], True)]
    stemmer = PorterStemmer()
    words = sorted({s + x for s in STEMS for x in SUFFIXES} | {w.lower() for w in WORDS if w.isalpha() and w.isascii()})
    stems = {w: stemmer.stem(w) for w in words}
    fixture = {
        "generated_by": "scripts/metrics_fixtures.py",
        "versions": {"sacrebleu": sacrebleu.__version__, "rouge-score": getattr(rouge_score, "__version__", "0.1.2"),
                     "nltk": nltk.__version__},
        "bleu": bleu, "rouge": rouge, "stems": stems,
    }
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}: {len(bleu)} BLEU cases, {len(rouge)} ROUGE cases, {len(stems)} stems")


if __name__ == "__main__":
    main()
