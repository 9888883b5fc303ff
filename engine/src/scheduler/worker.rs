//! Workers: claim queued tasks, run them with a lease renewed by heartbeat,
//! enforce timeouts and cancellation, and complete them with their fencing
//! token (the attempt number).

use std::sync::Arc;
use std::time::Duration;

use hangar_sdk::{
    Access, CancellationToken, ErrorClass, OperatorError, TaskContext, TaskIdentity, TaskOutputs, TaskReporter,
};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;

use super::cache::{cache_key, fingerprint_with_seed};
use super::events::Ended;
use super::reporter::{AttemptReporter, Redactions};
use super::{Engine, EngineEvent};
use crate::clock::{millis, now_ms};
use crate::status::TaskStatus;
use crate::store::{ClaimedTask, Completion, LeaseState, NextClaim, Recorded, Store, StoreError, TaskLease};

/// Most tasks one claim transaction takes.
const CLAIM_BATCH: usize = 16;
/// Most completions one transaction writes.
const COMPLETION_BATCH: usize = 64;

/// An attempt's result on its way to the database, and where to say
/// whether it was written (with the task claimed for its slot, if any).
type Completions = mpsc::UnboundedSender<PendingCompletion>;
type PendingCompletion = (TaskLease, Completion, oneshot::Sender<Written>);
type Written = (Result<Recorded, StoreError>, Option<ClaimedTask>);

/// What the completion writer claims for the slots its attempts free.
struct Claiming {
    worker: String,
    labels: Vec<String>,
    lease: Duration,
    /// Once fired, slots are not refilled: the worker is stopping.
    shutdown: CancellationToken,
}

/// Writes the attempts' results: the ones that ended while a transaction
/// was in flight go together in the next (group commit), so that a busy
/// worker spends one transaction per batch while a lone result waits for
/// nothing. Ended tasks of runs that `coordinator` (this process) holds
/// are taken for it as they are written. Each attempt's slot is refilled
/// by a claim made with the write (on PostgreSQL, a lone result and its
/// claim are one statement): the next task reaches the slot without the
/// worker's loop and a round trip of its own.
async fn write_completions(
    store: Arc<dyn Store>,
    coordinator: String,
    claiming: Claiming,
    mut pending: mpsc::UnboundedReceiver<PendingCompletion>,
) {
    while let Some(first) = pending.recv().await {
        let mut batch = vec![first];
        while batch.len() < COMPLETION_BATCH {
            match pending.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (items, replies): (Vec<(TaskLease, Completion)>, Vec<_>) =
            batch.into_iter().map(|(lease, completion, reply)| ((lease, completion), reply)).unzip();
        let now = now_ms();
        let next = NextClaim {
            worker: &claiming.worker,
            labels: &claiming.labels,
            lease_until: now + millis(claiming.lease),
            max: if claiming.shutdown.is_cancelled() { 0 } else { items.len() },
        };
        match store.complete_and_claim(&items, Some(&coordinator), &next, now).await {
            Ok((written, claimed)) => {
                let mut claimed = claimed.into_iter();
                for (reply, done) in replies.into_iter().zip(written) {
                    let next = claimed.next();
                    if let Err((_, Some(task))) = reply.send((Ok(done), next)) {
                        // Its attempt is gone (it cannot be while it waits):
                        // the lease expires and the reaper records a lost attempt.
                        tracing::warn!(run = %task.lease.run_id, task = %task.lease.task_id, "A claimed task found no slot; its lease will expire and the attempt be recorded as lost.");
                    }
                }
            }
            // One failed transaction must not fail its neighbours: each is
            // tried again on its own and answers for itself.
            Err(err) if items.len() > 1 => {
                tracing::warn!(error = %err, attempts = items.len(), "Could not record a batch of results; writing them one by one.");
                for ((lease, completion), reply) in items.iter().zip(replies) {
                    let _ = reply.send((complete_one(store.as_ref(), lease, completion, &coordinator).await, None));
                }
            }
            Err(err) => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send((Err(err), None));
                }
            }
        }
    }
}

/// One attempt's result written on its own, for `coordinator`.
async fn complete_one(
    store: &dyn Store,
    lease: &TaskLease,
    completion: &Completion,
    coordinator: &str,
) -> Result<Recorded, StoreError> {
    let recorded = store.complete_all_for(&[(lease.clone(), completion.clone())], Some(coordinator), now_ms()).await?;
    Ok(recorded.first().copied().unwrap_or(Recorded::Stale))
}

/// How a worker pool runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Tasks run at once by this pool.
    pub concurrency: usize,
    /// What this worker offers (`gpu`, `cpu`, …): it claims only tasks whose
    /// `runs_on` labels are all among these.
    pub labels: Vec<String>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self { concurrency: std::thread::available_parallelism().map(usize::from).unwrap_or(2), labels: Vec::new() }
    }
}

/// What the cache had for a task.
enum Lookup {
    Hit {
        outputs: TaskOutputs,
        key: String,
    },
    /// Not cached; the key to store the outputs under, when caching applies.
    Miss(Option<String>),
}

/// How an attempt ended, before it is written.
enum Outcome {
    Done(Result<TaskOutputs, OperatorError>),
    /// Not run: the outputs of an identical earlier task.
    Cached(TaskOutputs),
    TimedOut(Duration),
    Cancelled,
    LeaseLost,
    /// Stopped because the run's owner lost the right to run it.
    Revoked(String),
}

impl Engine {
    /// Claims and runs tasks until `shutdown` fires, then waits for the
    /// attempts in flight (which `shutdown` does not cancel).
    pub async fn run_workers(&self, options: WorkerOptions, shutdown: CancellationToken) {
        self.follow_changes().await;
        let slots = Arc::new(Semaphore::new(options.concurrency.max(1)));
        let mut in_flight = JoinSet::new();
        let mut last_reap = now_ms();
        let worker = format!("{}/w", self.instance);
        let heartbeat = tokio::spawn(self.clone().beat(worker.clone(), options.labels.clone(), shutdown.clone()));
        let (completions, written) = mpsc::unbounded_channel();
        let claiming = Claiming {
            worker: worker.clone(),
            labels: options.labels.clone(),
            lease: self.settings.lease,
            shutdown: shutdown.clone(),
        };
        let writer = tokio::spawn(write_completions(self.store.clone(), self.instance.clone(), claiming, written));
        loop {
            let permit = tokio::select! {
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                () = shutdown.cancelled() => break,
            };
            // Every free slot is filled by one claim: a transaction per
            // batch, not per task, when work piles up.
            let mut permits = vec![permit];
            while permits.len() < CLAIM_BATCH {
                match slots.clone().try_acquire_owned() {
                    Ok(permit) => permits.push(permit),
                    Err(_) => break,
                }
            }
            while in_flight.try_join_next().is_some() {}
            let work = self.signals.work.notified();
            tokio::pin!(work);
            work.as_mut().enable();
            let now = now_ms();
            match self
                .store
                .claim_tasks(&worker, &options.labels, now, now + millis(self.settings.lease), permits.len())
                .await
            {
                Ok(tasks) if !tasks.is_empty() => {
                    for task in tasks {
                        let Some(permit) = permits.pop() else { break };
                        let engine = self.clone();
                        let completions = completions.clone();
                        in_flight.spawn(async move {
                            // The slot runs what its completions claim until none is left.
                            let mut next = Some(task);
                            while let Some(task) = next {
                                next = engine.execute(task, &completions).await;
                            }
                            drop(permit);
                        });
                    }
                }
                Ok(_) => {
                    drop(permits);
                    if now - last_reap > millis(self.settings.lease) / 2 {
                        if let Err(err) = self.store.reap_expired(now).await {
                            tracing::warn!(error = %err, "Could not re-queue expired tasks.");
                        }
                        last_reap = now;
                    }
                    tokio::select! {
                        () = &mut work => {}
                        () = tokio::time::sleep(self.settings.poll) => {}
                        () = shutdown.cancelled() => break,
                    }
                }
                Err(err) => {
                    drop(permits);
                    tracing::warn!(error = %err, "Could not claim a task; retrying.");
                    tokio::select! {
                        () = tokio::time::sleep(self.settings.poll * 4) => {}
                        () = shutdown.cancelled() => break,
                    }
                }
            }
        }
        while in_flight.join_next().await.is_some() {}
        drop(completions);
        let _ = writer.await;
        let _ = heartbeat.await;
    }

    /// Tells the database this worker is alive every third of a lease, and
    /// that it is gone when it stops (for `/metrics`' workers alive).
    async fn beat(self, worker: String, labels: Vec<String>, shutdown: CancellationToken) {
        loop {
            if let Err(err) = self.store.worker_seen(&worker, &labels, now_ms()).await {
                tracing::warn!(error = %err, "Could not record that this worker is alive.");
            }
            tokio::select! {
                () = tokio::time::sleep(self.settings.lease / 3) => {}
                () = shutdown.cancelled() => break,
            }
        }
        if let Err(err) = self.store.worker_gone(&worker).await {
            tracing::warn!(error = %err, "Could not record that this worker stopped.");
        }
    }

    /// Runs one claimed attempt to its end and records the outcome; returns
    /// the task claimed with that record for the same slot, if any.
    async fn execute(&self, task: ClaimedTask, completions: &Completions) -> Option<ClaimedTask> {
        let lease = task.lease.clone();
        let key = (lease.run_id.clone(), lease.task_id.clone());
        let cancel = CancellationToken::new();
        self.signals
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key.clone(), cancel.clone());
        self.signals.emit(EngineEvent::TaskStarted {
            run_id: lease.run_id.clone(),
            task_id: lease.task_id.clone(),
            attempt: lease.attempt,
            worker: lease.worker.clone(),
        });
        let reporter = Arc::new(AttemptReporter::new(lease.clone(), self.signals.clone()));
        let scratch = self.scratch_root.join(&lease.run_id).join(&lease.task_id).join(format!("a{}", lease.attempt));

        let access = self.run_access(&task).await;
        let redactions = match &access {
            Ok(access) if !access.is_trusted() => {
                let redactions = self.redactions(access);
                reporter.redact_with(redactions.clone());
                Some(redactions)
            }
            _ => None,
        };
        let (outcome, cache_key) = match access {
            Err(err) => (Outcome::Done(Err(err)), None),
            Ok(access) => match self.cached(&task, &access, &cancel, &reporter, &scratch).await {
                Ok(Lookup::Hit { outputs, key }) => (Outcome::Cached(outputs), Some(key)),
                Ok(Lookup::Miss(key)) => {
                    (self.attempt(&task, &access, cancel.clone(), reporter.clone(), &scratch).await, key)
                }
                Err(err) => (Outcome::Done(Err(err)), None),
            },
        };

        if let Err(err) = reporter.flush(self.store.as_ref()).await {
            tracing::warn!(run = %lease.run_id, task = %lease.task_id, error = %err, "Could not write task logs.");
        }
        let _ = tokio::fs::remove_dir_all(&scratch).await;
        self.signals.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&key);

        let now = now_ms();
        let mut completion = self.completion_of(&task, outcome, cache_key, now);
        if let Some(redactions) = &redactions {
            match &mut completion {
                Completion::Retry { error, .. } | Completion::Failed { error } | Completion::Cancelled { error } => {
                    *error = redactions.apply(error);
                }
                Completion::Succeeded { .. } | Completion::Cached { .. } => {}
            }
        }
        let (status, error, retry_at) = match &completion {
            Completion::Succeeded { .. } => (TaskStatus::Succeeded, None, None),
            Completion::Cached { .. } => (TaskStatus::Cached, None, None),
            Completion::Retry { error, available_at } => (TaskStatus::Failed, Some(error.clone()), Some(*available_at)),
            Completion::Failed { error } => (TaskStatus::Failed, Some(error.clone()), None),
            Completion::Cancelled { error } => (TaskStatus::Cancelled, Some(error.clone()), None),
        };
        let (reply, answer) = oneshot::channel();
        let (written, next) = match completions.send((lease.clone(), completion.clone(), reply)) {
            Ok(()) => match answer.await {
                Ok(written) => written,
                // The writer is gone: write it here (fenced by the attempt,
                // so a write the writer did make is not repeated).
                Err(_) => (complete_one(self.store.as_ref(), &lease, &completion, &self.instance).await, None),
            },
            Err(_) => (complete_one(self.store.as_ref(), &lease, &completion, &self.instance).await, None),
        };
        let taken = matches!(written, Ok(Recorded::Taken));
        match written {
            Ok(recorded @ (Recorded::Written | Recorded::Taken)) => {
                tracing::info!(run = %lease.run_id, task = %lease.task_id, attempt = lease.attempt, status = %status, "Task attempt finished.");
                if retry_at.is_none() && recorded == Recorded::Written {
                    self.signals.mark_finished_here(&lease.run_id, &lease.task_id, lease.attempt);
                }
                self.signals.emit(EngineEvent::TaskFinished {
                    run_id: lease.run_id.clone(),
                    task_id: lease.task_id.clone(),
                    status,
                    attempt: lease.attempt,
                    error,
                    retry_at,
                });
            }
            Ok(Recorded::Stale) => tracing::warn!(
                run = %lease.run_id, task = %lease.task_id, attempt = lease.attempt,
                "Attempt result discarded: a newer attempt owns this task."
            ),
            Err(err) => tracing::error!(
                run = %lease.run_id, task = %lease.task_id, error = %err,
                "Could not record the attempt's result; its lease will expire and the task will be retried."
            ),
        }
        if retry_at.is_some() {
            self.signals.work.notify_waiters();
        }
        if taken {
            // Taken for this process's conductor: told here, not by the database.
            let outputs = match completion {
                Completion::Succeeded { outputs, .. } | Completion::Cached { outputs, .. } => Some(outputs),
                Completion::Retry { .. } | Completion::Failed { .. } | Completion::Cancelled { .. } => None,
            };
            self.signals.hand_over(&lease.run_id, Ended { task_id: lease.task_id, status, outputs });
        } else {
            // Only this run's coordinator, if it is here; one elsewhere hears
            // of it through the database.
            self.signals.wake_run(&lease.run_id);
        }
        next
    }

    /// The server folders a confined run's messages must not show.
    fn redactions(&self, access: &Access) -> Redactions {
        let mut pairs: Vec<(String, String)> = access
            .roots()
            .into_iter()
            .map(|root| (root.path.display().to_string(), format!("{}{}", hangar_sdk::input::DATA_SCHEME, root.name)))
            .collect();
        pairs.push((self.scratch_root.display().to_string(), "<scratch>".to_owned()));
        if let Some(root) = self.artifacts.local_path("") {
            pairs.push((root.display().to_string().trim_end_matches('/').to_owned(), "<artifacts>".to_owned()));
        }
        Redactions::new(pairs)
    }

    /// An attempt as its child process needs it.
    fn job(
        &self,
        task: &ClaimedTask,
        access: &Access,
        limits: crate::isolation::Limits,
        scratch: &std::path::Path,
    ) -> crate::isolation::AttemptJob {
        let lease = &task.lease;
        crate::isolation::AttemptJob {
            run_id: lease.run_id.clone(),
            task_id: lease.task_id.clone(),
            attempt: lease.attempt,
            seed: task.seed,
            operator: task.operator.clone(),
            config: task.config.clone(),
            inputs: task.inputs.clone(),
            scratch: scratch.to_path_buf(),
            access: crate::isolation::AccessSpec {
                confined_to: access.owner().map(str::to_owned),
                roots: access.roots(),
            },
            limits,
        }
    }

    /// What this attempt may read and run: its run's owner's rights as they
    /// are now, not as they were when the run was submitted.
    async fn run_access(&self, task: &ClaimedTask) -> Result<Access, OperatorError> {
        // The owner came with the claim (a run's owner never changes); the
        // owner's standing is read now.
        let access = self.access_for(task.owner.as_deref()).await?;
        self.check_privileges(&access, &task.lease.task_id, &task.operator)?;
        self.check_quotas(&access, &task.operator, &task.config)?;
        Ok(access)
    }

    /// The context of one attempt.
    fn context(
        &self,
        task: &ClaimedTask,
        access: &Access,
        cancel: CancellationToken,
        reporter: Arc<AttemptReporter>,
        scratch: &std::path::Path,
    ) -> TaskContext {
        let lease = &task.lease;
        TaskContext::new(
            TaskIdentity {
                run_id: lease.run_id.clone(),
                task_id: lease.task_id.clone(),
                attempt: lease.attempt,
                seed: task.seed,
            },
            task.inputs.clone(),
            self.artifacts.clone(),
            scratch.to_path_buf(),
            cancel,
            reporter,
        )
        .with_models(Arc::new(match access.owner() {
            Some(owner) => crate::store::RegistryOf::confined(self.store.clone(), owner),
            None => crate::store::RegistryOf::trusted(self.store.clone()),
        }))
        .with_access(access.clone())
    }

    /// Looks the task up in the output cache.
    async fn cached(
        &self,
        task: &ClaimedTask,
        access: &Access,
        cancel: &CancellationToken,
        reporter: &Arc<AttemptReporter>,
        scratch: &std::path::Path,
    ) -> Result<Lookup, OperatorError> {
        let Some(operator) = self.registry.get(&task.operator).filter(|_| task.cache) else {
            return Ok(Lookup::Miss(None));
        };
        let ctx = self.context(task, access, cancel.clone(), reporter.clone(), scratch);
        let fingerprint = operator.implementation.fingerprint_erased(task.config.clone(), ctx).await?;
        let fingerprint = fingerprint_with_seed(fingerprint, &operator.info, task.seed);
        // A confined owner's outputs are cached for that owner alone: what
        // the task read was visible to them, not necessarily to others.
        let key = cache_key(&operator.info, &task.config, &task.inputs, fingerprint.as_deref(), access.owner());
        let found = self.store.find_cached(&key).await.map_err(|e| OperatorError::external(e.to_string()))?;
        if let Some(outputs) = found {
            let mut present = true;
            for artifact in outputs.values() {
                present &= self.artifacts.artifact_exists(artifact).await.unwrap_or(false);
            }
            if present {
                reporter.log(hangar_sdk::LogStream::Info, &format!("outputs reused from the cache ({key})"));
                return Ok(Lookup::Hit { outputs, key });
            }
        }
        Ok(Lookup::Miss(Some(key)))
    }

    /// Runs the operator under the lease, the timeout and the cancellation token.
    async fn attempt(
        &self,
        task: &ClaimedTask,
        access: &Access,
        cancel: CancellationToken,
        reporter: Arc<AttemptReporter>,
        scratch: &std::path::Path,
    ) -> Outcome {
        let lease = &task.lease;
        let Some(operator) = self.registry.get(&task.operator) else {
            return Outcome::Done(Err(OperatorError::user(format!(
                "operator {:?} is not registered in this worker; run a worker built with it",
                task.operator
            ))));
        };
        let run: hangar_sdk::operator::BoxRun<'_> = match &self.isolation {
            Some(isolation) => {
                // A confined owner's `resources:` may only lower the server's limits.
                let limits = if access.is_trusted() {
                    task.resources.or(isolation.limits)
                } else {
                    task.resources.within(isolation.limits)
                };
                let job = self.job(task, access, limits, scratch);
                Box::pin(crate::isolation::run_isolated(isolation, job, reporter.clone(), cancel.clone()))
            }
            None => {
                let ctx = self.context(task, access, cancel.clone(), reporter.clone(), scratch);
                operator.implementation.run_erased(task.config.clone(), ctx)
            }
        };
        tokio::pin!(run);

        let deadline = task.timeout_ms.map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0)));
        let sleep_for_timeout = async {
            match deadline {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(sleep_for_timeout);
        // Log flushing and lease renewal run beside the operator, never in
        // its place: an operator parked mid-transaction while this side
        // waited for the database would hold the connection this side needs
        // (SQLite's pool has one), and neither would move again. Each write
        // runs as its own task, so that the operator finishing first never
        // abandons one halfway through its transaction.
        let housekeeping = async {
            let mut ticker = tokio::time::interval(self.settings.flush);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_renewal = now_ms();
            let lease_ms = millis(self.settings.lease);
            loop {
                ticker.tick().await;
                let renew = now_ms() - last_renewal >= lease_ms / 3;
                let (store, reporter, lease) = (self.store.clone(), reporter.clone(), lease.clone());
                let chores = tokio::spawn(async move {
                    if let Err(err) = reporter.flush(store.as_ref()).await {
                        tracing::warn!(error = %err, "Could not write task logs.");
                    }
                    if renew { Some(store.renew_lease(&lease, now_ms() + lease_ms).await) } else { None }
                });
                match chores.await {
                    Ok(Some(Ok(LeaseState::Held { cancel_requested }))) => {
                        if cancel_requested {
                            cancel.cancel();
                        }
                        last_renewal = now_ms();
                        // Revocation reaches work already running: the
                        // owner's standing is read again at every renewal.
                        if let Err(err) = self.run_access(task).await
                            && err.class == ErrorClass::User
                        {
                            return Outcome::Revoked(err.full_message());
                        }
                    }
                    Ok(Some(Ok(LeaseState::Lost))) => return Outcome::LeaseLost,
                    Ok(Some(Err(err))) => tracing::warn!(error = %err, "Could not renew the task lease."),
                    Ok(None) => {}
                    Err(err) => tracing::warn!(error = %err, "The log and lease chores failed."),
                }
            }
        };
        tokio::pin!(housekeeping);

        let stop = tokio::select! {
            result = &mut run => return Outcome::Done(result),
            () = &mut sleep_for_timeout => Outcome::TimedOut(deadline.unwrap_or_default()),
            () = cancel.cancelled() => Outcome::Cancelled,
            lost = &mut housekeeping => lost,
        };
        // Ask the operator to stop and give it a moment to do so cleanly.
        cancel.cancel();
        let _ = tokio::time::timeout(self.settings.grace, &mut run).await;
        stop
    }

    fn completion_of(&self, task: &ClaimedTask, outcome: Outcome, cache_key: Option<String>, now: i64) -> Completion {
        let retry_or_fail = |error: String, retryable: bool| {
            if retryable && task.lease.attempt < task.max_attempts {
                let exponent = task.lease.attempt.saturating_sub(1).min(20);
                let backoff = task.retry_backoff_ms.saturating_mul(1_i64 << exponent).min(3_600_000);
                Completion::Retry { error, available_at: now + backoff }
            } else {
                Completion::Failed { error }
            }
        };
        match outcome {
            Outcome::Cached(outputs) => match cache_key {
                Some(key) => Completion::Cached { outputs, cache_key: key },
                None => Completion::Succeeded { outputs, cache_key: None },
            },
            Outcome::Done(Ok(outputs)) => match self.missing_output(task, &outputs) {
                Some(missing) => Completion::Failed {
                    error: format!(
                        "operator {} finished without writing its required output {missing:?}; this is a bug in the operator",
                        task.operator
                    ),
                },
                None => Completion::Succeeded { outputs, cache_key },
            },
            Outcome::Done(Err(err)) if err.class == ErrorClass::Cancelled => {
                Completion::Cancelled { error: err.full_message() }
            }
            Outcome::Done(Err(err)) => {
                retry_or_fail(format!("{} error: {}", err.class, err.full_message()), err.retryable)
            }
            Outcome::TimedOut(limit) => retry_or_fail(
                format!(
                    "timed out after {}; raise `timeout` in the pipeline if the task needs longer",
                    humantime::format_duration(limit)
                ),
                true,
            ),
            Outcome::Cancelled => Completion::Cancelled { error: "cancelled while running".to_owned() },
            Outcome::Revoked(reason) => Completion::Failed { error: format!("stopped: {reason}") },
            Outcome::LeaseLost => Completion::Failed {
                error: "lost the task lease (this worker was presumed dead); a newer attempt owns the task".to_owned(),
            },
        }
    }

    fn missing_output(&self, task: &ClaimedTask, outputs: &TaskOutputs) -> Option<String> {
        let operator = self.registry.get(&task.operator)?;
        operator
            .info
            .outputs
            .iter()
            .find(|port| port.required && !outputs.contains_key(&port.name))
            .map(|port| port.name.clone())
    }
}
