//! Task attempts in a process of their own: `hangar serve` and `hangar
//! worker` run each attempt as a child (`hangar task-exec`), so that a
//! crash of any kind (abort, stack overflow, allocation failure, a kill)
//! ends that attempt, not the server, with a reason a person can read.
//!
//! The parent writes an [`AttemptJob`] to the child's stdin; the child
//! answers with [`Message`] lines on stdout (progress, logs, the outcome),
//! each behind [`MARKER`] so that stray prints of libraries are kept as
//! log lines instead of being mistaken for the protocol.

mod child;
mod lazy;
mod limits;
mod parent;
mod verdict;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use hangar_sdk::{ArtifactRef, ErrorClass, LogStream, Progress, TaskOutputs};
use serde::{Deserialize, Serialize};

pub use child::run_child;
pub use lazy::StoreOpener;
pub use limits::{Limits, parse_bytes};
pub(crate) use parent::run_isolated;

/// Starts every protocol line on the child's stdout.
pub const MARKER: &str = "\u{1e}hangar ";

/// How to start the child: a program and the arguments before nothing else
/// (the CLI gives `[hangar, --home, DIR, task-exec]`), and its limits.
#[derive(Debug, Clone)]
pub struct Isolation {
    pub program: OsString,
    pub args: Vec<OsString>,
    /// Limits of every attempt unless its task sets its own.
    pub limits: Limits,
}

/// What the child needs to run one attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttemptJob {
    pub run_id: String,
    pub task_id: String,
    pub attempt: u32,
    pub seed: u64,
    pub operator: String,
    pub config: serde_json::Value,
    pub inputs: BTreeMap<String, ArtifactRef>,
    pub scratch: PathBuf,
    pub access: AccessSpec,
    pub limits: Limits,
}

/// A run's access, as the child rebuilds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessSpec {
    /// The confined owner; `None` for trusted runs.
    pub confined_to: Option<String>,
    pub roots: Vec<hangar_sdk::DataRoot>,
}

/// One line of the child's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Message {
    Progress(Progress),
    Log { stream: LogStream, line: String },
    Done { outputs: TaskOutputs },
    Failed { class: ErrorClass, retryable: bool, message: String },
}
