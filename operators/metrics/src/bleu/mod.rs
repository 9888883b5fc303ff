//! Corpus BLEU exactly as `sacrebleu.corpus_bleu` computes it by default:
//! n-grams up to 4, clipped counts against the most generous reference,
//! the closest reference length (the shorter on a tie) for the brevity
//! penalty, and mteval's `exp` smoothing for orders without a match.

mod tokenize;

use rustc_hash::FxHashMap;
use serde::Serialize;

use rayon::prelude::*;
pub use tokenize::{Scratch, is_sacrebleu_chinese, rewrite_13a, rewrite_zh, tokenize_13a, tokenize_zh};

use crate::MetricError;

const MAX_ORDER: usize = 4;

/// sacrebleu's tokenizers that Hangar implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BleuTokenizer {
    /// `13a`, sacrebleu's default.
    #[serde(rename = "13a")]
    Thirteen,
    /// `zh`: Chinese characters one by one, the rest as `13a`.
    Zh,
    /// `none`: whitespace only.
    None,
}

impl BleuTokenizer {
    /// By sacrebleu's name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "13a" => Some(Self::Thirteen),
            "zh" => Some(Self::Zh),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    /// sacrebleu's `_preprocess_segment`: trailing whitespace off, then
    /// the tokenizer; the tokens are the Python-whitespace words of `out`.
    fn rewrite(self, line: &str, scratch: &mut Scratch, out: &mut String) {
        let line = line.trim_end_matches(crate::text::is_python_space);
        match self {
            Self::Thirteen => rewrite_13a(line, scratch, out),
            Self::Zh => rewrite_zh(line, scratch, out),
            Self::None => {
                out.clear();
                out.push_str(line);
            }
        }
    }
}

/// A corpus BLEU score with the statistics it came from, as sacrebleu reports them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bleu {
    /// 0–100.
    pub score: f64,
    /// Matching n-grams of each order.
    pub counts: [u64; MAX_ORDER],
    /// Hypothesis n-grams of each order.
    pub totals: [u64; MAX_ORDER],
    /// Percentages, smoothed where a count is zero.
    pub precisions: [f64; MAX_ORDER],
    /// Brevity penalty.
    pub bp: f64,
    pub sys_len: u64,
    pub ref_len: u64,
    pub tokenize: BleuTokenizer,
}

/// An n-gram of up to four word ids packed high to low, the unused places
/// all ones: n-grams sort and compare as plain integers. Segments of fewer
/// than 65,535 distinct words (all but pathological ones) pack into 64 bits,
/// which sort faster; the rest into 128.
type Gram = u128;

const NARROW_LIMIT: usize = u16::MAX as usize;

fn pack(window: &[u32], narrow: bool) -> Gram {
    if narrow {
        let packed = (0..MAX_ORDER)
            .fold(0u64, |gram, k| (gram << 16) | window.get(k).map_or(u64::from(u16::MAX), |&id| u64::from(id)));
        return Gram::from(packed);
    }
    (0..MAX_ORDER).fold(0, |gram, k| (gram << 32) | u128::from(window.get(k).copied().unwrap_or(u32::MAX)))
}

fn order(gram: Gram, narrow: bool) -> usize {
    let (width, empty) = if narrow { (16, u128::from(u16::MAX)) } else { (32, u128::from(u32::MAX)) };
    let mask = (1u128 << width) - 1;
    (0..MAX_ORDER).take_while(|k| (gram >> (width * (MAX_ORDER - 1 - k))) & mask != empty).count()
}

/// Every n-gram of `ids` with its count, sorted by n-gram.
fn count_grams(ids: &[u32], narrow: bool, grams: &mut Vec<u64>, wide: &mut Vec<Gram>, into: &mut Vec<(Gram, u32)>) {
    into.clear();
    let mut push = |gram: Gram| match into.last_mut() {
        Some((last, count)) if *last == gram => *count += 1,
        _ => into.push((gram, 1)),
    };
    if narrow {
        grams.clear();
        for n in 1..=MAX_ORDER {
            // The packed value fits 64 bits when narrow.
            grams.extend(ids.windows(n).map(|w| pack(w, true) as u64));
        }
        grams.sort_unstable();
        grams.iter().for_each(|&g| push(Gram::from(g)));
    } else {
        wide.clear();
        for n in 1..=MAX_ORDER {
            wide.extend(ids.windows(n).map(|w| pack(w, false)));
        }
        wide.sort_unstable();
        wide.iter().for_each(|&g| push(g));
    }
}

/// Sufficient statistics of one segment (or, summed, of a corpus).
#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    counts: [u64; MAX_ORDER],
    totals: [u64; MAX_ORDER],
    sys_len: u64,
    ref_len: u64,
}

impl Stats {
    fn add(mut self, other: Stats) -> Stats {
        for n in 0..MAX_ORDER {
            self.counts[n] += other.counts[n];
            self.totals[n] += other.totals[n];
        }
        self.sys_len += other.sys_len;
        self.ref_len += other.ref_len;
        self
    }
}

/// Buffers one worker reuses from segment to segment.
#[derive(Default)]
struct Work {
    scratch: Scratch,
    texts: Vec<String>,
    grams: Vec<u64>,
    wide: Vec<Gram>,
    reference_grams: Vec<(Gram, u32)>,
    one_reference: Vec<(Gram, u32)>,
    hypothesis_grams: Vec<(Gram, u32)>,
}

fn word_ids<'a>(text: &'a str, vocabulary: &mut FxHashMap<&'a str, u32>) -> Vec<u32> {
    crate::text::python_split(text)
        .map(|word| {
            let next = vocabulary.len() as u32;
            *vocabulary.entry(word).or_insert(next)
        })
        .collect()
}

fn segment_stats(hypothesis: &str, references: &[&str], tokenizer: BleuTokenizer, work: &mut Work) -> Stats {
    let Work { scratch, texts, grams, wide, reference_grams, one_reference, hypothesis_grams } = work;
    texts.resize_with(references.len() + 1, String::new);
    tokenizer.rewrite(hypothesis, scratch, &mut texts[0]);
    for (text, reference) in texts[1..].iter_mut().zip(references) {
        tokenizer.rewrite(reference, scratch, text);
    }
    // Words become ids so that n-grams hash as small arrays.
    let mut vocabulary: FxHashMap<&str, u32> = FxHashMap::with_capacity_and_hasher(64, Default::default());
    let mut ids = |text| word_ids(text, &mut vocabulary);
    let texts: &[String] = texts;
    let hyp_ids = ids(&texts[0]);
    let reference_ids: Vec<Vec<u32>> = texts[1..].iter().map(|text| ids(text)).collect();
    let narrow = vocabulary.len() < NARROW_LIMIT;
    reference_grams.clear();
    let mut lengths = Vec::with_capacity(references.len());
    for reference in &reference_ids {
        lengths.push(reference.len());
        count_grams(reference, narrow, grams, wide, one_reference);
        reference_grams.extend_from_slice(one_reference);
    }
    if references.len() > 1 {
        // Each n-gram counts as often as the most generous reference has it.
        reference_grams.sort_unstable();
        reference_grams.reverse();
        reference_grams.dedup_by_key(|(gram, _)| *gram);
        reference_grams.reverse();
    }
    count_grams(&hyp_ids, narrow, grams, wide, hypothesis_grams);
    let mut stats = Stats { sys_len: hyp_ids.len() as u64, ..Stats::default() };
    stats.ref_len = closest_length(hyp_ids.len(), &lengths) as u64;
    let mut r = 0;
    for &(gram, count) in hypothesis_grams.iter() {
        let n = order(gram, narrow) - 1;
        stats.totals[n] += u64::from(count);
        while r < reference_grams.len() && reference_grams[r].0 < gram {
            r += 1;
        }
        if let Some(&(reference, available)) = reference_grams.get(r)
            && reference == gram
        {
            stats.counts[n] += u64::from(count.min(available));
        }
    }
    stats
}

/// Corpus BLEU of `hypotheses` against one or more reference streams
/// (`references[k][i]` is the k-th reference of segment i). Segments are
/// scored in parallel on rayon's pool.
///
/// # Errors
/// A reference stream whose length differs from the hypotheses', or none at all.
pub fn corpus_bleu<H, R>(hypotheses: &[H], references: &[Vec<R>], tokenizer: BleuTokenizer) -> Result<Bleu, MetricError>
where
    H: AsRef<str> + Sync,
    R: AsRef<str> + Sync,
{
    if references.is_empty() {
        return Err(MetricError::NoReferences);
    }
    for (k, stream) in references.iter().enumerate() {
        if stream.len() != hypotheses.len() {
            return Err(MetricError::LengthMismatch {
                hypotheses: hypotheses.len(),
                references: stream.len(),
                stream: format!("reference stream {}", k + 1),
            });
        }
    }
    let total = hypotheses
        .par_iter()
        .enumerate()
        .with_min_len(64)
        .map_init(Work::default, |work, (i, hypothesis)| {
            let refs: Vec<&str> = references.iter().map(|stream| stream[i].as_ref()).collect();
            segment_stats(hypothesis.as_ref(), &refs, tokenizer, work)
        })
        .reduce(Stats::default, Stats::add);
    Ok(score(total, tokenizer))
}

/// The reference length closest to the hypothesis', the shorter on a tie.
fn closest_length(hypothesis: usize, references: &[usize]) -> usize {
    let mut best: Option<(usize, usize)> = None;
    for &length in references {
        let diff = hypothesis.abs_diff(length);
        best = match best {
            Some((d, l)) if d < diff || (d == diff && l <= length) => Some((d, l)),
            _ => Some((diff, length)),
        };
    }
    best.map_or(0, |(_, length)| length)
}

/// sacrebleu's `compute_bleu` with `exp` smoothing and no effective order.
fn score(stats: Stats, tokenize: BleuTokenizer) -> Bleu {
    let Stats { counts, totals, sys_len, ref_len } = stats;
    let bp = if sys_len < ref_len {
        if sys_len > 0 { (1.0 - ref_len as f64 / sys_len as f64).exp() } else { 0.0 }
    } else {
        1.0
    };
    let mut precisions = [0.0; MAX_ORDER];
    let done = |score: f64, precisions| Bleu { score, counts, totals, precisions, bp, sys_len, ref_len, tokenize };
    if counts.iter().all(|&c| c == 0) {
        return done(0.0, precisions);
    }
    let mut smooth = 1.0;
    for n in 0..MAX_ORDER {
        if totals[n] == 0 {
            break;
        }
        precisions[n] = if counts[n] == 0 {
            smooth *= 2.0;
            100.0 / (smooth * totals[n] as f64)
        } else {
            100.0 * counts[n] as f64 / totals[n] as f64
        };
    }
    // sacrebleu floors log(0) at -9999999999, which makes the score 0.
    let log_sum: f64 = precisions.iter().map(|&p| if p == 0.0 { -9_999_999_999.0 } else { p.ln() }).sum();
    done(bp * (log_sum / MAX_ORDER as f64).exp(), precisions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_text_scores_one_hundred_and_nothing_in_common_scores_zero() {
        let same = corpus_bleu(&["the cat sat on the mat"], &[vec!["the cat sat on the mat"]], BleuTokenizer::Thirteen)
            .expect("bleu");
        assert!((same.score - 100.0).abs() < 1e-9, "{same:?}");
        let none = corpus_bleu(&["a b c d"], &[vec!["w x y z"]], BleuTokenizer::Thirteen).expect("bleu");
        assert_eq!(none.score, 0.0);
    }

    #[test]
    fn the_closest_reference_length_wins_and_ties_go_to_the_shorter() {
        assert_eq!(closest_length(5, &[3, 7]), 3);
        assert_eq!(closest_length(5, &[7, 4]), 4);
        assert_eq!(closest_length(5, &[]), 0);
    }

    #[test]
    fn segments_with_more_words_than_narrow_ids_hold_count_the_same() {
        // 70,000 distinct words take the 128-bit n-gram path.
        let words: Vec<String> = (0..70_000).map(|i| format!("w{i}")).collect();
        let reference = words.join(" ");
        let hypothesis = words[..69_990].join(" ");
        let bleu = corpus_bleu(&[hypothesis], &[vec![reference]], BleuTokenizer::None).expect("bleu");
        assert_eq!(bleu.counts, [69_990, 69_989, 69_988, 69_987]);
        assert_eq!(bleu.totals, bleu.counts, "every n-gram of the hypothesis is in the reference");
        assert_eq!((bleu.sys_len, bleu.ref_len), (69_990, 70_000));
    }

    #[test]
    fn a_reference_stream_of_the_wrong_length_is_refused() {
        let err = corpus_bleu(&["a", "b"], &[vec!["a"]], BleuTokenizer::Thirteen).expect_err("mismatch");
        assert!(err.to_string().contains("reference stream 1"), "{err}");
    }
}
