//! `hangar metrics bleu|rouge` prints the library's scores as JSON and
//! refuses files whose line counts differ, saying so.

use std::process::Command;

fn hangar(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hangar")).args(args).output().expect("run hangar")
}

#[test]
fn bleu_and_rouge_print_json_scores_from_text_files() {
    let dir = tempfile::tempdir().expect("dir");
    let hyp = dir.path().join("hyp.txt");
    let reference = dir.path().join("ref.txt");
    std::fs::write(&hyp, "The wing loads are applied.\nFlaps shall be tested at 1.5 g.\n").expect("hyp");
    std::fs::write(&reference, "The wing load is applied.\r\nFlaps must be tested at 1.5 g.\r\n").expect("ref");
    let (h, r) = (hyp.to_str().expect("utf-8"), reference.to_str().expect("utf-8"));

    let out = hangar(&["metrics", "bleu", "--hypotheses", h, "--references", r]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bleu: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let expected = hangar_metrics::corpus_bleu(
        &["The wing loads are applied.", "Flaps shall be tested at 1.5 g."],
        &[vec!["The wing load is applied.", "Flaps must be tested at 1.5 g."]],
        hangar_metrics::BleuTokenizer::Thirteen,
    )
    .expect("bleu");
    assert!((bleu["score"].as_f64().expect("score") - expected.score).abs() < 1e-9, "{bleu}");
    assert_eq!(bleu["tokenize"], "13a");
    assert_eq!(bleu["sys_len"], 14, "6 + 8 tokens, the periods split off");

    let out = hangar(&["metrics", "rouge", "--hypotheses", h, "--references", r, "--stemmer"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rouge: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for key in ["rouge1", "rouge2", "rougeL"] {
        let value = rouge[key].as_f64().expect(key);
        assert!(value > 0.5 && value < 1.0, "{key} = {value}");
    }
    assert_eq!(rouge["stemmer"], true);
}

#[test]
fn files_of_different_lengths_are_refused_with_the_counts() {
    let dir = tempfile::tempdir().expect("dir");
    let hyp = dir.path().join("hyp.txt");
    let reference = dir.path().join("ref.txt");
    std::fs::write(&hyp, "one\ntwo\nthree\n").expect("hyp");
    std::fs::write(&reference, "one\ntwo\n").expect("ref");
    let out = hangar(&[
        "metrics",
        "bleu",
        "--hypotheses",
        hyp.to_str().expect("utf-8"),
        "--references",
        reference.to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("3 hypotheses but 2 references"), "{stderr}");
}
