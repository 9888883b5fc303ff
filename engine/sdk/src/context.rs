//! What a running task sees: its identity, inputs, artifact store, progress
//! and log channels, and its cancellation signal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::artifact::{ArtifactKind, ArtifactRef};
use crate::error::OperatorError;
use crate::input::{Access, InputPath, Resolved};
use crate::store::ArtifactStore;
use crate::writer::{ArtifactDirWriter, ArtifactWriter};

/// How far a task has come; shown live by the CLI and streamed by the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Units of work done.
    pub done: u64,
    /// Units of work in total, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// What a unit is: `documents`, `steps`, `bytes`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unit: String,
    /// A short human-readable status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Live figures such as `loss` or `tokens_per_s`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
}

impl Progress {
    /// `done` of `total` units.
    pub fn of(done: u64, total: u64, unit: &str) -> Self {
        Self { done, total: Some(total), unit: unit.to_owned(), ..Self::default() }
    }

    /// Adds a live figure.
    pub fn metric(mut self, name: &str, value: f64) -> Self {
        self.metrics.insert(name.to_owned(), value);
        self
    }

    /// Adds a status message.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }
}

/// Which stream a task log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
    Info,
    Warn,
}

impl LogStream {
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
            LogStream::Info => "info",
            LogStream::Warn => "warn",
        }
    }

    pub fn parse(text: &str) -> Self {
        match text {
            "stdout" => LogStream::Stdout,
            "stderr" => LogStream::Stderr,
            "warn" => LogStream::Warn,
            _ => LogStream::Info,
        }
    }
}

/// Receives a task's progress and log lines; the engine persists and
/// broadcasts them. Calls must be cheap: they happen on the task's hot path.
pub trait TaskReporter: Send + Sync {
    fn progress(&self, progress: &Progress);
    fn log(&self, stream: LogStream, line: &str);
}

/// A reporter that drops everything, for tests and tools.
#[derive(Debug, Default)]
pub struct DiscardReporter;

impl TaskReporter for DiscardReporter {
    fn progress(&self, _progress: &Progress) {}
    fn log(&self, _stream: LogStream, _line: &str) {}
}

/// Identity of one attempt of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskIdentity {
    pub run_id: String,
    pub task_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The run's seed mixed with the task id: same inputs and seed give the
    /// same outputs.
    pub seed: u64,
}

/// Everything a running task may use.
#[derive(Clone)]
pub struct TaskContext {
    identity: TaskIdentity,
    inputs: BTreeMap<String, ArtifactRef>,
    store: ArtifactStore,
    output_prefix: String,
    scratch: PathBuf,
    scratch_ready: Arc<std::sync::OnceLock<()>>,
    cancel: CancellationToken,
    reporter: Arc<dyn TaskReporter>,
    span: tracing::Span,
    models: Option<Arc<dyn crate::ModelRegistry>>,
    access: Access,
}

impl std::fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskContext")
            .field("identity", &self.identity)
            .field("inputs", &self.inputs)
            .field("output_prefix", &self.output_prefix)
            .finish_non_exhaustive()
    }
}

impl TaskContext {
    /// Builds a context; the engine does this for each attempt, tests for
    /// running an operator directly.
    pub fn new(
        identity: TaskIdentity,
        inputs: BTreeMap<String, ArtifactRef>,
        store: ArtifactStore,
        scratch: PathBuf,
        cancel: CancellationToken,
        reporter: Arc<dyn TaskReporter>,
    ) -> Self {
        let output_prefix = format!("runs/{}/{}/a{}", identity.run_id, identity.task_id, identity.attempt);
        let span = tracing::info_span!(
            "task",
            run = %identity.run_id,
            task = %identity.task_id,
            attempt = identity.attempt
        );
        Self {
            identity,
            inputs,
            store,
            output_prefix,
            scratch,
            scratch_ready: Arc::new(std::sync::OnceLock::new()),
            cancel,
            reporter,
            span,
            models: None,
            access: Access::default(),
        }
    }

    /// Sets what the run may read besides its inputs (the engine does, from
    /// the run's owner); without it a task is trusted, as tools and tests are.
    #[must_use]
    pub fn with_access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// What this run may read besides its inputs.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// Where a path from the config leads, if this run may read it.
    ///
    /// # Errors
    /// A user error naming the path as written when it is refused or missing.
    pub async fn resolve_input(&self, path: &InputPath) -> Result<Resolved, OperatorError> {
        Ok(self.access.resolve(path, &self.store).await?)
    }

    /// A local copy of a file or folder named in the config, for code that
    /// reads paths: a trusted local path as it is, a store file fetched, a
    /// confined local entry copied into the scratch folder through its
    /// capability handle.
    ///
    /// # Errors
    /// A user error when it is refused or missing, else what reading failed.
    pub async fn fetch_input(&self, path: &InputPath) -> Result<PathBuf, OperatorError> {
        match self.resolve_input(path).await? {
            Resolved::Local(local) if self.access.is_trusted() => {
                local.stat().map_err(|e| local.error(&e))?;
                Ok(local.trusted_path().to_path_buf())
            }
            Resolved::Local(local) => {
                let target = self
                    .scratch_dir()?
                    .join("inputs")
                    .join(blake3::hash(path.as_written().as_bytes()).to_hex().as_str());
                let copy = target.clone();
                tokio::task::spawn_blocking(move || local.copy_to(&copy))
                    .await
                    .map_err(|e| OperatorError::internal(format!("copying an input failed: {e}")))??;
                Ok(target)
            }
            Resolved::Stored(key) => {
                let scratch = self.scratch_dir()?.join("inputs");
                let listed = self.store.list(&key).await.unwrap_or_default();
                if listed.iter().any(|(file, _)| file != &key) {
                    for (file, _) in listed.iter().filter(|(file, _)| file != &key) {
                        self.store.fetch_local(file, &scratch).await?;
                    }
                    return Ok(self.store.local_path(&key).unwrap_or_else(|| scratch.join(&key)));
                }
                if !self.store.exists(&key).await? {
                    return Err(OperatorError::user(format!(
                        "{path} does not exist; check the name, or list what you can read (uploads, runs, data roots)"
                    )));
                }
                Ok(self.store.fetch_local(&key, &scratch).await?)
            }
        }
    }

    /// Gives the task the model registry (the engine does, when it has a database).
    #[must_use]
    pub fn with_models(mut self, models: Arc<dyn crate::ModelRegistry>) -> Self {
        self.models = Some(models);
        self
    }

    /// The model registry.
    ///
    /// # Errors
    /// When this task runs without one (an operator run outside the engine).
    pub fn models(&self) -> Result<&dyn crate::ModelRegistry, OperatorError> {
        self.models.as_deref().ok_or_else(|| {
            OperatorError::internal("this task runs without a model registry; run it through `hangar run` or a worker")
        })
    }

    pub fn run_id(&self) -> &str {
        &self.identity.run_id
    }

    pub fn task_id(&self) -> &str {
        &self.identity.task_id
    }

    pub fn attempt(&self) -> u32 {
        self.identity.attempt
    }

    pub fn seed(&self) -> u64 {
        self.identity.seed
    }

    /// The tracing span carrying run, task and attempt.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// The artifact store.
    pub fn artifacts(&self) -> &ArtifactStore {
        &self.store
    }

    /// A private scratch folder for this attempt, created on first use and
    /// deleted by the engine afterwards.
    ///
    /// # Errors
    /// When the folder cannot be created.
    pub fn scratch_dir(&self) -> Result<&Path, OperatorError> {
        if self.scratch_ready.get().is_none() {
            std::fs::create_dir_all(&self.scratch).map_err(|e| {
                OperatorError::external(format!("cannot create scratch folder {}: {e}", self.scratch.display()))
            })?;
            let _ = self.scratch_ready.set(());
        }
        Ok(&self.scratch)
    }

    /// The resolved input on port `name`.
    ///
    /// # Errors
    /// When the port was not connected; a user error.
    pub fn input(&self, name: &str) -> Result<&ArtifactRef, OperatorError> {
        self.inputs.get(name).ok_or_else(|| {
            OperatorError::user(format!(
                "input {name:?} is not connected; add `{name}: ${{{{ tasks.ID.outputs.NAME }}}}` under `with`"
            ))
        })
    }

    /// The input on port `name`, if connected.
    pub fn optional_input(&self, name: &str) -> Option<&ArtifactRef> {
        self.inputs.get(name)
    }

    /// All inputs by port.
    pub fn inputs(&self) -> &BTreeMap<String, ArtifactRef> {
        &self.inputs
    }

    /// The key prefix under which this attempt writes: `runs/<run>/<task>/a<attempt>`.
    pub fn output_prefix(&self) -> &str {
        &self.output_prefix
    }

    /// Starts writing an output file named `file_name` under this attempt's prefix.
    ///
    /// # Errors
    /// When the artifact store refuses the write.
    pub async fn create_output(&self, file_name: &str) -> Result<ArtifactWriter, OperatorError> {
        Ok(self.store.writer(&format!("{}/{}", self.output_prefix, file_name)).await?)
    }

    /// Starts a folder output named `name` under this attempt's prefix.
    pub fn output_dir(&self, name: &str, kind: ArtifactKind) -> ArtifactDirWriter {
        self.store.dir_writer(&format!("{}/{}", self.output_prefix, name), kind)
    }

    /// Reports progress.
    pub fn progress(&self, progress: Progress) {
        self.reporter.progress(&progress);
    }

    /// Writes a line to the task log (and to tracing at debug level).
    pub fn log(&self, stream: LogStream, line: &str) {
        tracing::debug!(parent: &self.span, stream = stream.as_str(), "{line}");
        self.reporter.log(stream, line);
    }

    /// Writes an informational line to the task log.
    pub fn info(&self, line: impl AsRef<str>) {
        self.log(LogStream::Info, line.as_ref());
    }

    /// Writes a warning to the task log.
    pub fn warn(&self, line: impl AsRef<str>) {
        self.log(LogStream::Warn, line.as_ref());
    }

    /// The cancellation signal; operators `select!` on it around long waits.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Returns `Err(cancelled)` once cancellation was requested; call it
    /// between batches, documents or steps.
    ///
    /// # Errors
    /// When the task was cancelled.
    pub fn check_cancelled(&self) -> Result<(), OperatorError> {
        if self.cancel.is_cancelled() { Err(OperatorError::cancelled()) } else { Ok(()) }
    }
}
