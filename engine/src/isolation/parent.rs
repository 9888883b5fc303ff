//! The parent side: start the child, feed it the job, relay what it says,
//! stop it on cancellation, and read its death when it reports nothing.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::Arc;

use futures::StreamExt;
use hangar_sdk::{CancellationToken, LogStream, OperatorError, TaskOutputs, TaskReporter};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::codec::{FramedRead, LinesCodec};

use super::verdict::{Exit, crash};
use super::{AttemptJob, Isolation, MARKER, Message};

/// Longest protocol or output line read from the child.
const MAX_LINE: usize = 4 << 20;
/// The end of the child's stderr kept to explain a crash.
const STDERR_TAIL: usize = 16 << 10;

/// Runs `job` in a child process.
///
/// # Errors
/// The operator's own error, or why its process died.
pub(crate) async fn run_isolated(
    isolation: &Isolation,
    job: AttemptJob,
    reporter: Arc<dyn TaskReporter>,
    cancel: CancellationToken,
) -> Result<TaskOutputs, OperatorError> {
    let limits = job.limits;
    let mut child = tokio::process::Command::new(&isolation.program)
        .args(&isolation.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| OperatorError::external(format!("cannot start the task's process: {e}")))?;
    let pid = child.id().and_then(|id| i32::try_from(id).ok());
    let job =
        serde_json::to_vec(&job).map_err(|e| OperatorError::internal(format!("cannot encode the attempt: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&job)
            .await
            .map_err(|e| OperatorError::external(format!("cannot hand the attempt to its process: {e}")))?;
    }
    let stderr = child.stderr.take().map(|stderr| {
        let reporter = reporter.clone();
        tokio::spawn(async move {
            let mut tail = String::new();
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                reporter.log(LogStream::Stderr, &line);
                tail.push_str(&line);
                tail.push('\n');
                if tail.len() > 2 * STDERR_TAIL {
                    let mut cut = tail.len() - STDERR_TAIL;
                    while !tail.is_char_boundary(cut) {
                        cut += 1;
                    }
                    tail.drain(..cut);
                }
            }
            tail
        })
    });
    let mut outcome = None;
    if let Some(stdout) = child.stdout.take() {
        let mut lines = FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_LINE));
        let mut terminated = false;
        loop {
            tokio::select! {
                line = lines.next() => match line {
                    Some(Ok(line)) => relay(&line, reporter.as_ref(), &mut outcome),
                    Some(Err(err)) => reporter.log(LogStream::Warn, &format!("an output line was dropped: {err}")),
                    None => break,
                },
                () = cancel.cancelled(), if !terminated => {
                    terminated = true;
                    if let Some(pid) = pid {
                        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
                    }
                }
            }
        }
    }
    let status =
        child.wait().await.map_err(|e| OperatorError::external(format!("cannot wait for the task's process: {e}")))?;
    let tail = match stderr {
        Some(task) => task.await.unwrap_or_default(),
        None => String::new(),
    };
    if let Some(outcome) = outcome {
        return outcome;
    }
    let exit = match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        (None, None) => Exit::Code(-1),
    };
    Err(crash(exit, &tail, &limits))
}

/// Hands one stdout line of the child to the reporter, or keeps its outcome.
fn relay(line: &str, reporter: &dyn TaskReporter, outcome: &mut Option<Result<TaskOutputs, OperatorError>>) {
    let Some(message) = line.strip_prefix(MARKER) else {
        reporter.log(LogStream::Stdout, line);
        return;
    };
    match serde_json::from_str::<Message>(message) {
        Ok(Message::Progress(progress)) => reporter.progress(&progress),
        Ok(Message::Log { stream, line }) => reporter.log(stream, &line),
        Ok(Message::Done { outputs }) => *outcome = Some(Ok(outputs)),
        Ok(Message::Failed { class, retryable, message }) => {
            *outcome = Some(Err(OperatorError { class, retryable, message, source: None }));
        }
        Err(err) => reporter.log(LogStream::Warn, &format!("an unreadable message from the task's process: {err}")),
    }
}
