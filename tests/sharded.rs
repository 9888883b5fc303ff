//! The sharded data pipeline (ingest into shards; clean, filter, dedup
//! signatures and the removal of duplicates once per shard under `map:`; one
//! union-find over every shard) gives exactly what the one-task-per-step
//! pipeline gives on the same corpus: the same duplicates, the same dataset
//! and tokenizer, digest for digest.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn run(home: &Path, pipeline: &str, params: &[&str]) -> Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hangar"));
    command.arg("--home").arg(home).env_remove("HANGAR_DATABASE_URL").env_remove("HANGAR_ARTIFACTS");
    command.args(["run", pipeline, "--json", "-q", "-p", "vocab_size=500"]);
    for param in params {
        command.args(["-p", param]);
    }
    let output = command.output().expect("hangar run");
    assert!(output.status.success(), "{pipeline}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("json")
}

#[test]
fn sharded_and_single_task_pipelines_agree_digest_for_digest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let whole = run(&dir.path().join("whole"), "pipelines/airworthiness-data.yaml", &[]);
    let sharded = run(&dir.path().join("sharded"), "pipelines/airworthiness-sharded.yaml", &["shard_bytes=4000"]);
    assert_eq!(sharded["status"], "succeeded", "{sharded}");

    let shards = sharded["tasks"]["ingest"]["outputs"]["documents"]["values"]["shards"].as_u64().expect("shards");
    assert!(shards >= 4, "the examples make several 4 kB shards, got {shards}");
    assert_eq!(sharded["tasks"]["clean"]["map_size"], shards, "one clean per shard");
    assert_eq!(sharded["tasks"]["filter"]["map_size"], shards, "one filter per cleaned shard");
    for i in 0..shards {
        assert_eq!(sharded["tasks"][format!("clean[{i}]")]["status"], "succeeded");
    }

    let digest = |run: &Value, task: &str, output: &str| run["tasks"][task]["outputs"][output]["digest"].clone();
    // The one-task dedup's duplicates are the clusters' duplicates, record for record.
    assert!(
        whole["tasks"]["dedup"]["outputs"]["duplicates"]["size"].as_u64() > Some(0),
        "the examples have duplicates"
    );
    assert_eq!(digest(&sharded, "clusters", "duplicates"), digest(&whole, "dedup", "duplicates"));
    for output in ["dataset", "tokenizer"] {
        assert!(digest(&whole, "dataset", output).is_string(), "dataset.{output} missing: {whole}");
        assert_eq!(digest(&sharded, "dataset", output), digest(&whole, "dataset", output), "dataset.{output} differs");
    }
    assert_eq!(sharded["tasks"]["signatures"]["map_size"], shards);
    assert_eq!(sharded["tasks"]["dedup"]["map_size"], shards, "one removal list per shard");
    assert_eq!(sharded["tasks"]["samples"]["map_size"], shards, "one dataset part per kept shard");
    assert_eq!(
        digest(&sharded, "tokenizer", "tokenizer"),
        digest(&whole, "dataset", "tokenizer"),
        "the tokenizer task learns what the one-task dataset learns"
    );

    // One document per shard: dedup empties the shards of the duplicates,
    // and their empty parts join like any other.
    let fine = run(&dir.path().join("fine"), "pipelines/airworthiness-sharded.yaml", &["shard_bytes=1"]);
    assert_eq!(fine["status"], "succeeded", "{fine}");
    let emptied = (0..fine["tasks"]["dedup"]["map_size"].as_u64().expect("map_size"))
        .filter(|i| fine["tasks"][format!("dedup[{i}]")]["outputs"]["documents"]["size"] == 0)
        .count();
    assert!(emptied > 0, "some shard holds only duplicates: {fine}");
    for output in ["dataset", "tokenizer"] {
        assert_eq!(digest(&fine, "dataset", output), digest(&whole, "dataset", output), "dataset.{output} differs");
    }

    // A tokenizer learned from a sample of the sections is another tokenizer,
    // and the parts still join into a dataset.
    let sampled = run(
        &dir.path().join("sampled"),
        "pipelines/airworthiness-sharded.yaml",
        &["shard_bytes=4000", "tokenizer_sample_bytes=3000"],
    );
    assert_eq!(sampled["status"], "succeeded", "{sampled}");
    assert_ne!(digest(&sampled, "tokenizer", "tokenizer"), digest(&whole, "dataset", "tokenizer"));
    assert!(digest(&sampled, "dataset", "dataset").is_string());
}

/// Runs a spec written into a temporary folder; returns the run's JSON.
fn run_spec(dir: &Path, spec: &str) -> (bool, Value) {
    let path = dir.join("spec.yaml");
    std::fs::write(&path, spec).expect("spec");
    let output = Command::new(env!("CARGO_BIN_EXE_hangar"))
        .arg("--home")
        .arg(dir.join("home"))
        .env_remove("HANGAR_DATABASE_URL")
        .env_remove("HANGAR_ARTIFACTS")
        .args(["run", path.to_str().expect("utf-8"), "--json", "-q"])
        .output()
        .expect("hangar run");
    (output.status.success(), serde_json::from_slice(&output.stdout).expect("json"))
}

#[test]
fn a_merge_refuses_tokenizers_that_are_not_the_parts_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, run) = run_spec(
        dir.path(),
        r#"name: crossed
tasks:
  ingest: { uses: ingest, with: { path: examples/corpus, shard_bytes: 4000 } }
  small: { uses: tokenizer, with: { documents: "${{ tasks.ingest.outputs.documents }}", vocab_size: 400 } }
  large: { uses: tokenizer, with: { documents: "${{ tasks.ingest.outputs.documents }}", vocab_size: 600 } }
  a:
    uses: dataset
    map: "${{ tasks.ingest.outputs.documents }}"
    with: { documents: "${{ item }}", tokenizer: "${{ tasks.small.outputs.tokenizer }}", part: true }
  b:
    uses: dataset
    map: "${{ tasks.ingest.outputs.documents }}"
    with: { documents: "${{ item }}", tokenizer: "${{ tasks.large.outputs.tokenizer }}", part: true }
  merge:
    uses: dataset_merge
    with: { parts: "${{ tasks.a.outputs.dataset }}", tokenizers: "${{ tasks.b.outputs.tokenizer }}" }
"#,
    );
    assert!(!ok, "parts of one tokenizer merged with another's must fail: {run}");
    let error = run["tasks"]["merge"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("was not built with the tokenizer in `tokenizers`"), "{error}");
    assert!(error.contains("same mapped dataset task"), "the error says what to give: {error}");
}

#[test]
fn a_merge_of_something_other_than_a_mapped_dataset_says_what_to_give() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, run) = run_spec(
        dir.path(),
        r#"name: unmapped
tasks:
  ingest: { uses: ingest, with: { path: examples/corpus } }
  tokenizer: { uses: tokenizer, with: { documents: "${{ tasks.ingest.outputs.documents }}", vocab_size: 500 } }
  part:
    uses: dataset
    with: { documents: "${{ tasks.ingest.outputs.documents }}", tokenizer: "${{ tasks.tokenizer.outputs.tokenizer }}", part: true }
  merge:
    uses: dataset_merge
    with: { parts: "${{ tasks.part.outputs.dataset }}", tokenizers: "${{ tasks.part.outputs.tokenizer }}" }
"#,
    );
    assert!(!ok, "a merge of one unmapped dataset must fail: {run}");
    assert_eq!(run["tasks"]["part"]["status"], "succeeded", "{run}");
    let error = run["tasks"]["merge"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("is not the output of a mapped task"), "{error}");
    assert!(error.contains("part: true"), "the error says what to give: {error}");
}
