//! Runs outlive the process that started them: any long-lived process
//! (`hangar worker`, `hangar serve`) takes over coordinating runs whose
//! coordinator stopped renewing its lease. A coordinator keeps all of its
//! state in the store, so the new one continues where the old one stopped.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use hangar_sdk::CancellationToken;
use tokio::task::JoinSet;

use super::{Engine, EngineError};
use crate::clock::now_ms;

impl Engine {
    /// Looks for orphaned runs every poll interval and coordinates each one
    /// it wins, until `shutdown` fires. Coordinators in flight then stop;
    /// their leases run out and another process adopts their runs.
    pub async fn adopt_orphans(&self, shutdown: CancellationToken) {
        let adopted: Arc<Mutex<HashSet<String>>> = Arc::default();
        let mut coordinators = JoinSet::new();
        loop {
            while coordinators.try_join_next().is_some() {}
            match self.store.orphaned_runs(now_ms()).await {
                Ok(runs) => {
                    for run_id in runs {
                        if !adopted.lock().unwrap_or_else(PoisonError::into_inner).insert(run_id.clone()) {
                            continue;
                        }
                        let engine = self.clone();
                        let adopted = adopted.clone();
                        coordinators.spawn(async move {
                            engine.coordinate_adopted(&run_id).await;
                            adopted.lock().unwrap_or_else(PoisonError::into_inner).remove(&run_id);
                        });
                    }
                }
                Err(err) => tracing::warn!(error = %err, "Could not look for orphaned runs; trying again."),
            }
            tokio::select! {
                () = tokio::time::sleep(self.settings.poll * 4) => {}
                () = shutdown.cancelled() => break,
            }
        }
        coordinators.shutdown().await;
    }

    async fn coordinate_adopted(&self, run_id: &str) {
        tracing::info!(run = %run_id, "Adopting a run whose coordinator stopped.");
        match self.coordinate(run_id).await {
            Ok(status) => tracing::info!(run = %run_id, status = %status, "Adopted run finished."),
            // Another process won the race for it: nothing to do.
            Err(EngineError::RunBusy { .. } | EngineError::LeaseLost { .. }) => {}
            Err(err) => tracing::warn!(run = %run_id, error = %err, "Could not coordinate an adopted run."),
        }
    }
}
