//! `map:`: a task run once per item of a list or of an upstream artifact,
//! each instance a task of its own, and the fan-in of their outputs.

#[macro_use]
mod common;

use std::sync::atomic::Ordering;

use common::{Fixture, Harness};
use hangar_engine::{RunStatus, TaskStatus, compile};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_literal_list_runs_one_instance_per_item_within_max_parallel() {
    let h = Harness::new().await;
    let yaml = r#"
name: fan
tasks:
  each:
    uses: work
    map: { items: [300, 300, 20, 300, 300], max_parallel: 2 }
    with: { ms: "${{ item }}" }
  after: { uses: work, needs: [each] }
"#;
    let (run_id, status) = h.run(yaml, 4).await;
    assert_eq!(status, RunStatus::Succeeded);
    let s = h.statuses(&run_id).await;
    for i in 0..5 {
        assert_eq!(s[&format!("each[{i}]")], "succeeded", "{s:?}");
        assert_eq!(h.probe.attempts_of(&format!("each[{i}]")), 1);
    }
    assert_eq!((s["each"].as_str(), s["after"].as_str()), ("succeeded", "succeeded"));
    assert_eq!(h.probe.attempts_of("each"), 0, "the mapped task itself never runs");
    let max = h.probe.max_running.load(Ordering::SeqCst);
    assert!(max <= 2, "max_parallel 2 of 4 worker slots: {max} instances ran at once");
    assert_eq!(max, 2, "two 300 ms instances overlapped");
    let tasks = h.engine.store().tasks(&run_id).await.expect("tasks");
    let each = tasks.iter().find(|t| t.task_id == "each").expect("each");
    assert_eq!(each.map_size, Some(5));
    let third = tasks.iter().find(|t| t.task_id == "each[2]").expect("instance");
    assert_eq!(third.config.as_ref().map(|c| c["ms"].clone()), Some(serde_json::json!(20)), "the item keeps its type");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_take_their_pool_slots_and_the_mapped_task_takes_none() {
    let h = Harness::new().await;
    h.engine.store().set_pool("solo", 1).await.expect("pool");
    let yaml = r#"
name: pooled
tasks:
  each: { uses: work, pool: solo, map: [50, 50, 50], with: { ms: "${{ item }}" } }
"#;
    let (_, status) = h.run(yaml, 4).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(h.probe.max_running.load(Ordering::SeqCst), 1, "one slot: one instance at a time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_param_is_mapped_and_can_be_overridden() {
    let h = Harness::new().await;
    let yaml = r#"
name: fan
params:
  waits: { type: list, default: [1, 2] }
tasks:
  each: { uses: work, map: "${{ params.waits }}", with: { ms: "${{ item }}" } }
"#;
    let plan = compile("fan.yaml", yaml, h.engine.registry(), &[("waits".into(), "[5, 6, 7]".into())])
        .unwrap_or_else(|d| panic!("{d}"));
    let run_id = h.engine.submit(&plan, None).await.expect("submit");
    assert_eq!(h.drive(&run_id, 2).await, RunStatus::Succeeded);
    let s = h.statuses(&run_id).await;
    assert!(s.contains_key("each[2]") && !s.contains_key("each[3]"), "{s:?}");
}

on_both!(
    the_shards_of_an_artifact_fan_out_and_fan_in_without_copies,
    a_failed_instance_fails_the_task_and_a_resume_reruns_only_it
);

fn harness_on(fixture: &Fixture) -> Harness {
    Harness::with_store(fixture.store.clone(), tempfile::tempdir().expect("tempdir"))
}

async fn the_shards_of_an_artifact_fan_out_and_fan_in_without_copies(fixture: &Fixture) {
    let h = harness_on(fixture);
    let yaml = r#"
name: shards
tasks:
  split: { uses: split, with: { texts: ["alpha", "beta", "gamma"] } }
  upper:
    uses: upper
    map: "${{ tasks.split.outputs.documents }}"
    with: { documents: "${{ item }}" }
  join: { uses: gather, with: { documents: "${{ tasks.upper.outputs.documents }}" } }
"#;
    let (run_id, status) = h.run(yaml, 2).await;
    assert_eq!(status, RunStatus::Succeeded);
    let tasks = h.engine.store().tasks(&run_id).await.expect("tasks");
    let outputs = |id: &str| tasks.iter().find(|t| t.task_id == id).and_then(|t| t.outputs.clone()).expect(id);
    let store = h.engine.artifacts();
    let joined = &outputs("join")["documents"];
    assert_eq!(store.read(&joined.key).await.expect("read"), b"ALPHA\nBETA\nGAMMA\n", "instances in item order");

    // The collection lists the instances' own files: nothing was copied.
    let collection = &outputs("upper")["documents"];
    assert!(collection.dir);
    let files = hangar_sdk::artifact_files(store, collection).await.expect("files");
    let instance_keys: Vec<String> = (0..3).map(|i| outputs(&format!("upper[{i}]"))["documents"].key.clone()).collect();
    assert_eq!(files.iter().map(|f| f.key.clone()).collect::<Vec<_>>(), instance_keys);
    let under_collection = store.list(&collection.key).await.expect("list");
    assert_eq!(under_collection.len(), 1, "only the manifest: {under_collection:?}");
    assert_eq!(collection.values["instances"], 3);

    // Run it again: every instance comes from the cache, one by one, and so
    // does the fan-in, although its input collection was written anew.
    let (again, status) = h.run(yaml, 2).await;
    assert_eq!(status, RunStatus::Succeeded);
    let s = h.statuses(&again).await;
    for i in 0..3 {
        assert_eq!(s[&format!("upper[{i}]")], "cached", "{s:?}");
    }
    assert_eq!(s["join"], "cached", "{s:?}");
}

async fn a_failed_instance_fails_the_task_and_a_resume_reruns_only_it(fixture: &Fixture) {
    let h = harness_on(fixture);
    let yaml = r#"
name: flaky-fan
tasks:
  each:
    uses: work
    map: [0, 1, 0]
    with: { fail_first: "${{ item }}", error: user }
  after: { uses: work, needs: [each] }
"#;
    let (run_id, status) = h.run(yaml, 2).await;
    assert_eq!(status, RunStatus::Failed);
    let s = h.statuses(&run_id).await;
    assert_eq!(
        (s["each[0]"].as_str(), s["each[1]"].as_str(), s["each[2]"].as_str()),
        ("succeeded", "failed", "succeeded")
    );
    assert_eq!((s["each"].as_str(), s["after"].as_str()), ("failed", "upstream_failed"));
    let tasks = h.engine.store().tasks(&run_id).await.expect("tasks");
    let each = tasks.iter().find(|t| t.task_id == "each").expect("each");
    let error = each.error.clone().unwrap_or_default();
    assert!(error.contains("1 of 3 instances failed (each[1])"), "{error}");

    assert_eq!(h.engine.prepare_resume(&run_id).await.expect("resume"), RunStatus::Pending);
    assert_eq!(h.drive(&run_id, 2).await, RunStatus::Succeeded);
    assert_eq!(h.probe.attempts_of("each[0]"), 1, "a succeeded instance is not run again");
    assert_eq!(h.probe.attempts_of("each[1]"), 2);
    assert_eq!(h.probe.attempts_of("each[2]"), 1);
    assert_eq!(h.statuses(&run_id).await["after"], "succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_apply_to_each_instance_alone() {
    let h = Harness::new().await;
    let yaml = r#"
name: retry-fan
tasks:
  each:
    uses: work
    retries: 1
    retry_backoff: 10ms
    map: [0, 1]
    with: { fail_first: "${{ item }}" }
"#;
    let (run_id, status) = h.run(yaml, 2).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((h.probe.attempts_of("each[0]"), h.probe.attempts_of("each[1]")), (1, 2));
    let attempts = h.engine.store().attempts(&run_id, "each[1]").await.expect("attempts");
    assert_eq!(attempts.iter().map(|a| a.status.as_str()).collect::<Vec<_>>(), ["failed", "succeeded"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_list_succeeds_with_empty_collections() {
    let h = Harness::new().await;
    let yaml = r#"
name: nothing
tasks:
  split: { uses: split, with: { texts: [] } }
  upper: { uses: upper, map: "${{ tasks.split.outputs.documents }}", with: { documents: "${{ item }}" } }
  join: { uses: gather, with: { documents: "${{ tasks.upper.outputs.documents }}" } }
"#;
    let (run_id, status) = h.run(yaml, 2).await;
    assert_eq!(status, RunStatus::Succeeded);
    let tasks = h.engine.store().tasks(&run_id).await.expect("tasks");
    let upper = tasks.iter().find(|t| t.task_id == "upper").expect("upper");
    assert_eq!((upper.status, upper.map_size), (TaskStatus::Succeeded, Some(0)));
    let join = tasks.iter().find(|t| t.task_id == "join").and_then(|t| t.outputs.clone()).expect("join");
    assert_eq!(join["documents"].size, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_the_instances_not_started() {
    let h = Harness::new().await;
    let yaml = r#"
name: long-fan
tasks:
  each: { uses: work, map: { items: [20000, 20000, 20000, 20000], max_parallel: 1 }, with: { ms: "${{ item }}" } }
"#;
    let run_id = h.submit(yaml).await;
    let engine = h.engine.clone();
    let id = run_id.clone();
    tokio::spawn(async move {
        for _ in 0..200 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            if engine
                .store()
                .tasks(&id)
                .await
                .is_ok_and(|t| t.iter().any(|t| t.status == TaskStatus::Running && t.task_id == "each[0]"))
            {
                break;
            }
        }
        engine.cancel(&id).await.expect("cancel");
    });
    assert_eq!(h.drive(&run_id, 2).await, RunStatus::Cancelled);
    let run = h.engine.store().run(&run_id).await.expect("run").expect("exists");
    let first = h.engine.store().tasks(&run_id).await.expect("tasks").into_iter().find(|t| t.task_id == "each[0]");
    let first_end = first.and_then(|t| t.finished_at).expect("the running instance ended");
    assert!(first_end <= run.finished_at.expect("run end"), "the run ended only after its running instance stopped");
    let s = h.statuses(&run_id).await;
    assert_eq!(s["each"], "cancelled");
    for i in 0..4 {
        assert_eq!(s[&format!("each[{i}]")], "cancelled", "{s:?}");
    }
    assert_eq!(h.probe.attempts_of("each[1]"), 0, "never started");
}
