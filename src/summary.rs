//! What a finished (or in-flight) run looks like to users: the `--json`
//! object and the text tables.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Result;
use hangar_engine::store::{RunRecord, TaskRecord};
use hangar_engine::{Store, TaskStatus};
use indexmap::IndexMap;
use serde::Serialize;

/// One output artifact as users see it.
#[derive(Debug, Serialize)]
pub struct OutputSummary {
    pub uri: String,
    pub digest: String,
    pub kind: String,
    pub size: u64,
    /// Small facts the producing task set (what `if:` tests).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub values: std::collections::BTreeMap<String, serde_json::Value>,
}

/// One task of a run.
#[derive(Debug, Serialize)]
pub struct TaskSummary {
    pub status: TaskStatus,
    pub attempts: u32,
    pub duration_s: f64,
    pub outputs: BTreeMap<String, OutputSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub operator: String,
    /// For a task with `map:` once its items are known: its instances
    /// (`ID[0]` … `ID[map_size-1]`, listed as tasks of their own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map_size: Option<u32>,
}

/// The `--json` object of `hangar run` and `hangar resume`.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub pipeline: String,
    pub status: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub spec_hash: String,
    pub tasks: IndexMap<String, TaskSummary>,
}

/// Milliseconds since the epoch as RFC 3339 (UTC).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn seconds(from: Option<i64>, to: Option<i64>) -> Option<f64> {
    match (from, to) {
        (Some(a), Some(b)) if b >= a => Some((b - a) as f64 / 1000.0),
        _ => None,
    }
}

pub fn task_summary(task: &TaskRecord) -> TaskSummary {
    TaskSummary {
        map_size: task.map_size,
        status: task.status,
        attempts: task.attempt,
        duration_s: if task.status.produced_outputs()
            || task.status.is_failure()
            || task.status == TaskStatus::Cancelled
        {
            seconds(task.started_at, task.finished_at).unwrap_or(0.0)
        } else {
            0.0
        },
        outputs: task
            .outputs
            .iter()
            .flatten()
            .map(|(name, a)| {
                (
                    name.clone(),
                    OutputSummary {
                        uri: a.uri.clone(),
                        digest: a.digest.clone(),
                        kind: a.kind.to_string(),
                        size: a.size,
                        values: a.values.clone(),
                    },
                )
            })
            .collect(),
        error: task.error.clone(),
        operator: task.operator.clone(),
    }
}

pub async fn run_summary(store: &dyn Store, run: &RunRecord) -> Result<RunSummary> {
    let tasks = store.tasks(&run.id).await?;
    Ok(RunSummary {
        run_id: run.id.clone(),
        pipeline: run.pipeline.clone(),
        status: run.status.to_string(),
        created_at: rfc3339(run.created_at),
        duration_s: seconds(run.started_at, run.finished_at),
        error: run.error.clone(),
        spec_hash: run.spec_hash.clone(),
        tasks: tasks.iter().map(|t| (t.task_id.clone(), task_summary(t))).collect(),
    })
}

/// A text table of a run's tasks.
pub fn task_table(summary: &RunSummary) -> String {
    let width = summary.tasks.keys().map(String::len).max().unwrap_or(4).max(4);
    let mut out = String::new();
    let _ = writeln!(out, "{:<width$}  {:<15}  {:>8}  {:>9}  NOTE", "TASK", "STATUS", "ATTEMPTS", "SECONDS");
    for (id, task) in &summary.tasks {
        let note = match (&task.error, task.outputs.is_empty()) {
            (Some(error), _) if task.status != TaskStatus::Succeeded => first_line(error),
            (_, false) => task.outputs.keys().cloned().collect::<Vec<_>>().join(", "),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "{id:<width$}  {:<15}  {:>8}  {:>9.2}  {note}",
            task.status.as_str(),
            task.attempts,
            task.duration_s
        );
    }
    out
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > 100 {
        format!("{}…", line.chars().take(100).collect::<String>())
    } else {
        line.to_owned()
    }
}
