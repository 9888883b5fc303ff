//! The cron scheduler: fires each due time of each schedule exactly once,
//! however many server processes share the database. A fire and the run it
//! starts are one transaction keyed by (schedule, logical time); whoever
//! inserts the key first starts the run, the others find it taken.

use std::collections::HashMap;
use std::sync::Arc;

use hangar_sdk::CancellationToken;
use tokio::task::JoinSet;

use super::{Engine, EngineError, prepare_run};
use crate::clock::Clock;
use crate::cron::CronSchedule;
use crate::plan::{Plan, compile};
use crate::store::catalog::{Fire, ScheduleRecord};

/// Most missed times one schedule fires in one pass when catching up.
const CATCHUP_CAP: usize = 1000;

/// A due time this process fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredRun {
    pub schedule_id: String,
    pub pipeline: String,
    pub logical_time: i64,
    /// The run started; none when the pipeline could not be planned.
    pub run_id: Option<String>,
    pub error: Option<String>,
}

/// The schedule a pipeline's `schedule:` block asks for; its id is
/// `spec:NAME`, so storing a new version of the pipeline replaces it.
pub fn spec_schedule(plan: &Plan, owner: &str, now: i64) -> Option<ScheduleRecord> {
    let spec = plan.spec.schedule.as_ref()?;
    Some(ScheduleRecord {
        id: format!("spec:{}", plan.spec.name),
        pipeline: plan.spec.name.clone(),
        owner: owner.to_owned(),
        cron: spec.cron.clone(),
        timezone: spec.timezone.clone(),
        catchup: spec.catchup,
        max_active_runs: spec.max_active_runs,
        params: serde_json::Value::Object(spec.params.clone().into_iter().collect()),
        source: "spec".to_owned(),
        enabled: true,
        created_at: now,
        last_fire: None,
        resumed_at: None,
    })
}

/// JSON params as `--param KEY=VALUE` pairs: strings as they are, other
/// values in their JSON form (which the planner parses by declared type).
pub fn params_as_overrides(params: &serde_json::Value) -> Vec<(String, String)> {
    let Some(map) = params.as_object() else {
        return Vec::new();
    };
    map.iter()
        .map(|(key, value)| {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (key.clone(), text)
        })
        .collect()
}

impl Engine {
    /// Fires every schedule time due at `now` that no process fired yet,
    /// creating its run. Returns what this call fired.
    ///
    /// # Errors
    /// When the store cannot be read or written.
    pub async fn fire_due_schedules(&self, now: i64) -> Result<Vec<FiredRun>, EngineError> {
        let schedules = self.store.schedules(None).await?;
        let mut texts: HashMap<String, Option<String>> = HashMap::new();
        let mut fired = Vec::new();
        for schedule in schedules.iter().filter(|s| s.enabled) {
            let cron = match CronSchedule::parse(&schedule.cron, &schedule.timezone) {
                Ok(cron) => cron,
                Err(err) => {
                    tracing::warn!(schedule = %schedule.id, error = %err, "Skipping a schedule that does not parse.");
                    continue;
                }
            };
            let after = schedule.fired_up_to();
            let due = cron.due(after, now, schedule.catchup, CATCHUP_CAP);
            if due.is_empty() {
                continue;
            }
            if !texts.contains_key(&schedule.pipeline) {
                let text = self.store.pipeline(&schedule.pipeline).await?.map(|p| p.spec_text);
                texts.insert(schedule.pipeline.clone(), text);
            }
            let text = texts.get(&schedule.pipeline).cloned().flatten();
            for logical_time in due {
                if let Some(done) = self.fire_one(schedule, text.as_deref(), logical_time, now).await? {
                    fired.push(done);
                }
            }
        }
        Ok(fired)
    }

    async fn fire_one(
        &self,
        schedule: &ScheduleRecord,
        text: Option<&str>,
        logical_time: i64,
        now: i64,
    ) -> Result<Option<FiredRun>, EngineError> {
        // The owner's rights as they are now: a schedule stored by someone
        // since disabled or demoted starts nothing it could not start itself.
        let standing = match self.access_for(Some(&schedule.owner)).await {
            Ok(access) => Ok(access),
            Err(err) if err.class == hangar_sdk::ErrorClass::User => Err(err.full_message()),
            Err(err) => return Err(EngineError::Schedule(err.full_message())),
        };
        let planned = match (text, standing) {
            (_, Err(refused)) => Err(format!("not started: {refused}")),
            (None, _) => Err(format!("pipeline {} is no longer stored", schedule.pipeline)),
            (Some(text), Ok(access)) => compile(
                &format!("{}.yaml", schedule.pipeline),
                text,
                &self.registry,
                &params_as_overrides(&schedule.params),
            )
            .map_err(|diagnostics| format!("the pipeline does not plan:\n{diagnostics}"))
            .and_then(|plan| {
                for task in plan.tasks.values() {
                    self.check_privileges(&access, &task.id, &task.operator)
                        .map_err(|err| format!("not started: {}", err.full_message()))?;
                }
                Ok(plan)
            }),
        };
        let prepared = planned.map(|plan| {
            let (mut run, tasks) = prepare_run(&plan, Some(&schedule.owner));
            if schedule.max_active_runs.is_some() {
                run.max_active_runs = schedule.max_active_runs;
            }
            (run, tasks)
        });
        let (run, error) = match &prepared {
            Ok((run, tasks)) => (Some((run, tasks.as_slice())), None),
            Err(error) => (None, Some(error.as_str())),
        };
        let fire = Fire { schedule_id: &schedule.id, logical_time, run, error, now };
        if !self.store.fire(&fire).await? {
            return Ok(None);
        }
        let run_id = run.map(|(run, _)| run.id.clone());
        match (&run_id, error) {
            (Some(run_id), _) => tracing::info!(
                schedule = %schedule.id, pipeline = %schedule.pipeline, logical_time, run = %run_id, "Schedule fired."
            ),
            (None, Some(error)) => tracing::warn!(
                schedule = %schedule.id, pipeline = %schedule.pipeline, logical_time, error, "Schedule fired but no run started."
            ),
            (None, None) => {}
        }
        Ok(Some(FiredRun {
            schedule_id: schedule.id.clone(),
            pipeline: schedule.pipeline.clone(),
            logical_time,
            run_id,
            error: error.map(str::to_owned),
        }))
    }

    /// Fires due schedules about every second, coordinating the runs it
    /// starts, until `shutdown` fires.
    pub async fn run_schedules(&self, clock: Arc<dyn Clock>, shutdown: CancellationToken) {
        let mut coordinators = JoinSet::new();
        loop {
            while coordinators.try_join_next().is_some() {}
            match self.fire_due_schedules(clock.now_ms()).await {
                Ok(fired) => {
                    for run_id in fired.into_iter().filter_map(|f| f.run_id) {
                        let engine = self.clone();
                        coordinators.spawn(async move {
                            if let Err(err) = engine.coordinate(&run_id).await {
                                tracing::warn!(run = %run_id, error = %err, "Could not coordinate a scheduled run.");
                            }
                        });
                    }
                }
                Err(err) => tracing::warn!(error = %err, "Could not fire schedules; trying again."),
            }
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                () = shutdown.cancelled() => break,
            }
        }
        coordinators.shutdown().await;
    }
}
