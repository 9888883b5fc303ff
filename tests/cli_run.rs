//! End-to-end tests of the `hangar` binary on the embedded default:
//! the `--json` contract, run listing, interruption with SIGINT, and resume
//! after the process is killed with SIGKILL.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn hangar(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hangar"));
    command.arg("--home").arg(home).env_remove("HANGAR_DATABASE_URL").env_remove("HANGAR_ARTIFACTS");
    command
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn write_pipeline(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write pipeline");
    path
}

#[test]
fn run_json_follows_the_documented_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output =
        hangar(dir.path()).args(["run", "examples/hello.yaml", "--json", "--param", "times=3"]).output().expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let summary = json_of(&output);
    let run_id = summary["run_id"].as_str().expect("run_id");
    assert_eq!(summary["status"], "succeeded");
    let tasks = summary["tasks"].as_object().expect("tasks");
    assert_eq!(tasks.keys().collect::<Vec<_>>(), ["greet", "count", "join", "report"]);
    for (id, task) in tasks {
        assert_eq!(task["status"], "succeeded", "{id}");
        assert_eq!(task["attempts"], 1, "{id}");
        assert!(task["duration_s"].as_f64().is_some(), "{id}");
        assert!(task["outputs"].is_object(), "{id}");
    }

    let listed = hangar(dir.path()).args(["runs", "--json"]).output().expect("runs");
    let runs = json_of(&listed);
    assert_eq!(runs[0]["run_id"], run_id);
    assert_eq!(runs[0]["pipeline"], "hello");
    assert_eq!(runs[0]["status"], "succeeded");
    assert!(runs[0]["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));

    // A unique start of the id is enough, as with git.
    let shown = hangar(dir.path()).args(["runs", "show", &run_id[..13]]).output().expect("show");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success(), "{}", String::from_utf8_lossy(&shown.stderr));
    assert!(text.contains(&format!("run       {run_id}")), "{text}");
    assert!(text.contains("pipeline  hello"), "{text}");
    assert!(text.contains("stdout hello 3"), "the log tail is shown: {text}");
}

#[test]
fn runs_show_says_where_each_output_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/corpus/en/part99-subparts-a-b.md");
    let spec = write_pipeline(
        dir.path(),
        "one.yaml",
        &format!("name: one\ntasks:\n  ingest: {{ uses: ingest, with: {{ path: \"{}\" }} }}\n", corpus.display()),
    );
    let output = hangar(dir.path()).arg("run").arg(&spec).arg("--json").output().expect("run");
    let summary = json_of(&output);
    let run_id = summary["run_id"].as_str().expect("run_id");
    let documents = &summary["tasks"]["ingest"]["outputs"]["documents"];
    let path = documents["uri"].as_str().expect("uri").trim_start_matches("file://");
    let shown = hangar(dir.path()).args(["runs", "show", run_id]).output().expect("show");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains(&format!("ingest.documents  {path}  (documents, ")), "the output's path is listed: {text}");
    assert!(Path::new(path).exists(), "{path}");
}

#[test]
fn run_ids_may_be_shortened_while_they_stay_unique() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let output = hangar(dir.path()).args(["run", "examples/hello.yaml", "--json"]).output().expect("run");
        ids.push(json_of(&output)["run_id"].as_str().expect("run_id").to_owned());
    }
    let shared = ids[0].chars().zip(ids[1].chars()).take_while(|(a, b)| a == b).count();
    assert!(shared >= 1, "runs made one after the other share the start of their time-ordered ids: {ids:?}");
    let ambiguous = hangar(dir.path()).args(["runs", "show", &ids[0][..shared]]).output().expect("show");
    assert!(!ambiguous.status.success());
    let said = String::from_utf8_lossy(&ambiguous.stderr);
    assert!(said.contains("is the start of 2 runs") && said.contains("type more of the id"), "{said}");
    let unknown = hangar(dir.path()).args(["runs", "show", "zzzz"]).output().expect("show");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("run zzzz not found"), "unknown prefix");
    let resumed = hangar(dir.path()).args(["resume", &ids[1][..shared + 1]]).output().expect("resume");
    assert!(
        String::from_utf8_lossy(&resumed.stderr).contains(&format!("run {} already succeeded", ids[1])),
        "resume takes a prefix too: {}",
        String::from_utf8_lossy(&resumed.stderr)
    );
}

#[test]
fn reading_an_empty_place_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("nothing-yet");
    let listed = hangar(&home).arg("runs").output().expect("runs");
    assert!(listed.status.success());
    let said = String::from_utf8_lossy(&listed.stderr);
    assert!(said.contains("no runs") && said.contains("hangar run pipelines/FILE.yaml"), "{said}");
    assert_eq!(json_of(&hangar(&home).args(["runs", "--json"]).output().expect("runs")), serde_json::json!([]));
    let shown = hangar(&home).args(["runs", "show", "0192"]).output().expect("show");
    assert!(!shown.status.success());
    assert!(hangar(&home).args(["models"]).output().expect("models").status.success());
    assert!(!home.exists(), "read-only commands left {} behind", home.display());
}

#[test]
fn failed_run_exits_non_zero_and_records_the_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = write_pipeline(
        dir.path(),
        "failing.yaml",
        r#"
name: failing
tasks:
  boom: { uses: shell, with: { run: "echo about to fail; echo disk full >&2; exit 7" } }
  after: { uses: noop, needs: [boom] }
  other: { uses: noop }
"#,
    );
    let output = hangar(dir.path()).arg("run").arg(&spec).arg("--json").output().expect("run");
    assert_eq!(output.status.code(), Some(1));
    let summary = json_of(&output);
    assert_eq!(summary["status"], "failed");
    assert_eq!(summary["tasks"]["boom"]["status"], "failed");
    assert_eq!(summary["tasks"]["after"]["status"], "upstream_failed");
    assert_eq!(summary["tasks"]["other"]["status"], "succeeded");
    let error = summary["tasks"]["boom"]["error"].as_str().expect("error");
    assert!(error.contains("exited with status 7; last stderr line: disk full"), "{error}");
}

#[test]
fn an_invalid_pipeline_is_not_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = hangar(dir.path()).args(["run", "tests/invalid/cycle.yaml"]).output().expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("dependency cycle"));
    let runs = json_of(&hangar(dir.path()).args(["runs", "--json"]).output().expect("runs"));
    assert_eq!(runs, serde_json::json!([]));
}

#[test]
fn operators_json_lists_schemas() {
    let output = Command::new(env!("CARGO_BIN_EXE_hangar")).args(["operators", "--json"]).output().expect("operators");
    let list = json_of(&output);
    let shell = list.as_array().expect("list").iter().find(|o| o["name"] == "shell").expect("shell is registered");
    assert_eq!(shell["config_schema"]["required"], serde_json::json!(["run"]));
    assert_eq!(shell["privileged"], true);
    assert!(shell["config_schema"]["properties"]["run"]["description"].is_string());
}

/// Polls `hangar runs show --json` until `ready` accepts it.
fn wait_for(home: &Path, run_id: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let output = hangar(home).args(["runs", "show", run_id, "--json"]).output().expect("show");
        if output.status.success() {
            let detail = json_of(&output);
            if ready(&detail) {
                return detail;
            }
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn first_run_id(home: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let output = hangar(home).args(["runs", "--json"]).output().expect("runs");
        if output.status.success()
            && let Some(id) = json_of(&output)[0]["run_id"].as_str()
        {
            return id.to_owned();
        }
        assert!(Instant::now() < deadline, "the run never appeared");
        // Each look opens the embedded database (and takes its migration
        // lock for a moment): looking too often on a loaded machine starves
        // the run being started.
        std::thread::sleep(Duration::from_millis(250));
    }
}

const GATED_PIPELINE: &str = r#"
name: gated
params:
  gate: { type: string }
  ledger: { type: string }
tasks:
  first:
    uses: shell
    with: { run: "echo first >> ${{ params.ledger }}" }
  wait_for_gate:
    uses: shell
    needs: [first]
    with: { run: "while [ ! -f ${{ params.gate }} ]; do sleep 0.05; done; echo gate open" }
  last:
    uses: shell
    needs: [wait_for_gate]
    with: { run: "echo last >> ${{ params.ledger }}" }
"#;

#[test]
fn resume_after_kill_9_does_not_rerun_succeeded_tasks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let gate = dir.path().join("gate");
    let ledger = dir.path().join("ledger");
    let spec = write_pipeline(dir.path(), "gated.yaml", GATED_PIPELINE);
    let mut child = hangar(&home)
        .arg("run")
        .arg(&spec)
        .arg("--param")
        .arg(format!("gate={}", gate.display()))
        .arg("--param")
        .arg(format!("ledger={}", ledger.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start hangar run");
    let run_id = first_run_id(&home);
    wait_for(&home, &run_id, "the gated task to run", |d| d["tasks"]["wait_for_gate"]["status"] == "running");

    child.kill().expect("SIGKILL"); // std's kill() sends SIGKILL on Unix
    child.wait().expect("reap");
    let detail = wait_for(&home, &run_id, "the state left by the killed process", |_| true);
    assert_eq!(detail["status"], "running", "nobody recorded an end: the process died");
    assert_eq!(detail["tasks"]["first"]["status"], "succeeded");
    assert_eq!(detail["tasks"]["wait_for_gate"]["status"], "running");

    std::fs::write(&gate, "open").expect("open the gate");
    let output = hangar(&home).args(["resume", &run_id, "--json"]).output().expect("resume");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let summary = json_of(&output);
    assert_eq!(summary["run_id"], run_id.as_str());
    assert_eq!(summary["status"], "succeeded");
    assert_eq!(summary["tasks"]["first"]["attempts"], 1);
    assert_eq!(summary["tasks"]["wait_for_gate"]["attempts"], 2);
    assert_eq!(std::fs::read_to_string(&ledger).expect("ledger"), "first\nlast\n", "`first` ran exactly once");
    let detail = wait_for(&home, &run_id, "attempt history", |_| true);
    let history = &detail["tasks"]["wait_for_gate"]["attempt_history"];
    assert_eq!(history[0]["status"], "lost");
    assert_eq!(history[1]["status"], "succeeded");
}

#[test]
fn ctrl_c_cancels_the_run_cleanly_and_records_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let spec = write_pipeline(dir.path(), "gated.yaml", GATED_PIPELINE);
    let child = hangar(&home)
        .arg("run")
        .arg(&spec)
        .arg("--param")
        .arg(format!("gate={}", dir.path().join("never").display()))
        .arg("--param")
        .arg(format!("ledger={}", dir.path().join("ledger").display()))
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hangar run");
    let run_id = first_run_id(&home);
    wait_for(&home, &run_id, "the gated task to run", |d| d["tasks"]["wait_for_gate"]["status"] == "running");
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("send SIGINT");
    assert!(status.success());
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(130), "{}", String::from_utf8_lossy(&output.stderr));
    let summary = json_of(&output);
    assert_eq!(summary["status"], "cancelled");
    assert_eq!(summary["tasks"]["first"]["status"], "succeeded");
    assert_eq!(summary["tasks"]["wait_for_gate"]["status"], "cancelled");
    assert_eq!(summary["tasks"]["last"]["status"], "cancelled");
}

const GATED_FANOUT: &str = r#"
name: gated-fanout
params:
  gate: { type: string }
  ledger: { type: string }
tasks:
  each:
    uses: shell
    map: { items: [a, b, c, d], max_parallel: 1 }
    with:
      run: "echo ${{ item }} >> ${{ params.ledger }}; if [ ${{ item }} = c ]; then while [ ! -f ${{ params.gate }} ]; do sleep 0.05; done; fi"
  last:
    uses: shell
    needs: [each]
    with: { run: "echo last >> ${{ params.ledger }}" }
"#;

#[test]
fn resume_after_kill_9_in_the_middle_of_a_fan_out_reruns_only_the_lost_instance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let gate = dir.path().join("gate");
    let ledger = dir.path().join("ledger");
    let spec = write_pipeline(dir.path(), "gated-fanout.yaml", GATED_FANOUT);
    let mut child = hangar(&home)
        .arg("run")
        .arg(&spec)
        .arg("--param")
        .arg(format!("gate={}", gate.display()))
        .arg("--param")
        .arg(format!("ledger={}", ledger.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start hangar run");
    let run_id = first_run_id(&home);
    wait_for(&home, &run_id, "instance c to run", |d| d["tasks"]["each[2]"]["status"] == "running");

    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let detail = wait_for(&home, &run_id, "the state left by the killed process", |_| true);
    assert_eq!(detail["tasks"]["each"]["status"], "running");
    assert_eq!(detail["tasks"]["each"]["map_size"], 4);
    assert_eq!(detail["tasks"]["each[1]"]["status"], "succeeded");
    assert_eq!(detail["tasks"]["each[3]"]["status"], "pending", "max_parallel 1: d waits for c");

    std::fs::write(&gate, "open").expect("open the gate");
    let output = hangar(&home).args(["resume", &run_id, "--json"]).output().expect("resume");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let summary = json_of(&output);
    assert_eq!(summary["status"], "succeeded");
    let tasks = summary["tasks"].as_object().expect("tasks");
    let instances: Vec<&String> = tasks.keys().filter(|k| k.starts_with("each[")).collect();
    assert_eq!(instances.len(), 4, "no instance added twice: {instances:?}");
    assert_eq!(summary["tasks"]["each[0]"]["attempts"], 1);
    assert_eq!(summary["tasks"]["each[2]"]["attempts"], 2, "the lost attempt ran again");
    assert_eq!(
        std::fs::read_to_string(&ledger).expect("ledger"),
        "a\nb\nc\nc\nd\nlast\n",
        "a and b ran exactly once, c again after its lost attempt, then d and the fan-in"
    );
}
