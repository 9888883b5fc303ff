//! The coordinator of one run: it watches tasks finish, decides which tasks
//! are ready (or will never run), resolves their inputs, queues them, and
//! records the run's outcome. It never executes a task itself.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use hangar_sdk::{ArtifactRef, TaskOutputs};
use serde_json::Value;

use super::events::Ended;
use super::fanout::{Fanout, Item};
use super::{Engine, EngineError, EngineEvent};
use crate::clock::{millis, now_ms};
use crate::plan::{Plan, PlannedTask, compile};
use crate::spec::expr::{self, Condition, Expr};
use crate::spec::model::Trigger;
use crate::status::{RunStatus, TaskStatus};
use crate::store::{Acquired, Advance, QueueTask, Settle, TaskRecord};

/// A run this process coordinates, as the conductor holds it.
pub(super) struct Coordinated {
    pub run_id: String,
    pub plan: Plan,
    pub states: HashMap<String, TaskState>,
    pub fanouts: HashMap<String, Fanout>,
    pub cancelling: bool,
    /// Positions in `plan.order` that the next look must decide about
    /// besides the dependents of what ended; `None`: every task (the first
    /// look, after a reload, after a mapped task started or ended). A look
    /// at a thousand-task run then costs what ended, not the whole run.
    pub due: Option<BTreeSet<usize>>,
    /// For each task, the positions in `plan.order` of the tasks waiting for it.
    pub dependents: HashMap<String, Vec<usize>>,
    /// Whether the plan has mapped tasks.
    pub mapped: bool,
    /// Marks the run as coordinated here while held.
    pub _guard: super::events::CoordinatingGuard,
    /// Where its outcome goes; closed when nobody waits any more.
    pub done: tokio::sync::oneshot::Sender<Result<RunStatus, EngineError>>,
}

/// What the coordinator knows of one task.
#[derive(Debug, Clone)]
pub(super) struct TaskState {
    status: TaskStatus,
    outputs: Option<TaskOutputs>,
}

/// What to do with a pending task whose upstream tasks all finished.
enum Decision {
    Run,
    Settle(TaskStatus, String),
}

impl Engine {
    /// Coordinates `run_id` until it reaches a final state, and returns it.
    /// Tasks are executed by workers (embedded or remote) meanwhile.
    ///
    /// # Errors
    /// Unknown run, another live coordinator, an invalid stored spec, or a
    /// store failure.
    pub async fn coordinate(&self, run_id: &str) -> Result<RunStatus, EngineError> {
        let run =
            self.store.run(run_id).await?.ok_or_else(|| EngineError::RunNotFound { run_id: run_id.to_owned() })?;
        if run.status.is_terminal() {
            return Ok(run.status);
        }
        // This process's conductor holds it already (an adoption racing a
        // slow look): a second hold would drop the first's wake-ups.
        if self.signals.is_coordinating(run_id) {
            return Err(EngineError::RunBusy { run_id: run_id.to_owned(), holder: self.instance.clone(), seconds: 0 });
        }
        self.follow_changes().await;
        let lease_ms = millis(self.settings.lease);
        loop {
            match self.store.acquire_run(run_id, &self.instance, now_ms(), now_ms() + lease_ms).await? {
                Acquired::Yes => break,
                Acquired::Busy => {
                    let current = self.store.run(run_id).await?;
                    let (holder, expires) = current
                        .map(|r| (r.coordinator.unwrap_or_default(), r.coordinator_expires_at.unwrap_or(0)))
                        .unwrap_or_default();
                    return Err(EngineError::RunBusy {
                        run_id: run_id.to_owned(),
                        holder,
                        seconds: (expires - now_ms()).max(0) / 1000,
                    });
                }
                Acquired::Throttled => {
                    // The pipeline has max_active_runs runs active: wait as pending.
                    let run = self
                        .store
                        .run(run_id)
                        .await?
                        .ok_or_else(|| EngineError::RunNotFound { run_id: run_id.to_owned() })?;
                    if run.cancel_requested || self.signals.cancel_requested_here(run_id) {
                        self.store
                            .finish_run(
                                run_id,
                                RunStatus::Cancelled,
                                Some("cancelled while waiting for a run slot"),
                                now_ms(),
                            )
                            .await?;
                        self.signals
                            .emit(EngineEvent::RunFinished { run_id: run_id.to_owned(), status: RunStatus::Cancelled });
                        return Ok(RunStatus::Cancelled);
                    }
                    tokio::time::sleep(self.settings.poll * 4).await;
                }
            }
        }
        let guard = self.signals.coordinating(run_id);
        let plan = self.stored_plan(&run.id, &run.spec_path, &run.spec_text, &run.params)?;
        self.signals.emit(EngineEvent::RunStarted {
            run_id: run_id.to_owned(),
            pipeline: plan.spec.name.clone(),
            tasks: plan.tasks.len(),
        });
        let states: HashMap<String, TaskState> = self
            .store
            .tasks(run_id)
            .await?
            .into_iter()
            .map(|t| (t.task_id.clone(), TaskState { status: t.status, outputs: t.outputs }))
            .collect();
        let (done, outcome) = tokio::sync::oneshot::channel();
        let dependents = dependents_of(&plan);
        let plan_is_mapped = plan.tasks.values().any(|task| task.map.is_some());
        self.conduct(Coordinated {
            run_id: run_id.to_owned(),
            plan,
            states,
            fanouts: HashMap::new(),
            cancelling: run.cancel_requested,
            due: None,
            mapped: plan_is_mapped,
            dependents,
            _guard: guard,
            done,
        });
        outcome.await.unwrap_or_else(|_| Err(EngineError::LeaseLost { run_id: run_id.to_owned() }))
    }

    /// One look at a run the conductor holds: absorbs its ended tasks
    /// (`finished`, read for many runs at once; `handed`, over from this
    /// process's workers), decides what is ready,
    /// expands and settles mapped tasks, and fills `step` for the store.
    /// Returns whether the run should be looked at again at once.
    pub(super) async fn look(
        &self,
        run: &mut Coordinated,
        finished: Vec<TaskRecord>,
        handed: Vec<Ended>,
        step: &mut Advance,
    ) -> bool {
        let mut ended: Vec<String> = Vec::with_capacity(handed.len() + finished.len());
        // Ended here: their worker announced them already.
        for task in handed {
            ended.push(task.task_id.clone());
            run.states.insert(task.task_id, TaskState { status: task.status, outputs: task.outputs });
        }
        for task in finished {
            ended.push(task.task_id.clone());
            if !self.signals.take_finished_here(&run.run_id, &task.task_id, task.attempt) {
                self.announce_remote_finish(&task);
            }
            absorb(&mut run.states, task);
        }
        run.cancelling = run.cancelling || self.signals.cancel_requested_here(&run.run_id);
        // Only the dependents of what ended can have become ready, unless
        // everything must be looked at (see `Coordinated::due`).
        let only = match run.due.take() {
            Some(mut due) if !run.cancelling => {
                for id in &ended {
                    if let Some(waiting) = run.dependents.get(id) {
                        due.extend(waiting);
                    }
                }
                Some(due)
            }
            _ => None,
        };
        let mut ready_maps = Vec::new();
        self.decide(&run.plan, &mut run.states, run.cancelling, step, &mut ready_maps, only, &run.dependents);
        // A run without mapped tasks has no instances either.
        let again = run.mapped
            && self
                .step_maps(&run.run_id, &run.plan, &mut run.states, &mut run.fanouts, ready_maps, run.cancelling, step)
                .await;
        // A mapped task that started or ended changes what is ready in ways
        // its ends do not show: the next look decides about every task.
        run.due = if again { None } else { Some(BTreeSet::new()) };
        again
    }

    /// After the store applied `step`: tells listeners and workers, and if
    /// every task has ended records the run's outcome and returns it.
    pub(super) async fn after_step(&self, run: &Coordinated, step: &Advance) -> Result<Option<RunStatus>, EngineError> {
        let run_id = run.run_id.as_str();
        for task in &step.queue {
            self.signals.emit(EngineEvent::TaskQueued { run_id: run_id.to_owned(), task_id: task.task_id.clone() });
        }
        for settled in &step.settle {
            self.signals.emit(EngineEvent::TaskFinished {
                run_id: run_id.to_owned(),
                task_id: settled.task_id.clone(),
                status: settled.status,
                attempt: 0,
                error: settled.error.clone(),
                retry_at: None,
            });
        }
        if !run.states.values().all(|s| s.status.is_terminal()) {
            return Ok(None);
        }
        let status = final_status(&run.states, run.cancelling);
        let error = failed_summary(&run.states);
        self.store.finish_run(run_id, status, error.as_deref(), now_ms()).await?;
        self.signals.emit(EngineEvent::RunFinished { run_id: run_id.to_owned(), status });
        tracing::info!(run = %run_id, status = %status, "Run finished.");
        Ok(Some(status))
    }

    /// A worker in another process finished this task: tell local listeners,
    /// who saw nothing of it so far.
    fn announce_remote_finish(&self, task: &TaskRecord) {
        if task.status == TaskStatus::Queued || task.status == TaskStatus::Pending {
            return;
        }
        self.signals.emit(EngineEvent::TaskFinished {
            run_id: task.run_id.clone(),
            task_id: task.task_id.clone(),
            status: task.status,
            attempt: task.attempt,
            error: task.error.clone(),
            retry_at: None,
        });
    }

    /// Recompiles the spec text stored with a run, with its bound params.
    fn stored_plan(&self, run_id: &str, path: &str, text: &str, params: &Value) -> Result<Plan, EngineError> {
        compile(path, text, &self.registry, &super::params_as_overrides(params))
            .map_err(|diagnostics| EngineError::StoredSpecInvalid { run_id: run_id.to_owned(), diagnostics })
    }

    /// Expands the mapped tasks that became ready (and those an earlier
    /// coordinator of this run expanded), queues and settles instances, and
    /// settles mapped tasks whose instances all ended. Returns whether a
    /// mapped task started or ended, so that the caller looks again at once.
    #[allow(clippy::too_many_arguments)]
    async fn step_maps(
        &self,
        run_id: &str,
        plan: &Plan,
        states: &mut HashMap<String, TaskState>,
        fanouts: &mut HashMap<String, Fanout>,
        mut ready: Vec<String>,
        cancelling: bool,
        step: &mut Advance,
    ) -> bool {
        let mut changed = false;
        for (id, task) in &plan.tasks {
            let running = states.get(id).is_some_and(|s| s.status == TaskStatus::Running);
            if task.map.is_some() && running && !fanouts.contains_key(id) && !ready.contains(id) {
                ready.push(id.clone());
            }
        }
        for id in ready {
            let Some(task) = plan.tasks.get(&id) else { continue };
            let expanded = {
                let snapshot: &HashMap<String, TaskState> = states;
                let upstream = |up: &str, output: &str| {
                    snapshot.get(up).and_then(|s| s.outputs.as_ref()).and_then(|o| o.get(output)).cloned()
                };
                let resolver = |task: &PlannedTask, item: &Item| resolve(task, snapshot, Some(item));
                self.expand(run_id, plan, task, &upstream, &resolver).await
            };
            changed = true;
            match expanded {
                Ok(fanout) => {
                    tracing::info!(run = %run_id, task = %id, instances = fanout.instances.len(), "Mapped task expanded.");
                    for instance in &fanout.instances {
                        states
                            .entry(instance.id.clone())
                            .or_insert(TaskState { status: TaskStatus::Pending, outputs: None });
                    }
                    if let Some(state) = states.get_mut(&id) {
                        state.status = TaskStatus::Running;
                    }
                    fanouts.insert(id, fanout);
                }
                Err(reason) => settle(states, step, &id, TaskStatus::Failed, &reason),
            }
        }
        for id in &plan.order {
            let (Some(fanout), Some(task)) = (fanouts.get(id), plan.tasks.get(id)) else { continue };
            if states.get(id).is_none_or(|s| s.status != TaskStatus::Running) {
                continue;
            }
            let statuses: HashMap<String, TaskStatus> =
                fanout.instances.iter().filter_map(|i| states.get(&i.id).map(|s| (i.id.clone(), s.status))).collect();
            let outputs = |instance: &str| states.get(instance).and_then(|s| s.outputs.clone());
            let (queued_before, settled_before) = (step.queue.len(), step.settle.len());
            let settled = self.step_fanout(run_id, task, fanout, &statuses, &outputs, cancelling, step).await;
            for queued in &step.queue[queued_before..] {
                if let Some(state) = states.get_mut(&queued.task_id) {
                    state.status = TaskStatus::Queued;
                }
            }
            // A queued instance may be running already: it comes back through
            // the store when it has really ended.
            for instance in &step.settle[settled_before..] {
                if let Some(state) = states.get_mut(&instance.task_id)
                    && state.status == TaskStatus::Pending
                {
                    state.status = instance.status;
                }
            }
            if let Some(status) = settled {
                let outputs = step.settle.last().and_then(|s| s.outputs.clone());
                states.insert(id.clone(), TaskState { status, outputs });
                changed = true;
            }
        }
        settle_orphaned_instances(plan, states, step);
        changed
    }

    /// Walks pending tasks in topological order, so that a task settled as
    /// `upstream_failed` cascades to its dependents within one step: every
    /// task, or only those at positions `only` of `plan.order` (the
    /// dependents of tasks that ended) and the dependents of any it settles.
    /// Mapped tasks that are ready go to `ready_maps` instead of the queue.
    #[allow(clippy::too_many_arguments)]
    fn decide(
        &self,
        plan: &Plan,
        states: &mut HashMap<String, TaskState>,
        cancelling: bool,
        step: &mut Advance,
        ready_maps: &mut Vec<String>,
        only: Option<BTreeSet<usize>>,
        dependents: &HashMap<String, Vec<usize>>,
    ) {
        let Some(mut due) = only else {
            for id in &plan.order {
                self.decide_task(plan, id, states, cancelling, step, ready_maps);
            }
            return;
        };
        while let Some(position) = due.pop_first() {
            let Some(id) = plan.order.get(position) else { continue };
            if self.decide_task(plan, id, states, cancelling, step, ready_maps)
                && let Some(waiting) = dependents.get(id)
            {
                due.extend(waiting);
            }
        }
    }

    /// Decides about one task if it is pending; returns whether it was settled.
    fn decide_task(
        &self,
        plan: &Plan,
        id: &String,
        states: &mut HashMap<String, TaskState>,
        cancelling: bool,
        step: &mut Advance,
        ready_maps: &mut Vec<String>,
    ) -> bool {
        {
            let Some(task) = plan.tasks.get(id) else {
                return false;
            };
            let status = states.get(id).map(|s| s.status).unwrap_or(TaskStatus::Pending);
            if cancelling {
                const REASON: &str = "the run was cancelled before this task started";
                match status {
                    TaskStatus::Pending => settle(states, step, id, TaskStatus::Cancelled, REASON),
                    // A queued task may be claimed at this very moment: the
                    // store settles it only if still queued and hands the
                    // outcome back as a finished task either way.
                    TaskStatus::Queued => step.settle.push(Settle {
                        task_id: id.clone(),
                        status: TaskStatus::Cancelled,
                        error: Some(REASON.to_owned()),
                        outputs: None,
                    }),
                    _ => {}
                }
                return false;
            }
            if status != TaskStatus::Pending {
                return false;
            }
            let deps: Vec<TaskStatus> =
                task.deps.iter().map(|d| states.get(d).map(|s| s.status).unwrap_or(TaskStatus::Pending)).collect();
            if deps.iter().any(|s| !s.is_terminal()) {
                return false;
            }
            let decision = match (trigger_decision(task.trigger, &deps), &task.condition) {
                (Decision::Run, Some(condition)) => condition_decision(condition, states),
                (decision, _) => decision,
            };
            match decision {
                Decision::Settle(status, reason) => {
                    settle(states, step, id, status, &reason);
                    true
                }
                Decision::Run if task.map.is_some() => {
                    ready_maps.push(id.clone());
                    false
                }
                Decision::Run => match resolve(task, states, None) {
                    Ok((config, inputs)) => {
                        step.queue.push(QueueTask { task_id: id.clone(), config, inputs, cache_key: None });
                        if let Some(state) = states.get_mut(id) {
                            state.status = TaskStatus::Queued;
                        }
                        false
                    }
                    Err(reason) => {
                        settle(states, step, id, TaskStatus::UpstreamFailed, &reason);
                        true
                    }
                },
            }
        }
    }
}

/// For each task, the positions in `plan.order` of the tasks that wait for it.
fn dependents_of(plan: &Plan) -> HashMap<String, Vec<usize>> {
    let mut dependents: HashMap<String, Vec<usize>> = HashMap::new();
    for (position, id) in plan.order.iter().enumerate() {
        for dep in plan.tasks.get(id).map(|t| t.deps.as_slice()).unwrap_or_default() {
            dependents.entry(dep.clone()).or_default().push(position);
        }
    }
    dependents
}

/// Instances left waiting by a mapped task that ended without them (resumed,
/// then cancelled, skipped or failed to list its items again) end with it,
/// or the run would wait for them forever.
fn settle_orphaned_instances(plan: &Plan, states: &mut HashMap<String, TaskState>, step: &mut Advance) {
    let waiting: Vec<(String, TaskStatus, TaskStatus)> = states
        .iter()
        .filter(|(_, s)| matches!(s.status, TaskStatus::Pending | TaskStatus::Queued))
        .filter_map(|(id, s)| {
            let (parent, _) = crate::plan::parse_instance_id(id)?;
            plan.tasks.get(parent)?.map.as_ref()?;
            let ended = states.get(parent).map(|p| p.status).filter(|p| p.is_terminal())?;
            Some((id.clone(), s.status, ended))
        })
        .collect();
    for (id, status, parent) in waiting {
        let (settled, reason) = match parent {
            TaskStatus::Cancelled => (TaskStatus::Cancelled, "its mapped task was cancelled"),
            TaskStatus::Skipped => (TaskStatus::Skipped, "its mapped task was skipped"),
            _ => (TaskStatus::UpstreamFailed, "its mapped task ended without it"),
        };
        step.settle.push(Settle {
            task_id: id.clone(),
            status: settled,
            error: Some(reason.to_owned()),
            outputs: None,
        });
        if status == TaskStatus::Pending
            && let Some(state) = states.get_mut(&id)
        {
            state.status = settled;
        }
    }
}

impl TaskState {
    pub(super) fn of(task: TaskRecord) -> Self {
        Self { status: task.status, outputs: task.outputs }
    }
}

fn absorb(states: &mut HashMap<String, TaskState>, task: TaskRecord) {
    states.insert(task.task_id.clone(), TaskState::of(task));
}

fn settle(states: &mut HashMap<String, TaskState>, step: &mut Advance, id: &str, status: TaskStatus, reason: &str) {
    step.settle.push(Settle { task_id: id.to_owned(), status, error: Some(reason.to_owned()), outputs: None });
    if let Some(state) = states.get_mut(id) {
        state.status = status;
    }
}

fn trigger_decision(trigger: Trigger, deps: &[TaskStatus]) -> Decision {
    let any_failed = deps.iter().any(|s| s.is_failure());
    match trigger {
        Trigger::AllDone => Decision::Run,
        Trigger::OneFailed if any_failed => Decision::Run,
        Trigger::OneFailed => {
            Decision::Settle(TaskStatus::Skipped, "trigger one_failed: no upstream task failed".to_owned())
        }
        Trigger::AllSuccess if deps.iter().all(|s| s.produced_outputs()) => Decision::Run,
        Trigger::AllSuccess if any_failed => {
            Decision::Settle(TaskStatus::UpstreamFailed, "an upstream task failed".to_owned())
        }
        Trigger::AllSuccess if deps.contains(&TaskStatus::Cancelled) => {
            Decision::Settle(TaskStatus::Cancelled, "an upstream task was cancelled".to_owned())
        }
        Trigger::AllSuccess => Decision::Settle(TaskStatus::Skipped, "an upstream task was skipped".to_owned()),
    }
}

/// `if:`: run when the upstream output's value holds, else skip (saying why).
fn condition_decision(condition: &Condition, states: &HashMap<String, TaskState>) -> Decision {
    let value = states
        .get(&condition.task)
        .and_then(|s| s.outputs.as_ref())
        .and_then(|o| o.get(&condition.output))
        .and_then(|artifact| artifact.values.get(&condition.key));
    if condition.holds(value) {
        return Decision::Run;
    }
    let seen = value.map_or_else(|| "not set".to_owned(), |v| format!("{v}"));
    Decision::Settle(TaskStatus::Skipped, format!("if: {condition} does not hold ({} is {seen})", condition.key))
}

/// Replaces output references in the task's config with the artifacts'
/// URIs and collects the artifacts bound to input ports.
fn resolve(
    task: &PlannedTask,
    states: &HashMap<String, TaskState>,
    item: Option<&Item>,
) -> Result<(Value, BTreeMap<String, ArtifactRef>), String> {
    let lookup = |up: &str, output: &str| -> Result<ArtifactRef, String> {
        states.get(up).and_then(|s| s.outputs.as_ref()).and_then(|o| o.get(output)).cloned().ok_or_else(|| {
            format!("tasks.{up}.outputs.{output} was not produced (task {up} did not succeed or did not write it)")
        })
    };
    let mut inputs = BTreeMap::new();
    for binding in &task.bindings {
        inputs.insert(binding.port.clone(), lookup(&binding.task, &binding.output)?);
    }
    if let (Some(Item::Artifact(artifact)), Some(port)) = (item, task.map.as_ref().and_then(|m| m.item_port.as_ref())) {
        inputs.insert(port.clone(), artifact.clone());
    }
    let config = resolve_value(&task.with, &lookup, item)?;
    Ok((config, inputs))
}

fn resolve_value(
    value: &Value,
    lookup: &dyn Fn(&str, &str) -> Result<ArtifactRef, String>,
    item: Option<&Item>,
) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) if item.is_some() && expr::whole(text) == Some(Expr::Item) => {
            item.map(Item::whole).unwrap_or_default()
        }
        Value::String(text) if text.contains("${{") => {
            let found = expr::scan(text).map_err(|e| e.to_string())?;
            let mut failure = None;
            let replaced = expr::substitute(text, &found, |e| match e {
                Expr::Output { task, output } => match lookup(task, output) {
                    Ok(artifact) => artifact.uri,
                    Err(err) => {
                        failure = Some(err);
                        String::new()
                    }
                },
                Expr::Param(_) => String::new(),
                Expr::Item => item.map(Item::text).unwrap_or_default(),
            });
            if let Some(err) = failure {
                return Err(err);
            }
            Value::String(replaced)
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| resolve_value(v, lookup, item)).collect::<Result<_, _>>()?)
        }
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| Ok((k.clone(), resolve_value(v, lookup, item)?))).collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

fn final_status(states: &HashMap<String, TaskState>, cancelled: bool) -> RunStatus {
    if cancelled {
        RunStatus::Cancelled
    } else if states.values().any(|s| s.status.is_failure()) {
        RunStatus::Failed
    } else if states.values().any(|s| s.status == TaskStatus::Cancelled) {
        RunStatus::Cancelled
    } else {
        RunStatus::Succeeded
    }
}

fn failed_summary(states: &HashMap<String, TaskState>) -> Option<String> {
    let mut failed: Vec<&String> =
        states.iter().filter(|(_, s)| s.status == TaskStatus::Failed).map(|(id, _)| id).collect();
    failed.sort();
    (!failed.is_empty())
        .then(|| format!("failed tasks: {}", failed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_success_propagates_failure_and_skips() {
        assert!(matches!(
            trigger_decision(Trigger::AllSuccess, &[TaskStatus::Succeeded, TaskStatus::Cached]),
            Decision::Run
        ));
        assert!(matches!(
            trigger_decision(Trigger::AllSuccess, &[TaskStatus::Succeeded, TaskStatus::Failed]),
            Decision::Settle(TaskStatus::UpstreamFailed, _)
        ));
        assert!(matches!(
            trigger_decision(Trigger::AllSuccess, &[TaskStatus::Skipped]),
            Decision::Settle(TaskStatus::Skipped, _)
        ));
    }

    #[test]
    fn all_done_always_runs_and_one_failed_needs_a_failure() {
        assert!(matches!(trigger_decision(Trigger::AllDone, &[TaskStatus::Failed]), Decision::Run));
        assert!(matches!(trigger_decision(Trigger::OneFailed, &[TaskStatus::UpstreamFailed]), Decision::Run));
        assert!(matches!(
            trigger_decision(Trigger::OneFailed, &[TaskStatus::Succeeded]),
            Decision::Settle(TaskStatus::Skipped, _)
        ));
    }
}
