//! How closely two extractions of the same PDF agree, for tests and
//! benchmarks against an independent extractor.

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;

fn normalised(text: &str) -> Vec<char> {
    text.nfkc().filter(|c| !c.is_whitespace()).collect()
}

fn grams(chars: &[char]) -> HashMap<&[char], usize> {
    let mut counts: HashMap<&[char], usize> = HashMap::new();
    for w in chars.windows(4) {
        *counts.entry(w).or_default() += 1;
    }
    counts
}

/// Dice coefficient of character 4-gram multisets after NFKC, whitespace
/// ignored: insensitive to line breaks, spacing and full-width forms,
/// sensitive to wrong, missing or reordered text.
pub fn agreement(a: &str, b: &str) -> f64 {
    let (a, b) = (normalised(a), normalised(b));
    let (ga, gb) = (grams(&a), grams(&b));
    let common: usize = ga.iter().map(|(k, n)| (*n).min(gb.get(k).copied().unwrap_or(0))).sum();
    let total = a.len().saturating_sub(3) + b.len().saturating_sub(3);
    if total == 0 { 1.0 } else { 2.0 * common as f64 / total as f64 }
}

#[cfg(test)]
mod tests {
    use super::agreement;

    #[test]
    fn spacing_and_width_do_not_matter_but_text_does() {
        assert_eq!(agreement("第２３．２００５条 正常类", "第23.2005条\n正常类"), 1.0);
        assert!(agreement("the structure must support limit loads", "completely different words here") < 0.2);
    }
}
