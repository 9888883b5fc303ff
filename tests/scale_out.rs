//! Scale-out on the production backends (PostgreSQL + S3), with processes
//! killed for real: workers and coordinators die mid-run, frozen workers
//! wake up late, and two workers race for the same queue.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;
use support::{Cluster, alive, json_of, ledger};

const LONG: Duration = Duration::from_secs(60);

/// `first` → `gated` (waits for a file) → `last`; every task appends
/// "TASK ATTEMPT" to a ledger so re-executions show. The tasks keep the
/// defaults (no `retries`): losing a worker must not be their failure.
fn gated_pipeline(cluster: &Cluster) -> std::path::PathBuf {
    let ledger = cluster.path("ledger");
    let gate = cluster.path("gate");
    let pids = cluster.path("pids");
    cluster.write(
        "gated.yaml",
        &format!(
            r#"
name: gated
tasks:
  first:
    uses: shell
    with: {{ run: "echo first $HANGAR_ATTEMPT >> {ledger}" }}
  gated:
    uses: shell
    needs: [first]
    with: {{ run: "echo gated $HANGAR_ATTEMPT >> {ledger}; echo $$ >> {pids}; while [ ! -f {gate} ]; do sleep 0.05; done" }}
  last:
    uses: shell
    needs: [gated]
    with: {{ run: "echo last $HANGAR_ATTEMPT >> {ledger}" }}
"#,
            ledger = ledger.display(),
            gate = gate.display(),
            pids = pids.display(),
        ),
    )
}

fn attempt_statuses(detail: &Value, task: &str) -> Vec<String> {
    detail["tasks"][task]["attempt_history"]
        .as_array()
        .map(|a| a.iter().map(|x| x["status"].as_str().unwrap_or_default().to_owned()).collect())
        .unwrap_or_default()
}

fn workers_of(detail: &Value, task: &str) -> Vec<String> {
    detail["tasks"][task]["attempt_history"]
        .as_array()
        .map(|a| a.iter().map(|x| x["worker"].as_str().unwrap_or_default().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn a_worker_killed_mid_task_costs_one_more_attempt() {
    let mut cluster = Cluster::new(true);
    let spec = gated_pipeline(&cluster);
    let worker_a = cluster.spawn("worker-a", &["worker", "--no-coordinate"]);
    let coordinator = cluster.spawn("coordinator", &["run", spec.to_str().expect("utf-8"), "--no-workers", "--json"]);
    let run_id = cluster.newest_run();
    cluster
        .wait_for(&run_id, "the gated task to run on worker A", LONG, |d| d["tasks"]["gated"]["status"] == "running");
    // `running` is the claim; the command starts a moment later, in the task's process.
    let deadline = std::time::Instant::now() + LONG;
    while ledger(&cluster.path("pids")).is_empty() {
        assert!(std::time::Instant::now() < deadline, "the gated command never started:\n{}", cluster.all_logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    let shell_pid: u32 = ledger(&cluster.path("pids"))[0].parse().expect("pid of the task's shell");

    cluster.signal(worker_a, "KILL");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while alive(shell_pid) {
        assert!(std::time::Instant::now() < deadline, "the dead worker's command {shell_pid} kept running");
        std::thread::sleep(Duration::from_millis(50));
    }

    cluster.write("gate", "open");
    cluster.spawn("worker-b", &["worker", "--no-coordinate"]);
    assert_eq!(cluster.wait(coordinator, LONG), Some(0), "{}", cluster.all_logs());
    let detail = cluster.show(&run_id);
    assert_eq!(detail["status"], "succeeded");
    assert_eq!(attempt_statuses(&detail, "gated"), ["lost", "succeeded"]);
    assert_eq!(detail["tasks"]["gated"]["attempts"], 2);
    let lost = detail["tasks"]["gated"]["attempt_history"][0]["error"].as_str().unwrap_or_default().to_owned();
    assert!(lost.contains("not counted against retries"), "{lost}");
    let workers = workers_of(&detail, "gated");
    assert!(workers[0].contains(&format!(":{worker_a}:")), "attempt 1 ran on worker A: {workers:?}");
    assert!(!workers[1].contains(&format!(":{worker_a}:")), "attempt 2 ran elsewhere: {workers:?}");
    assert_eq!(ledger(&cluster.path("ledger")), ["first 1", "gated 1", "gated 2", "last 1"]);
}

#[test]
fn a_killed_coordinator_restarts_without_rerunning_succeeded_tasks() {
    let mut cluster = Cluster::new(true);
    let spec = gated_pipeline(&cluster);
    cluster.spawn("worker", &["worker", "--no-coordinate"]);
    let coordinator = cluster.spawn("coordinator", &["run", spec.to_str().expect("utf-8"), "--no-workers"]);
    let run_id = cluster.newest_run();
    cluster.wait_for(&run_id, "the gated task to run", LONG, |d| d["tasks"]["gated"]["status"] == "running");

    cluster.signal(coordinator, "KILL");
    cluster.wait(coordinator, LONG);
    // The worker finishes the task while no coordinator is alive.
    cluster.write("gate", "open");
    cluster.wait_for(&run_id, "the worker to finish the gated task", LONG, |d| {
        d["tasks"]["gated"]["status"] == "succeeded"
    });
    assert_eq!(cluster.show(&run_id)["status"], "running", "no coordinator recorded an end");

    let output =
        cluster.hangar("coordinator").args(["resume", &run_id, "--no-workers", "--json"]).output().expect("resume");
    assert_eq!(output.status.code(), Some(0), "{}\n{}", String::from_utf8_lossy(&output.stderr), cluster.all_logs());
    let summary = json_of(&output);
    assert_eq!(summary["status"], "succeeded");
    for task in ["first", "gated", "last"] {
        assert_eq!(summary["tasks"][task]["attempts"], 1, "{task} ran once");
    }
    assert_eq!(ledger(&cluster.path("ledger")), ["first 1", "gated 1", "last 1"]);
}

#[test]
fn a_worker_adopts_a_run_whose_coordinator_died() {
    let mut cluster = Cluster::new(true);
    let spec = gated_pipeline(&cluster);
    cluster.spawn("worker", &["worker"]);
    let coordinator = cluster.spawn("coordinator", &["run", spec.to_str().expect("utf-8"), "--no-workers"]);
    let run_id = cluster.newest_run();
    cluster.wait_for(&run_id, "the gated task to run", LONG, |d| d["tasks"]["gated"]["status"] == "running");
    cluster.signal(coordinator, "KILL");
    cluster.write("gate", "open");
    let detail =
        cluster.wait_for(&run_id, "the worker to adopt and finish the run", LONG, |d| d["status"] == "succeeded");
    for task in ["first", "gated", "last"] {
        assert_eq!(detail["tasks"][task]["attempts"], 1, "{task} ran once");
    }
    assert_eq!(ledger(&cluster.path("ledger")), ["first 1", "gated 1", "last 1"]);
    assert!(cluster.log("worker").contains("run succeeded"), "{}", cluster.log("worker"));
}

#[test]
fn two_workers_racing_for_200_tasks_never_run_one_twice() {
    let mut cluster = Cluster::new(true);
    let ledger_path = cluster.path("ledger");
    let mut spec = String::from("name: wide\ntasks:\n");
    for i in 0..200 {
        spec.push_str(&format!(
            "  t{i:03}: {{ uses: shell, with: {{ run: \"echo t{i:03} $HANGAR_ATTEMPT >> {}\" }} }}\n",
            ledger_path.display()
        ));
    }
    let spec = cluster.write("wide.yaml", &spec);
    let a = cluster.spawn("worker-a", &["worker", "--no-coordinate", "--concurrency", "4"]);
    let b = cluster.spawn("worker-b", &["worker", "--no-coordinate", "--concurrency", "4"]);
    let coordinator = cluster.spawn("coordinator", &["run", spec.to_str().expect("utf-8"), "--no-workers"]);
    assert_eq!(cluster.wait(coordinator, Duration::from_secs(180)), Some(0), "{}", cluster.all_logs());
    let run_id = cluster.newest_run();
    let detail = cluster.show(&run_id);

    let lines = ledger(&ledger_path);
    let unique: BTreeSet<&String> = lines.iter().collect();
    assert_eq!(lines.len(), 200, "each task ran exactly once");
    assert_eq!(unique.len(), 200);
    assert!(lines.iter().all(|l| l.ends_with(" 1")), "every task on its first attempt");
    let mut per_worker: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, task) in detail["tasks"].as_object().expect("tasks") {
        assert_eq!(task["attempts"], 1, "{id}");
        let worker = task["attempt_history"][0]["worker"].as_str().expect("worker");
        let who = if worker.contains(&format!(":{a}:")) {
            "a"
        } else if worker.contains(&format!(":{b}:")) {
            "b"
        } else {
            panic!("{id} ran on an unknown worker {worker}")
        };
        *per_worker.entry(who).or_default() += 1;
    }
    assert_eq!(per_worker.len(), 2, "both workers took tasks: {per_worker:?}");
}

#[test]
fn a_frozen_workers_late_completion_is_fenced_off() {
    let mut cluster = Cluster::new(true);
    let ledger_path = cluster.path("ledger");
    let spec = cluster.write(
        "slow.yaml",
        &format!(
            "name: slow\ntasks:\n  slow:\n    uses: shell\n    with: {{ run: \"echo start $HANGAR_ATTEMPT >> {ledger}; sleep 1; echo end $HANGAR_ATTEMPT >> {ledger}\" }}\n",
            ledger = ledger_path.display()
        ),
    );
    let frozen = cluster.spawn("worker-a", &["worker", "--no-coordinate"]);
    let coordinator = cluster.spawn("coordinator", &["run", spec.to_str().expect("utf-8"), "--no-workers", "--json"]);
    let run_id = cluster.newest_run();
    cluster.wait_for(&run_id, "attempt 1 to start", LONG, |d| d["tasks"]["slow"]["status"] == "running");
    // Frozen mid-task: no heartbeats, so its lease runs out and the task is
    // retried on worker B, while attempt 1's command finishes unseen.
    cluster.signal(frozen, "STOP");
    cluster.spawn("worker-b", &["worker", "--no-coordinate"]);
    assert_eq!(cluster.wait(coordinator, LONG), Some(0), "{}", cluster.all_logs());
    let before = cluster.show(&run_id);
    assert_eq!(attempt_statuses(&before, "slow"), ["lost", "succeeded"]);

    // Woken up, worker A tries to complete attempt 1 and must be refused.
    cluster.signal(frozen, "CONT");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !cluster.log("worker-a").contains("Attempt result discarded") {
        assert!(
            std::time::Instant::now() < deadline,
            "worker A never tried to complete attempt 1:\n{}",
            cluster.log("worker-a")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let after = cluster.show(&run_id);
    assert_eq!(after["tasks"]["slow"], before["tasks"]["slow"], "the stale attempt changed nothing");
    assert_eq!(after["tasks"]["slow"]["status"], "succeeded");
    assert_eq!(after["status"], "succeeded");
}

#[test]
fn labels_route_tasks_and_pools_limit_them_across_workers() {
    let mut cluster = Cluster::new(true);
    let output = cluster.hangar("admin").args(["pools", "set", "gpu", "1"]).output().expect("pools set");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut spec = String::from("name: routed\ntasks:\n  prepare: { uses: shell, with: { run: \"sleep 0.2\" } }\n");
    for i in 0..3 {
        spec.push_str(&format!(
            "  train{i}: {{ uses: shell, runs_on: [gpu], pool: gpu, with: {{ run: \"sleep 0.3\" }} }}\n"
        ));
    }
    let spec = cluster.write("routed.yaml", &spec);
    let cpu = cluster.spawn("cpu-worker", &["worker", "--no-coordinate", "--labels", "cpu", "--concurrency", "4"]);
    let gpu1 =
        cluster.spawn("gpu-worker-1", &["worker", "--no-coordinate", "--labels", "cpu,gpu", "--concurrency", "4"]);
    let gpu2 = cluster.spawn("gpu-worker-2", &["worker", "--no-coordinate", "--labels", "gpu", "--concurrency", "4"]);
    let coordinator = cluster.spawn("coordinator", &["run", spec.to_str().expect("utf-8"), "--no-workers"]);
    assert_eq!(cluster.wait(coordinator, LONG), Some(0), "{}", cluster.all_logs());
    let detail = cluster.show(&cluster.newest_run());
    let mut spans = Vec::new();
    for i in 0..3 {
        let attempt = &detail["tasks"][format!("train{i}")]["attempt_history"][0];
        let worker = attempt["worker"].as_str().expect("worker");
        assert!(!worker.contains(&format!(":{cpu}:")), "a gpu task ran on the cpu-only worker");
        assert!(worker.contains(&format!(":{gpu1}:")) || worker.contains(&format!(":{gpu2}:")));
        spans.push((attempt["started_at"].as_i64().expect("start"), attempt["finished_at"].as_i64().expect("end")));
    }
    spans.sort();
    for pair in spans.windows(2) {
        // Each process reads the clock before its transaction waits for the
        // other's commit, so the stamps of a hand-over may invert by a few
        // milliseconds; a real overlap would span most of a 300 ms task.
        assert!(pair[0].1 <= pair[1].0 + 20, "the gpu pool has one slot, yet two tasks overlapped: {spans:?}");
    }
    let pools = json_of(&cluster.hangar("admin").args(["pools", "--json"]).output().expect("pools"));
    assert_eq!(pools[0]["name"], "gpu");
    assert_eq!(pools[0]["running"], 0);
}

#[test]
fn the_data_pipeline_runs_on_postgres_and_s3_and_reruns_from_cache() {
    let cluster = Cluster::new(true);
    let run = || {
        let output = cluster
            .hangar("machine")
            .args(["run", "pipelines/airworthiness-data.yaml", "--json", "--quiet"])
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        json_of(&output)
    };
    let first = run();
    assert_eq!(first["status"], "succeeded");
    let dataset = &first["tasks"]["dataset"]["outputs"];
    for (name, artifact) in dataset.as_object().expect("outputs") {
        let uri = artifact["uri"].as_str().expect("uri");
        assert!(uri.starts_with(&format!("{}/", cluster.artifacts)), "{name} is in S3: {uri}");
    }
    let second = run();
    for (id, task) in second["tasks"].as_object().expect("tasks") {
        assert_eq!(task["status"], "cached", "{id}");
        assert_eq!(task["outputs"], first["tasks"][id]["outputs"], "{id}");
    }
}

#[test]
fn workers_refuse_a_database_that_is_not_migrated() {
    let cluster = Cluster::new(false);
    let output = cluster.hangar("w").args(["worker"]).output().expect("worker");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("hangar migrate"), "the error says what to do: {stderr}");

    let migrated = cluster.hangar("admin").args(["migrate", "--json"]).output().expect("migrate");
    let report = json_of(&migrated);
    assert_eq!(report["backend"], "postgres");
    assert_eq!(report["from_version"], 0);
    assert_eq!(report["version"], report["expected"]);
    let again = json_of(&cluster.hangar("admin").args(["migrate", "--json"]).output().expect("migrate"));
    assert_eq!(again["from_version"], again["version"], "migrating twice is a no-op");
}
