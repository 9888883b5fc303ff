//! The child side: `hangar task-exec` reads one [`AttemptJob`] from stdin,
//! limits itself, runs the operator and reports on stdout.

use std::io::Write;
use std::sync::Arc;

use hangar_sdk::{
    Access, ArtifactStore, CancellationToken, LogStream, OperatorError, Progress, Registry, TaskContext, TaskIdentity,
    TaskReporter,
};

use super::lazy::{LazyStore, StoreOpener};
use super::{AttemptJob, MARKER, Message};

/// Writes protocol lines to stdout, one whole line per write.
struct LineReporter;

impl LineReporter {
    fn send(message: &Message) {
        let Ok(json) = serde_json::to_string(message) else { return };
        let mut out = std::io::stdout().lock();
        // A parent that stopped reading has gone; nothing to do about it here.
        let _ = writeln!(out, "{MARKER}{json}").and_then(|()| out.flush());
    }
}

impl TaskReporter for LineReporter {
    fn progress(&self, progress: &Progress) {
        Self::send(&Message::Progress(progress.clone()));
    }

    fn log(&self, stream: LogStream, line: &str) {
        Self::send(&Message::Log { stream, line: line.to_owned() });
    }
}

fn failed(err: &OperatorError) -> Message {
    Message::Failed { class: err.class, retryable: err.retryable, message: err.full_message() }
}

/// Runs the attempt described on stdin; returns the process's exit code
/// (0 whenever an outcome was reported, failures included).
pub async fn run_child(registry: Arc<Registry>, open_store: StoreOpener, artifacts: ArtifactStore) -> i32 {
    // Die with the worker: a killed worker must leave nothing running.
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    let read = tokio::task::spawn_blocking(|| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map(|_| text)
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    let text = match read {
        Ok(text) => text,
        Err(err) => {
            LineReporter::send(&failed(&OperatorError::internal(format!("cannot read the attempt: {err}"))));
            return 2;
        }
    };
    let job: AttemptJob = match serde_json::from_str(&text) {
        Ok(job) => job,
        Err(err) => {
            LineReporter::send(&failed(&OperatorError::internal(format!("the attempt is not readable: {err}"))));
            return 2;
        }
    };
    if let Err(message) = job.limits.apply() {
        LineReporter::send(&failed(&OperatorError::external(message)));
        return 0;
    }
    let cancel = CancellationToken::new();
    if let Ok(mut terminate) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            terminate.recv().await;
            cancel.cancel();
        });
    }
    let store = LazyStore::new(open_store, job.access.confined_to.clone());
    let roots = job.access.roots;
    let access = match &job.access.confined_to {
        None => Access::trusted(roots),
        Some(owner) => Access::confined(owner, roots, Arc::new(store.clone())),
    };
    let Some(operator) = registry.get(&job.operator) else {
        let err = OperatorError::user(format!("operator {:?} is not registered in this worker", job.operator));
        LineReporter::send(&failed(&err));
        return 0;
    };
    let ctx = TaskContext::new(
        TaskIdentity { run_id: job.run_id, task_id: job.task_id, attempt: job.attempt, seed: job.seed },
        job.inputs,
        artifacts,
        job.scratch,
        cancel,
        Arc::new(LineReporter),
    )
    .with_models(Arc::new(store))
    .with_access(access);
    let message = match operator.implementation.run_erased(job.config, ctx).await {
        Ok(outputs) => Message::Done { outputs },
        Err(err) => failed(&err),
    };
    LineReporter::send(&message);
    0
}
