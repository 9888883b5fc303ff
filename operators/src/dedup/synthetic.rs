//! A synthetic corpus with planted duplicates, for measuring dedup recall
//! and speed: documents of about 2 KB drawn from a Zipf-distributed
//! vocabulary, plus exact copies and near copies with word-level edits.

use serde::Serialize;

/// A small, fast, seedable generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x2545_f491_4f6c_dd1d)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }
}

/// What a generated document is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "planted", rename_all = "snake_case")]
pub enum Plant {
    Original,
    Exact { of: usize },
    Near { of: usize, edit_rate: f64 },
}

/// One generated document.
#[derive(Debug, Clone, Serialize)]
pub struct SyntheticDoc {
    pub id: String,
    pub text: String,
    #[serde(skip)]
    pub plant: Plant,
}

/// Settings of the generator.
#[derive(Debug, Clone)]
pub struct Plan {
    pub documents: usize,
    /// Share of documents that are exact copies of an earlier original.
    pub exact_share: f64,
    /// Share that are near copies.
    pub near_share: f64,
    /// Range of the word edit rate of near copies.
    pub edit_rate: (f64, f64),
    pub words_per_doc: usize,
    pub vocabulary: usize,
    pub seed: u64,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            documents: 50_000,
            exact_share: 0.05,
            near_share: 0.10,
            edit_rate: (0.002, 0.03),
            words_per_doc: 330,
            vocabulary: 50_000,
            seed: 2026,
        }
    }
}

fn make_word(rng: &mut Rng) -> String {
    const SYLLABLES: &[&str] = &[
        "ka", "ro", "ve", "lin", "tor", "mu", "sa", "pen", "di", "el", "qua", "ran", "bo", "ni", "fer", "ul", "tas",
        "gre", "mo", "wil", "zen", "ha", "cor", "ly",
    ];
    let parts = 1 + rng.below(3);
    (0..parts).map(|_| SYLLABLES[rng.below(SYLLABLES.len())]).collect()
}

/// Generates the corpus: originals first drawn fresh, copies placed after
/// the original they copy.
pub fn generate(plan: &Plan) -> Vec<SyntheticDoc> {
    let mut rng = Rng::new(plan.seed);
    let vocabulary: Vec<String> = (0..plan.vocabulary).map(|i| format!("{}{}", make_word(&mut rng), i % 97)).collect();
    // Zipf(1): cumulative weights 1/k.
    let mut cumulative = Vec::with_capacity(vocabulary.len());
    let mut total = 0.0;
    for k in 1..=vocabulary.len() {
        total += 1.0 / k as f64;
        cumulative.push(total);
    }
    let draw = |rng: &mut Rng| -> usize {
        let x = rng.unit() * total;
        cumulative.partition_point(|c| *c < x).min(vocabulary.len() - 1)
    };
    let mut docs: Vec<SyntheticDoc> = Vec::with_capacity(plan.documents);
    let mut originals: Vec<usize> = Vec::new();
    for i in 0..plan.documents {
        let roll = rng.unit();
        let plant = if originals.is_empty() || roll >= plan.exact_share + plan.near_share {
            Plant::Original
        } else if roll < plan.exact_share {
            Plant::Exact { of: originals[rng.below(originals.len())] }
        } else {
            let rate = plan.edit_rate.0 + rng.unit() * (plan.edit_rate.1 - plan.edit_rate.0);
            Plant::Near { of: originals[rng.below(originals.len())], edit_rate: rate }
        };
        let text = match &plant {
            Plant::Original => {
                originals.push(i);
                let mut words: Vec<&str> = Vec::with_capacity(plan.words_per_doc);
                for w in 0..plan.words_per_doc {
                    words.push(&vocabulary[draw(&mut rng)]);
                    if w % 17 == 16 {
                        words.push("\n");
                    }
                }
                words.join(" ").replace(" \n ", ".\n")
            }
            Plant::Exact { of } => docs[*of].text.clone(),
            Plant::Near { of, edit_rate } => {
                let mut words: Vec<String> = docs[*of].text.split(' ').map(str::to_owned).collect();
                let edits = ((words.len() as f64 * edit_rate).round() as usize).max(1);
                for _ in 0..edits {
                    let at = rng.below(words.len());
                    match rng.below(3) {
                        0 => words[at] = vocabulary[draw(&mut rng)].clone(),
                        1 => words.insert(at, vocabulary[draw(&mut rng)].clone()),
                        _ => {
                            if words.len() > 1 {
                                words.remove(at);
                            }
                        }
                    }
                }
                words.join(" ")
            }
        };
        docs.push(SyntheticDoc { id: format!("doc{i:06}"), text, plant });
    }
    docs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plants_copies_after_their_originals_deterministically() {
        let plan = Plan { documents: 500, ..Plan::default() };
        let a = generate(&plan);
        let b = generate(&plan);
        assert_eq!(a.len(), 500);
        assert!(a.iter().zip(&b).all(|(x, y)| x.text == y.text));
        let exact = a.iter().filter(|d| matches!(d.plant, Plant::Exact { .. })).count();
        let near = a.iter().filter(|d| matches!(d.plant, Plant::Near { .. })).count();
        assert!((10..50).contains(&exact), "{exact}");
        assert!((25..90).contains(&near), "{near}");
        for (i, d) in a.iter().enumerate() {
            if let Plant::Exact { of } | Plant::Near { of, .. } = d.plant {
                assert!(of < i && a[of].plant == Plant::Original);
            }
        }
        let mean = a.iter().map(|d| d.text.len()).sum::<usize>() / a.len();
        assert!((1500..3000).contains(&mean), "documents are about 2 KB: {mean}");
    }
}

/// Recall of planted duplicates in one band of true Jaccard similarity.
#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    pub label: String,
    pub planted: usize,
    pub found: usize,
}

/// How a dedup run did on a synthetic corpus.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub planted: usize,
    pub found: usize,
    /// Share of planted duplicates removed and attached to their original.
    pub recall: f64,
    /// Originals removed, or copies attached to the wrong original.
    pub false_removals: usize,
    pub buckets: Vec<Bucket>,
}

/// Scores `verdicts` against the plants; near copies are bucketed by their
/// exact word-5-gram Jaccard similarity to the original.
pub fn evaluate(docs: &[SyntheticDoc], verdicts: &[super::cluster::Verdict]) -> Evaluation {
    use super::cluster::Verdict;
    use super::minhash::{ShingleKind, exact_jaccard, shingles};
    let edges = [0.0, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0];
    let mut buckets: Vec<Bucket> = edges
        .windows(2)
        .map(|w| Bucket { label: format!("J {:.2}–{:.2}", w[0], w[1]), planted: 0, found: 0 })
        .chain(std::iter::once(Bucket { label: "exact".to_owned(), planted: 0, found: 0 }))
        .collect();
    let exact_bucket = buckets.len() - 1;
    let (mut planted, mut found, mut false_removals) = (0, 0, 0);
    let (mut a, mut b, mut tokens) = (Vec::new(), Vec::new(), Vec::new());
    for (i, doc) in docs.iter().enumerate() {
        let verdict = verdicts.get(i).copied().unwrap_or(Verdict::Unique);
        let removed_to = match verdict {
            Verdict::Unique => None,
            Verdict::Exact { of } | Verdict::Near { of, .. } => Some(of as usize),
        };
        match doc.plant {
            Plant::Original => false_removals += usize::from(removed_to.is_some()),
            Plant::Exact { of } | Plant::Near { of, .. } => {
                planted += 1;
                let slot = if matches!(doc.plant, Plant::Exact { .. }) {
                    exact_bucket
                } else {
                    shingles(&docs[of].text, ShingleKind::Word, 5, 1, &mut a, &mut tokens);
                    shingles(&doc.text, ShingleKind::Word, 5, 1, &mut b, &mut tokens);
                    let j = exact_jaccard(&a, &b);
                    edges.windows(2).position(|w| j >= w[0] && j < w[1]).unwrap_or(edges.len() - 2)
                };
                buckets[slot].planted += 1;
                match removed_to {
                    Some(root) if root == of => {
                        found += 1;
                        buckets[slot].found += 1;
                    }
                    Some(_) => false_removals += 1,
                    None => {}
                }
            }
        }
    }
    buckets.retain(|b| b.planted > 0);
    Evaluation {
        planted,
        found,
        recall: if planted == 0 { 1.0 } else { found as f64 / planted as f64 },
        false_removals,
        buckets,
    }
}
