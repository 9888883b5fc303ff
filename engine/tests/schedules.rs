//! Cron schedules on SQLite and PostgreSQL: due times fire exactly once,
//! missed times are caught up only when asked, two schedulers racing on
//! one database never fire a time twice, and the scheduler loop follows
//! its clock (a hand-moved one here).

#[macro_use]
mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::{Fixture, Harness};
use hangar_engine::clock::ManualClock;
use hangar_engine::store::catalog::{NewPipelineVersion, ScheduleRecord};
use hangar_engine::{Engine, FiredRun, spec_hash};
use hangar_sdk::CancellationToken;
use serde_json::json;

const NIGHTLY: &str =
    "name: nightly\nparams:\n  label: { type: string, default: none }\ntasks:\n  a:\n    uses: work\n";
/// 2026-01-01T00:00:00Z
const T0: i64 = 1_767_225_600_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

async fn harness(fixture: &Fixture) -> Harness {
    let harness = Harness::with_store(fixture.store.clone(), tempfile::tempdir().expect("tempdir"));
    let store = harness.engine.store();
    harness.owners.set("usr_ops", "user", false);
    store
        .save_pipeline(&NewPipelineVersion {
            name: "nightly".to_owned(),
            owner: "usr_ops".to_owned(),
            hash: spec_hash(NIGHTLY),
            spec_text: NIGHTLY.to_owned(),
            now: T0,
        })
        .await
        .expect("save pipeline");
    harness
}

fn schedule(id: &str, cron: &str, catchup: bool) -> ScheduleRecord {
    ScheduleRecord {
        id: id.to_owned(),
        pipeline: "nightly".to_owned(),
        owner: "usr_ops".to_owned(),
        cron: cron.to_owned(),
        timezone: "UTC".to_owned(),
        catchup,
        max_active_runs: Some(1),
        params: json!({"label": "scheduled"}),
        source: "api".to_owned(),
        enabled: true,
        created_at: T0,
        last_fire: None,
        resumed_at: None,
    }
}

fn times_of(fired: &[FiredRun], schedule: &str) -> Vec<i64> {
    fired.iter().filter(|f| f.schedule_id == schedule).map(|f| (f.logical_time - T0) / HOUR).collect()
}

async fn due_times_fire_once_and_catch_up_only_when_asked(fixture: &Fixture) {
    let h = harness(fixture).await;
    let store = h.engine.store();
    store.put_schedule(&schedule("catchup", "0 * * * *", true)).await.expect("put");
    store.put_schedule(&schedule("latest", "0 * * * *", false)).await.expect("put");

    assert!(h.engine.fire_due_schedules(T0 + 30 * MINUTE).await.expect("fire").is_empty());
    let fired = h.engine.fire_due_schedules(T0 + 3 * HOUR + 30 * MINUTE).await.expect("fire");
    assert_eq!(times_of(&fired, "catchup"), vec![1, 2, 3]);
    assert_eq!(times_of(&fired, "latest"), vec![3], "without catchup only the latest missed time fires");
    assert!(h.engine.fire_due_schedules(T0 + 3 * HOUR + 31 * MINUTE).await.expect("fire").is_empty());

    // Downtime: the next look comes three hours later.
    let fired = h.engine.fire_due_schedules(T0 + 6 * HOUR + 10 * MINUTE).await.expect("fire");
    assert_eq!(times_of(&fired, "catchup"), vec![4, 5, 6]);
    assert_eq!(times_of(&fired, "latest"), vec![6]);

    for f in &fired {
        let run_id = f.run_id.as_deref().expect("a run");
        let run = store.run(run_id).await.expect("read").expect("the run exists");
        assert_eq!(run.pipeline, "nightly");
        assert_eq!(run.owner.as_deref(), Some("usr_ops"));
        assert_eq!(run.params, json!({"label": "scheduled"}));
        assert_eq!(run.max_active_runs, Some(1), "the schedule's max_active_runs applies");
    }
    let fires = store.fires("catchup", 100).await.expect("fires");
    assert_eq!(fires.len(), 6);
    assert_eq!(store.schedule("latest").await.expect("read").and_then(|s| s.last_fire), Some(T0 + 6 * HOUR));
}

async fn a_pipeline_that_no_longer_plans_records_the_fire_with_its_error(fixture: &Fixture) {
    let h = harness(fixture).await;
    let store = h.engine.store();
    let mut broken = schedule("broken", "*/30 * * * *", false);
    broken.params = json!({"undeclared": 1});
    store.put_schedule(&broken).await.expect("put");
    let fired = h.engine.fire_due_schedules(T0 + 40 * MINUTE).await.expect("fire");
    assert_eq!(fired.len(), 1);
    assert!(fired[0].run_id.is_none());
    assert!(fired[0].error.as_deref().unwrap_or_default().contains("undeclared"), "{fired:?}");
    // Recorded: the same time is not tried again.
    assert!(h.engine.fire_due_schedules(T0 + 41 * MINUTE).await.expect("fire").is_empty());
}

async fn a_schedule_whose_owner_lost_the_right_starts_nothing_and_says_why(fixture: &Fixture) {
    let h = harness(fixture).await;
    let store = h.engine.store();
    store.put_schedule(&schedule("hourly", "0 * * * *", false)).await.expect("put");
    let fired = h.engine.fire_due_schedules(T0 + HOUR + MINUTE).await.expect("fire");
    assert!(fired[0].run_id.is_some(), "an enabled owner's schedule starts a run: {fired:?}");
    h.owners.set("usr_ops", "user", true);
    let fired = h.engine.fire_due_schedules(T0 + 2 * HOUR + MINUTE).await.expect("fire");
    assert_eq!(fired.len(), 1);
    assert!(fired[0].run_id.is_none(), "{fired:?}");
    let error = fired[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("disabled") && error.contains("usr_ops@hangar.example"), "{error}");
    let fires = store.fires("hourly", 5).await.expect("fires");
    assert!(fires[0].error.as_deref().is_some_and(|e| e.contains("disabled")), "recorded: {fires:?}");
}

async fn a_paused_schedule_fires_nothing_and_skips_what_it_missed_when_resumed(fixture: &Fixture) {
    let h = harness(fixture).await;
    let store = h.engine.store();
    store.put_schedule(&schedule("paused", "0 * * * *", true)).await.expect("put");
    assert_eq!(times_of(&h.engine.fire_due_schedules(T0 + HOUR + MINUTE).await.expect("fire"), "paused"), vec![1]);

    assert!(store.set_schedule_enabled("paused", false, T0 + HOUR + 2 * MINUTE).await.expect("pause"));
    assert!(h.engine.fire_due_schedules(T0 + 4 * HOUR + MINUTE).await.expect("fire").is_empty(), "paused");
    // Storing the pipeline again (its schedule: block) does not unpause it.
    let mut again = schedule("paused", "0 * * * *", true);
    again.params = json!({"label": "changed"});
    store.put_schedule(&again).await.expect("put again");
    let kept = store.schedule("paused").await.expect("read").expect("exists");
    assert_eq!((kept.enabled, kept.params), (false, json!({"label": "changed"})));

    // Resumed at 04:30: 02:00-04:00 were missed on purpose, catch-up or not.
    assert!(store.set_schedule_enabled("paused", true, T0 + 4 * HOUR + 30 * MINUTE).await.expect("resume"));
    assert!(h.engine.fire_due_schedules(T0 + 4 * HOUR + 31 * MINUTE).await.expect("fire").is_empty());
    let fired = h.engine.fire_due_schedules(T0 + 6 * HOUR + MINUTE).await.expect("fire");
    assert_eq!(times_of(&fired, "paused"), vec![5, 6], "what came due after the resume, caught up");
    // Resuming what runs already moves nothing.
    assert!(store.set_schedule_enabled("paused", true, T0 + 9 * HOUR).await.expect("resume again"));
    assert_eq!(
        store.schedule("paused").await.expect("read").and_then(|s| s.resumed_at),
        Some(T0 + 4 * HOUR + 30 * MINUTE)
    );
    assert!(!store.set_schedule_enabled("nobody", false, T0).await.expect("unknown"), "an unknown id says so");
}

async fn two_schedulers_never_fire_a_time_twice(fixture: &Fixture) {
    let a = harness(fixture).await;
    let b = Harness::with_store(fixture.another().await, tempfile::tempdir().expect("tempdir"));
    b.owners.set("usr_ops", "user", false);
    a.engine.store().put_schedule(&schedule("minutely", "* * * * *", true)).await.expect("put");
    let mut all: Vec<FiredRun> = Vec::new();
    for step in 1..=40 {
        let now = T0 + step * MINUTE + 500;
        let (x, y) = tokio::join!(a.engine.fire_due_schedules(now), b.engine.fire_due_schedules(now));
        all.extend(x.expect("scheduler a"));
        all.extend(y.expect("scheduler b"));
    }
    let times: HashSet<i64> = all.iter().map(|f| f.logical_time).collect();
    assert_eq!(all.len(), 40, "each minute fired by exactly one scheduler");
    assert_eq!(times.len(), 40);
    let runs: HashSet<String> = all.iter().filter_map(|f| f.run_id.clone()).collect();
    assert_eq!(runs.len(), 40);
    assert_eq!(a.engine.store().fires("minutely", 1000).await.expect("fires").len(), 40);
}

async fn the_scheduler_loop_follows_its_clock(fixture: &Fixture) {
    let h = harness(fixture).await;
    h.engine.store().put_schedule(&schedule("hourly", "@hourly", false)).await.expect("put");
    let clock = Arc::new(ManualClock::at(T0 + 10 * MINUTE));
    let shutdown = CancellationToken::new();
    let engine: Engine = h.engine.clone();
    let looping = {
        let (clock, shutdown) = (clock.clone(), shutdown.clone());
        tokio::spawn(async move { engine.run_schedules(clock, shutdown).await })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(h.engine.store().fires("hourly", 10).await.expect("fires").is_empty(), "nothing due at 00:10");
    clock.set(T0 + HOUR + MINUTE);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let fires = h.engine.store().fires("hourly", 10).await.expect("fires");
        if let Some(fire) = fires.first() {
            assert_eq!(fire.logical_time, T0 + HOUR);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the loop did not fire after the clock moved");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    looping.await.expect("scheduler loop");
}

on_both!(
    due_times_fire_once_and_catch_up_only_when_asked,
    a_pipeline_that_no_longer_plans_records_the_fire_with_its_error,
    a_schedule_whose_owner_lost_the_right_starts_nothing_and_says_why,
    two_schedulers_never_fire_a_time_twice,
    a_paused_schedule_fires_nothing_and_skips_what_it_missed_when_resumed,
    the_scheduler_loop_follows_its_clock,
    a_queued_run_whose_owner_is_disabled_fails_when_its_task_starts,
);

/// The owner comes with the claim; the owner's standing is read when the
/// attempt starts, not when the run was queued.
async fn a_queued_run_whose_owner_is_disabled_fails_when_its_task_starts(fixture: &Fixture) {
    let h = harness(fixture).await;
    h.engine.store().put_schedule(&schedule("hourly", "0 * * * *", false)).await.expect("put");
    let fired = h.engine.fire_due_schedules(T0 + HOUR + MINUTE).await.expect("fire");
    let run_id = fired[0].run_id.clone().expect("a run of an enabled owner");
    h.owners.set("usr_ops", "user", true);
    assert_eq!(h.drive(&run_id, 2).await, hangar_engine::RunStatus::Failed);
    let tasks = h.engine.store().tasks(&run_id).await.expect("tasks");
    let error = tasks[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("usr_ops@hangar.example") && error.contains("is disabled"), "{error}");
    assert_eq!(h.probe.attempts_of("a"), 0, "the operator never ran");
}
