//! `map:`: a task that runs once per item. When it is ready the coordinator
//! lists its items, adds one real task per item (`ID[0]`, `ID[1]`, …: own
//! attempts, retries, logs and cache key), queues them as `max_parallel`
//! allows, and when all have ended settles the task itself, with outputs
//! that are collections of the instances' outputs (listed, never copied).

use std::collections::{BTreeMap, HashMap};

use hangar_sdk::{ArtifactKind, ArtifactRef, TaskOutputs};
use serde_json::Value;

use super::Engine;
use crate::clock::millis;
use crate::plan::{MapSource, Plan, PlannedTask, instance_id};
use crate::status::TaskStatus;
use crate::store::{Advance, NewTask, QueueTask, Settle};

/// The most instances one mapped task may have: each is a row in the
/// database and a task in the queue that every account shares.
pub(crate) const MAX_INSTANCES: usize = 10_000;

/// One instance's work, resolved when the items were listed.
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    pub id: String,
    pub config: Value,
    pub inputs: BTreeMap<String, ArtifactRef>,
}

/// A mapped task whose instances exist.
#[derive(Debug, Clone)]
pub(crate) struct Fanout {
    pub instances: Vec<Instance>,
    pub max_parallel: Option<u32>,
}

/// Gives one instance's config and inputs for its item.
pub(crate) type Resolver<'a> =
    dyn Fn(&PlannedTask, &Item) -> Result<(Value, BTreeMap<String, ArtifactRef>), String> + Sync + 'a;

/// What `${{ item }}` stands for in one instance.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    Value(Value),
    Artifact(ArtifactRef),
}

impl Item {
    /// The text that replaces `${{ item }}` inside a longer string.
    pub(super) fn text(&self) -> String {
        match self {
            Item::Value(Value::String(s)) => s.clone(),
            Item::Value(other) => other.to_string(),
            Item::Artifact(artifact) => artifact.uri.clone(),
        }
    }

    /// What a field that is only `${{ item }}` becomes (a value keeps its type).
    pub(super) fn whole(&self) -> Value {
        match self {
            Item::Value(value) => value.clone(),
            Item::Artifact(artifact) => Value::String(artifact.uri.clone()),
        }
    }
}

/// The state of every instance of a mapped task, counted.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    pending: Vec<usize>,
    active: usize,
    done: usize,
    failed: Vec<String>,
    cancelled: usize,
    skipped: usize,
}

impl Engine {
    /// Lists the items of mapped task `task`, adds its instances to the run
    /// (those an earlier coordinator added stay as they are) and returns
    /// their work. `resolve` gives an instance's config and inputs.
    ///
    /// # Errors
    /// Why the items cannot be listed: it fails the task.
    pub(super) async fn expand(
        &self,
        run_id: &str,
        plan: &Plan,
        task: &PlannedTask,
        upstream: &(dyn Fn(&str, &str) -> Option<ArtifactRef> + Sync),
        resolve: &Resolver<'_>,
    ) -> Result<Fanout, String> {
        let Some(map) = &task.map else {
            return Err(format!("task {} has no `map:`", task.id));
        };
        let items: Vec<Item> = match &map.source {
            MapSource::Values(values) => values.iter().cloned().map(Item::Value).collect(),
            MapSource::Output { task: up, output } => {
                let artifact = upstream(up, output).ok_or_else(|| {
                    format!("tasks.{up}.outputs.{output} was not produced, so there is nothing to map over")
                })?;
                hangar_sdk::artifact_files(&self.artifacts, &artifact)
                    .await
                    .map_err(|e| format!("cannot list the items of tasks.{up}.outputs.{output}: {e}"))?
                    .into_iter()
                    .map(Item::Artifact)
                    .collect()
            }
        };
        if items.len() > MAX_INSTANCES {
            return Err(format!(
                "{} items, more than the {MAX_INSTANCES} instances a mapped task may have; use larger shards or fewer items",
                items.len()
            ));
        }
        let mut instances = Vec::with_capacity(items.len());
        let mut rows = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let id = instance_id(&task.id, index);
            let (config, inputs) = resolve(task, item).map_err(|e| format!("{id}: {e}"))?;
            rows.push(NewTask {
                task_id: id.clone(),
                position: task.position,
                operator: task.operator.clone(),
                retries: task.max_attempts.saturating_sub(1),
                max_lost_attempts: task.max_lost_attempts,
                resources: task.resources,
                retry_backoff_ms: millis(task.retry_backoff),
                timeout_ms: task.timeout.map(millis),
                seed: super::task_seed(plan.spec.seed, &id),
                runs_on: task.runs_on.clone(),
                pool: task.pool.clone(),
                cache: task.cache,
            });
            instances.push(Instance { id, config, inputs });
        }
        self.store
            .expand(run_id, &task.id, &rows, crate::clock::now_ms())
            .await
            .map_err(|e| format!("cannot add the instances: {e}"))?;
        Ok(Fanout { instances, max_parallel: map.max_parallel })
    }

    /// Queues the instances `max_parallel` allows, cancels those not started
    /// when the run is cancelled, and once every instance has ended settles
    /// the mapped task (with its collections when all succeeded). Returns
    /// whether the mapped task was settled.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn step_fanout(
        &self,
        run_id: &str,
        task: &PlannedTask,
        fanout: &Fanout,
        statuses: &HashMap<String, TaskStatus>,
        outputs: &(dyn Fn(&str) -> Option<TaskOutputs> + Sync),
        cancelling: bool,
        step: &mut Advance,
    ) -> Option<TaskStatus> {
        let tally = tally(fanout, statuses);
        if cancelling {
            for instance in &fanout.instances {
                if matches!(statuses.get(&instance.id), Some(TaskStatus::Pending | TaskStatus::Queued)) {
                    step.settle.push(Settle {
                        task_id: instance.id.clone(),
                        status: TaskStatus::Cancelled,
                        error: Some("the run was cancelled before this task started".to_owned()),
                        outputs: None,
                    });
                }
            }
            if tally.active > 0 {
                return None;
            }
        } else {
            let room = fanout.max_parallel.map_or(usize::MAX, |n| n as usize).saturating_sub(tally.active);
            for &index in tally.pending.iter().take(room) {
                let instance = &fanout.instances[index];
                step.queue.push(QueueTask {
                    task_id: instance.id.clone(),
                    config: instance.config.clone(),
                    inputs: instance.inputs.clone(),
                    cache_key: None,
                });
            }
            if !tally.pending.is_empty() || tally.active > 0 {
                return None;
            }
        }
        let total = fanout.instances.len();
        let (status, error, collected) = if !tally.failed.is_empty() {
            let mut named = tally.failed.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
            if tally.failed.len() > 10 {
                named.push_str(", …");
            }
            let error = format!(
                "{} of {total} instances failed ({named}); see their logs, then `hangar resume` reruns only those",
                tally.failed.len()
            );
            (TaskStatus::Failed, Some(error), None)
        } else if cancelling || tally.cancelled > 0 {
            (TaskStatus::Cancelled, Some(format!("{} of {total} instances were cancelled", tally.cancelled)), None)
        } else {
            match self.collect(run_id, task, fanout, outputs).await {
                Ok(collected) => (TaskStatus::Succeeded, None, Some(collected)),
                Err(err) => (TaskStatus::Failed, Some(err), None),
            }
        };
        step.settle.push(Settle { task_id: task.id.clone(), status, error, outputs: collected });
        Some(status)
    }

    /// One collection per output the instances wrote: a folder artifact of
    /// the same kind whose manifest lists the instances' files in order.
    async fn collect(
        &self,
        run_id: &str,
        task: &PlannedTask,
        fanout: &Fanout,
        outputs: &(dyn Fn(&str) -> Option<TaskOutputs> + Sync),
    ) -> Result<TaskOutputs, String> {
        let mut by_output: BTreeMap<String, (ArtifactKind, Vec<(String, ArtifactRef)>)> = BTreeMap::new();
        // A mapped task with no items still hands its declared outputs on, empty.
        if let Some(op) = self.registry.get(&task.operator) {
            for port in op.info.outputs.iter().filter(|p| p.required) {
                by_output.insert(port.name.clone(), (port.kind, Vec::new()));
            }
        }
        let width = fanout.instances.len().saturating_sub(1).to_string().len().max(5);
        for (index, instance) in fanout.instances.iter().enumerate() {
            let produced = outputs(&instance.id).unwrap_or_default();
            for (name, artifact) in produced {
                let files = hangar_sdk::artifact_files(&self.artifacts, &artifact)
                    .await
                    .map_err(|e| format!("cannot list the files of {}.outputs.{name}: {e}", instance.id))?;
                let entry = by_output.entry(name).or_insert_with(|| (artifact.kind, Vec::new()));
                let folder = format!("{}/", artifact.key.trim_end_matches('/'));
                for file in files {
                    let relative = match file.key.strip_prefix(&folder) {
                        Some(inside) if artifact.dir => inside.to_owned(),
                        _ => file.key.rsplit('/').next().unwrap_or("part").to_owned(),
                    };
                    entry.1.push((format!("{index:0width$}/{relative}"), file));
                }
            }
        }
        let mut collected = TaskOutputs::new();
        for (name, (kind, files)) in by_output {
            let prefix = format!("runs/{run_id}/{}/collection/{name}", task.id);
            let mut artifact = hangar_sdk::put_collection(&self.artifacts, &prefix, kind, &files)
                .await
                .map_err(|e| format!("cannot write the collection of outputs.{name}: {e}"))?;
            artifact.values.insert("instances".to_owned(), Value::from(fanout.instances.len()));
            artifact.values.insert("files".to_owned(), Value::from(files.len()));
            collected.insert(name, artifact);
        }
        Ok(collected)
    }
}

fn tally(fanout: &Fanout, statuses: &HashMap<String, TaskStatus>) -> Tally {
    let mut tally = Tally::default();
    for (index, instance) in fanout.instances.iter().enumerate() {
        match statuses.get(&instance.id).copied().unwrap_or(TaskStatus::Pending) {
            TaskStatus::Pending => tally.pending.push(index),
            TaskStatus::Queued | TaskStatus::Running => tally.active += 1,
            TaskStatus::Succeeded | TaskStatus::Cached => tally.done += 1,
            TaskStatus::Failed | TaskStatus::UpstreamFailed => tally.failed.push(instance.id.clone()),
            TaskStatus::Cancelled => tally.cancelled += 1,
            TaskStatus::Skipped => tally.skipped += 1,
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fanout(n: usize, max_parallel: Option<u32>) -> Fanout {
        Fanout {
            instances: (0..n)
                .map(|i| Instance { id: instance_id("t", i), config: Value::Null, inputs: BTreeMap::new() })
                .collect(),
            max_parallel,
        }
    }

    #[test]
    fn tally_counts_every_instance_once() {
        let f = fanout(5, Some(2));
        let statuses: HashMap<String, TaskStatus> = [
            ("t[0]", TaskStatus::Succeeded),
            ("t[1]", TaskStatus::Running),
            ("t[2]", TaskStatus::Failed),
            ("t[3]", TaskStatus::Cached),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let t = tally(&f, &statuses);
        assert_eq!(t.pending, vec![4]);
        assert_eq!((t.active, t.done, t.failed.len()), (1, 2, 1));
    }

    #[test]
    fn items_replace_whole_fields_with_their_value_and_text_inside_strings() {
        let item = Item::Value(serde_json::json!(3));
        assert_eq!(item.whole(), serde_json::json!(3));
        assert_eq!(item.text(), "3");
        let item = Item::Value(serde_json::json!("a.md"));
        assert_eq!(item.text(), "a.md");
    }
}
