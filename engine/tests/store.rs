//! One store test suite, run against SQLite and against PostgreSQL
//! (`HANGAR_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`;
//! each test gets a fresh database). A missing server fails the tests.

use std::collections::{BTreeMap, HashSet};

use hangar_engine::store::catalog::{NewPipelineVersion, SavedPipeline};
use hangar_engine::store::{
    Acquired, Advance, Completion, GLOBAL_POOL, LeaseState, NewLog, NewRun, NewTask, NextClaim, QueueTask, Recorded,
    Settle, TaskLease,
};
use hangar_engine::store::{Backend, Change, PipelineStore};
use hangar_engine::{LogStore, PoolStore, RunStore, Store, TaskQueue, TaskStatus};
use hangar_sdk::{ArtifactKind, ArtifactRef};
use serde_json::json;

#[macro_use]
mod common;
use common::Fixture;

on_both!(
    runs_and_tasks_round_trip,
    coordinator_steps_queue_and_settle,
    claims_respect_labels,
    claims_respect_pool_slots,
    the_global_pool_limits_every_task,
    a_stale_attempt_cannot_complete,
    lost_attempts_are_run_again_without_spending_retries,
    leases_of_dead_processes_are_released,
    cached_outputs_are_found_by_key,
    logs_page_in_order,
    max_active_runs_throttles_acquisition,
    cancelled_runs_are_not_claimed,
    two_workers_racing_never_claim_a_task_twice,
    racing_first_saves_of_a_pipeline_leave_one_owner,
    other_processes_hear_of_changes,
    one_claim_takes_a_batch_within_pool_slots,
    a_batch_of_completions_skips_a_stale_attempt,
    ends_are_taken_once_and_by_the_holding_coordinator_at_completion,
    a_completion_claims_the_next_task_for_its_slot,
    a_completion_stands_when_the_task_it_claims_cannot_be_read,
);

fn new_run(id: &str, pipeline: &str, max_active_runs: Option<u32>) -> NewRun {
    NewRun {
        id: id.to_owned(),
        pipeline: pipeline.to_owned(),
        spec_path: "p.yaml".to_owned(),
        spec_text: "name: p".to_owned(),
        spec_hash: "blake3:00".to_owned(),
        params: json!({"corpus": "examples"}),
        seed: 7,
        owner: Some("alice".to_owned()),
        created_at: 1_000,
        max_active_runs,
    }
}

fn task(id: &str, position: usize) -> NewTask {
    NewTask {
        task_id: id.to_owned(),
        position,
        operator: "noop".to_owned(),
        retries: 1,
        max_lost_attempts: 3,
        resources: Default::default(),
        retry_backoff_ms: 10,
        timeout_ms: Some(60_000),
        seed: 99,
        runs_on: Vec::new(),
        pool: None,
        cache: true,
    }
}

fn queue(ids: &[&str]) -> Advance {
    Advance {
        queue: ids
            .iter()
            .map(|id| QueueTask {
                task_id: (*id).to_owned(),
                config: json!({"x": id}),
                inputs: BTreeMap::new(),
                cache_key: None,
            })
            .collect(),
        ..Advance::default()
    }
}

fn artifact(digest: &str) -> ArtifactRef {
    ArtifactRef {
        kind: ArtifactKind::Documents,
        uri: "file:///x".into(),
        key: "x".into(),
        digest: digest.into(),
        size: 3,
        dir: false,
        values: Default::default(),
    }
}

async fn runs_and_tasks_round_trip(f: &Fixture) {
    let s = &f.store;
    let mut gpu = task("train", 1);
    gpu.runs_on = vec!["gpu".into()];
    gpu.pool = Some("gpu".into());
    gpu.cache = false;
    s.create_run(&new_run("r1", "p", Some(2)), &[task("ingest", 0), gpu]).await.expect("create");
    let run = s.run("r1").await.expect("read").expect("exists");
    assert_eq!(run.pipeline, "p");
    assert_eq!(run.params, json!({"corpus": "examples"}));
    assert_eq!(run.max_active_runs, Some(2));
    assert_eq!(run.owner.as_deref(), Some("alice"));
    let tasks = s.tasks("r1").await.expect("tasks");
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[1].task_id, "train");
    assert_eq!(tasks[1].runs_on, ["gpu"]);
    assert_eq!(tasks[1].pool.as_deref(), Some("gpu"));
    assert!(!tasks[1].cache && tasks[0].cache);
    assert_eq!(tasks[0].max_attempts, 2);
    assert!(tasks.iter().all(|t| t.status == TaskStatus::Pending));
    let listed = s.runs(&Default::default()).await.expect("list");
    assert_eq!(listed.len(), 1);
}

async fn coordinator_steps_queue_and_settle(f: &Fixture) {
    let s = &f.store;
    s.create_run(&new_run("r1", "p", None), &[task("a", 0), task("b", 1), task("c", 2)]).await.expect("create");
    let mut step = queue(&["a"]);
    step.settle.push(Settle {
        task_id: "c".into(),
        status: TaskStatus::Skipped,
        error: Some("no".into()),
        outputs: None,
    });
    s.advance("r1", &step, 5).await.expect("advance");
    let tasks = s.tasks("r1").await.expect("tasks");
    assert_eq!(tasks[0].status, TaskStatus::Queued);
    assert_eq!(tasks[0].config, Some(json!({"x": "a"})));
    assert_eq!(tasks[2].status, TaskStatus::Skipped);
    assert!(s.unacked("r1").await.expect("unacked").is_empty(), "settled by the coordinator: already known");
    let claimed = s.claim_task("w1", &[], 10, 1_000).await.expect("claim").expect("a task");
    assert_eq!(claimed.lease.task_id, "a");
    assert_eq!(claimed.lease.attempt, 1);
    assert_eq!(claimed.seed, 99);
    let outputs = BTreeMap::from([("documents".to_owned(), artifact("blake3:aa"))]);
    let done = Completion::Succeeded { outputs: outputs.clone(), cache_key: Some("k1".into()) };
    assert!(s.complete(&claimed.lease, &done, 20).await.expect("complete"));
    let finished = s.unacked("r1").await.expect("unacked");
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0].outputs, Some(outputs));
    s.advance("r1", &Advance { acked: vec!["a".into()], ..Advance::default() }, 30).await.expect("ack");
    assert!(s.unacked("r1").await.expect("unacked").is_empty());
    let attempts = s.attempts("r1", "a").await.expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].status, "succeeded");
    assert_eq!(attempts[0].worker.as_deref(), Some("w1"));
}

async fn claims_respect_labels(f: &Fixture) {
    let s = &f.store;
    let mut gpu = task("train", 0);
    gpu.runs_on = vec!["gpu".into()];
    s.create_run(&new_run("r1", "p", None), &[gpu, task("plain", 1)]).await.expect("create");
    s.advance("r1", &queue(&["train", "plain"]), 0).await.expect("queue");
    let first = s.claim_task("cpu-worker", &["cpu".into()], 1, 100).await.expect("claim").expect("plain task");
    assert_eq!(first.lease.task_id, "plain");
    assert!(s.claim_task("cpu-worker", &["cpu".into()], 1, 100).await.expect("claim").is_none(), "no gpu label");
    let second =
        s.claim_task("gpu-worker", &["cpu".into(), "gpu".into()], 1, 100).await.expect("claim").expect("gpu task");
    assert_eq!(second.lease.task_id, "train");
}

async fn claims_respect_pool_slots(f: &Fixture) {
    let s = &f.store;
    s.set_pool("gpu", 1).await.expect("pool");
    let mut tasks = Vec::new();
    for (i, id) in ["g1", "g2", "free"].iter().enumerate() {
        let mut t = task(id, i);
        if id.starts_with('g') {
            t.pool = Some("gpu".into());
        }
        tasks.push(t);
    }
    s.create_run(&new_run("r1", "p", None), &tasks).await.expect("create");
    s.advance("r1", &queue(&["g1", "g2", "free"]), 0).await.expect("queue");
    let a = s.claim_task("w", &[], 1, 100).await.expect("claim").expect("g1");
    assert_eq!(a.lease.task_id, "g1");
    let b = s.claim_task("w", &[], 1, 100).await.expect("claim").expect("free");
    assert_eq!(b.lease.task_id, "free", "g2 waits: the gpu pool's one slot is taken");
    assert!(s.claim_task("w", &[], 1, 100).await.expect("claim").is_none());
    let pools = s.pools().await.expect("pools");
    assert_eq!((pools[0].name.as_str(), pools[0].slots, pools[0].running), ("gpu", 1, 1));
    s.complete(&a.lease, &Completion::Succeeded { outputs: BTreeMap::new(), cache_key: None }, 2).await.expect("done");
    let c = s.claim_task("w", &[], 3, 100).await.expect("claim").expect("g2 now");
    assert_eq!(c.lease.task_id, "g2");
}

async fn the_global_pool_limits_every_task(f: &Fixture) {
    let s = &f.store;
    s.set_pool(GLOBAL_POOL, 2).await.expect("global");
    s.create_run(&new_run("r1", "p", None), &[task("a", 0), task("b", 1), task("c", 2)]).await.expect("create");
    s.advance("r1", &queue(&["a", "b", "c"]), 0).await.expect("queue");
    assert!(s.claim_task("w", &[], 1, 100).await.expect("claim").is_some());
    assert!(s.claim_task("w", &[], 1, 100).await.expect("claim").is_some());
    assert!(s.claim_task("w", &[], 1, 100).await.expect("claim").is_none(), "two at a time, everywhere");
    assert!(s.delete_pool(GLOBAL_POOL).await.expect("delete"));
    assert!(s.claim_task("w", &[], 1, 100).await.expect("claim").is_some());
}

async fn a_stale_attempt_cannot_complete(f: &Fixture) {
    let s = &f.store;
    s.create_run(&new_run("r1", "p", None), &[task("a", 0)]).await.expect("create");
    s.advance("r1", &queue(&["a"]), 0).await.expect("queue");
    let stale = s.claim_task("slow-worker", &[], 1, 50).await.expect("claim").expect("attempt 1");
    assert_eq!(s.reap_expired(100).await.expect("reap"), 1, "the lease ran out");
    let fresh = s.claim_task("fast-worker", &[], 101, 1_000).await.expect("claim").expect("attempt 2");
    assert_eq!(fresh.lease.attempt, 2);
    assert_eq!(s.renew_lease(&stale.lease, 2_000).await.expect("renew"), LeaseState::Lost);
    let late = Completion::Succeeded { outputs: BTreeMap::new(), cache_key: None };
    assert!(!s.complete(&stale.lease, &late, 102).await.expect("complete"), "fenced by the attempt number");
    assert_eq!(s.renew_lease(&fresh.lease, 2_000).await.expect("renew"), LeaseState::Held { cancel_requested: false });
    assert!(s.complete(&fresh.lease, &late, 103).await.expect("complete"));
    let attempts = s.attempts("r1", "a").await.expect("attempts");
    let states: Vec<&str> = attempts.iter().map(|a| a.status.as_str()).collect();
    assert_eq!(states, ["lost", "succeeded"]);
    // Out of attempts, an expired lease fails the task.
    let spent = NewTask { retries: 0, max_lost_attempts: 0, ..task("b", 0) };
    s.create_run(&new_run("r2", "p", None), &[spent]).await.expect("create");
    s.advance("r2", &queue(&["b"]), 0).await.expect("queue");
    s.claim_task("w", &[], 1, 50).await.expect("claim").expect("b");
    s.reap_expired(100).await.expect("reap");
    assert_eq!(s.tasks("r2").await.expect("tasks")[0].status, TaskStatus::Failed);
}

async fn lost_attempts_are_run_again_without_spending_retries(f: &Fixture) {
    let s = &f.store;
    // No retries, two lost attempts allowed: lost, lost, then a failure of
    // the task's own still gets no retry.
    let task = NewTask { retries: 0, max_lost_attempts: 2, ..task("a", 0) };
    s.create_run(&new_run("r1", "p", None), &[task]).await.expect("create");
    s.advance("r1", &queue(&["a"]), 0).await.expect("queue");
    for (i, now) in [(1, 100), (2, 300)] {
        let claimed = s.claim_task("w", &[], now - 99, now - 50).await.expect("claim").expect("an attempt");
        assert_eq!(claimed.lease.attempt, i);
        assert_eq!(s.reap_expired(now).await.expect("reap"), 1);
        let tasks = s.tasks("r1").await.expect("tasks");
        assert_eq!(tasks[0].status, TaskStatus::Queued, "lost attempt {i} is run again");
        assert!(
            tasks[0].error.as_deref().is_some_and(|e| e.contains("not counted against retries")),
            "{:?}",
            tasks[0].error
        );
    }
    let third = s.claim_task("w", &[], 301, 350).await.expect("claim").expect("attempt 3");
    assert_eq!(third.max_attempts, 3, "two lost attempts added two, retries none");
    let failed = Completion::Failed { error: "the task's own failure".to_owned() };
    assert!(s.complete(&third.lease, &failed, 302).await.expect("complete"));
    assert_eq!(s.tasks("r1").await.expect("tasks")[0].status, TaskStatus::Failed);
    let states: Vec<String> = s.attempts("r1", "a").await.expect("attempts").into_iter().map(|a| a.status).collect();
    assert_eq!(states, ["lost", "lost", "failed"]);

    // Past max_lost_attempts, a lost attempt spends a retry, then fails.
    let task = NewTask { retries: 1, max_lost_attempts: 1, ..self::task("b", 0) };
    s.create_run(&new_run("r2", "p", None), &[task]).await.expect("create");
    s.advance("r2", &queue(&["b"]), 0).await.expect("queue");
    for (now, expected) in [(1_000, TaskStatus::Queued), (2_000, TaskStatus::Queued), (3_000, TaskStatus::Failed)] {
        s.claim_task("w", &[], now - 99, now - 50).await.expect("claim").expect("an attempt");
        s.reap_expired(now).await.expect("reap");
        assert_eq!(s.tasks("r2").await.expect("tasks")[0].status, expected, "at {now}");
    }
}

async fn leases_of_dead_processes_are_released(f: &Fixture) {
    let s = &f.store;
    s.create_run(&new_run("r1", "p", None), &[task("a", 0), task("b", 1)]).await.expect("create");
    s.advance("r1", &queue(&["a", "b"]), 0).await.expect("queue");
    s.claim_task("host:1:dead/w", &[], 1, 1_000_000).await.expect("claim").expect("a");
    s.claim_task("host:2:alive/w", &[], 1, 1_000_000).await.expect("claim").expect("b");
    assert_eq!(s.release_leases_of("host:1:dead", 5).await.expect("release"), 1);
    let tasks = s.tasks("r1").await.expect("tasks");
    assert_eq!(tasks[0].status, TaskStatus::Queued);
    assert_eq!(tasks[1].status, TaskStatus::Running);
}

async fn cached_outputs_are_found_by_key(f: &Fixture) {
    let s = &f.store;
    s.create_run(&new_run("r1", "p", None), &[task("a", 0)]).await.expect("create");
    s.advance("r1", &queue(&["a"]), 0).await.expect("queue");
    assert_eq!(s.find_cached("key").await.expect("lookup"), None);
    let claimed = s.claim_task("w", &[], 1, 100).await.expect("claim").expect("a");
    let outputs = BTreeMap::from([("documents".to_owned(), artifact("blake3:cc"))]);
    s.complete(&claimed.lease, &Completion::Succeeded { outputs: outputs.clone(), cache_key: Some("key".into()) }, 2)
        .await
        .expect("complete");
    assert_eq!(s.find_cached("key").await.expect("lookup"), Some(outputs));
    assert_eq!(s.find_cached("other").await.expect("lookup"), None);
}

async fn logs_page_in_order(f: &Fixture) {
    let s = &f.store;
    s.create_run(&new_run("r1", "p", None), &[task("a", 0)]).await.expect("create");
    let lines: Vec<NewLog> = (0..1000)
        .map(|i| NewLog {
            run_id: "r1".into(),
            task_id: "a".into(),
            attempt: 1,
            ts: i,
            stream: "stdout".into(),
            line: format!("line {i}"),
        })
        .collect();
    s.append_logs(&lines).await.expect("append");
    let first = s.logs("r1", Some("a"), 0, 600).await.expect("page");
    assert_eq!(first.len(), 600);
    let rest = s.logs("r1", None, first[599].id, 600).await.expect("page");
    assert_eq!(rest.len(), 400);
    assert_eq!(rest[399].line, "line 999");
}

async fn max_active_runs_throttles_acquisition(f: &Fixture) {
    let s = &f.store;
    s.create_run(&new_run("r1", "nightly", Some(1)), &[task("a", 0)]).await.expect("create");
    s.create_run(&new_run("r2", "nightly", Some(1)), &[task("a", 0)]).await.expect("create");
    assert_eq!(s.acquire_run("r1", "c1", 10, 100).await.expect("acquire"), Acquired::Yes);
    assert_eq!(s.acquire_run("r1", "c2", 20, 200).await.expect("acquire"), Acquired::Busy, "held by c1");
    assert_eq!(
        s.acquire_run("r2", "c2", 20, 200).await.expect("acquire"),
        Acquired::Throttled,
        "one nightly at a time"
    );
    assert_eq!(s.acquire_run("r2", "c3", 20, 200).await.expect("acquire"), Acquired::Busy, "c2 waits for it");
    assert!(s.orphaned_runs(90).await.expect("orphans").is_empty(), "a waiting run is not orphaned");
    let mut orphans = s.orphaned_runs(250).await.expect("orphans");
    orphans.sort();
    assert_eq!(orphans, ["r1", "r2"], "unless its holders stop renewing");
    s.finish_run("r1", hangar_engine::RunStatus::Succeeded, None, 30).await.expect("finish");
    assert_eq!(s.acquire_run("r2", "c2", 40, 200).await.expect("acquire"), Acquired::Yes);
    assert!(s.renew_run("r2", "c2", 300).await.expect("renew"));
    assert!(!s.renew_run("r2", "c1", 300).await.expect("renew"));
    assert_eq!(s.acquire_run("r2", "c3", 400, 500).await.expect("acquire"), Acquired::Yes, "an expired lease is free");
}

async fn cancelled_runs_are_not_claimed(f: &Fixture) {
    let s = &f.store;
    s.create_run(&new_run("r1", "p", None), &[task("a", 0)]).await.expect("create");
    s.acquire_run("r1", "c", 0, 100).await.expect("acquire");
    s.advance("r1", &queue(&["a"]), 0).await.expect("queue");
    assert!(s.request_cancel("r1").await.expect("cancel"));
    assert!(s.claim_task("w", &[], 1, 100).await.expect("claim").is_none());
}

async fn racing_first_saves_of_a_pipeline_leave_one_owner(f: &Fixture) {
    // Connections are opened first and the saves released together, or the
    // first save would be done before the last store had connected.
    let mut stores = Vec::new();
    for _ in 0..12 {
        stores.push(f.another().await);
    }
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(stores.len()));
    let mut handles = Vec::new();
    for (i, store) in (0_i64..).zip(stores) {
        let owner = if i % 2 == 0 { "usr_even" } else { "usr_odd" };
        let start = start.clone();
        handles.push(tokio::spawn(async move {
            start.wait().await;
            let spec_text = format!("name: raced\n# save {i}\n");
            let saved = store
                .save_pipeline(&NewPipelineVersion {
                    name: "raced".to_owned(),
                    owner: owner.to_owned(),
                    hash: format!("blake3:{i:02}"),
                    spec_text,
                    now: 1_000 + i,
                })
                .await
                .expect("a racing save is answered, not failed");
            (owner, saved)
        }));
    }
    let mut outcomes = Vec::new();
    for h in handles {
        outcomes.push(h.await.expect("save"));
    }
    let created: Vec<&str> = outcomes.iter().filter(|(_, s)| *s == SavedPipeline::Created).map(|(o, _)| *o).collect();
    assert_eq!(created.len(), 1, "exactly one save creates the pipeline: {outcomes:?}");
    let winner = created[0];
    for (owner, saved) in &outcomes {
        let expected_if_loser = SavedPipeline::Taken { owner: winner.to_owned() };
        match saved {
            SavedPipeline::Created => {}
            SavedPipeline::NewVersion => assert_eq!(*owner, winner, "{outcomes:?}"),
            other => assert_eq!((*owner != winner, other), (true, &expected_if_loser), "{outcomes:?}"),
        }
    }
    let versions = f.store.pipeline_versions("raced").await.expect("versions");
    assert_eq!(versions.len(), 6, "every save by the owner kept, none by the other account");
}

async fn two_workers_racing_never_claim_a_task_twice(f: &Fixture) {
    let s = &f.store;
    let tasks: Vec<NewTask> = (0..200).map(|i| task(&format!("t{i:03}"), i)).collect();
    s.create_run(&new_run("r1", "p", None), &tasks).await.expect("create");
    let ids: Vec<String> = tasks.iter().map(|t| t.task_id.clone()).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    s.advance("r1", &queue(&refs), 0).await.expect("queue");
    let mut handles = Vec::new();
    for w in 0..2 {
        let store = f.another().await;
        handles.push(tokio::spawn(async move {
            let mut claimed = Vec::new();
            while let Some(task) = store.claim_task(&format!("w{w}"), &[], 1, 1_000_000).await.expect("claim") {
                let lease: TaskLease = task.lease.clone();
                store
                    .complete(&lease, &Completion::Succeeded { outputs: BTreeMap::new(), cache_key: None }, 2)
                    .await
                    .expect("complete");
                claimed.push(lease.task_id);
            }
            claimed
        }));
    }
    let mut all = Vec::new();
    let mut per_worker = Vec::new();
    for h in handles {
        let claimed = h.await.expect("worker");
        per_worker.push(claimed.len());
        all.extend(claimed);
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 200, "every task claimed once: {per_worker:?}");
    assert_eq!(unique.len(), 200, "no task claimed twice");
    let attempts: usize = {
        let mut n = 0;
        for id in &ids {
            n += s.attempts("r1", id).await.expect("attempts").len();
        }
        n
    };
    assert_eq!(attempts, 200);
}

async fn other_processes_hear_of_changes(f: &Fixture) {
    let s = &f.store;
    let feed = s.changes().await.expect("change feed");
    let Some(mut feed) = feed else {
        assert_eq!(s.backend(), Backend::Sqlite, "only SQLite goes without a change feed");
        return;
    };
    let other = f.another().await;
    other.create_run(&new_run("r1", "p", None), &[task("a", 0)]).await.expect("create");
    other.advance("r1", &queue(&["a"]), 0).await.expect("queue");
    assert_eq!(next_change(&mut feed).await, Some(Change::Queued));
    let claimed = other.claim_task("w", &[], 1, 100).await.expect("claim").expect("a");
    let done = Completion::Succeeded { outputs: BTreeMap::new(), cache_key: None };
    other.complete(&claimed.lease, &done, 2).await.expect("complete");
    assert_eq!(next_change(&mut feed).await, Some(Change::RunChanged("r1".to_owned())));
}

async fn next_change(feed: &mut tokio::sync::mpsc::Receiver<Change>) -> Option<Change> {
    tokio::time::timeout(std::time::Duration::from_secs(5), feed.recv()).await.expect("announced in time")
}

async fn one_claim_takes_a_batch_within_pool_slots(f: &Fixture) {
    let s = &f.store;
    s.set_pool(GLOBAL_POOL, 5).await.expect("global");
    s.set_pool("gpu", 2).await.expect("pool");
    let ids = ["g1", "a", "g2", "b", "g3", "c", "d"];
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let mut t = task(id, i);
        if id.starts_with('g') {
            t.pool = Some("gpu".into());
        }
        tasks.push(t);
    }
    s.create_run(&new_run("r1", "p", None), &tasks).await.expect("create");
    s.advance("r1", &queue(&ids), 0).await.expect("queue");
    let first = s.claim_tasks("w", &[], 1, 100, 3).await.expect("claim");
    let taken: Vec<&str> = first.iter().map(|t| t.lease.task_id.as_str()).collect();
    assert_eq!(taken, ["g1", "a", "g2"], "in queue order, no more than asked");
    assert!(first.iter().all(|t| t.owner.as_deref() == Some("alice")), "the run's owner comes with the claim");
    let second = s.claim_tasks("w", &[], 1, 100, 16).await.expect("claim");
    let taken: Vec<&str> = second.iter().map(|t| t.lease.task_id.as_str()).collect();
    assert_eq!(taken, ["b", "c"], "g3 waits for a gpu slot; the global pool's 5 slots are full");
    assert!(s.claim_tasks("w", &[], 1, 100, 16).await.expect("claim").is_empty());
    let attempts: HashSet<(String, u32)> =
        first.iter().chain(&second).map(|t| (t.lease.task_id.clone(), t.lease.attempt)).collect();
    assert_eq!(attempts.len(), 5);
    for claimed in first.iter().chain(&second) {
        assert_eq!(s.attempts("r1", &claimed.lease.task_id).await.expect("attempts").len(), 1);
    }
}

async fn a_batch_of_completions_skips_a_stale_attempt(f: &Fixture) {
    let s = &f.store;
    s.create_run(&new_run("r1", "p", None), &[task("a", 0), task("b", 1), task("c", 2)]).await.expect("create");
    s.advance("r1", &queue(&["a", "b", "c"]), 0).await.expect("queue");
    let claimed = s.claim_tasks("w", &[], 1, 50, 3).await.expect("claim");
    assert_eq!(claimed.len(), 3);
    // b's lease runs out and b is claimed again: the first attempt is stale.
    assert_eq!(s.reap_expired(100).await.expect("reap"), 3);
    let again = s.claim_tasks("w2", &[], 101, 1_000, 3).await.expect("claim again");
    let fresh_b = again.iter().find(|t| t.lease.task_id == "b").expect("b again").lease.clone();
    let ok = Completion::Succeeded { outputs: BTreeMap::new(), cache_key: None };
    let batch = vec![
        (again.iter().find(|t| t.lease.task_id == "a").expect("a").lease.clone(), ok.clone()),
        (claimed.iter().find(|t| t.lease.task_id == "b").expect("b").lease.clone(), ok.clone()),
        (fresh_b, Completion::Failed { error: "boom".into() }),
    ];
    assert_eq!(s.complete_all(&batch, 200).await.expect("complete"), [true, false, true]);
    let tasks = s.tasks("r1").await.expect("tasks");
    let status = |id: &str| tasks.iter().find(|t| t.task_id == id).expect("task").status;
    assert_eq!(status("a"), TaskStatus::Succeeded);
    assert_eq!(status("b"), TaskStatus::Failed, "the stale success wrote nothing");
    assert_eq!(status("c"), TaskStatus::Running);
}

async fn ends_are_taken_once_and_by_the_holding_coordinator_at_completion(f: &Fixture) {
    let s = &f.store;
    s.create_run(&new_run("r1", "p", None), &[task("a", 0), task("b", 1), task("c", 2)]).await.expect("create");
    assert_eq!(s.acquire_run("r1", "me", 0, 10_000).await.expect("acquire"), Acquired::Yes);
    s.advance("r1", &queue(&["a", "b", "c"]), 0).await.expect("queue");
    let claimed = s.claim_tasks("w", &[], 1, 5_000, 3).await.expect("claim");
    let lease = |id: &str| claimed.iter().find(|t| t.lease.task_id == id).expect("claimed").lease.clone();
    let ok = Completion::Succeeded { outputs: BTreeMap::new(), cache_key: None };
    let retry = Completion::Retry { error: "again".into(), available_at: 50 };
    let batch = vec![(lease("a"), ok.clone()), (lease("b"), retry)];
    assert_eq!(
        s.complete_all_for(&batch, Some("me"), 10).await.expect("complete"),
        [Recorded::Taken, Recorded::Written],
        "an end of a run this coordinator holds is taken for it; a retry is nobody's news"
    );
    let other = s.complete_all_for(&[(lease("c"), ok)], Some("someone else"), 11).await.expect("complete");
    assert_eq!(other, [Recorded::Written], "not the run's coordinator: left for it to take");
    let taken = s.take_ended_among(&["r1".to_owned()]).await.expect("take");
    let ids: Vec<&str> = taken.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids, ["c"], "a was taken at completion; b is queued again");
    assert!(s.take_ended_among(&["r1".to_owned()]).await.expect("take").is_empty(), "taken once");
}

async fn a_completion_claims_the_next_task_for_its_slot(f: &Fixture) {
    let s = &f.store;
    s.set_pool("gpu", 1).await.expect("pool");
    let mut tasks = vec![task("a", 0), task("b", 1), task("g1", 2), task("g2", 3)];
    for t in &mut tasks[2..] {
        t.pool = Some("gpu".into());
    }
    s.create_run(&new_run("r1", "p", None), &tasks).await.expect("create");
    assert_eq!(s.acquire_run("r1", "me", 0, 10_000).await.expect("acquire"), Acquired::Yes);
    s.advance("r1", &queue(&["a", "b"]), 0).await.expect("queue");
    let a = s.claim_tasks("w", &[], 1, 5_000, 1).await.expect("claim").pop().expect("a claimed");
    assert_eq!(a.lease.task_id, "a");
    let ok = Completion::Succeeded { outputs: BTreeMap::new(), cache_key: None };
    let next = NextClaim { worker: "w", labels: &[], lease_until: 5_000, max: 1 };

    let (recorded, claimed) =
        s.complete_and_claim(&[(a.lease.clone(), ok.clone())], Some("me"), &next, 10).await.expect("complete");
    assert_eq!(recorded, [Recorded::Taken], "the completion is what it is without a claim");
    let ids: Vec<&str> = claimed.iter().map(|t| t.lease.task_id.as_str()).collect();
    assert_eq!(ids, ["b"], "the freed slot gets the next queued task");
    let b = claimed[0].clone();
    assert_eq!((b.lease.attempt, b.lease.worker.as_str(), b.owner.as_deref()), (1, "w", Some("alice")));
    let status = |tasks: &[hangar_engine::store::TaskRecord], id: &str| {
        tasks.iter().find(|t| t.task_id == id).expect("task").status
    };
    let now = s.tasks("r1").await.expect("tasks");
    assert_eq!((status(&now, "a"), status(&now, "b")), (TaskStatus::Succeeded, TaskStatus::Running));
    let attempts = |id: &'static str| async move { s.attempts("r1", id).await.expect("attempts") };
    assert_eq!(attempts("a").await[0].status, "succeeded");
    let b_attempts = attempts("b").await;
    assert_eq!((b_attempts.len(), b_attempts[0].status.as_str()), (1, "running"), "the claim records its attempt");

    // The gpu pool's one slot: a claim with a completion counts it as any claim does.
    s.advance("r1", &queue(&["g1", "g2"]), 20).await.expect("queue");
    let g1 = s.claim_tasks("w", &[], 21, 5_000, 1).await.expect("claim").pop().expect("g1 claimed");
    let (_, claimed) =
        s.complete_and_claim(&[(b.lease.clone(), ok.clone())], Some("me"), &next, 30).await.expect("complete");
    assert!(claimed.is_empty(), "g2 waits while g1 holds the pool's slot: {claimed:?}");
    let (_, claimed) = s.complete_and_claim(&[(g1.lease, ok)], Some("me"), &next, 40).await.expect("complete");
    let ids: Vec<&str> = claimed.iter().map(|t| t.lease.task_id.as_str()).collect();
    assert_eq!(ids, ["g2"], "g1's end frees the slot for g2");
    let none = NextClaim { max: 0, ..next };
    let (recorded, claimed) = s
        .complete_and_claim(
            &[(claimed[0].lease.clone(), Completion::Failed { error: "boom".into() })],
            Some("me"),
            &none,
            50,
        )
        .await
        .expect("complete");
    assert_eq!((recorded.as_slice(), claimed.len()), ([Recorded::Taken].as_slice(), 0), "max 0 claims nothing");
}

async fn a_completion_stands_when_the_task_it_claims_cannot_be_read(f: &Fixture) {
    let s = &f.store;
    s.create_run(&new_run("r1", "p", None), &[task("a", 0), task("b", 1)]).await.expect("create");
    s.advance("r1", &queue(&["a", "b"]), 0).await.expect("queue");
    let a = s.claim_tasks("w", &[], 1, 5_000, 1).await.expect("claim").pop().expect("a claimed");
    // b's config is damaged in the database behind the store's back.
    let raw = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&f.url).await.expect("connect");
    sqlx::query("UPDATE task_runs SET config = 'not json' WHERE task_id = 'b'").execute(&raw).await.expect("damage");
    let ok = Completion::Succeeded { outputs: BTreeMap::new(), cache_key: None };
    let next = NextClaim { worker: "w", labels: &[], lease_until: 5_000, max: 1 };
    let (recorded, claimed) = s
        .complete_and_claim(&[(a.lease, ok)], None, &next, 10)
        .await
        .expect("the claim's failure is not the completion's");
    assert_eq!(recorded, [Recorded::Written], "a's result is written once and said to be");
    assert!(claimed.is_empty(), "nothing readable was claimed: {claimed:?}");
    let attempts = s.attempts("r1", "a").await.expect("attempts");
    assert_eq!(attempts.iter().map(|t| t.status.as_str()).collect::<Vec<_>>(), ["succeeded"]);
}
