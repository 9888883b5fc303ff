//! Run and task states, written as lower-case words everywhere
//! (database, `--json`, API).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The state of a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Created, waiting for a coordinator (or for a free slot).
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled)
    }
}

/// The state of one task within a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Waiting for upstream tasks.
    Pending,
    /// Ready; waiting for a worker (or for its retry back-off to pass).
    Queued,
    Running,
    Succeeded,
    /// Reused the outputs of an identical earlier task.
    Cached,
    Failed,
    /// Not run because an upstream task failed.
    UpstreamFailed,
    /// Not run because its trigger rule did not fire.
    Skipped,
    Cancelled,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 9] = [
        TaskStatus::Pending,
        TaskStatus::Queued,
        TaskStatus::Running,
        TaskStatus::Succeeded,
        TaskStatus::Cached,
        TaskStatus::Failed,
        TaskStatus::UpstreamFailed,
        TaskStatus::Skipped,
        TaskStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Cached => "cached",
            TaskStatus::Failed => "failed",
            TaskStatus::UpstreamFailed => "upstream_failed",
            TaskStatus::Skipped => "skipped",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, TaskStatus::Pending | TaskStatus::Queued | TaskStatus::Running)
    }

    /// Whether downstream tasks may consume this task's outputs.
    pub fn produced_outputs(self) -> bool {
        matches!(self, TaskStatus::Succeeded | TaskStatus::Cached)
    }

    /// Whether this outcome counts as a failure for trigger rules and the run.
    pub fn is_failure(self) -> bool {
        matches!(self, TaskStatus::Failed | TaskStatus::UpstreamFailed)
    }
}

macro_rules! word_conversions {
    ($ty:ty, $what:literal, $all:expr) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownStatus;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $all.into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| UnknownStatus { what: $what, value: s.to_owned() })
            }
        }
    };
}

word_conversions!(TaskStatus, "task", TaskStatus::ALL);
word_conversions!(
    RunStatus,
    "run",
    [RunStatus::Pending, RunStatus::Running, RunStatus::Succeeded, RunStatus::Failed, RunStatus::Cancelled]
);

/// A status word that is not one of ours (a newer schema, or a typo in a filter).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} status {value:?}")]
pub struct UnknownStatus {
    pub what: &'static str,
    pub value: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_words() {
        for status in TaskStatus::ALL {
            assert_eq!(status.as_str().parse::<TaskStatus>(), Ok(status));
            let json = serde_json::to_string(&status).expect("serialize");
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        assert_eq!("upstream_failed".parse::<TaskStatus>(), Ok(TaskStatus::UpstreamFailed));
        assert!("done".parse::<RunStatus>().is_err());
    }
}
