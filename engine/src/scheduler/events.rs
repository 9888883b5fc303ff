//! Live events of runs in this process, and the wake-up signals between
//! coordinators and workers.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use hangar_sdk::{CancellationToken, Progress};
use serde::Serialize;
use tokio::sync::{Notify, broadcast};

use crate::status::{RunStatus, TaskStatus};

/// Something that happened to a run, as it happened. The CLI draws its
/// progress display from these and the API streams them.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EngineEvent {
    RunStarted {
        run_id: String,
        pipeline: String,
        tasks: usize,
    },
    TaskQueued {
        run_id: String,
        task_id: String,
    },
    TaskStarted {
        run_id: String,
        task_id: String,
        attempt: u32,
        worker: String,
    },
    TaskProgress {
        run_id: String,
        task_id: String,
        progress: Progress,
    },
    TaskLog {
        run_id: String,
        task_id: String,
        attempt: u32,
        stream: String,
        line: String,
    },
    TaskFinished {
        run_id: String,
        task_id: String,
        status: TaskStatus,
        attempt: u32,
        error: Option<String>,
        /// Set when the task failed and will be tried again at this time (ms).
        retry_at: Option<i64>,
    },
    RunFinished {
        run_id: String,
        status: RunStatus,
    },
}

impl EngineEvent {
    pub fn run_id(&self) -> &str {
        match self {
            EngineEvent::RunStarted { run_id, .. }
            | EngineEvent::TaskQueued { run_id, .. }
            | EngineEvent::TaskStarted { run_id, .. }
            | EngineEvent::TaskProgress { run_id, .. }
            | EngineEvent::TaskLog { run_id, .. }
            | EngineEvent::TaskFinished { run_id, .. }
            | EngineEvent::RunFinished { run_id, .. } => run_id,
        }
    }
}

/// Shared between the coordinators and workers of one process.
#[derive(Debug)]
pub(crate) struct Signals {
    /// Tasks were queued: idle workers should try to claim.
    pub work: Notify,
    /// Wakes this process's conductor: runs it coordinates need a look.
    pub conduct: Notify,
    /// The runs to look at (a task of theirs ended, they were asked to stop).
    pub dirty: Mutex<HashSet<String>>,
    /// Every run coordinated here needs a look (tasks of several runs ended elsewhere).
    pub all_dirty: std::sync::atomic::AtomicBool,
    pub events: broadcast::Sender<EngineEvent>,
    /// Cancellation tokens of attempts running in this process.
    pub running: Mutex<HashMap<(String, String), CancellationToken>>,
    /// Runs whose cancellation was requested through this process.
    pub cancelled_runs: Mutex<HashSet<String>>,
    /// Attempts (run, task, attempt) that finished in this process and whose
    /// `TaskFinished` was emitted here; the coordinator announces the others,
    /// which workers in other processes finished.
    pub finished_here: Mutex<HashSet<(String, String, u32)>>,
    /// Runs coordinated by this process right now.
    pub coordinating: Mutex<HashSet<String>>,
    /// Tasks of runs coordinated here that this process's workers ended and
    /// recorded as taken: the conductor learns of them from here, not from
    /// the database.
    pub handed_over: Mutex<HashMap<String, Vec<Ended>>>,
}

/// A task that ended, as its worker hands it to the conductor.
#[derive(Debug, Clone)]
pub(crate) struct Ended {
    pub task_id: String,
    pub status: TaskStatus,
    pub outputs: Option<hangar_sdk::TaskOutputs>,
}

impl Signals {
    pub fn cancel_requested_here(&self, run_id: &str) -> bool {
        self.cancelled_runs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(run_id)
    }

    pub fn new() -> Self {
        let (events, _) = broadcast::channel(8192);
        Self {
            work: Notify::new(),
            conduct: Notify::new(),
            dirty: Mutex::new(HashSet::new()),
            all_dirty: std::sync::atomic::AtomicBool::new(false),
            events,
            running: Mutex::new(HashMap::new()),
            cancelled_runs: Mutex::new(HashSet::new()),
            finished_here: Mutex::new(HashSet::new()),
            coordinating: Mutex::new(HashSet::new()),
            handed_over: Mutex::new(HashMap::new()),
        }
    }

    pub fn emit(&self, event: EngineEvent) {
        // No subscriber is fine: events are for whoever listens.
        let _ = self.events.send(event);
    }

    /// Remembers an attempt finished here, for this process's coordinator
    /// of its run; with no such coordinator nobody would ever forget it.
    pub fn mark_finished_here(&self, run_id: &str, task_id: &str, attempt: u32) {
        if !self.is_coordinating(run_id) {
            return;
        }
        self.finished_here.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert((
            run_id.to_owned(),
            task_id.to_owned(),
            attempt,
        ));
    }

    /// Whether this process already announced the end of that attempt (and forgets it).
    pub fn take_finished_here(&self, run_id: &str, task_id: &str, attempt: u32) -> bool {
        self.finished_here.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&(
            run_id.to_owned(),
            task_id.to_owned(),
            attempt,
        ))
    }

    pub fn is_coordinating(&self, run_id: &str) -> bool {
        self.coordinating.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(run_id)
    }

    /// Marks `run_id` as coordinated here until the guard is dropped.
    pub fn coordinating(self: &std::sync::Arc<Self>, run_id: &str) -> CoordinatingGuard {
        self.coordinating.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(run_id.to_owned());
        CoordinatingGuard { signals: self.clone(), run_id: run_id.to_owned() }
    }

    /// Has this process's conductor look at `run_id`, if it coordinates it:
    /// with many runs in flight, a task's end wakes only its own run.
    pub fn wake_run(&self, run_id: &str) {
        if self.is_coordinating(run_id) {
            self.dirty.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(run_id.to_owned());
            // A permit is kept if the conductor is busy: no wake-up is lost.
            self.conduct.notify_one();
        }
    }

    /// Gives the conductor a task of `run_id` that a worker here ended and
    /// recorded as taken; dropped when the run is no longer coordinated here
    /// (whoever adopts it reads all its tasks).
    pub fn hand_over(&self, run_id: &str, ended: Ended) {
        if !self.is_coordinating(run_id) {
            return;
        }
        self.handed_over
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(run_id.to_owned())
            .or_default()
            .push(ended);
        self.conduct.notify_one();
    }

    /// The runs that have tasks handed over, among those `held`.
    pub fn runs_handed_over(&self, held: impl Fn(&str) -> bool) -> Vec<String> {
        let handed = self.handed_over.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        handed.keys().filter(|id| held(id)).cloned().collect()
    }

    /// Takes the tasks handed over for `run_ids`.
    pub fn take_handed_over(&self, run_ids: &[String]) -> HashMap<String, Vec<Ended>> {
        let mut handed = self.handed_over.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        run_ids.iter().filter_map(|id| handed.remove(id).map(|ended| (id.clone(), ended))).collect()
    }

    /// Has this process's conductor look at every run it coordinates.
    pub fn wake_all(&self) {
        self.all_dirty.store(true, std::sync::atomic::Ordering::SeqCst);
        self.conduct.notify_one();
    }

    /// Cancels every attempt of `run_id` running in this process.
    pub fn cancel_local(&self, run_id: &str) {
        self.cancelled_runs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(run_id.to_owned());
        let running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for ((run, _), token) in running.iter() {
            if run == run_id {
                token.cancel();
            }
        }
    }
}

/// Unmarks a run as coordinated here, and forgets its finished attempts.
pub(crate) struct CoordinatingGuard {
    signals: std::sync::Arc<Signals>,
    run_id: String,
}

impl Drop for CoordinatingGuard {
    fn drop(&mut self) {
        self.signals.coordinating.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.run_id);
        self.signals.dirty.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.run_id);
        self.signals.handed_over.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.run_id);
        self.signals
            .finished_here
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|(run, _, _)| run != &self.run_id);
    }
}
