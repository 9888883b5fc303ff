//! `hangar worker`: a process that claims tasks from the shared database and
//! runs them, and adopts runs whose coordinator stopped.

use anyhow::{Context, Result};
use hangar_engine::{EngineEvent, WorkerOptions};
use hangar_sdk::CancellationToken;
use tokio::signal::unix::{SignalKind, signal};

use super::exit;
use crate::cli::WorkerArgs;
use crate::home::Home;

pub async fn run(args: &WorkerArgs, home: &Home) -> Result<u8> {
    let mut engine = home.engine(crate::registry()?).await?.with_quotas(crate::home::quotas_from_env()?);
    if !args.in_process {
        engine = engine.with_isolation(super::task_exec::isolation(home)?);
    }
    let labels: Vec<String> = args.labels.iter().map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()).collect();
    let options = WorkerOptions {
        concurrency: args.concurrency.unwrap_or_else(|| WorkerOptions::default().concurrency),
        labels: labels.clone(),
    };
    eprintln!(
        "worker {} ready: {} slot(s), labels [{}], {}",
        engine.instance(),
        options.concurrency,
        labels.join(", "),
        if args.no_coordinate { "not adopting runs" } else { "adopting orphaned runs" }
    );

    let shutdown = CancellationToken::new();
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let stopper = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
            eprintln!(
                "stopping: no new tasks; waiting for the running ones (signal again to quit now, they will be retried elsewhere)"
            );
            shutdown.cancel();
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
            std::process::exit(i32::from(exit::CANCELLED));
        })
    };
    let reporter = tokio::spawn(report(engine.subscribe()));
    let adopter = (!args.no_coordinate).then(|| {
        let engine = engine.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move { engine.adopt_orphans(shutdown).await })
    });
    engine.run_workers(options, shutdown.clone()).await;
    if let Some(adopter) = adopter {
        adopter.await.context("the run adopter stopped unexpectedly")?;
    }
    stopper.abort();
    reporter.abort();
    eprintln!("worker {} stopped", engine.instance());
    Ok(exit::OK)
}

/// One line per attempt started and finished in this process.
async fn report(mut events: tokio::sync::broadcast::Receiver<EngineEvent>) {
    loop {
        match events.recv().await {
            Ok(EngineEvent::TaskStarted { run_id, task_id, attempt, .. }) => {
                eprintln!("{run_id} {task_id}: attempt {attempt} started");
            }
            Ok(EngineEvent::TaskFinished { run_id, task_id, status, attempt, error, retry_at }) if attempt > 0 => {
                let note = match (error, retry_at) {
                    (Some(error), Some(_)) => format!(" (will retry): {}", error.lines().next().unwrap_or_default()),
                    (Some(error), None) => format!(": {}", error.lines().next().unwrap_or_default()),
                    _ => String::new(),
                };
                eprintln!("{run_id} {task_id}: attempt {attempt} {status}{note}");
            }
            Ok(EngineEvent::RunFinished { run_id, status }) => eprintln!("{run_id}: run {status}"),
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        }
    }
}
