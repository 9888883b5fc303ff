//! Progress and log lines of one attempt: broadcast at once, written to the
//! store in batches so a chatty task does not pay a transaction per line.

use std::sync::{Arc, Mutex, PoisonError};

use hangar_sdk::{LogStream, Progress, TaskReporter};

use super::EngineEvent;
use super::events::Signals;
use crate::clock::now_ms;
use crate::store::{NewLog, Store, StoreError, TaskLease};

/// Longest log line kept; longer ones are cut with a marker.
const MAX_LINE_BYTES: usize = 16 * 1024;

#[derive(Default)]
struct Pending {
    logs: Vec<NewLog>,
    progress: Option<Progress>,
}

pub(crate) struct AttemptReporter {
    lease: TaskLease,
    signals: Arc<Signals>,
    pending: Mutex<Pending>,
    /// Server paths and what to write instead, for confined runs.
    redactions: std::sync::OnceLock<Redactions>,
}

/// Server paths replaced by names in what a confined run's owner reads
/// (log lines, errors): no listing of the server's folders reaches them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Redactions(Vec<(String, String)>);

impl Redactions {
    /// Longest paths first, so that a folder inside another is named as itself.
    pub fn new(mut pairs: Vec<(String, String)>) -> Self {
        pairs.retain(|(path, _)| path.len() > 1);
        pairs.sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));
        Self(pairs)
    }

    pub fn apply(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (path, name) in &self.0 {
            if text.contains(path.as_str()) {
                text = text.replace(path.as_str(), name);
            }
        }
        text
    }
}

impl AttemptReporter {
    pub fn new(lease: TaskLease, signals: Arc<Signals>) -> Self {
        Self { lease, signals, pending: Mutex::new(Pending::default()), redactions: std::sync::OnceLock::new() }
    }

    /// From now on, log lines are redacted.
    pub fn redact_with(&self, redactions: Redactions) {
        let _ = self.redactions.set(redactions);
    }

    /// Writes buffered lines and the latest progress to the store.
    pub async fn flush(&self, store: &dyn Store) -> Result<(), StoreError> {
        let Pending { logs, progress } = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            std::mem::take(&mut *pending)
        };
        store.append_logs(&logs).await?;
        if let Some(progress) = progress {
            let text = serde_json::to_string(&progress).unwrap_or_default();
            store.set_progress(&self.lease, &text).await?;
        }
        Ok(())
    }
}

fn clip(line: &str) -> String {
    if line.len() <= MAX_LINE_BYTES {
        return line.to_owned();
    }
    let mut end = MAX_LINE_BYTES;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [{} bytes cut]", &line[..end], line.len() - end)
}

impl TaskReporter for AttemptReporter {
    fn progress(&self, progress: &Progress) {
        self.signals.emit(EngineEvent::TaskProgress {
            run_id: self.lease.run_id.clone(),
            task_id: self.lease.task_id.clone(),
            progress: progress.clone(),
        });
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).progress = Some(progress.clone());
    }

    fn log(&self, stream: LogStream, line: &str) {
        let line = match self.redactions.get() {
            Some(redactions) => clip(&redactions.apply(line)),
            None => clip(line),
        };
        self.signals.emit(EngineEvent::TaskLog {
            run_id: self.lease.run_id.clone(),
            task_id: self.lease.task_id.clone(),
            attempt: self.lease.attempt,
            stream: stream.as_str().to_owned(),
            line: line.clone(),
        });
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).logs.push(NewLog {
            run_id: self.lease.run_id.clone(),
            task_id: self.lease.task_id.clone(),
            attempt: self.lease.attempt,
            ts: now_ms(),
            stream: stream.as_str().to_owned(),
            line,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_clipped_on_a_char_boundary() {
        let line = "é".repeat(MAX_LINE_BYTES);
        let clipped = clip(&line);
        assert!(clipped.len() < line.len());
        assert!(clipped.contains("bytes cut"));
        assert_eq!(clip("short"), "short");
    }
}
