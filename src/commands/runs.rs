//! `hangar runs` and `hangar runs show RUN_ID`.

use anyhow::{Context, Result, bail};
use hangar_engine::store::RunFilter;
use hangar_engine::{LogStore, RunStatus, RunStore, SqlStore};
use serde_json::json;

use super::exit;
use crate::cli::{RunsArgs, RunsCommand};
use crate::home::Home;
use crate::summary::{rfc3339, run_summary, task_table};

pub async fn run(args: &RunsArgs, home: &Home, json: bool) -> Result<u8> {
    let Some(store) = home.existing_store().await? else {
        // Reading an empty place creates nothing.
        return match &args.command {
            Some(RunsCommand::Show { run_id, .. }) => bail!("no run {run_id}: {}", home.nothing_here()),
            None if json => {
                println!("[]");
                Ok(exit::OK)
            }
            None => {
                eprintln!("no runs: {}", home.nothing_here());
                Ok(exit::OK)
            }
        };
    };
    match &args.command {
        Some(RunsCommand::Show { run_id, tail }) => {
            let run_id = unique_run(&store, run_id).await?;
            show(&store, &run_id, *tail, json).await
        }
        None => list(&store, args, json).await,
    }
}

/// The one run whose id is `given` or starts with it, as git finds a commit
/// by a prefix of its hash.
pub async fn unique_run(store: &(impl RunStore + ?Sized), given: &str) -> Result<String> {
    let given = given.trim();
    if given.is_empty() {
        bail!("give a run id (or the start of one); list runs with `hangar runs`");
    }
    if store.run(given).await?.is_some() {
        return Ok(given.to_owned());
    }
    let matches = store.run_ids_starting_with(given, 6).await?;
    match matches.as_slice() {
        [] => bail!("run {given} not found; list runs with `hangar runs`"),
        [one] => Ok(one.clone()),
        many => bail!(
            "{given} is the start of {} runs ({}); type more of the id",
            if many.len() > 5 { "more than 5".to_owned() } else { many.len().to_string() },
            many.iter().take(5).map(String::as_str).collect::<Vec<_>>().join(", ")
        ),
    }
}

async fn list(store: &SqlStore, args: &RunsArgs, json: bool) -> Result<u8> {
    let status = match &args.status {
        Some(s) => Some(
            s.parse::<RunStatus>()
                .map_err(|e| anyhow::anyhow!("{e}; use pending, running, succeeded, failed or cancelled"))?,
        ),
        None => None,
    };
    let runs = store
        .runs(&RunFilter { pipeline: args.pipeline.clone(), status, owner: None, limit: args.limit, offset: 0 })
        .await?;
    if json {
        let list: Vec<_> = runs
            .iter()
            .map(|r| {
                json!({
                    "run_id": r.id,
                    "pipeline": r.pipeline,
                    "status": r.status,
                    "created_at": rfc3339(r.created_at),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(exit::OK);
    }
    if runs.is_empty() {
        eprintln!("no runs yet; start one with `hangar run pipelines/FILE.yaml`");
        return Ok(exit::OK);
    }
    println!("{:<36}  {:<24}  {:<10}  CREATED", "RUN", "PIPELINE", "STATUS");
    for r in &runs {
        println!("{:<36}  {:<24}  {:<10}  {}", r.id, r.pipeline, r.status.as_str(), rfc3339(r.created_at));
    }
    Ok(exit::OK)
}

async fn show(store: &SqlStore, run_id: &str, tail: usize, json: bool) -> Result<u8> {
    let Some(run) = store.run(run_id).await? else {
        bail!("run {run_id} not found; list runs with `hangar runs`");
    };
    let summary = run_summary(store, &run).await?;
    let tasks = store.tasks(run_id).await?;
    if json {
        let mut detail = serde_json::to_value(&summary)?;
        for task in &tasks {
            let attempts = store.attempts(run_id, &task.task_id).await?;
            if let Some(entry) = detail["tasks"].get_mut(&task.task_id) {
                entry["attempt_history"] = serde_json::to_value(&attempts)?;
            }
        }
        detail["params"] = run.params.clone();
        detail["spec_path"] = json!(run.spec_path);
        println!("{}", serde_json::to_string_pretty(&detail)?);
        return Ok(exit::OK);
    }
    println!("run       {}", run.id);
    println!("pipeline  {} ({})", run.pipeline, run.spec_path);
    println!("status    {}", run.status);
    println!("created   {}", rfc3339(run.created_at));
    if let Some(d) = summary.duration_s {
        println!("duration  {d:.2}s");
    }
    println!("spec      {}", run.spec_hash);
    println!("params    {}", run.params);
    if let Some(error) = &run.error {
        println!("error     {error}");
    }
    println!();
    print!("{}", task_table(&summary));
    print!("{}", output_paths(&summary));
    for task in &tasks {
        let attempts = store.attempts(run_id, &task.task_id).await?;
        let logs = last_lines(store, run_id, &task.task_id, tail).await?;
        if attempts.iter().all(|a| a.error.is_none()) && logs.is_empty() && task.error.is_none() {
            continue;
        }
        println!("\n== {} ({})", task.task_id, task.status);
        for a in &attempts {
            let error = a.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
            println!("  attempt {} {} on {}{error}", a.attempt, a.status, a.worker.as_deref().unwrap_or("?"));
        }
        if attempts.is_empty()
            && let Some(error) = &task.error
        {
            println!("  {error}");
        }
        for line in logs {
            println!("  | {line}");
        }
    }
    Ok(exit::OK)
}

/// Where each task's outputs are: a path for the local artifact store, the
/// URI elsewhere; a report folder's `report.md` named on its own line.
fn output_paths(summary: &crate::summary::RunSummary) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (task, detail) in &summary.tasks {
        for (name, output) in &detail.outputs {
            if out.is_empty() {
                out.push_str("\noutputs\n");
            }
            let place = output.uri.strip_prefix("file://").unwrap_or(&output.uri);
            let size = hangar_sdk::artifact::human_size(output.size);
            let _ = writeln!(out, "  {task}.{name}  {place}  ({}, {size})", output.kind);
            if output.kind == "report" {
                let report = std::path::Path::new(place).join("report.md");
                if report.exists() {
                    let _ = writeln!(out, "  {task}.{name}  {}", report.display());
                }
            }
        }
    }
    out
}

async fn last_lines(store: &SqlStore, run_id: &str, task_id: &str, tail: usize) -> Result<Vec<String>> {
    if tail == 0 {
        return Ok(Vec::new());
    }
    // Logs are read forward in pages; keep only the last `tail` lines.
    let mut lines = std::collections::VecDeque::with_capacity(tail);
    let mut after = 0;
    loop {
        let page = store.logs(run_id, Some(task_id), after, 1000).await.context("cannot read task logs")?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for entry in page {
            if lines.len() == tail {
                lines.pop_front();
            }
            lines.push_back(format!("{} {}", entry.stream, entry.line));
        }
    }
    Ok(lines.into())
}
