//! Rows and requests exchanged with the store.

use std::collections::BTreeMap;

use hangar_sdk::{ArtifactRef, Progress, TaskOutputs};
use serde::Serialize;

use crate::status::{RunStatus, TaskStatus};

/// A run to create.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub id: String,
    pub pipeline: String,
    pub spec_path: String,
    pub spec_text: String,
    pub spec_hash: String,
    pub params: serde_json::Value,
    pub seed: u64,
    pub owner: Option<String>,
    pub created_at: i64,
    /// Most runs of this pipeline active at once.
    pub max_active_runs: Option<u32>,
}

/// A task of a new run.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub task_id: String,
    pub position: usize,
    pub operator: String,
    pub retries: u32,
    /// Attempts lost to dead workers that are run again for free.
    pub max_lost_attempts: u32,
    /// Limits of each attempt's process.
    pub resources: crate::isolation::Limits,
    pub retry_backoff_ms: i64,
    pub timeout_ms: Option<i64>,
    /// This task's seed, derived from the run's.
    pub seed: u64,
    /// Labels a worker must have.
    pub runs_on: Vec<String>,
    pub pool: Option<String>,
    /// Whether outputs may be reused from an identical earlier task.
    pub cache: bool,
}

/// A stored run.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: String,
    pub pipeline: String,
    pub status: RunStatus,
    pub spec_path: String,
    #[serde(skip)]
    pub spec_text: String,
    pub spec_hash: String,
    pub params: serde_json::Value,
    pub seed: u64,
    pub owner: Option<String>,
    pub error: Option<String>,
    pub cancel_requested: bool,
    pub coordinator: Option<String>,
    pub coordinator_expires_at: Option<i64>,
    pub max_active_runs: Option<u32>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// A stored task run.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRecord {
    pub run_id: String,
    pub task_id: String,
    pub position: usize,
    pub operator: String,
    pub status: TaskStatus,
    /// Attempts started so far (across resumes).
    pub attempt: u32,
    pub retries: u32,
    pub max_attempts: u32,
    pub retry_backoff_ms: i64,
    pub timeout_ms: Option<i64>,
    pub config: Option<serde_json::Value>,
    pub inputs: Option<BTreeMap<String, ArtifactRef>>,
    pub outputs: Option<TaskOutputs>,
    pub cache_key: Option<String>,
    pub error: Option<String>,
    pub progress: Option<Progress>,
    pub queued_at: Option<i64>,
    pub available_at: Option<i64>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub runs_on: Vec<String>,
    pub pool: Option<String>,
    pub cache: bool,
    /// For a task with `map:` once its items are known: how many instances it has.
    pub map_size: Option<u32>,
}

/// One attempt of a task.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptRecord {
    pub attempt: u32,
    /// `running`, `succeeded`, `failed`, `cancelled` or `lost` (lease expired / process died).
    pub status: String,
    pub worker: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
}

/// Filters for listing runs.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub pipeline: Option<String>,
    pub status: Option<RunStatus>,
    pub owner: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// A task the coordinator found ready, with its resolved config and inputs.
#[derive(Debug, Clone)]
pub struct QueueTask {
    pub task_id: String,
    pub config: serde_json::Value,
    pub inputs: BTreeMap<String, ArtifactRef>,
    pub cache_key: Option<String>,
}

/// A task the coordinator settles without running it.
#[derive(Debug, Clone)]
pub struct Settle {
    pub task_id: String,
    pub status: TaskStatus,
    pub error: Option<String>,
    /// For `cached`: the reused outputs.
    pub outputs: Option<TaskOutputs>,
}

/// One coordinator step: acknowledge finished tasks, queue ready ones, settle skipped ones.
#[derive(Debug, Clone, Default)]
pub struct Advance {
    pub acked: Vec<String>,
    pub queue: Vec<QueueTask>,
    pub settle: Vec<Settle>,
}

impl Advance {
    pub fn is_empty(&self) -> bool {
        self.acked.is_empty() && self.queue.is_empty() && self.settle.is_empty()
    }
}

/// A task a worker has claimed: everything needed to run it.
#[derive(Debug, Clone)]
pub struct ClaimedTask {
    pub lease: TaskLease,
    pub operator: String,
    pub max_attempts: u32,
    pub retry_backoff_ms: i64,
    pub timeout_ms: Option<i64>,
    pub config: serde_json::Value,
    pub inputs: BTreeMap<String, ArtifactRef>,
    pub seed: u64,
    pub cache: bool,
    /// The task's own limits (unset: the worker's defaults).
    pub resources: crate::isolation::Limits,
    /// The account that owns the run (`None`: the machine's owner).
    pub owner: Option<String>,
}

/// The right to complete one attempt; `attempt` is the fencing token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskLease {
    pub run_id: String,
    pub task_id: String,
    pub attempt: u32,
    pub worker: String,
}

/// What a lease renewal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    Held { cancel_requested: bool },
    Lost,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum Completion {
    Succeeded {
        outputs: TaskOutputs,
        /// The key under which the outputs may be reused.
        cache_key: Option<String>,
    },
    /// Not run: an identical earlier task's outputs are reused.
    Cached {
        outputs: TaskOutputs,
        cache_key: String,
    },
    /// Failed, but will be tried again at `available_at`.
    Retry {
        error: String,
        available_at: i64,
    },
    Failed {
        error: String,
    },
    Cancelled {
        error: String,
    },
}

/// What became of an attempt to take a run's coordinator lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    Yes,
    /// Another live coordinator holds it.
    Busy,
    /// The pipeline already has `max_active_runs` runs active: wait. The
    /// caller holds the run's lease meanwhile (and renews it by asking again).
    Throttled,
}

/// A named pool of slots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pool {
    pub name: String,
    pub slots: u32,
    /// Tasks of the pool running now.
    pub running: u32,
}

/// A log line to append.
#[derive(Debug, Clone)]
pub struct NewLog {
    pub run_id: String,
    pub task_id: String,
    pub attempt: u32,
    pub ts: i64,
    pub stream: String,
    pub line: String,
}

/// A stored log line.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub id: i64,
    pub task_id: String,
    pub attempt: u32,
    pub ts: i64,
    pub stream: String,
    pub line: String,
}
