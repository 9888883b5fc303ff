//! Agreement with the reference implementations on the inputs of
//! `tests/fixtures/reference.json`, which `scripts/metrics_fixtures.py`
//! produced by running sacrebleu, rouge-score and NLTK's Porter stemmer.

use hangar_metrics::rouge::{rouge_pair, stem};
use hangar_metrics::{BleuTokenizer, RougeTokenizer, corpus_bleu, rouge};
use serde_json::Value;

fn fixture() -> Value {
    let text = include_str!("fixtures/reference.json");
    serde_json::from_str(text).expect("the fixture is JSON")
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().expect("array").iter().map(|v| v.as_str().expect("string").to_owned()).collect()
}

#[test]
fn corpus_bleu_equals_sacrebleu_within_a_hundredth() {
    let fixture = fixture();
    let cases = fixture["bleu"].as_array().expect("cases");
    assert!(cases.len() > 50);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let tokenizer = BleuTokenizer::from_name(case["tokenize"].as_str().expect("tokenize")).expect("known");
        let hypotheses = strings(&case["hypotheses"]);
        let references: Vec<Vec<String>> =
            case["references"].as_array().expect("streams").iter().map(strings).collect();
        let ours = corpus_bleu(&hypotheses, &references, tokenizer).expect("bleu");
        let theirs = case["score"].as_f64().expect("score");
        assert!((ours.score - theirs).abs() < 0.01, "{name}: {} vs sacrebleu {theirs}", ours.score);
        let counts: Vec<u64> = serde_json::from_value(case["counts"].clone()).expect("counts");
        let totals: Vec<u64> = serde_json::from_value(case["totals"].clone()).expect("totals");
        assert_eq!(ours.counts.to_vec(), counts, "{name}: matching n-grams");
        assert_eq!(ours.totals.to_vec(), totals, "{name}: hypothesis n-grams");
        assert_eq!(ours.sys_len, case["sys_len"].as_u64().expect("sys_len"), "{name}");
        assert_eq!(ours.ref_len, case["ref_len"].as_u64().expect("ref_len"), "{name}");
    }
}

#[test]
fn rouge_equals_rouge_score_within_one_millionth_line_by_line() {
    let fixture = fixture();
    for case in fixture["rouge"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let stemmer = case["stemmer"].as_bool().expect("stemmer");
        let hypotheses = strings(&case["hypotheses"]);
        let references = strings(&case["references"]);
        let lines = case["lines"].as_array().expect("lines");
        let mut expected_mean = [0.0; 3];
        for (i, line) in lines.iter().enumerate() {
            let expected: Vec<f64> = serde_json::from_value(line.clone()).expect("three scores");
            let ours = rouge_pair(&references[i], &hypotheses[i], RougeTokenizer::Default, stemmer);
            for (k, (a, b)) in [ours.rouge1, ours.rouge2, ours.rouge_l].iter().zip(&expected).enumerate() {
                assert!((a - b).abs() < 1e-6, "{name}, line {i}, measure {k}: {a} vs rouge-score {b}");
                expected_mean[k] += b / lines.len() as f64;
            }
        }
        let mean = rouge(&hypotheses, &references, RougeTokenizer::Default, stemmer).expect("rouge");
        assert!((mean.rouge1 - expected_mean[0]).abs() < 1e-6, "{name}: mean ROUGE-1");
        assert!((mean.rouge_l - expected_mean[2]).abs() < 1e-6, "{name}: mean ROUGE-L");
    }
}

#[test]
fn the_porter_stemmer_equals_nltks_on_every_listed_word() {
    let fixture = fixture();
    let stems = fixture["stems"].as_object().expect("stems");
    assert!(stems.len() > 1000);
    let wrong: Vec<String> = stems
        .iter()
        .filter(|(word, expected)| stem(word) != expected.as_str().expect("stem"))
        .map(|(word, expected)| format!("{word}: {} vs NLTK {expected}", stem(word)))
        .collect();
    assert!(wrong.is_empty(), "{} of {} differ: {:?}", wrong.len(), stems.len(), &wrong[..wrong.len().min(20)]);
}
