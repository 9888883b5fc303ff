//! ROUGE-1, ROUGE-2 and ROUGE-L F1 as Google's `rouge-score` computes them
//! (`RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=…)`): lowercase,
//! every run of characters outside a–z and 0–9 is a separator, the Porter
//! stemmer on tokens longer than three letters, clipped n-gram overlap and
//! the longest common subsequence. Scores are means over line pairs.
//!
//! `rouge-score` drops every non-ASCII character, so Chinese text scores
//! zero. [`RougeTokenizer::Cjk`] is Hangar's documented variant for it:
//! each CJK character (sacrebleu's `zh` ranges) is a token of its own and
//! the rest is tokenized as `rouge-score` does.

mod porter;

use std::borrow::Cow;
use std::cell::RefCell;

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Serialize;

pub use porter::stem;

use crate::MetricError;

/// How text becomes ROUGE tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RougeTokenizer {
    /// `rouge-score`'s default tokenizer.
    Default,
    /// Character-level for CJK, `rouge-score`'s for the rest.
    Cjk,
}

/// Mean F1 of each measure over the line pairs, 0–1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RougeScores {
    pub rouge1: f64,
    pub rouge2: f64,
    #[serde(rename = "rougeL")]
    pub rouge_l: f64,
}

/// `rouge-score`'s `tokenize` on already lowercased text: split on
/// non-alphanumerics, stem words longer than three letters.
fn ascii_tokens<'a>(lower: &'a str, stemmer: bool, out: &mut Vec<Cow<'a, str>>) {
    for word in lower.split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit())) {
        if word.is_empty() {
            continue;
        }
        out.push(if stemmer && word.len() > 3 { Cow::Owned(cached_stem(word)) } else { Cow::Borrowed(word) });
    }
}

thread_local! {
    /// Words repeat: each thread remembers the stems it has computed.
    static STEMS: RefCell<FxHashMap<String, String>> = RefCell::new(FxHashMap::default());
}

fn cached_stem(word: &str) -> String {
    STEMS.with(|stems| {
        let mut stems = stems.borrow_mut();
        if let Some(found) = stems.get(word) {
            return found.clone();
        }
        if stems.len() > 1 << 20 {
            stems.clear();
        }
        let stemmed = stem(word);
        stems.insert(word.to_owned(), stemmed.clone());
        stemmed
    })
}

/// Python's `str.lower()`, without copying ASCII text twice.
fn lowercase(text: &str) -> Cow<'_, str> {
    if text.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
        Cow::Owned(text.to_lowercase())
    } else {
        Cow::Borrowed(text)
    }
}

/// The tokens of lowercased text.
fn tokens_of<'a>(lower: &'a str, tokenizer: RougeTokenizer, stemmer: bool) -> Vec<Cow<'a, str>> {
    let mut tokens = Vec::new();
    match tokenizer {
        RougeTokenizer::Default => ascii_tokens(lower, stemmer, &mut tokens),
        RougeTokenizer::Cjk => {
            let mut start = 0;
            for (at, c) in lower.char_indices() {
                if !c.is_ascii() && crate::bleu::is_sacrebleu_chinese(c) {
                    ascii_tokens(&lower[start..at], stemmer, &mut tokens);
                    start = at + c.len_utf8();
                    // Ideographs (and full-width letters and digits) are tokens; CJK punctuation is not.
                    if c.is_alphanumeric() {
                        tokens.push(Cow::Borrowed(&lower[at..start]));
                    }
                }
            }
            ascii_tokens(&lower[start..], stemmer, &mut tokens);
        }
    }
    tokens
}

/// The tokens of `text`.
pub fn tokenize(text: &str, tokenizer: RougeTokenizer, stemmer: bool) -> Vec<String> {
    tokens_of(&lowercase(text), tokenizer, stemmer).into_iter().map(Cow::into_owned).collect()
}

fn f1(overlap: usize, predicted: usize, target: usize) -> f64 {
    let precision = overlap as f64 / predicted.max(1) as f64;
    let recall = overlap as f64 / target.max(1) as f64;
    if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 }
}

/// The n-grams of `ids`, sorted.
fn sorted_grams(ids: &[u32], n: usize) -> Vec<&[u32]> {
    let mut grams: Vec<&[u32]> = ids.windows(n).collect();
    grams.sort_unstable();
    grams
}

/// Clipped n-gram overlap F1 of two token-id sequences.
fn rouge_n(target: &[u32], prediction: &[u32], n: usize) -> f64 {
    let (t, p) = (sorted_grams(target, n), sorted_grams(prediction, n));
    // Walking both sorted lists pairs each shared n-gram min(count, count) times.
    let (mut i, mut j, mut overlap) = (0, 0, 0);
    while i < t.len() && j < p.len() {
        match t[i].cmp(p[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                overlap += 1;
                i += 1;
                j += 1;
            }
        }
    }
    f1(overlap, p.len(), t.len())
}

/// Longest common subsequence F1; zero when either side is empty.
fn rouge_l(target: &[u32], prediction: &[u32]) -> f64 {
    if target.is_empty() || prediction.is_empty() {
        return 0.0;
    }
    let mut previous = vec![0usize; prediction.len() + 1];
    let mut current = vec![0usize; prediction.len() + 1];
    for &t in target {
        for (j, &p) in prediction.iter().enumerate() {
            current[j + 1] = if t == p { previous[j] + 1 } else { previous[j + 1].max(current[j]) };
        }
        std::mem::swap(&mut previous, &mut current);
    }
    f1(previous[prediction.len()], prediction.len(), target.len())
}

fn token_ids<'a>(tokens: &'a [Cow<'_, str>], vocabulary: &mut FxHashMap<&'a str, u32>) -> Vec<u32> {
    tokens
        .iter()
        .map(|t| {
            let next = vocabulary.len() as u32;
            *vocabulary.entry(t.as_ref()).or_insert(next)
        })
        .collect()
}

/// ROUGE-1/2/L F1 of one prediction against its target.
pub fn rouge_pair(target: &str, prediction: &str, tokenizer: RougeTokenizer, stemmer: bool) -> RougeScores {
    let (target, prediction) = (lowercase(target), lowercase(prediction));
    let (target, prediction) = (tokens_of(&target, tokenizer, stemmer), tokens_of(&prediction, tokenizer, stemmer));
    let mut vocabulary: FxHashMap<&str, u32> =
        FxHashMap::with_capacity_and_hasher(target.len() + prediction.len(), Default::default());
    let t = token_ids(&target, &mut vocabulary);
    let p = token_ids(&prediction, &mut vocabulary);
    RougeScores { rouge1: rouge_n(&t, &p, 1), rouge2: rouge_n(&t, &p, 2), rouge_l: rouge_l(&t, &p) }
}

/// Mean ROUGE F1 over line pairs.
///
/// # Errors
/// Different numbers of hypotheses and references.
pub fn rouge(
    hypotheses: &[impl AsRef<str> + Sync],
    references: &[impl AsRef<str> + Sync],
    tokenizer: RougeTokenizer,
    stemmer: bool,
) -> Result<RougeScores, MetricError> {
    if hypotheses.len() != references.len() {
        return Err(MetricError::LengthMismatch {
            hypotheses: hypotheses.len(),
            references: references.len(),
            stream: "the references".to_owned(),
        });
    }
    let zero = || RougeScores { rouge1: 0.0, rouge2: 0.0, rouge_l: 0.0 };
    let sum = hypotheses
        .par_iter()
        .zip(references)
        .with_min_len(64)
        .map(|(h, r)| rouge_pair(r.as_ref(), h.as_ref(), tokenizer, stemmer))
        .reduce(zero, |a, b| RougeScores {
            rouge1: a.rouge1 + b.rouge1,
            rouge2: a.rouge2 + b.rouge2,
            rouge_l: a.rouge_l + b.rouge_l,
        });
    let n = hypotheses.len().max(1) as f64;
    Ok(RougeScores { rouge1: sum.rouge1 / n, rouge2: sum.rouge2 / n, rouge_l: sum.rouge_l / n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_drop_punctuation_and_non_ascii_and_stem_long_words() {
        assert_eq!(tokenize("The Loads, déjà-vu!", RougeTokenizer::Default, false), ["the", "loads", "d", "j", "vu"]);
        assert_eq!(tokenize("the loads are applied", RougeTokenizer::Default, true), ["the", "load", "are", "appli"]);
    }

    #[test]
    fn chinese_is_scored_character_by_character_in_the_cjk_variant() {
        assert!(tokenize("适航审定", RougeTokenizer::Default, false).is_empty());
        assert_eq!(tokenize("适航 Part 23。", RougeTokenizer::Cjk, false), ["适", "航", "part", "23"]);
        let s = rouge_pair("适航审定要求", "适航要求", RougeTokenizer::Cjk, false);
        assert!((s.rouge1 - 0.8).abs() < 1e-12, "4 of 4 predicted, 4 of 6 target: {s:?}");
    }

    #[test]
    fn lcs_and_bigrams_count_as_rouge_score_counts_them() {
        let s =
            rouge_pair("the cat was found under the bed", "the cat was under the bed", RougeTokenizer::Default, false);
        assert!((s.rouge1 - 2.0 * 6.0 / 13.0).abs() < 1e-12);
        assert!((s.rouge_l - 2.0 * 6.0 / 13.0).abs() < 1e-12);
        assert!((s.rouge2 - 2.0 * (4.0 / 5.0) * (4.0 / 6.0) / (4.0 / 5.0 + 4.0 / 6.0)).abs() < 1e-12);
    }
}
