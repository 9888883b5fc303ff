//! Quality signals of a text, after the Gopher rules (Rae et al. 2021),
//! with CJK characters counted as words so the same rules work for Chinese.

use std::collections::HashSet;

use std::sync::LazyLock;

use regex::Regex;

use crate::hashing::PreHashedMap;
use crate::lang::is_cjk;

static ELLIPSIS_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\.{3,}|…+").unwrap_or_else(|e| panic!("invalid built-in pattern: {e}")));

/// Everything the filter rules look at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    pub chars: usize,
    /// Share of non-space characters that are CJK.
    pub cjk_ratio: f64,
    pub words: usize,
    /// Mean length of non-CJK words, in characters.
    pub mean_word_length: f64,
    /// `#` and `…`/`...` per word.
    pub symbol_ratio: f64,
    /// Share of words with at least one letter or ideograph.
    pub alpha_word_ratio: f64,
    pub bullet_line_ratio: f64,
    pub ellipsis_line_ratio: f64,
    /// Share of lines that repeat an earlier line, and of the characters in them.
    pub duplicate_line_ratio: f64,
    pub duplicate_line_char_ratio: f64,
    pub duplicate_paragraph_ratio: f64,
    pub duplicate_paragraph_char_ratio: f64,
    /// For n = 2, 3, 4: characters covered by the most frequent n-gram.
    pub top_ngram_char_ratio: [f64; 3],
    /// For n = 5..=10: characters covered by n-grams seen more than once.
    pub duplicate_ngram_char_ratio: [f64; 6],
}

/// Splits into words: whitespace-separated tokens, each CJK character its own word.
pub fn words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        let mut start = 0;
        for (i, c) in token.char_indices() {
            if is_cjk(c) {
                if start < i {
                    out.push(&token[start..i]);
                }
                out.push(&token[i..i + c.len_utf8()]);
                start = i + c.len_utf8();
            }
        }
        if start < token.len() {
            out.push(&token[start..]);
        }
    }
    out
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

fn duplicates<'a>(items: impl Iterator<Item = &'a str>) -> (f64, f64) {
    let mut seen = HashSet::new();
    let (mut total, mut dup, mut total_chars, mut dup_chars) = (0, 0, 0, 0);
    for item in items {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let chars = item.chars().count();
        total += 1;
        total_chars += chars;
        if !seen.insert(item) {
            dup += 1;
            dup_chars += chars;
        }
    }
    (ratio(dup, total), ratio(dup_chars, total_chars))
}

/// Hashes a word's letters and digits, lower-cased (FNV-1a); `None` when it has none.
fn word_key(word: &str) -> Option<(u64, usize)> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut chars = 0;
    for c in word.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase) {
        let mut buf = [0u8; 4];
        for b in c.encode_utf8(&mut buf).bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        chars += 1;
    }
    (chars > 0).then_some((hash, chars))
}

/// The hash of the n words starting at `i`.
fn gram(ids: &[u64], i: usize, n: usize) -> u64 {
    ids[i..i + n]
        .iter()
        .fold(0x9e37_79b9_7f4a_7c15_u64, |h, id| (h ^ id).wrapping_mul(0xff51_afd7_ed55_8ccd).rotate_left(29))
}

/// Computes every signal of `text`.
pub fn measure(text: &str) -> Signals {
    let tokens = words(text);
    let (ids, word_chars): (Vec<u64>, Vec<usize>) = tokens.iter().filter_map(|w| word_key(w)).unzip();
    let total_word_chars: usize = word_chars.iter().sum();

    let latin: Vec<&&str> = tokens.iter().filter(|w| !w.chars().any(is_cjk)).collect();
    let mean_word_length = if latin.is_empty() {
        0.0
    } else {
        latin.iter().map(|w| w.chars().count()).sum::<usize>() as f64 / latin.len() as f64
    };
    // A run of dots or ellipses (a leader line) counts once.
    let symbols = text.matches('#').count() + ELLIPSIS_RUN.find_iter(text).count();
    let non_space = text.chars().filter(|c| !c.is_whitespace()).count();
    let cjk = text.chars().filter(|c| is_cjk(*c)).count();
    let alpha = tokens.iter().filter(|w| w.chars().any(char::is_alphabetic)).count();

    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let bullets = lines
        .iter()
        .filter(|l| {
            let t = l.trim_start();
            t.starts_with("- ") || t.starts_with("* ") || t.starts_with('•') || t.starts_with('·')
        })
        .count();
    let ellipses = lines.iter().filter(|l| l.trim_end().ends_with("...") || l.trim_end().ends_with('…')).count();
    let (duplicate_line_ratio, duplicate_line_char_ratio) = duplicates(lines.iter().copied());
    let (duplicate_paragraph_ratio, duplicate_paragraph_char_ratio) = duplicates(text.split("\n\n"));

    let mut top_ngram_char_ratio = [0.0; 3];
    for (slot, n) in (2..=4).enumerate() {
        if ids.len() < n {
            continue;
        }
        let mut counts: PreHashedMap<u64, (usize, usize)> = PreHashedMap::default();
        for i in 0..=ids.len() - n {
            let chars: usize = word_chars[i..i + n].iter().sum();
            counts.entry(gram(&ids, i, n)).or_insert((0, chars)).0 += 1;
        }
        if let Some((count, chars)) = counts.values().filter(|(c, _)| *c > 1).max_by_key(|(c, chars)| c * chars) {
            top_ngram_char_ratio[slot] = ratio(count * chars, total_word_chars);
        }
    }
    let mut duplicate_ngram_char_ratio = [0.0; 6];
    for (slot, n) in (5..=10).enumerate() {
        if ids.len() < n {
            continue;
        }
        let mut first_seen: PreHashedMap<u64, usize> = PreHashedMap::default();
        let mut covered = vec![false; ids.len()];
        for i in 0..=ids.len() - n {
            match first_seen.get(&gram(&ids, i, n)) {
                Some(&first) => {
                    covered[i..i + n].fill(true);
                    covered[first..first + n].fill(true);
                }
                None => {
                    first_seen.insert(gram(&ids, i, n), i);
                }
            }
        }
        let dup_chars: usize = covered.iter().zip(&word_chars).filter(|(c, _)| **c).map(|(_, n)| n).sum();
        duplicate_ngram_char_ratio[slot] = ratio(dup_chars, total_word_chars);
    }

    Signals {
        chars: text.chars().count(),
        cjk_ratio: ratio(cjk, non_space),
        words: tokens.len(),
        mean_word_length,
        symbol_ratio: ratio(symbols, tokens.len()),
        alpha_word_ratio: ratio(alpha, tokens.len()),
        bullet_line_ratio: ratio(bullets, lines.len()),
        ellipsis_line_ratio: ratio(ellipses, lines.len()),
        duplicate_line_ratio,
        duplicate_line_char_ratio,
        duplicate_paragraph_ratio,
        duplicate_paragraph_char_ratio,
        top_ngram_char_ratio,
        duplicate_ngram_char_ratio,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_characters_are_words() {
        assert_eq!(words("第23.2005条 正常类 aircraft"), ["第", "23.2005", "条", "正", "常", "类", "aircraft"]);
    }

    #[test]
    fn repetitive_text_scores_high_and_prose_low() {
        let spam = "buy cheap parts now ".repeat(50);
        let s = measure(&spam);
        assert!(s.top_ngram_char_ratio[0] > 0.2, "{s:?}");
        assert!(s.duplicate_ngram_char_ratio[0] > 0.9, "{s:?}");
        let prose = "Each applicant must show that the airplane meets the applicable requirements. \
                     The structure must support limit loads without detrimental permanent deformation. \
                     Compliance with the strength and deformation requirements must be shown for each critical loading condition.";
        let s = measure(prose);
        assert!(s.duplicate_ngram_char_ratio[0] < 0.05, "{s:?}");
        assert!(s.alpha_word_ratio > 0.95);
        assert!((4.0..8.0).contains(&s.mean_word_length), "{s:?}");
    }

    #[test]
    fn duplicate_lines_and_symbols() {
        let s = measure("# a\n# a\n# a\nb...\n");
        assert_eq!(s.duplicate_line_ratio, 0.5);
        assert!(s.symbol_ratio > 0.5);
        assert_eq!(s.ellipsis_line_ratio, 0.25);
    }
}
