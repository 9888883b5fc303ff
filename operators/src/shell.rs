//! `shell`: runs a command line; its output lines become the task log.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;

use hangar_sdk::{LogStream, Operator, OperatorError, OperatorInfo, TaskContext, TaskOutputs};
use schemars::JsonSchema;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;

/// Config of the `shell` operator.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellConfig {
    /// The command line, run by `sh -c`. A non-zero exit status fails the task.
    pub run: String,
    /// Extra environment variables for the command.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory of the command; defaults to the directory Hangar runs in.
    #[serde(default)]
    pub workdir: Option<PathBuf>,
}

/// Runs shell commands. Privileged: it executes arbitrary commands on the
/// machine, so the API lets only administrators run it.
#[derive(Debug, Default)]
pub struct Shell;

impl Operator for Shell {
    type Config = ShellConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new(
            "shell",
            "1",
            "Runs a command line with `sh -c`; stdout and stderr go to the task log, a non-zero exit fails the task.",
        )
        .not_cacheable()
        .privileged()
        .nondeterministic("it runs whatever command it is given")
    }

    async fn run(&self, config: ShellConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        let scratch = ctx.scratch_dir()?.to_path_buf();
        let mut command = shell_command();
        command
            .arg("-c")
            .arg(&config.run)
            .envs(&config.env)
            .env("HANGAR_RUN_ID", ctx.run_id())
            .env("HANGAR_TASK_ID", ctx.task_id())
            .env("HANGAR_ATTEMPT", ctx.attempt().to_string())
            .env("HANGAR_SCRATCH", &scratch)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so cancellation stops the whole pipeline of
            // commands and not only `sh`.
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &config.workdir {
            command.current_dir(dir);
        }
        let mut child = command.spawn().map_err(|e| {
            OperatorError::external(format!("cannot start `sh -c {:?}`: {e}", config.run)).with_source(e)
        })?;
        let group = child.id();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let out_lines = forward(stdout, LogStream::Stdout, ctx.clone());
        let err_lines = forward(stderr, LogStream::Stderr, ctx.clone());

        let waited = tokio::select! {
            status = child.wait() => Some(status),
            () = ctx.cancellation().cancelled() => None,
        };
        let Some(status) = waited else {
            terminate_group(group);
            let _ = child.wait().await;
            let _ = tokio::join!(out_lines, err_lines);
            return Err(OperatorError::cancelled());
        };
        let (_, last_stderr) = tokio::join!(out_lines, err_lines);
        let status = status.map_err(|e| OperatorError::external(format!("waiting for the command failed: {e}")))?;
        if status.success() {
            return Ok(TaskOutputs::new());
        }
        let how = match status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "was killed by a signal".to_owned(),
        };
        let tail = last_stderr.map(|line| format!("; last stderr line: {line}")).unwrap_or_default();
        Err(OperatorError::external(format!("command {how}{tail}")))
    }
}

/// `sh`, started through `setpriv --pdeathsig KILL` where util-linux has
/// it: when the worker dies, even by SIGKILL, the kernel kills the command
/// too, instead of leaving it running unsupervised next to its retry.
fn shell_command() -> Command {
    static SETPRIV: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let setpriv =
        SETPRIV.get_or_init(|| ["/usr/bin/setpriv", "/bin/setpriv"].iter().map(PathBuf::from).find(|p| p.is_file()));
    match setpriv {
        Some(path) => {
            let mut command = Command::new(path);
            command.args(["--pdeathsig", "KILL", "--", "sh"]);
            command
        }
        None => Command::new("sh"),
    }
}

/// Copies lines of a child stream into the task log; returns the last one.
async fn forward<R: AsyncRead + Unpin>(stream: Option<R>, kind: LogStream, ctx: TaskContext) -> Option<String> {
    let mut lines = BufReader::new(stream?).lines();
    let mut last = None;
    while let Ok(Some(line)) = lines.next_line().await {
        ctx.log(kind, &line);
        last = Some(line);
    }
    last
}

fn terminate_group(group: Option<u32>) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    if let Some(pid) = group.and_then(|p| i32::try_from(p).ok()) {
        // The group may already be gone; there is nothing more to do then.
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use hangar_sdk::{ArtifactStore, CancellationToken, Progress, TaskIdentity, TaskReporter};

    use super::*;

    #[derive(Default)]
    struct Lines(Mutex<Vec<(LogStream, String)>>);

    impl TaskReporter for Lines {
        fn progress(&self, _: &Progress) {}
        fn log(&self, stream: LogStream, line: &str) {
            self.0.lock().expect("lock").push((stream, line.to_owned()));
        }
    }

    fn context(dir: &std::path::Path, cancel: CancellationToken, lines: Arc<Lines>) -> TaskContext {
        TaskContext::new(
            TaskIdentity { run_id: "r".into(), task_id: "t".into(), attempt: 1, seed: 0 },
            Default::default(),
            ArtifactStore::local(dir.join("artifacts")).expect("store"),
            dir.to_path_buf(),
            cancel,
            lines,
        )
    }

    fn config(run: &str) -> ShellConfig {
        ShellConfig {
            run: run.to_owned(),
            env: BTreeMap::from([("GREETING".to_owned(), "hi".to_owned())]),
            workdir: None,
        }
    }

    #[tokio::test]
    async fn captures_stdout_and_stderr_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lines = Arc::new(Lines::default());
        let ctx = context(dir.path(), CancellationToken::new(), lines.clone());
        Shell.run(config("echo $GREETING; echo oops >&2; echo $HANGAR_TASK_ID"), ctx).await.expect("succeeds");
        let captured = lines.0.lock().expect("lock").clone();
        assert!(captured.contains(&(LogStream::Stdout, "hi".to_owned())), "{captured:?}");
        assert!(captured.contains(&(LogStream::Stderr, "oops".to_owned())), "{captured:?}");
        assert!(captured.contains(&(LogStream::Stdout, "t".to_owned())), "{captured:?}");
    }

    #[tokio::test]
    async fn non_zero_exit_fails_with_the_status_and_last_stderr_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = context(dir.path(), CancellationToken::new(), Arc::new(Lines::default()));
        let err = Shell.run(config("echo first >&2; echo no such file >&2; exit 3"), ctx).await.expect_err("fails");
        assert_eq!(err.message, "command exited with status 3; last stderr line: no such file");
        assert!(err.retryable);
    }

    #[tokio::test]
    async fn cancellation_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cancel = CancellationToken::new();
        let ctx = context(dir.path(), cancel.clone(), Arc::new(Lines::default()));
        let started = std::time::Instant::now();
        let canceller = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            cancel.cancel();
        });
        let err = Shell.run(config("sleep 30 | cat; echo never"), ctx).await.expect_err("cancelled");
        canceller.await.expect("join");
        assert_eq!(err.class, hangar_sdk::ErrorClass::Cancelled);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
}
