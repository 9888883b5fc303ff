//! A training run interrupted with Ctrl-C after a checkpoint continues from
//! that checkpoint when resumed, instead of starting over.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn hangar(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hangar"));
    command.arg("--home").arg(home).env_remove("HANGAR_DATABASE_URL").env_remove("HANGAR_ARTIFACTS");
    command
}

fn find_latest(dir: &Path) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_latest(&path) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == "latest.json") {
            return Some(path);
        }
    }
    None
}

#[test]
fn an_interrupted_training_resumes_from_its_checkpoint() {
    let home = tempfile::tempdir().expect("home");
    let mut child = hangar(home.path())
        .args(["run", "pipelines/airworthiness-train.yaml", "-q", "-p", "steps=400", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hangar run");
    let deadline = Instant::now() + Duration::from_secs(120);
    let checkpoints = home.path().join("artifacts/checkpoints");
    let latest = loop {
        if let Some(latest) = find_latest(&checkpoints) {
            break latest;
        }
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the run ended ({status}) before a checkpoint was seen");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(130), "cancelled: {}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("summary");
    assert_eq!(summary["tasks"]["train"]["status"], "cancelled");
    let run_id = summary["run_id"].as_str().expect("run id").to_owned();
    let pointer: serde_json::Value = serde_json::from_slice(&std::fs::read(&latest).expect("latest")).expect("json");
    let checkpointed = pointer["step"].as_u64().expect("step");
    assert!((20..400).contains(&checkpointed), "{pointer}");

    let resumed = hangar(home.path()).args(["resume", &run_id, "--json", "-q"]).output().expect("resume");
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&resumed.stdout).expect("summary");
    assert_eq!(summary["tasks"]["train"]["status"], "succeeded");
    let model = summary["tasks"]["train"]["outputs"]["model"]["uri"].as_str().expect("uri");
    let model = PathBuf::from(model.strip_prefix("file://").expect("local"));
    let training: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("training.json")).expect("training.json")).expect("json");
    let from = training["resumed_from_step"].as_u64().expect("resumed_from_step");
    assert!(from >= checkpointed, "resumed from step {from}, the checkpoint was at {checkpointed}");
    assert_eq!(training["final"]["step"], 400);
    let metrics = std::fs::read_to_string(model.join("metrics.jsonl")).expect("metrics");
    assert_eq!(metrics.lines().count(), 400, "the history before the interruption came with the checkpoint");
    let log = hangar(home.path()).args(["runs", "show", &run_id, "--tail", "200"]).output().expect("show");
    assert!(
        String::from_utf8_lossy(&log.stdout).contains("resuming from the checkpoint of step"),
        "{}",
        String::from_utf8_lossy(&log.stdout)
    );
}
