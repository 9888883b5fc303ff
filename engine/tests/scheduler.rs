//! Scheduler behaviour on the embedded store: concurrency, retries,
//! timeouts, cancellation, failure propagation, artifacts and persistence.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::Harness;
use hangar_engine::{EngineEvent, RunStatus, TaskStatus};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_tasks_run_concurrently_up_to_the_limit() {
    let h = Harness::new().await;
    let yaml = "name: wide\ntasks:\n".to_owned()
        + &(0..6).map(|i| format!("  t{i}:\n    uses: work\n    with: {{ ms: 150 }}\n")).collect::<String>();
    let (_, status) = h.run(&yaml, 2).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(h.probe.max_running.load(Ordering::SeqCst), 2, "two at a time, never more");

    let h = Harness::new().await;
    let (_, status) = h.run(&yaml, 6).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert!(h.probe.max_running.load(Ordering::SeqCst) >= 3, "a higher limit lets more run at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependencies_run_in_order() {
    let h = Harness::new().await;
    let mut events = h.engine.subscribe();
    let yaml = r#"
name: chain
tasks:
  c: { uses: work, needs: [b] }
  a: { uses: work, with: { ms: 30 } }
  b: { uses: work, needs: [a] }
"#;
    let (run_id, status) = h.run(yaml, 4).await;
    assert_eq!(status, RunStatus::Succeeded);
    let mut started = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let EngineEvent::TaskStarted { task_id, run_id: r, .. } = event {
            assert_eq!(r, run_id);
            started.push(task_id);
        }
    }
    assert_eq!(started, vec!["a", "b", "c"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_failures_are_retried_with_backoff() {
    let h = Harness::new().await;
    let yaml = r#"
name: flaky
tasks:
  ok_on_third:
    uses: work
    retries: 2
    retry_backoff: 100ms
    with: { fail_first: 2 }
  out_of_retries:
    uses: work
    retries: 1
    retry_backoff: 10ms
    with: { fail_first: 5 }
"#;
    let started = std::time::Instant::now();
    let (run_id, status) = h.run(yaml, 2).await;
    assert_eq!(status, RunStatus::Failed);
    assert_eq!(h.probe.attempts_of("ok_on_third"), 3);
    assert_eq!(h.probe.attempts_of("out_of_retries"), 2);
    // Backoff doubles: 100 ms, then 200 ms before the third attempt.
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());

    let statuses = h.statuses(&run_id).await;
    assert_eq!(statuses["ok_on_third"], "succeeded");
    assert_eq!(statuses["out_of_retries"], "failed");
    let attempts = h.engine.store().attempts(&run_id, "ok_on_third").await.expect("attempts");
    let history: Vec<&str> = attempts.iter().map(|a| a.status.as_str()).collect();
    assert_eq!(history, ["failed", "failed", "succeeded"]);
    assert!(attempts[0].error.as_deref().unwrap_or_default().contains("flaky failure on attempt 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_errors_are_not_retried() {
    let h = Harness::new().await;
    let yaml = r#"
name: typo
tasks:
  bad: { uses: work, retries: 3, retry_backoff: 10ms, with: { fail_first: 1, error: user } }
"#;
    let (run_id, status) = h.run(yaml, 2).await;
    assert_eq!(status, RunStatus::Failed);
    assert_eq!(h.probe.attempts_of("bad"), 1, "a user error is final");
    let task = &h.engine.store().tasks(&run_id).await.expect("tasks")[0];
    assert!(task.error.as_deref().unwrap_or_default().starts_with("user error: bad input"), "{:?}", task.error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_over_its_timeout_fails_and_is_stopped() {
    let h = Harness::new().await;
    let yaml = r#"
name: slow
tasks:
  slow: { uses: work, timeout: 200ms, with: { ms: 20000 } }
"#;
    let started = std::time::Instant::now();
    let (run_id, status) = h.run(yaml, 1).await;
    assert_eq!(status, RunStatus::Failed);
    assert!(started.elapsed() < Duration::from_secs(10));
    let task = &h.engine.store().tasks(&run_id).await.expect("tasks")[0];
    assert_eq!(task.status, TaskStatus::Failed);
    assert!(task.error.as_deref().unwrap_or_default().contains("timed out after 200ms"), "{:?}", task.error);
    assert_eq!(h.probe.cancelled.lock().expect("lock").as_slice(), ["slow"], "the operator was told to stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_propagates_downstream_while_independent_branches_finish() {
    let h = Harness::new().await;
    let yaml = r#"
name: branches
tasks:
  broken: { uses: work, with: { fail_first: 1, error: user } }
  after_broken: { uses: work, needs: [broken] }
  further: { uses: work, needs: [after_broken] }
  independent: { uses: work, with: { ms: 100 } }
  cleanup: { uses: work, needs: [broken], trigger: all_done }
  alert: { uses: work, needs: [after_broken], trigger: one_failed }
  no_alert: { uses: work, needs: [independent], trigger: one_failed }
"#;
    let (run_id, status) = h.run(yaml, 2).await;
    assert_eq!(status, RunStatus::Failed);
    let s = h.statuses(&run_id).await;
    assert_eq!(s["broken"], "failed");
    assert_eq!(s["after_broken"], "upstream_failed");
    assert_eq!(s["further"], "upstream_failed");
    assert_eq!(s["independent"], "succeeded");
    assert_eq!(s["cleanup"], "succeeded");
    assert_eq!(s["alert"], "succeeded");
    assert_eq!(s["no_alert"], "skipped");
    let run = h.engine.store().run(&run_id).await.expect("run").expect("exists");
    assert_eq!(run.error.as_deref(), Some("failed tasks: broken"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_run_stops_running_tasks_and_skips_the_rest() {
    let h = Harness::new().await;
    let yaml = r#"
name: long
tasks:
  long: { uses: work, with: { ms: 30000 } }
  after: { uses: work, needs: [long] }
"#;
    let run_id = h.submit(yaml).await;
    let engine = h.engine.clone();
    let canceller = {
        let run_id = run_id.clone();
        let mut events = engine.subscribe();
        tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                if matches!(event, EngineEvent::TaskStarted { .. }) {
                    engine.cancel(&run_id).await.expect("cancel");
                    break;
                }
            }
        })
    };
    let started = std::time::Instant::now();
    let status = h.drive(&run_id, 2).await;
    canceller.await.expect("canceller");
    assert_eq!(status, RunStatus::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(10));
    let s = h.statuses(&run_id).await;
    assert_eq!(s["long"], "cancelled");
    assert_eq!(s["after"], "cancelled");
    let run = h.engine.store().run(&run_id).await.expect("run").expect("exists");
    assert_eq!(run.status, RunStatus::Cancelled);
    assert!(run.finished_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_flow_through_references_with_digests() {
    let h = Harness::new().await;
    let yaml = r#"
name: flow
tasks:
  source: { uses: emit, with: { text: "hello hangar" } }
  shout:
    uses: upper
    with: { documents: "${{ tasks.source.outputs.documents }}" }
"#;
    let (run_id, status) = h.run(yaml, 2).await;
    assert_eq!(status, RunStatus::Succeeded);
    let tasks = h.engine.store().tasks(&run_id).await.expect("tasks");
    let shout = tasks.iter().find(|t| t.task_id == "shout").expect("shout");
    let output = &shout.outputs.as_ref().expect("outputs")["documents"];
    assert_eq!(output.key, format!("runs/{run_id}/shout/a1/documents.jsonl"));
    assert!(output.uri.starts_with("file:///"));
    assert_eq!(output.digest, format!("blake3:{}", blake3::hash(b"HELLO HANGAR").to_hex()));
    let inputs = shout.inputs.as_ref().expect("inputs recorded");
    let source = tasks.iter().find(|t| t.task_id == "source").expect("source");
    assert_eq!(inputs["documents"], source.outputs.as_ref().expect("outputs")["documents"]);
    let text = h.engine.artifacts().read(&output.key).await.expect("read");
    assert_eq!(text, b"HELLO HANGAR");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_transition_is_persisted() {
    let h = Harness::new().await;
    let mut events = h.engine.subscribe();
    let yaml = r#"
name: persisted
tasks:
  first: { uses: work, retries: 1, retry_backoff: 10ms, with: { ms: 50, fail_first: 1 } }
  second: { uses: work, needs: [first] }
"#;
    let run_id = h.submit(yaml).await;
    // Before any coordinator: the run and its tasks are recorded as pending.
    assert_eq!(h.engine.store().run(&run_id).await.expect("run").expect("exists").status, RunStatus::Pending);
    assert!(h.statuses(&run_id).await.values().all(|s| s == "pending"));

    let store = h.engine.store().clone();
    let checker = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Ok(event) = events.recv().await {
            // Events are emitted after the transaction commits, so the store
            // must already show what each event announces.
            match &event {
                EngineEvent::TaskQueued { run_id, task_id } => {
                    let t = task(&store, run_id, task_id).await;
                    assert!(
                        matches!(t.status, TaskStatus::Queued | TaskStatus::Running | TaskStatus::Succeeded),
                        "{t:?}"
                    );
                    assert!(t.queued_at.is_some() && t.config.is_some());
                    seen.push(format!("{task_id} queued"));
                }
                EngineEvent::TaskStarted { run_id, task_id, attempt, .. } => {
                    let attempts = store.attempts(run_id, task_id).await.expect("attempts");
                    assert!(attempts.iter().any(|a| a.attempt == *attempt), "attempt {attempt} recorded");
                    seen.push(format!("{task_id} started {attempt}"));
                }
                EngineEvent::TaskFinished { run_id, task_id, status, attempt, retry_at, .. } => {
                    let t = task(&store, run_id, task_id).await;
                    if retry_at.is_some() {
                        assert!(matches!(t.status, TaskStatus::Queued | TaskStatus::Running), "{t:?}");
                    } else {
                        assert_eq!(t.status, *status);
                        assert!(t.finished_at.is_some());
                    }
                    seen.push(format!("{task_id} finished {attempt} {status}"));
                }
                EngineEvent::RunFinished { run_id, status } => {
                    let run = store.run(run_id).await.expect("run").expect("exists");
                    assert_eq!(run.status, *status);
                    seen.push(format!("run {status}"));
                    break;
                }
                _ => {}
            }
        }
        seen
    });
    assert_eq!(h.drive(&run_id, 2).await, RunStatus::Succeeded);
    let seen = checker.await.expect("checker");
    assert_eq!(
        seen,
        [
            "first queued",
            "first started 1",
            "first finished 1 failed",
            "first started 2",
            "first finished 2 succeeded",
            "second queued",
            "second started 1",
            "second finished 1 succeeded",
            "run succeeded",
        ]
    );
    let logs = h.engine.store().logs(&run_id, Some("first"), 0, 100).await.expect("logs");
    let lines: Vec<(u32, &str)> = logs.iter().map(|l| (l.attempt, l.line.as_str())).collect();
    assert_eq!(lines, [(1, "attempt 1 working for 50 ms"), (2, "attempt 2 working for 50 ms")]);
    let first = task(h.engine.store(), &run_id, "first").await;
    assert_eq!(first.attempt, 2);
    assert_eq!(first.progress.as_ref().map(|p| p.done), Some(1), "last progress kept");
    assert!(first.started_at.is_some() && first.lease_owner.is_none());
}

async fn task(
    store: &std::sync::Arc<dyn hangar_engine::Store>,
    run_id: &str,
    task_id: &str,
) -> hangar_engine::store::TaskRecord {
    store.tasks(run_id).await.expect("tasks").into_iter().find(|t| t.task_id == task_id).expect("task exists")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_run_keeps_succeeded_tasks() {
    let h = Harness::new().await;
    let yaml = r#"
name: resumable
tasks:
  good: { uses: work }
  bad: { uses: work, needs: [good], with: { fail_first: 1, error: user } }
  last: { uses: work, needs: [bad] }
"#;
    let (run_id, status) = h.run(yaml, 2).await;
    assert_eq!(status, RunStatus::Failed);
    assert_eq!(h.engine.prepare_resume(&run_id).await.expect("resume"), RunStatus::Pending);
    let status = h.drive(&run_id, 2).await;
    assert_eq!(status, RunStatus::Succeeded, "the second attempt of `bad` succeeds");
    assert_eq!(h.probe.attempts_of("good"), 1, "succeeded tasks are not executed again");
    assert_eq!(h.probe.attempts_of("bad"), 2);
    assert_eq!(h.probe.attempts_of("last"), 1);
    let attempts = h.engine.store().attempts(&run_id, "bad").await.expect("attempts");
    assert_eq!(attempts.len(), 2, "the history of the failed run is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_runs_only_when_its_if_holds_and_a_skip_cascades() {
    let h = Harness::new().await;
    let yaml = r#"
name: gated
tasks:
  yes: { uses: emit, with: { text: a, flag: true } }
  no: { uses: emit, with: { text: b, flag: false } }
  deploy: { uses: work, if: "${{ tasks.yes.outputs.documents.values.flag }}" }
  blocked: { uses: work, if: "${{ tasks.no.outputs.documents.values.flag }}" }
  after_blocked: { uses: work, needs: [blocked] }
  otherwise: { uses: work, if: "${{ !tasks.no.outputs.documents.values.flag }}" }
"#;
    let (run_id, status) = h.run(yaml, 4).await;
    assert_eq!(status, RunStatus::Succeeded, "skipped tasks do not fail the run");
    let statuses = h.statuses(&run_id).await;
    assert_eq!(statuses["deploy"], "succeeded");
    assert_eq!(statuses["blocked"], "skipped");
    assert_eq!(statuses["after_blocked"], "skipped", "what needs a skipped task is skipped too");
    assert_eq!(statuses["otherwise"], "succeeded");
    let tasks = h.engine.store().tasks(&run_id).await.expect("tasks");
    let blocked = tasks.iter().find(|t| t.task_id == "blocked").expect("blocked");
    let reason = blocked.error.clone().unwrap_or_default();
    assert!(reason.contains("does not hold") && reason.contains("false"), "{reason}");
    assert_eq!(h.probe.attempts_of("blocked"), 0);
}
