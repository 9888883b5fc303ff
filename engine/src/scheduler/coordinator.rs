//! The coordinator of one run: it watches tasks finish, decides which tasks
//! are ready (or will never run), resolves their inputs, queues them, and
//! records the run's outcome. It never executes a task itself.

use std::collections::{BTreeMap, HashMap};

use hangar_sdk::{ArtifactRef, TaskOutputs};
use serde_json::Value;

use super::{Engine, EngineError, EngineEvent};
use crate::clock::{millis, now_ms};
use crate::plan::{Plan, PlannedTask, compile};
use crate::spec::expr::{self, Condition, Expr};
use crate::spec::model::Trigger;
use crate::status::{RunStatus, TaskStatus};
use crate::store::{Acquired, Advance, QueueTask, Settle, TaskRecord};

/// What the coordinator knows of one task.
#[derive(Debug, Clone)]
struct TaskState {
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
        let coordinating = self.signals.coordinating(run_id);
        let plan = self.stored_plan(&run.id, &run.spec_path, &run.spec_text, &run.params)?;
        self.signals.emit(EngineEvent::RunStarted {
            run_id: run_id.to_owned(),
            pipeline: plan.spec.name.clone(),
            tasks: plan.tasks.len(),
        });

        let mut states: HashMap<String, TaskState> = self
            .store
            .tasks(run_id)
            .await?
            .into_iter()
            .map(|t| (t.task_id.clone(), TaskState { status: t.status, outputs: t.outputs }))
            .collect();
        let mut last_renewal = now_ms();
        let mut last_cancel_check = 0;
        let mut cancelling = run.cancel_requested;
        loop {
            // Listen before looking, so a task finishing in between still wakes us.
            let finished = self.signals.finished.notified();
            tokio::pin!(finished);
            finished.as_mut().enable();
            let mine = coordinating.waker.notified();
            tokio::pin!(mine);
            mine.as_mut().enable();

            let mut step = Advance::default();
            for task in self.store.unacked(run_id).await? {
                step.acked.push(task.task_id.clone());
                if !self.signals.take_finished_here(run_id, &task.task_id, task.attempt) {
                    self.announce_remote_finish(&task);
                }
                absorb(&mut states, task);
            }
            // A cancellation from this process is seen at once; one from
            // elsewhere (the API, another CLI) within a poll interval.
            cancelling = cancelling || self.signals.cancel_requested_here(run_id);
            if !cancelling && now_ms() - last_cancel_check >= millis(self.coordinator_poll()) {
                last_cancel_check = now_ms();
                cancelling = self
                    .store
                    .run(run_id)
                    .await?
                    .ok_or_else(|| EngineError::RunNotFound { run_id: run_id.to_owned() })?
                    .cancel_requested;
            }
            self.decide(&plan, &mut states, cancelling, &mut step);
            let queued = step.queue.len();
            self.store.advance(run_id, &step, now_ms()).await?;
            for task in &step.queue {
                self.signals.emit(EngineEvent::TaskQueued { run_id: run_id.to_owned(), task_id: task.task_id.clone() });
            }
            // Woken after the events so that listeners see `queued` before a
            // local worker's `started`.
            if queued > 0 {
                self.signals.work.notify_waiters();
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

            if states.values().all(|s| s.status.is_terminal()) {
                let status = final_status(&states, cancelling);
                let error = failed_summary(&states);
                self.store.finish_run(run_id, status, error.as_deref(), now_ms()).await?;
                self.signals.emit(EngineEvent::RunFinished { run_id: run_id.to_owned(), status });
                tracing::info!(run = %run_id, status = %status, "Run finished.");
                return Ok(status);
            }

            tokio::select! {
                // Perhaps a cancellation announced by another process: look now.
                () = &mut mine => last_cancel_check = 0,
                () = &mut finished => {}
                () = tokio::time::sleep(self.coordinator_poll()) => {}
            }
            if now_ms() - last_renewal > lease_ms / 3 {
                if !self.store.renew_run(run_id, &self.instance, now_ms() + lease_ms).await? {
                    return Err(EngineError::LeaseLost { run_id: run_id.to_owned() });
                }
                self.store.reap_expired(now_ms()).await?;
                last_renewal = now_ms();
            }
        }
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

    /// Walks pending tasks in topological order, so that a task settled as
    /// `upstream_failed` cascades to its dependents within one step.
    fn decide(&self, plan: &Plan, states: &mut HashMap<String, TaskState>, cancelling: bool, step: &mut Advance) {
        for id in &plan.order {
            let Some(task) = plan.tasks.get(id) else {
                continue;
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
                continue;
            }
            if status != TaskStatus::Pending {
                continue;
            }
            let deps: Vec<TaskStatus> =
                task.deps.iter().map(|d| states.get(d).map(|s| s.status).unwrap_or(TaskStatus::Pending)).collect();
            if deps.iter().any(|s| !s.is_terminal()) {
                continue;
            }
            let decision = match (trigger_decision(task.trigger, &deps), &task.condition) {
                (Decision::Run, Some(condition)) => condition_decision(condition, states),
                (decision, _) => decision,
            };
            match decision {
                Decision::Settle(status, reason) => settle(states, step, id, status, &reason),
                Decision::Run => match resolve(task, states) {
                    Ok((config, inputs)) => {
                        step.queue.push(QueueTask { task_id: id.clone(), config, inputs, cache_key: None });
                        if let Some(state) = states.get_mut(id) {
                            state.status = TaskStatus::Queued;
                        }
                    }
                    Err(reason) => settle(states, step, id, TaskStatus::UpstreamFailed, &reason),
                },
            }
        }
    }
}

fn absorb(states: &mut HashMap<String, TaskState>, task: TaskRecord) {
    states.insert(task.task_id, TaskState { status: task.status, outputs: task.outputs });
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
    let config = resolve_value(&task.with, &lookup)?;
    Ok((config, inputs))
}

fn resolve_value(value: &Value, lookup: &dyn Fn(&str, &str) -> Result<ArtifactRef, String>) -> Result<Value, String> {
    Ok(match value {
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
            });
            if let Some(err) = failure {
                return Err(err);
            }
            Value::String(replaced)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve_value(v, lookup)).collect::<Result<_, _>>()?),
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| Ok((k.clone(), resolve_value(v, lookup)?))).collect::<Result<_, String>>()?,
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
