//! Running pipelines: a coordinator per run decides what is ready, workers
//! claim and execute tasks. Both talk through the store, so workers can live
//! in this process (the embedded default) or in other processes and machines
//! sharing one PostgreSQL.

pub mod access;
mod adopt;
mod cache;
mod conductor;
mod coordinator;
mod events;
mod fanout;
mod reporter;
mod schedules;
mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hangar_sdk::{ArtifactStore, Registry};
use tokio::sync::broadcast;

pub use events::EngineEvent;
pub use schedules::{FiredRun, params_as_overrides, spec_schedule};
pub use worker::WorkerOptions;

use crate::clock::{millis, now_ms};
use crate::diagnostic::Diagnostics;
use crate::plan::Plan;
use crate::status::RunStatus;
use crate::store::{Change, NewRun, NewTask, Store, StoreError};
use events::Signals;

/// Timing knobs of the engine.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// How long a task or run lease lasts without renewal.
    pub lease: Duration,
    /// How often idle workers and coordinators look at the store when no
    /// in-process signal woke them (tasks queued by other processes).
    pub poll: Duration,
    /// How often buffered logs and progress reach the store.
    pub flush: Duration,
    /// How long a cancelled or timed-out operator may take to stop cleanly.
    pub grace: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(250),
            flush: Duration::from_millis(200),
            grace: Duration::from_secs(10),
        }
    }
}

/// A failure of the engine itself (not of a task).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("run {run_id} not found; list runs with `hangar runs`")]
    RunNotFound { run_id: String },
    #[error(
        "run {run_id} is being coordinated by {holder} (lease valid for {seconds}s more); wait for it to finish or stop that process"
    )]
    RunBusy { run_id: String, holder: String, seconds: i64 },
    #[error("the spec stored with run {run_id} no longer validates against the registered operators:\n{diagnostics}")]
    StoredSpecInvalid { run_id: String, diagnostics: Diagnostics },
    #[error("lost the coordinator lease of run {run_id}; another process took it over")]
    LeaseLost { run_id: String },
    #[error("cannot fire schedules: {0}")]
    Schedule(String),
}

/// The engine: store, artifacts and operators, plus this process's signals.
#[derive(Clone)]
pub struct Engine {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) artifacts: ArtifactStore,
    pub(crate) registry: Arc<Registry>,
    pub(crate) scratch_root: PathBuf,
    pub(crate) settings: EngineSettings,
    pub(crate) signals: Arc<Signals>,
    /// `host:pid:nonce`, naming this process in leases.
    pub(crate) instance: String,
    /// The database's change feed, once followed.
    pub(crate) following: Arc<Following>,
    /// Runs attempts in child processes when set (servers and workers).
    pub(crate) isolation: Option<Arc<crate::isolation::Isolation>>,
    /// What confined runs' configs may ask for.
    pub(crate) quotas: crate::quotas::Quotas,
    /// Who owns work: asked before running an account's task.
    pub(crate) owners: Option<Arc<dyn access::Owners>>,
    /// The one loop that coordinates this process's runs, once started.
    pub(crate) conductor: Arc<conductor::ConductorHandle>,
}

/// Follows the change feed while any clone of its engine lives.
#[derive(Debug, Default)]
pub(crate) struct Following {
    started: tokio::sync::OnceCell<()>,
    stop: hangar_sdk::CancellationToken,
    /// The database announces changes: polling is only a safety net.
    live: std::sync::atomic::AtomicBool,
}

impl Drop for Following {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("instance", &self.instance)
            .field("artifacts", &self.artifacts)
            .finish_non_exhaustive()
    }
}

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        artifacts: ArtifactStore,
        registry: Arc<Registry>,
        scratch_root: PathBuf,
        settings: EngineSettings,
    ) -> Self {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let instance = format!("{}:{}:{}", hostname(), std::process::id(), &nonce[..8]);
        Self {
            store,
            artifacts,
            registry,
            scratch_root,
            settings,
            signals: Arc::new(Signals::new()),
            instance,
            following: Arc::default(),
            isolation: None,
            quotas: crate::quotas::Quotas::default(),
            owners: None,
            conductor: Arc::default(),
        }
    }

    /// Answers "may this account's work run, and confined how?" from `owners`;
    /// without it only the machine owner's work runs.
    #[must_use]
    pub fn with_owners(mut self, owners: Arc<dyn access::Owners>) -> Self {
        self.owners = Some(owners);
        self
    }

    /// Sets the quotas of confined runs.
    #[must_use]
    pub fn with_quotas(mut self, quotas: crate::quotas::Quotas) -> Self {
        self.quotas = quotas;
        self
    }

    /// The quotas of confined runs.
    pub fn quotas(&self) -> &crate::quotas::Quotas {
        &self.quotas
    }

    /// The limits of every attempt's process, when attempts run isolated.
    pub fn task_limits(&self) -> Option<crate::isolation::Limits> {
        self.isolation.as_ref().map(|isolation| isolation.limits)
    }

    /// Runs every task attempt in a child process started as `isolation`
    /// says, so that its crash is only its own.
    #[must_use]
    pub fn with_isolation(mut self, isolation: crate::isolation::Isolation) -> Self {
        self.isolation = Some(Arc::new(isolation));
        self
    }

    /// Wakes this process's idle workers and coordinators when another
    /// process queues or finishes tasks, where the database announces it;
    /// without it they notice within a poll interval.
    pub(crate) async fn follow_changes(&self) {
        self.following
            .started
            .get_or_init(|| async {
                match self.store.changes().await {
                    Ok(Some(mut changes)) => {
                        self.following.live.store(true, std::sync::atomic::Ordering::Relaxed);
                        let signals = self.signals.clone();
                        let stop = self.following.stop.clone();
                        tokio::spawn(async move {
                            loop {
                                let change = tokio::select! {
                                    change = changes.recv() => change,
                                    () = stop.cancelled() => None,
                                };
                                match change {
                                    Some(Change::Queued) => signals.work.notify_waiters(),
                                    Some(Change::Finished) => signals.wake_all(),
                                    Some(Change::RunChanged(run_id)) => signals.wake_run(&run_id),
                                    None => break,
                                }
                            }
                        });
                    }
                    Ok(None) => {}
                    Err(err) => tracing::warn!(error = %err, "No database change feed; polling instead."),
                }
            })
            .await;
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The timings this engine runs with.
    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// How often a coordinator looks at its run when nothing woke it: the
    /// poll interval, or eight of them when the database announces changes
    /// (each run's task ends and cancellation wake its coordinator directly).
    pub(crate) fn coordinator_poll(&self) -> std::time::Duration {
        if self.following.live.load(std::sync::atomic::Ordering::Relaxed) {
            self.settings.poll * 8
        } else {
            self.settings.poll
        }
    }

    pub fn artifacts(&self) -> &ArtifactStore {
        &self.artifacts
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// This process's name in leases.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Live events of every run this process coordinates or works on.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.signals.events.subscribe()
    }

    /// Records a new run of `plan`; it starts when a coordinator picks it up.
    ///
    /// # Errors
    /// When the store refuses the write.
    pub async fn submit(&self, plan: &Plan, owner: Option<&str>) -> Result<String, EngineError> {
        let (run, tasks) = prepare_run(plan, owner);
        let run_id = run.id.clone();
        self.store.create_run(&run, &tasks).await?;
        tracing::info!(run = %run_id, pipeline = %plan.spec.name, tasks = tasks.len(), "Run created.");
        Ok(run_id)
    }

    /// Asks a run to stop: queued tasks are cancelled, running ones are
    /// signalled (here directly, elsewhere through their lease renewal).
    ///
    /// # Errors
    /// When the store cannot be reached.
    pub async fn cancel(&self, run_id: &str) -> Result<bool, EngineError> {
        let flagged = self.store.request_cancel(run_id).await?;
        self.signals.cancel_local(run_id);
        self.signals.wake_run(run_id);
        Ok(flagged)
    }

    /// Prepares an interrupted or failed run to continue: tasks that did not
    /// succeed go back to pending. Refuses a run that a live process is
    /// still coordinating.
    ///
    /// # Errors
    /// Unknown run, a live coordinator elsewhere, or a store failure.
    pub async fn prepare_resume(&self, run_id: &str) -> Result<RunStatus, EngineError> {
        let run =
            self.store.run(run_id).await?.ok_or_else(|| EngineError::RunNotFound { run_id: run_id.to_owned() })?;
        if run.status == RunStatus::Succeeded {
            return Ok(run.status);
        }
        if let (Some(holder), Some(expires)) = (&run.coordinator, run.coordinator_expires_at) {
            let now = now_ms();
            let dead = is_dead_local_process(holder);
            if holder != &self.instance && expires > now && !dead {
                return Err(EngineError::RunBusy {
                    run_id: run_id.to_owned(),
                    holder: holder.clone(),
                    seconds: (expires - now) / 1000,
                });
            }
            if dead {
                // Its embedded workers died with it: their attempts are lost now,
                // not when their leases run out.
                let released = self.store.release_leases_of(holder, now).await?;
                tracing::info!(run = %run_id, released, "Released the leases of a dead process.");
            }
        }
        self.store.reset_for_resume(run_id).await?;
        tracing::info!(run = %run_id, previous = %run.status, "Run reset for resume.");
        Ok(RunStatus::Pending)
    }
}

/// The rows of a new run of `plan`, not yet stored.
pub fn prepare_run(plan: &Plan, owner: Option<&str>) -> (NewRun, Vec<NewTask>) {
    let run = NewRun {
        id: new_run_id(),
        pipeline: plan.spec.name.clone(),
        spec_path: plan.file.clone(),
        spec_text: plan.text.clone(),
        spec_hash: plan.hash.clone(),
        params: serde_json::to_value(&plan.params).unwrap_or_default(),
        seed: plan.spec.seed,
        owner: owner.map(str::to_owned),
        created_at: now_ms(),
        max_active_runs: plan.spec.max_active_runs,
    };
    let tasks: Vec<NewTask> = plan
        .tasks
        .values()
        .map(|t| NewTask {
            task_id: t.id.clone(),
            position: t.position,
            operator: t.operator.clone(),
            retries: t.max_attempts.saturating_sub(1),
            max_lost_attempts: t.max_lost_attempts,
            resources: t.resources,
            retry_backoff_ms: millis(t.retry_backoff),
            timeout_ms: t.timeout.map(millis),
            seed: task_seed(plan.spec.seed, &t.id),
            runs_on: t.runs_on.clone(),
            pool: t.pool.clone(),
            cache: t.cache,
        })
        .collect();
    (run, tasks)
}

/// The run's seed mixed with the task id, so tasks differ but reruns agree.
fn task_seed(run_seed: u64, task_id: &str) -> u64 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&run_seed.to_le_bytes());
    hasher.update(task_id.as_bytes());
    let bytes = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

/// A time-ordered, unique run id.
fn new_run_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && !h.contains(':'))
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Whether `instance` (`host:pid:nonce`) names a process on this machine
/// that no longer exists, so its leases need not be waited out.
pub(crate) fn is_dead_local_process(instance: &str) -> bool {
    let mut parts = instance.split(':');
    let (Some(host), Some(pid)) = (parts.next(), parts.next()) else {
        return false;
    };
    if host != hostname() || !cfg!(target_os = "linux") {
        return false;
    }
    match pid.parse::<u32>() {
        Ok(pid) if pid == std::process::id() => false,
        Ok(pid) => !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        Err(_) => false,
    }
}
