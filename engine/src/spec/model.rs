//! The pipeline spec as users write it, after parsing.

use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// A parsed pipeline file.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineSpec {
    /// `[a-z0-9][a-z0-9_-]*`.
    pub name: String,
    pub description: Option<String>,
    pub params: IndexMap<String, ParamSpec>,
    pub defaults: TaskDefaults,
    /// The run's seed; every task gets one derived from it.
    pub seed: u64,
    /// Tasks in file order.
    pub tasks: IndexMap<String, TaskSpec>,
    /// Most runs of this pipeline active at once; more wait as `pending`.
    pub max_active_runs: Option<u32>,
    /// When the server starts runs by itself.
    pub schedule: Option<ScheduleSpec>,
    /// Webhooks of the run's owner to tell when runs of this pipeline end.
    pub notify: Vec<NotifySpec>,
}

/// The events a pipeline's `notify:` block can name.
pub const NOTIFY_EVENTS: &[&str] = &["run.succeeded", "run.failed", "run.cancelled", "task.failed"];

/// One entry of a pipeline's `notify:` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySpec {
    /// The name of one of the run owner's webhooks.
    pub webhook: String,
    /// The events it gets for this pipeline's runs (all when left out).
    pub on: Vec<String>,
}

/// A pipeline's `schedule:` block.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleSpec {
    /// Five cron fields (minute first), six with seconds first, or `@daily` and friends.
    pub cron: String,
    /// IANA time zone the cron fields are read in (default `UTC`).
    pub timezone: String,
    /// After downtime, fire every missed time instead of only the latest.
    pub catchup: bool,
    /// Most scheduled runs active at once (default: the pipeline's `max_active_runs`).
    pub max_active_runs: Option<u32>,
    /// Params of the scheduled runs.
    pub params: IndexMap<String, serde_json::Value>,
}

/// A typed pipeline parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    pub kind: ParamType,
    pub default: Option<serde_json::Value>,
    pub description: Option<String>,
}

/// The type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    String,
    Integer,
    Number,
    Boolean,
    /// A list of values, for `map:` (`--param k=a,b,c` or a JSON array).
    List,
}

impl ParamType {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Number => "number",
            ParamType::Boolean => "boolean",
            ParamType::List => "list",
        }
    }

    /// Whether a JSON value has this type.
    pub fn admits(self, value: &serde_json::Value) -> bool {
        match self {
            ParamType::String => value.is_string(),
            ParamType::Integer => value.is_i64() || value.is_u64(),
            ParamType::Number => value.is_number(),
            ParamType::Boolean => value.is_boolean(),
            ParamType::List => value.is_array(),
        }
    }

    /// Parses a command-line value (`--param k=v`).
    ///
    /// # Errors
    /// When the text is not a value of this type.
    pub fn parse_cli(self, text: &str) -> Result<serde_json::Value, String> {
        match self {
            ParamType::String => Ok(serde_json::Value::String(text.to_owned())),
            ParamType::Integer => {
                text.parse::<i64>().map(Into::into).map_err(|_| format!("expected an integer, got {text:?}"))
            }
            ParamType::Number => text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(serde_json::Value::Number)
                .ok_or_else(|| format!("expected a number, got {text:?}")),
            ParamType::Boolean => match text {
                "true" => Ok(true.into()),
                "false" => Ok(false.into()),
                _ => Err(format!("expected true or false, got {text:?}")),
            },
            ParamType::List if text.trim_start().starts_with('[') => match serde_json::from_str(text) {
                Ok(serde_json::Value::Array(items)) => Ok(serde_json::Value::Array(items)),
                _ => Err(format!("expected a JSON array or comma-separated values, got {text:?}")),
            },
            ParamType::List => Ok(serde_json::Value::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(|item| serde_json::Value::String(item.to_owned()))
                    .collect(),
            )),
        }
    }
}

/// Task settings that apply unless a task sets its own.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskDefaults {
    pub retries: u32,
    /// Attempts lost to a dead or cut-off worker that are run again without
    /// counting against `retries` (the platform's failure, not the task's).
    pub max_lost_attempts: u32,
    pub retry_backoff: Duration,
    pub timeout: Option<Duration>,
    /// Limits of each attempt's process (servers and workers).
    pub resources: crate::isolation::Limits,
}

impl Default for TaskDefaults {
    fn default() -> Self {
        Self {
            retries: 0,
            max_lost_attempts: 3,
            retry_backoff: Duration::from_secs(5),
            timeout: None,
            resources: crate::isolation::Limits::default(),
        }
    }
}

/// When a task runs, given how its upstream tasks ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Every upstream task succeeded (the default).
    #[default]
    AllSuccess,
    /// Every upstream task finished, whatever its outcome (cleanup, reports).
    AllDone,
    /// At least one upstream task failed (alerts, fallbacks).
    OneFailed,
}

/// One task as written.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    /// Operator name.
    pub uses: String,
    /// The operator's config, expressions not yet resolved.
    pub with: serde_json::Value,
    /// Explicit dependencies.
    pub needs: Vec<String>,
    pub retries: Option<u32>,
    pub max_lost_attempts: Option<u32>,
    /// `resources: {memory: 4GiB, cpu_time: 2h}`.
    pub resources: Option<crate::isolation::Limits>,
    pub retry_backoff: Option<Duration>,
    pub timeout: Option<Duration>,
    pub trigger: Trigger,
    /// Labels a worker must have to run this task (`[gpu]`).
    pub runs_on: Vec<String>,
    /// A named pool whose slots limit how many such tasks run at once, across all workers.
    pub pool: Option<String>,
    /// Whether outputs may be reused from an identical earlier task (default: the operator's choice).
    pub cache: Option<bool>,
    /// Run only when this value of an upstream output holds; otherwise the task is skipped.
    pub condition: Option<super::expr::Condition>,
    /// Run once per item of a list (fan-out); downstream tasks get the collection.
    pub map: Option<MapSpec>,
}

/// A task's `map:` block.
#[derive(Debug, Clone, PartialEq)]
pub struct MapSpec {
    pub items: MapItems,
    /// Most instances queued or running at once (unset: no limit of its
    /// own): a positive integer or `${{ params.NAME }}`, checked when planned.
    pub max_parallel: Option<serde_json::Value>,
}

/// What a mapped task runs over.
#[derive(Debug, Clone, PartialEq)]
pub enum MapItems {
    /// A list written in the spec (params inside are bound).
    List(Vec<serde_json::Value>),
    /// One expression: `${{ params.NAME }}` (a list param) or
    /// `${{ tasks.ID.outputs.NAME }}` (the files or shards of an artifact).
    Expr(String),
}
