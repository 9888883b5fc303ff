//! The run store: every run and task state, persisted as it changes.
//!
//! The engine talks to a [`Store`] trait object, itself the union of the
//! run records ([`RunStore`]), the task queue ([`TaskQueue`]), the logs
//! ([`LogStore`]) and the pools ([`PoolStore`]). [`SqlStore`] implements
//! them on SQLite (the embedded default) and PostgreSQL with the same SQL.
//! Each method is one transaction.

pub mod catalog;
pub mod models;
mod records;
mod sql;

use async_trait::async_trait;

pub use catalog::{DataRootRecord, DataRootStore, PipelineStore, ScheduleStore, StatsStore, UploadStore};
pub use models::{Deletion, ModelStore, ModelSummary, RegistryOf, Rollback};
pub use records::{
    Acquired, Advance, AttemptRecord, ClaimedTask, Completion, LeaseState, LogEntry, NewLog, NewRun, NewTask, Pool,
    QueueTask, RunFilter, RunRecord, Settle, TaskLease, TaskRecord,
};
pub use sql::{Backend, SqlStore, sqlite_file};

use crate::status::RunStatus;
use hangar_sdk::TaskOutputs;

/// The pool whose slots, when set, limit every task on every worker.
pub const GLOBAL_POOL: &str = "*";

/// A store failure, naming the operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {url}: {source}; check HANGAR_DATABASE_URL and that the server is running")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database migration failed: {source}")]
    Migrate {
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("database {operation} failed: {source}")]
    Query {
        operation: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot lock {path} to migrate the database")]
    Lock {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt {what} in the database for {key}: {reason}")]
    Corrupt { what: &'static str, key: String, reason: String },
    #[error("unsupported database URL {url:?}: use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl { url: String },
    #[error("the database schema is at version {found} but this hangar needs {expected}; run `hangar migrate`{hint}")]
    SchemaMismatch { found: i64, expected: i64, hint: &'static str },
}

impl StoreError {
    pub(crate) fn query(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Query { operation, source }
    }
}

/// Runs: creation, lookup, coordinator leases, outcome.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Records a new run and its tasks (all `pending`).
    async fn create_run(&self, run: &NewRun, tasks: &[NewTask]) -> Result<(), StoreError>;
    async fn run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError>;
    /// Runs, newest first.
    async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError>;
    /// Up to `limit` ids of runs whose id starts with `prefix`, for commands
    /// that take a unique prefix of a run id.
    async fn run_ids_starting_with(&self, prefix: &str, limit: i64) -> Result<Vec<String>, StoreError>;
    /// The tasks of a run in file order.
    async fn tasks(&self, run_id: &str) -> Result<Vec<TaskRecord>, StoreError>;
    /// Runs that ended at or after `since` (ms), oldest end first: what
    /// notifications read, whichever process coordinated the run.
    async fn runs_finished_since(&self, since: i64, limit: i64) -> Result<Vec<RunRecord>, StoreError>;
    /// Tasks that ended `failed` (out of attempts) at or after `since`, oldest first.
    async fn tasks_failed_since(&self, since: i64, limit: i64) -> Result<Vec<TaskRecord>, StoreError>;
    async fn attempts(&self, run_id: &str, task_id: &str) -> Result<Vec<AttemptRecord>, StoreError>;
    /// Takes the coordinator lease of a run if it is free, expired or already
    /// ours, and the pipeline is under its `max_active_runs`; marks it `running`.
    async fn acquire_run(&self, run_id: &str, coordinator: &str, now: i64, until: i64) -> Result<Acquired, StoreError>;
    /// Extends the coordinator lease; false when it was lost.
    async fn renew_run(&self, run_id: &str, coordinator: &str, until: i64) -> Result<bool, StoreError>;
    /// Renews `coordinator`'s leases of `run_ids` in one statement; returns
    /// the runs it still holds.
    async fn renew_runs(&self, run_ids: &[String], coordinator: &str, until: i64) -> Result<Vec<String>, StoreError>;
    /// Those of `run_ids` whose cancellation was requested.
    async fn cancel_requested_among(&self, run_ids: &[String]) -> Result<Vec<String>, StoreError>;
    /// Records the final state of a run and releases its coordinator lease.
    async fn finish_run(
        &self,
        run_id: &str,
        status: RunStatus,
        error: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Flags a run for cancellation; false when it is unknown or already finished.
    async fn request_cancel(&self, run_id: &str) -> Result<bool, StoreError>;
    /// Makes a finished or interrupted run runnable again: tasks that failed,
    /// were cancelled or never ran go back to `pending` with a fresh retry
    /// budget; queued and running tasks are left to their workers.
    async fn reset_for_resume(&self, run_id: &str) -> Result<(), StoreError>;
    /// Runs left `running` by a coordinator whose lease expired: to adopt.
    async fn orphaned_runs(&self, now: i64) -> Result<Vec<String>, StoreError>;
}

/// Tasks: queueing, claiming with leases, completion with fencing.
#[async_trait]
pub trait TaskQueue: Send + Sync {
    /// Terminal tasks the coordinator has not processed yet.
    async fn unacked(&self, run_id: &str) -> Result<Vec<TaskRecord>, StoreError>;
    /// The ended tasks of several runs that no look has taken yet, marked
    /// taken by the same statement (ordered by run, then position). A
    /// coordinator that fails to apply its step afterwards must reload its
    /// runs' tasks: these are not handed out again.
    async fn take_ended_among(&self, run_ids: &[String]) -> Result<Vec<TaskRecord>, StoreError>;
    /// Applies the steps of several runs in one transaction.
    async fn advance_all(&self, steps: &[(String, Advance)], now: i64) -> Result<(), StoreError>;
    /// Applies one coordinator step atomically.
    async fn advance(&self, run_id: &str, step: &Advance, now: i64) -> Result<(), StoreError>;
    /// Adds the instances of mapped task `task_id` (those not added already,
    /// by an earlier coordinator of the run) and marks the task running with
    /// `instances.len()` instances, in one transaction.
    async fn expand(&self, run_id: &str, task_id: &str, instances: &[NewTask], now: i64) -> Result<(), StoreError>;
    /// Claims the next queued task this worker may run (its labels cover the
    /// task's, its pool has a free slot), starting a new attempt.
    async fn claim_task(
        &self,
        worker: &str,
        labels: &[String],
        now: i64,
        lease_until: i64,
    ) -> Result<Option<ClaimedTask>, StoreError> {
        Ok(self.claim_tasks(worker, labels, now, lease_until, 1).await?.pop())
    }
    /// Claims up to `max` queued tasks in one transaction, as
    /// [`TaskQueue::claim_task`] would one by one.
    async fn claim_tasks(
        &self,
        worker: &str,
        labels: &[String],
        now: i64,
        lease_until: i64,
        max: usize,
    ) -> Result<Vec<ClaimedTask>, StoreError>;
    /// Extends a task lease; tells whether it is still held and whether the run is being cancelled.
    async fn renew_lease(&self, lease: &TaskLease, until: i64) -> Result<LeaseState, StoreError>;
    /// Completes an attempt; false when the lease's attempt is no longer the
    /// current one (a stale worker), in which case nothing is written.
    async fn complete(&self, lease: &TaskLease, completion: &Completion, now: i64) -> Result<bool, StoreError> {
        let done = self.complete_all(&[(lease.clone(), completion.clone())], now).await?;
        Ok(done.first().copied().unwrap_or(false))
    }
    /// Completes several attempts in one transaction; one answer per
    /// attempt, as [`TaskQueue::complete`] gives it. A stale attempt among
    /// them writes nothing and does not hold the others back.
    async fn complete_all(&self, completions: &[(TaskLease, Completion)], now: i64) -> Result<Vec<bool>, StoreError> {
        let recorded = self.complete_all_for(completions, None, now).await?;
        Ok(recorded.into_iter().map(|r| r != Recorded::Stale).collect())
    }
    /// [`TaskQueue::complete_all`], from a process whose conductor is
    /// `coordinator`: a task that ended (not one queued for a retry) whose
    /// run that coordinator holds is recorded as taken by it, and nobody is
    /// told through the database: the caller hands it to its conductor.
    async fn complete_all_for(
        &self,
        completions: &[(TaskLease, Completion)],
        coordinator: Option<&str>,
        now: i64,
    ) -> Result<Vec<Recorded>, StoreError>;
    /// [`TaskQueue::complete_all_for`], then claims up to `next.max` tasks
    /// for the slots those attempts free, as [`TaskQueue::claim_tasks`]
    /// would: a busy worker's slot goes from one task to the next without a
    /// round trip of its own. A failed claim is not the completions' failure:
    /// it claims nothing (the worker's own loop claims again).
    async fn complete_and_claim(
        &self,
        completions: &[(TaskLease, Completion)],
        coordinator: Option<&str>,
        next: &NextClaim<'_>,
        now: i64,
    ) -> Result<(Vec<Recorded>, Vec<ClaimedTask>), StoreError> {
        let recorded = self.complete_all_for(completions, coordinator, now).await?;
        Ok((recorded, claim_after_completion(self, next, now).await))
    }
    /// Re-queues (or fails, when out of attempts) tasks whose lease expired.
    async fn reap_expired(&self, now: i64) -> Result<u64, StoreError>;
    /// Treats the leases of a process known to be dead as expired now.
    async fn release_leases_of(&self, owner_prefix: &str, now: i64) -> Result<u64, StoreError>;
    /// The outputs of the latest task that succeeded under `cache_key`.
    async fn find_cached(&self, cache_key: &str) -> Result<Option<TaskOutputs>, StoreError>;
    /// Tasks waiting for a worker, for queue-depth metrics.
    async fn queue_depth(&self) -> Result<u64, StoreError>;
}

/// The claim of [`TaskQueue::complete_and_claim`] after its completions
/// are written: a failure claims nothing (the worker's own loop claims again).
pub(crate) async fn claim_after_completion<Q: TaskQueue + ?Sized>(
    queue: &Q,
    next: &NextClaim<'_>,
    now: i64,
) -> Vec<ClaimedTask> {
    if next.max == 0 {
        return Vec::new();
    }
    queue.claim_tasks(next.worker, next.labels, now, next.lease_until, next.max).await.unwrap_or_else(|err| {
        tracing::warn!(error = %err, "Could not claim the next task after a completion; the worker claims again.");
        Vec::new()
    })
}

/// What a worker claims with its completions ([`TaskQueue::complete_and_claim`]).
#[derive(Debug, Clone, Copy)]
pub struct NextClaim<'a> {
    pub worker: &'a str,
    pub labels: &'a [String],
    pub lease_until: i64,
    /// Most tasks to claim; 0 claims nothing.
    pub max: usize,
}

/// Task logs and progress.
#[async_trait]
pub trait LogStore: Send + Sync {
    async fn append_logs(&self, entries: &[NewLog]) -> Result<(), StoreError>;
    /// Log lines after `after_id`, oldest first.
    async fn logs(
        &self,
        run_id: &str,
        task_id: Option<&str>,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<LogEntry>, StoreError>;
    /// Stores the latest progress of a running attempt.
    async fn set_progress(&self, lease: &TaskLease, progress: &str) -> Result<(), StoreError>;
}

/// Named pools of slots shared by all workers.
#[async_trait]
pub trait PoolStore: Send + Sync {
    /// Creates or resizes a pool.
    async fn set_pool(&self, name: &str, slots: u32) -> Result<(), StoreError>;
    async fn delete_pool(&self, name: &str) -> Result<bool, StoreError>;
    async fn pools(&self) -> Result<Vec<Pool>, StoreError>;
    /// Records that a worker process is alive at `now`.
    async fn worker_seen(&self, worker: &str, labels: &[String], now: i64) -> Result<(), StoreError>;
    /// Forgets a worker that stopped.
    async fn worker_gone(&self, worker: &str) -> Result<(), StoreError>;
    /// Workers seen since `since`.
    async fn workers_alive(&self, since: i64) -> Result<u64, StoreError>;
}

/// What recording an attempt's result did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Nothing: a newer attempt owns the task.
    Stale,
    /// Written, for the run's coordinator to find.
    Written,
    /// Written and already taken for the run's coordinator, which is the
    /// caller's own: it must be told in memory.
    Taken,
}

/// A change other processes made, announced by the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Tasks became ready to claim.
    Queued,
    /// Tasks of several runs ended (expired leases): every coordinator should look.
    Finished,
    /// A task of this run ended or the run was asked to stop: its coordinator should look.
    RunChanged(String),
}

/// Where runs, tasks, attempts and logs live.
#[async_trait::async_trait]
pub trait Store:
    RunStore
    + TaskQueue
    + LogStore
    + PoolStore
    + PipelineStore
    + UploadStore
    + ScheduleStore
    + StatsStore
    + ModelStore
    + DataRootStore
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> Backend;

    /// Changes made by other processes as they commit, where the database
    /// can announce them (PostgreSQL's LISTEN/NOTIFY); `None` where idle
    /// processes must poll. Polling stays the fallback either way.
    async fn changes(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Change>>, StoreError> {
        Ok(None)
    }
}
