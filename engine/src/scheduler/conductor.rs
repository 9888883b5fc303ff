//! One conductor per process drives every run the process coordinates: it
//! looks only at the runs that something happened to (a task of theirs
//! ended, they were asked to stop), reads their ended tasks in one query,
//! applies all their steps in one transaction, and renews all their leases
//! in one statement. A thousand runs in flight cost what one costs, plus
//! the rows they touch; a loop per run would poll the database a thousand
//! times per interval.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::mpsc;

use super::coordinator::Coordinated;
use super::{Engine, EngineError};
use crate::clock::{millis, now_ms};
use crate::store::{Advance, TaskRecord};

/// Starts the conductor on first use; stops it when the last clone of the
/// engine that started it is dropped.
#[derive(Debug, Default)]
pub(crate) struct ConductorHandle {
    joins: std::sync::OnceLock<mpsc::UnboundedSender<Coordinated>>,
    stop: hangar_sdk::CancellationToken,
}

impl Drop for ConductorHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Engine {
    /// Hands a run whose lease this process holds to the conductor.
    pub(super) fn conduct(&self, run: Coordinated) {
        let joins = self.conductor.joins.get_or_init(|| {
            let (joins, arrivals) = mpsc::unbounded_channel();
            // The conductor's own engine must not keep the handle alive, or
            // it would never stop.
            let mut engine = self.clone();
            engine.conductor = std::sync::Arc::default();
            let stop = self.conductor.stop.clone();
            tokio::spawn(async move { engine.run_conductor(arrivals, stop).await });
            joins
        });
        if let Err(refused) = joins.send(run) {
            let run = refused.0;
            let _ = run.done.send(Err(EngineError::LeaseLost { run_id: run.run_id.clone() }));
        }
    }

    async fn run_conductor(
        &self,
        mut arrivals: mpsc::UnboundedReceiver<Coordinated>,
        stop: hangar_sdk::CancellationToken,
    ) {
        let mut runs: HashMap<String, Coordinated> = HashMap::new();
        let lease_ms = millis(self.settings.lease);
        let mut last_renewal = now_ms();
        let mut last_poll = Instant::now();
        let mut look_now: HashSet<String> = HashSet::new();
        loop {
            while let Ok(run) = arrivals.try_recv() {
                look_now.insert(run.run_id.clone());
                runs.insert(run.run_id.clone(), run);
            }
            // Nobody waits for a run any more (its caller was dropped): let
            // its lease run out, for another process to adopt it.
            runs.retain(|_, run| !run.done.is_closed());
            if last_poll.elapsed() >= self.coordinator_poll() || self.signals.all_dirty.swap(false, Ordering::SeqCst) {
                last_poll = Instant::now();
                look_now.extend(runs.keys().cloned());
            }
            look_now.extend(std::mem::take(
                &mut *self.signals.dirty.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
            ));
            look_now.retain(|id| runs.contains_key(id));

            if !look_now.is_empty() {
                let ids: Vec<String> = look_now.drain().collect();
                match self.look_at(&mut runs, &ids).await {
                    Ok(again) => look_now.extend(again),
                    Err(err) => {
                        // The store failed: those runs' coordinators give up, as a
                        // loop per run would have; their leases run out.
                        tracing::warn!(error = %err, runs = ids.len(), "Coordinating runs failed.");
                        for id in &ids {
                            if let Some(run) = runs.remove(id) {
                                let _ = run.done.send(Err(EngineError::Store(crate::store::StoreError::Query {
                                    operation: "coordinate runs",
                                    source: sqlx::Error::Protocol(err.to_string()),
                                })));
                            }
                        }
                    }
                }
            }

            if now_ms() - last_renewal > lease_ms / 3 && !runs.is_empty() {
                last_renewal = now_ms();
                self.renew_all(&mut runs, now_ms() + lease_ms).await;
                if let Err(err) = self.store.reap_expired(now_ms()).await {
                    tracing::warn!(error = %err, "Could not look for expired task leases.");
                }
            }
            if !look_now.is_empty() {
                continue;
            }
            let wait = self.coordinator_poll().saturating_sub(last_poll.elapsed());
            tokio::select! {
                () = self.signals.conduct.notified() => {}
                arrived = arrivals.recv() => match arrived {
                    Some(run) => {
                        look_now.insert(run.run_id.clone());
                        runs.insert(run.run_id.clone(), run);
                    }
                    None if runs.is_empty() => return,
                    None => {}
                },
                () = tokio::time::sleep(wait) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    /// One look at each of `ids`: their ended tasks in one query, their
    /// steps in one transaction. Finished runs leave `runs` with their
    /// outcome; returns the runs to look at again at once.
    async fn look_at(
        &self,
        runs: &mut HashMap<String, Coordinated>,
        ids: &[String],
    ) -> Result<Vec<String>, crate::store::StoreError> {
        let unsure: Vec<String> =
            ids.iter().filter(|id| runs.get(*id).is_some_and(|r| !r.cancelling)).cloned().collect();
        // A cancellation from another process (the API, another CLI) is read
        // with the look that its announcement caused.
        for id in self.store.cancel_requested_among(&unsure).await? {
            if let Some(run) = runs.get_mut(&id) {
                run.cancelling = true;
            }
        }
        let mut finished: HashMap<String, Vec<TaskRecord>> = HashMap::new();
        for task in self.store.unacked_among(ids).await? {
            finished.entry(task.run_id.clone()).or_default().push(task);
        }
        let mut steps = Vec::with_capacity(ids.len());
        let mut again = Vec::new();
        for id in ids {
            let Some(run) = runs.get_mut(id) else { continue };
            let mut step = Advance::default();
            if self.look(run, finished.remove(id).unwrap_or_default(), &mut step).await {
                again.push(id.clone());
            }
            steps.push((id.clone(), step));
        }
        self.store.advance_all(&steps, now_ms()).await?;
        if steps.iter().any(|(_, step)| !step.queue.is_empty()) {
            self.signals.work.notify_waiters();
        }
        for (id, step) in &steps {
            let Some(run) = runs.get(id) else { continue };
            match self.after_step(run, step).await {
                Ok(None) => {}
                Ok(Some(status)) => {
                    if let Some(run) = runs.remove(id) {
                        let _ = run.done.send(Ok(status));
                    }
                }
                Err(err) => {
                    if let Some(run) = runs.remove(id) {
                        let _ = run.done.send(Err(err));
                    }
                }
            }
        }
        Ok(again)
    }

    /// Renews every held run's lease in one statement; a run whose lease
    /// another process took is given up.
    async fn renew_all(&self, runs: &mut HashMap<String, Coordinated>, until: i64) {
        let ids: Vec<String> = runs.keys().cloned().collect();
        match self.store.renew_runs(&ids, &self.instance, until).await {
            Ok(held) => {
                let held: HashSet<String> = held.into_iter().collect();
                for id in ids.iter().filter(|id| !held.contains(*id)) {
                    if let Some(run) = runs.remove(id) {
                        let _ = run.done.send(Err(EngineError::LeaseLost { run_id: id.clone() }));
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "Could not renew the run leases; trying again."),
        }
    }
}
