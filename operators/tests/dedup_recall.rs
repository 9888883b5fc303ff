//! Dedup on a synthetic corpus with planted exact and near duplicates
//! (word edits of 0.2–3 %): recall by Jaccard band, and no false removals.

use hangar_operators::dedup::synthetic::{Plan, evaluate, generate};
use hangar_operators::dedup::{DedupConfig, find_duplicates};

#[test]
fn planted_duplicates_are_found_without_false_removals() {
    let docs = generate(&Plan { documents: 6000, seed: 7, ..Plan::default() });
    let config: DedupConfig = serde_json::from_value(serde_json::json!({"documents": "x"})).expect("defaults");
    let (verdicts, _) = find_duplicates(&config, docs.iter().map(|d| d.text.as_str()));
    let eval = evaluate(&docs, &verdicts);
    for bucket in &eval.buckets {
        println!("{:<14} {:>5} planted {:>5} found", bucket.label, bucket.planted, bucket.found);
    }
    assert!(eval.planted > 600, "the generator plants duplicates: {}", eval.planted);
    assert!(eval.recall >= 0.97, "recall {:.4}", eval.recall);
    assert_eq!(eval.false_removals, 0);
    let exact = eval.buckets.iter().find(|b| b.label == "exact").expect("exact copies planted");
    assert_eq!(exact.found, exact.planted, "every exact copy is found");
}

#[test]
fn lower_thresholds_never_lose_recall_and_higher_ones_can() {
    let docs = generate(&Plan { documents: 3000, seed: 11, ..Plan::default() });
    let recall = |threshold: f64| {
        let mut config: DedupConfig = serde_json::from_value(serde_json::json!({"documents": "x"})).expect("defaults");
        config.threshold = threshold;
        let (verdicts, _) = find_duplicates(&config, docs.iter().map(|d| d.text.as_str()));
        evaluate(&docs, &verdicts).recall
    };
    let (low, high) = (recall(0.7), recall(0.95));
    assert!(low > high, "a 0.95 threshold misses near copies: {low} vs {high}");
}
