//! One conductor per process drives every run the process coordinates: it
//! looks only at the runs that something happened to (a task of theirs
//! ended, they were asked to stop), reads their ended tasks in one query,
//! applies all their steps in one transaction, and renews all their leases
//! in one statement. A thousand runs in flight cost what one costs, plus
//! the rows they touch; a loop per run would poll the database a thousand
//! times per interval.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::mpsc;

use super::coordinator::{Coordinated, TaskState};

/// Most runs looked at in one go: one look (a query, a transaction) stays
/// short, and lease renewal is never far behind.
const BATCH: usize = 500;
use super::{Engine, EngineError};
use crate::clock::{millis, now_ms};
use crate::store::{Advance, TaskRecord};

/// Starts the conductor on first use; stops it when the last clone of the
/// engine that started it is dropped.
#[derive(Debug, Default)]
pub(crate) struct ConductorHandle {
    joins: std::sync::Mutex<Option<mpsc::UnboundedSender<Coordinated>>>,
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
        let mut joins = self.conductor.joins.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let run = match joins.as_ref() {
            Some(sender) => match sender.send(run) {
                Ok(()) => return,
                Err(refused) => refused.0,
            },
            None => run,
        };
        // Not started yet, or it stopped (a panic would end every run it
        // held, not those that come after): start one.
        let (sender, arrivals) = mpsc::unbounded_channel();
        // The conductor's own engine must not keep the handle alive, or it
        // would never stop.
        let mut engine = self.clone();
        engine.conductor = std::sync::Arc::default();
        let stop = self.conductor.stop.clone();
        tokio::spawn(async move { engine.run_conductor(arrivals, stop).await });
        if let Err(refused) = sender.send(run) {
            let run = refused.0;
            let _ = run.done.send(Err(EngineError::LeaseLost { run_id: run.run_id.clone() }));
        }
        *joins = Some(sender);
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
            // Runs whose tasks ended here need no reading, only a look.
            let handed = self.signals.runs_handed_over(|id| runs.contains_key(id));

            let mut more = false;
            if !look_now.is_empty() || !handed.is_empty() {
                // In run order, so that two processes' steps lock rows in the
                // same order; in bounded batches, so that one look stays short.
                let mut ids: Vec<String> =
                    look_now.iter().cloned().chain(handed).collect::<BTreeSet<_>>().into_iter().collect();
                more = ids.len() > BATCH;
                ids.truncate(BATCH);
                let read: HashSet<String> = ids.iter().filter(|id| look_now.remove(*id)).cloned().collect();
                match self.look_at(&mut runs, &ids, &read).await {
                    Ok(again) => look_now.extend(again),
                    Err(err) => {
                        // Nothing of the step was applied (one transaction): forget
                        // what was decided in memory (and taken) and look again a
                        // little later, from what the store has.
                        tracing::warn!(error = %err, runs = ids.len(), "Coordinating runs failed; trying again.");
                        self.reload(&mut runs, &ids).await;
                        tokio::time::sleep(self.settings.poll).await;
                        look_now.extend(ids);
                    }
                }
            }

            if now_ms() - last_renewal > lease_ms / 3 && !runs.is_empty() {
                if self.renew_all(&mut runs, now_ms() + lease_ms).await {
                    last_renewal = now_ms();
                }
                if let Err(err) = self.store.reap_expired(now_ms()).await {
                    tracing::warn!(error = %err, "Could not look for expired task leases.");
                }
            }
            if more || !look_now.is_empty() {
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

    /// One look at each of `ids`: the ended tasks of those in `read` in one
    /// query (with their cancellations), those handed over by this process's
    /// workers from memory, and all their steps in one transaction. Finished
    /// runs leave `runs` with their outcome; returns the runs to look at
    /// again at once.
    async fn look_at(
        &self,
        runs: &mut HashMap<String, Coordinated>,
        ids: &[String],
        read: &HashSet<String>,
    ) -> Result<Vec<String>, crate::store::StoreError> {
        let mut finished: HashMap<String, Vec<TaskRecord>> = HashMap::new();
        let to_read: Vec<String> = ids.iter().filter(|id| read.contains(*id)).cloned().collect();
        if !to_read.is_empty() {
            let unsure: Vec<String> =
                to_read.iter().filter(|id| runs.get(*id).is_some_and(|r| !r.cancelling)).cloned().collect();
            // A cancellation from another process (the API, another CLI) is
            // read with the look that its announcement caused; both reads at once.
            let (cancelled, ended) =
                tokio::join!(self.store.cancel_requested_among(&unsure), self.store.take_ended_among(&to_read));
            for id in cancelled? {
                if let Some(run) = runs.get_mut(&id) {
                    run.cancelling = true;
                }
            }
            for task in ended? {
                finished.entry(task.run_id.clone()).or_default().push(task);
            }
        }
        let mut handed = self.signals.take_handed_over(ids);
        let mut steps = Vec::with_capacity(ids.len());
        let mut again = Vec::new();
        for id in ids {
            let Some(run) = runs.get_mut(id) else { continue };
            let mut step = Advance::default();
            let (ended, handed) = (finished.remove(id).unwrap_or_default(), handed.remove(id).unwrap_or_default());
            if self.look(run, ended, handed, &mut step).await {
                again.push(id.clone());
            }
            steps.push((id.clone(), step));
        }
        self.store.advance_all(&steps, now_ms()).await?;
        let queued = steps.iter().any(|(_, step)| !step.queue.is_empty());
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
        // After the events, so that listeners see `queued` before a local
        // worker's `started`.
        if queued {
            self.signals.work.notify_waiters();
        }
        Ok(again)
    }

    /// After a failed look: each run's tasks as the store has them, and its
    /// mapped tasks listed again on the next look.
    async fn reload(&self, runs: &mut HashMap<String, Coordinated>, ids: &[String]) {
        for id in ids {
            let Some(run) = runs.get_mut(id) else { continue };
            match self.store.tasks(id).await {
                Ok(tasks) => {
                    run.states = tasks.into_iter().map(|t| (t.task_id.clone(), TaskState::of(t))).collect();
                    run.fanouts.clear();
                    run.due = None;
                }
                Err(err) => tracing::warn!(run = %id, error = %err, "Could not reload the run's tasks."),
            }
        }
    }

    /// Renews every held run's lease in one statement; a run whose lease
    /// another process took is given up. Returns whether the store answered.
    async fn renew_all(&self, runs: &mut HashMap<String, Coordinated>, until: i64) -> bool {
        let ids: Vec<String> = runs.keys().cloned().collect();
        match self.store.renew_runs(&ids, &self.instance, until).await {
            Ok(held) => {
                let held: HashSet<String> = held.into_iter().collect();
                for id in ids.iter().filter(|id| !held.contains(*id)) {
                    if let Some(run) = runs.remove(id) {
                        let _ = run.done.send(Err(EngineError::LeaseLost { run_id: id.clone() }));
                    }
                }
                true
            }
            Err(err) => {
                tracing::warn!(error = %err, "Could not renew the run leases; trying again.");
                false
            }
        }
    }
}
