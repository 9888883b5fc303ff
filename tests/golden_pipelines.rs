//! Every shipped pipeline runs on the example corpus and its summary (task
//! states, record counts, files and digests of every output) matches the
//! golden file in `tests/golden/`. Same inputs and seed, same digests.
//! Trained weights are not compared: the CPU kernels' parallel sums vary in
//! order between runs, so weights agree to rounding, not bit for bit. A pipeline may have `tests/golden/NAME.params`
//! (one `key=value` per line, `$VAR` read from the environment) to run small.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test --test golden_pipelines`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value, json};

fn summarise(run: &Value) -> Value {
    let mut tasks = Map::new();
    for (id, task) in run["tasks"].as_object().expect("tasks") {
        let mut outputs = Map::new();
        for (name, output) in task["outputs"].as_object().expect("outputs") {
            let uri = output["uri"].as_str().expect("uri");
            let path = PathBuf::from(uri.strip_prefix("file://").expect("local"));
            let mut entry = Map::new();
            entry.insert("kind".into(), output["kind"].clone());
            // Trained weights and their logs carry timings and floating-point
            // results, reports carry timings and registry versions; the train
            // crate's own tests check those.
            let measured = matches!(output["kind"].as_str(), Some("model" | "metrics" | "report"));
            if !measured {
                entry.insert("digest".into(), output["digest"].clone());
            }
            if path.is_dir() {
                let manifest: Value =
                    serde_json::from_slice(&std::fs::read(path.join("MANIFEST.json")).expect("manifest"))
                        .expect("json");
                let files: Vec<Value> =
                    manifest["files"].as_array().expect("files").iter().map(|f| f["path"].clone()).collect();
                entry.insert("files".into(), Value::Array(files));
                if let Ok(training) = std::fs::read(path.join("training.json")) {
                    let training: Value = serde_json::from_slice(&training).expect("training.json");
                    entry.insert("parameters".into(), training["parameters"].clone());
                    entry.insert("steps".into(), training["final"]["step"].clone());
                }
                if let Ok(stats) = std::fs::read(path.join("stats.json")) {
                    entry.insert("stats".into(), serde_json::from_slice(&stats).expect("stats"));
                }
            } else {
                let bytes = std::fs::read(&path).expect("artifact");
                match std::str::from_utf8(&bytes) {
                    Ok(text) => entry.insert("records".into(), text.lines().count().into()),
                    // Binary outputs (dedup signatures) are compared by digest and size.
                    Err(_) => entry.insert("bytes".into(), bytes.len().into()),
                };
            }
            outputs.insert(name.clone(), Value::Object(entry));
        }
        let mut entry = json!({"status": task["status"], "outputs": outputs});
        if task["status"] == "skipped" {
            entry["reason"] = task["error"].clone();
        }
        tasks.insert(id.clone(), entry);
    }
    json!({"pipeline": run["pipeline"], "status": run["status"], "tasks": tasks})
}

/// `-p key=value` arguments from the pipeline's `.params` file, if any.
fn params(name: &str) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(format!("tests/golden/{name}.params")) else { return Vec::new() };
    let mut args = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let value = match line.split_once("=$") {
            Some((key, var)) => format!(
                "{key}={}",
                std::env::var(var).unwrap_or_else(|_| panic!(
                    "{var} is not set: run `. scripts/reference/setup.sh` first (scripts/test.sh does)"
                ))
            ),
            None => line.to_owned(),
        };
        args.extend(["-p".to_owned(), value]);
    }
    args
}

fn run(pipeline: &Path) -> Value {
    let home = tempfile::tempdir().expect("tempdir");
    let name = pipeline.file_stem().expect("stem").to_string_lossy().into_owned();
    let output = Command::new(env!("CARGO_BIN_EXE_hangar"))
        .arg("run")
        .arg(pipeline)
        .args(params(&name))
        .args(["--json", "-q", "--home"])
        .arg(home.path())
        .env_remove("HANGAR_DATABASE_URL")
        .env_remove("HANGAR_ARTIFACTS")
        .output()
        .expect("run hangar");
    assert!(output.status.success(), "{} failed:\n{}", pipeline.display(), String::from_utf8_lossy(&output.stderr));
    summarise(&serde_json::from_slice(&output.stdout).expect("summary"))
}

#[test]
fn shipped_pipelines_match_their_golden_summaries() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut pipelines: Vec<PathBuf> = std::fs::read_dir("pipelines")
        .expect("pipelines/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    pipelines.sort();
    assert!(!pipelines.is_empty());
    for pipeline in pipelines {
        let name = pipeline.file_stem().expect("stem").to_string_lossy().into_owned();
        let summary = run(&pipeline);
        let golden = PathBuf::from(format!("tests/golden/{name}.json"));
        let rendered = serde_json::to_string_pretty(&summary).expect("json") + "\n";
        if update {
            std::fs::write(&golden, &rendered).expect("write golden");
            continue;
        }
        let expected = std::fs::read_to_string(&golden)
            .unwrap_or_else(|_| panic!("missing {}; run with UPDATE_GOLDEN=1", golden.display()));
        assert_eq!(rendered, expected, "{name} differs from {}", golden.display());
        // The same run again gives the same digests.
        assert_eq!(run(&pipeline), summary, "{name} is not deterministic");
    }
}

/// The flagship's params for the real corpus's configuration (README) set
/// the fields they name, lists and booleans keeping their type, and a wrong
/// value is refused by the field's own check.
#[test]
fn the_flagships_params_reach_its_dataset_and_fine_tune() {
    let text = std::fs::read_to_string("pipelines/airworthiness.yaml").expect("pipeline");
    let registry = hangar_cli::registry().expect("registry");
    let params = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    let small = params(&[("reading", "none"), ("packing", "false"), ("lora_targets", "q_proj,k_proj,v_proj,o_proj")]);
    let plan = hangar_engine::compile("airworthiness.yaml", &text, &registry, &small).expect("plan");
    assert_eq!(plan.tasks["dataset"].with["reading"], serde_json::json!("none"));
    let finetune = &plan.tasks["finetune"].with;
    assert_eq!(finetune["packing"], serde_json::json!(false));
    assert_eq!(finetune["lora"]["targets"], serde_json::json!(["q_proj", "k_proj", "v_proj", "o_proj"]));

    let defaults = hangar_engine::compile("airworthiness.yaml", &text, &registry, &[]).expect("plan");
    assert_eq!(defaults.tasks["dataset"].with["reading"], serde_json::json!("all"));
    assert_eq!(defaults.tasks["finetune"].with["packing"], serde_json::json!(true));
    assert_eq!(defaults.tasks["finetune"].with["lora"]["targets"].as_array().map(Vec::len), Some(7));

    let wrong = hangar_engine::compile("airworthiness.yaml", &text, &registry, &params(&[("reading", "some")]));
    let message = wrong.err().map(|d| d.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"));
    assert!(message.as_deref().is_some_and(|m| m.contains("reading")), "{message:?}");
}
