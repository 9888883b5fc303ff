//! `hangar run` and `hangar resume`: coordinate a run with embedded workers
//! until it ends, showing it live.

use anyhow::{Context, Result};
use hangar_engine::store::catalog::{NewPipelineVersion, SYSTEM_OWNER, SavedPipeline};
use hangar_engine::{Engine, EngineError, Plan, RunStatus, WorkerOptions};
use hangar_sdk::CancellationToken;

use super::exit;
use crate::cli::{ExecArgs, ResumeArgs, RunArgs};
use crate::home::Home;
use crate::summary::{run_summary, task_table};

pub async fn run(args: &RunArgs, home: &Home, json: bool) -> Result<u8> {
    let registry = crate::registry()?;
    let plan = match super::validate::load(&args.file, &registry, &args.params) {
        Ok(plan) => plan,
        Err(diagnostics) => {
            for d in diagnostics.iter() {
                eprintln!("{d}");
            }
            eprintln!("{} problem(s); nothing was run.", diagnostics.len());
            return Ok(exit::INVALID);
        }
    };
    let engine = home.engine(registry).await?;
    record_pipeline(&engine, &plan).await;
    let run_id = engine.submit(&plan, None).await?;
    drive(&engine, &run_id, plan.tasks.len(), &args.exec, json).await
}

/// A pipeline run from the command line is kept as one saved in the
/// console is, as a version of its name owned by the machine's owner, so
/// administrators find it, its versions and its runs on the Pipelines page.
/// The run goes ahead whatever happens here.
async fn record_pipeline(engine: &Engine, plan: &Plan) {
    let version = NewPipelineVersion {
        name: plan.spec.name.clone(),
        owner: SYSTEM_OWNER.to_owned(),
        hash: plan.hash.clone(),
        spec_text: plan.text.clone(),
        now: hangar_engine::clock::now_ms(),
    };
    match engine.store().save_pipeline(&version).await {
        Ok(SavedPipeline::Taken { owner }) => eprintln!(
            "note: the pipeline name {} belongs to account {owner} in the console; this run is listed under Runs only \
             (rename the pipeline to keep it apart)",
            plan.spec.name
        ),
        Ok(_) => {}
        Err(err) => eprintln!("note: the pipeline was not recorded for the console ({err}); the run goes ahead"),
    }
}

pub async fn resume(args: &ResumeArgs, home: &Home, json: bool) -> Result<u8> {
    let engine = home.engine(crate::registry()?).await?;
    let run_id = match super::runs::unique_run(engine.store().as_ref(), &args.run_id).await {
        Ok(run_id) => run_id,
        Err(err) => {
            eprintln!("error: {err}");
            return Ok(exit::INVALID);
        }
    };
    match engine.prepare_resume(&run_id).await {
        Ok(RunStatus::Succeeded) => {
            eprintln!("run {run_id} already succeeded; nothing to resume");
            return finish(&engine, &run_id, RunStatus::Succeeded, json).await;
        }
        Ok(_) => {}
        Err(err @ (EngineError::RunNotFound { .. } | EngineError::RunBusy { .. })) => {
            eprintln!("error: {err}");
            return Ok(exit::INVALID);
        }
        Err(err) => return Err(err.into()),
    }
    let total = engine.store().tasks(&run_id).await?.len();
    drive(&engine, &run_id, total, &args.exec, json).await
}

/// Runs the coordinator of `run_id`, and embedded workers unless told not
/// to, until the run ends.
async fn drive(engine: &Engine, run_id: &str, total: usize, exec: &ExecArgs, json: bool) -> Result<u8> {
    let display = crate::display::follow(engine.subscribe(), run_id.to_owned(), total, exec.quiet);
    let shutdown = CancellationToken::new();
    let options = WorkerOptions {
        concurrency: exec.concurrency.unwrap_or_else(|| WorkerOptions::default().concurrency),
        labels: Vec::new(),
    };
    let workers = (!exec.no_workers).then(|| {
        let engine = engine.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move { engine.run_workers(options, shutdown).await })
    });
    let interrupt = {
        let engine = engine.clone();
        let run_id = run_id.to_owned();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\ncancelling run {run_id} (press Ctrl-C again to quit at once)");
                if let Err(err) = engine.cancel(&run_id).await {
                    eprintln!("could not record the cancellation: {err}");
                }
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(i32::from(exit::CANCELLED));
                }
            }
        })
    };

    let outcome = engine.coordinate(run_id).await;
    shutdown.cancel();
    interrupt.abort();
    if let Some(workers) = workers {
        workers.await.context("the worker pool stopped unexpectedly")?;
    }
    // The display ends on the run's last event; don't wait on it if that was missed.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), display).await;
    let status = outcome?;
    finish(engine, run_id, status, json).await
}

async fn finish(engine: &Engine, run_id: &str, status: RunStatus, json: bool) -> Result<u8> {
    let run = engine.store().run(run_id).await?.context("the run disappeared from the database")?;
    let summary = run_summary(engine.store().as_ref(), &run).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        eprint!("{}", task_table(&summary));
        eprintln!("run {run_id} {status}; details: hangar runs show {run_id}");
    }
    Ok(match status {
        RunStatus::Succeeded => exit::OK,
        RunStatus::Cancelled => exit::CANCELLED,
        _ => exit::FAILED,
    })
}
