//! Live display of a run: progress bars on a terminal, plain lines otherwise.
//! Everything goes to stderr so `--json` output on stdout stays clean.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use hangar_engine::{EngineEvent, TaskStatus};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

/// Follows the events of `run_id` until it finishes.
pub fn follow(
    mut events: broadcast::Receiver<EngineEvent>,
    run_id: String,
    total_tasks: usize,
    quiet: bool,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut view: Box<dyn View> =
            if std::io::stderr().is_terminal() { Box::new(Bars::new(total_tasks)) } else { Box::new(Lines::default()) };
        loop {
            match events.recv().await {
                Ok(event) if event.run_id() == run_id => {
                    if matches!(event, EngineEvent::TaskLog { .. }) && quiet {
                        continue;
                    }
                    let finished = matches!(event, EngineEvent::RunFinished { .. });
                    view.show(&event);
                    if finished {
                        break;
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    view.note(&format!("({missed} events not shown: the display fell behind)"))
                }
                Err(RecvError::Closed) => break,
            }
        }
        view.close();
    })
}

trait View: Send {
    fn show(&mut self, event: &EngineEvent);
    fn note(&mut self, line: &str);
    fn close(&mut self);
}

fn outcome_line(
    task_id: &str,
    status: TaskStatus,
    seconds: Option<f64>,
    error: Option<&str>,
    retry_at: Option<i64>,
) -> String {
    let mark = match status {
        TaskStatus::Succeeded | TaskStatus::Cached => "ok",
        TaskStatus::Failed | TaskStatus::UpstreamFailed => "FAILED",
        _ => "--",
    };
    let mut line = format!("{mark:>6} {task_id} {status}");
    if let Some(s) = seconds {
        line.push_str(&format!(" in {s:.2}s"));
    }
    if let Some(at) = retry_at {
        let wait = (at - hangar_engine::clock::now_ms()).max(0) as f64 / 1000.0;
        line.push_str(&format!(" (retrying in {wait:.1}s)"));
    }
    if let Some(error) = error {
        line.push_str(": ");
        line.push_str(error.lines().next().unwrap_or_default());
    }
    line
}

/// Plain lines for logs and pipes.
#[derive(Default)]
struct Lines {
    started: HashMap<String, Instant>,
}

impl View for Lines {
    fn show(&mut self, event: &EngineEvent) {
        match event {
            EngineEvent::RunStarted { run_id, pipeline, tasks } => {
                eprintln!("run {run_id}: pipeline {pipeline}, {tasks} tasks");
            }
            EngineEvent::TaskStarted { task_id, attempt, .. } => {
                self.started.insert(task_id.clone(), Instant::now());
                if *attempt > 1 {
                    eprintln!(" start {task_id} (attempt {attempt})");
                } else {
                    eprintln!(" start {task_id}");
                }
            }
            EngineEvent::TaskLog { task_id, line, .. } => eprintln!("  [{task_id}] {line}"),
            EngineEvent::TaskFinished { task_id, status, error, retry_at, .. } => {
                let seconds = self.started.remove(task_id).map(|t| t.elapsed().as_secs_f64());
                eprintln!("{}", outcome_line(task_id, *status, seconds, error.as_deref(), *retry_at));
            }
            EngineEvent::RunFinished { run_id, status } => eprintln!("run {run_id} {status}"),
            EngineEvent::TaskQueued { .. } | EngineEvent::TaskProgress { .. } => {}
        }
    }

    fn note(&mut self, line: &str) {
        eprintln!("{line}");
    }

    fn close(&mut self) {}
}

/// indicatif bars for a terminal: one for the run, one per running task.
struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    running: HashMap<String, (ProgressBar, Instant)>,
}

impl Bars {
    fn new(total: usize) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(total as u64));
        overall.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] [{bar:30}] {pos}/{len} tasks {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        overall.enable_steady_tick(Duration::from_millis(120));
        Self { multi, overall, running: HashMap::new() }
    }

    fn task_bar(&self, task_id: &str) -> ProgressBar {
        let bar = self.multi.insert_before(&self.overall, ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("  {spinner} {prefix} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(task_id.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }
}

impl View for Bars {
    fn show(&mut self, event: &EngineEvent) {
        match event {
            EngineEvent::RunStarted { run_id, pipeline, .. } => {
                let _ = self.multi.println(format!("run {run_id}: pipeline {pipeline}"));
            }
            EngineEvent::TaskStarted { task_id, attempt, .. } => {
                let bar = self.task_bar(task_id);
                if *attempt > 1 {
                    bar.set_message(format!("attempt {attempt}"));
                }
                self.running.insert(task_id.clone(), (bar, Instant::now()));
            }
            EngineEvent::TaskProgress { task_id, progress, .. } => {
                if let Some((bar, _)) = self.running.get(task_id) {
                    let mut message = match progress.total {
                        Some(total) => format!("{}/{} {}", progress.done, total, progress.unit),
                        None => format!("{} {}", progress.done, progress.unit),
                    };
                    for (name, value) in &progress.metrics {
                        message.push_str(&format!(" {name}={value:.4}"));
                    }
                    if let Some(text) = &progress.message {
                        message.push(' ');
                        message.push_str(text);
                    }
                    bar.set_message(message);
                }
            }
            EngineEvent::TaskLog { task_id, line, .. } => {
                let _ = self.multi.println(format!("  [{task_id}] {line}"));
            }
            EngineEvent::TaskFinished { task_id, status, error, retry_at, .. } => {
                let seconds = self.running.remove(task_id).map(|(bar, started)| {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                    started.elapsed().as_secs_f64()
                });
                let _ = self.multi.println(outcome_line(task_id, *status, seconds, error.as_deref(), *retry_at));
                if retry_at.is_none() {
                    self.overall.inc(1);
                }
            }
            EngineEvent::RunFinished { status, .. } => self.overall.set_message(status.to_string()),
            EngineEvent::TaskQueued { .. } => {}
        }
    }

    fn note(&mut self, line: &str) {
        let _ = self.multi.println(line);
    }

    fn close(&mut self) {
        for (bar, _) in self.running.values() {
            bar.finish_and_clear();
        }
        self.overall.finish();
    }
}
