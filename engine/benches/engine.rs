//! Engine overhead, measured the way the Windmill benchmark does: trivial
//! tasks, so the time is the engine's own (scheduling, every state change
//! persisted, logs and events).
//!
//! `cargo bench -p hangar-engine --bench engine` runs it on the embedded
//! store (SQLite file + local artifacts). Options after `--`:
//!   --database-url URL   another store (e.g. postgres://postgres@127.0.0.1/bench)
//!   --workers N[,N…]     worker pools sharing the store, one table row set
//!                        per count (default 1)
//!   --remote             every pool is a separate engine with its own database
//!                        connections, as `hangar worker` processes beside a
//!                        `hangar run --no-workers` coordinator; otherwise the
//!                        first pool is embedded in the coordinator's engine
//!   --concurrency N      tasks each pool runs at once (default: cores)
//!   --task-ms N          each task sleeps N ms instead of returning at once
//!   --workloads LIST     of `seq` (40 sequential), `dag` (1,000-task DAG) and
//!                        `wide` (1,000 independent tasks); default `seq,dag`
//!                        and `plan10k` (only plans a 10,000-task DAG)
//!   --repeat N           repetitions; the median is reported (default 5)
//!   --runs N[,N…]        also submit N runs of a 5-task chain at once and
//!                        coordinate them all (one measurement per N)

use std::sync::Arc;
use std::time::{Duration, Instant};

use hangar_engine::{Engine, EngineSettings, RunStatus, SqlStore, Store, WorkerOptions, compile};
use hangar_sdk::{
    ArtifactStore, CancellationToken, Operator, OperatorError, OperatorInfo, Registry, TaskContext, TaskOutputs,
};
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TrivialConfig {}

/// Does nothing (or sleeps a fixed time): the benchmark measures the
/// engine, not the task.
struct Trivial {
    sleep: Duration,
}

impl Operator for Trivial {
    type Config = TrivialConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new("trivial", "1", "Returns at once.").not_cacheable()
    }

    async fn run(&self, _config: TrivialConfig, _ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        if !self.sleep.is_zero() {
            tokio::time::sleep(self.sleep).await;
        }
        Ok(TaskOutputs::new())
    }
}

struct Options {
    database_url: Option<String>,
    workers: Vec<usize>,
    remote: bool,
    task_ms: u64,
    workloads: Vec<String>,
    /// Numbers of 5-task runs submitted at once, one measurement each.
    runs: Vec<usize>,
    concurrency: usize,
    repeat: usize,
}

fn options() -> Options {
    let mut options = Options {
        database_url: None,
        workers: vec![1],
        remote: false,
        task_ms: 0,
        workloads: vec!["seq".to_owned(), "dag".to_owned()],
        runs: Vec::new(),
        concurrency: std::thread::available_parallelism().map(usize::from).unwrap_or(2),
        repeat: 5,
    };
    let args: Vec<String> = std::env::args().collect();
    let value = |i: usize| args.get(i + 1).cloned().unwrap_or_default();
    for (i, arg) in args.iter().enumerate() {
        match arg.as_str() {
            "--database-url" => options.database_url = Some(value(i)),
            "--workers" => {
                options.workers =
                    value(i).split(',').filter_map(|n| n.trim().parse().ok()).filter(|n| *n > 0).collect();
                if options.workers.is_empty() {
                    options.workers = vec![1];
                }
            }
            "--remote" => options.remote = true,
            "--task-ms" => options.task_ms = value(i).parse().unwrap_or(0),
            "--workloads" => options.workloads = value(i).split(',').map(|w| w.trim().to_owned()).collect(),
            "--concurrency" => options.concurrency = value(i).parse().unwrap_or(options.concurrency),
            "--repeat" => options.repeat = value(i).parse().unwrap_or(5),
            "--runs" => options.runs = value(i).split(',').filter_map(|n| n.trim().parse().ok()).collect(),
            _ => {}
        }
    }
    options
}

fn sequential_spec(n: usize) -> String {
    let mut yaml = String::from("name: sequential\ntasks:\n");
    for i in 0..n {
        if i == 0 {
            yaml.push_str("  t0: { uses: trivial }\n");
        } else {
            yaml.push_str(&format!("  t{i}: {{ uses: trivial, needs: [t{}] }}\n", i - 1));
        }
    }
    yaml
}

fn independent_spec(n: usize) -> String {
    let mut yaml = String::from("name: wide\ntasks:\n");
    for i in 0..n {
        yaml.push_str(&format!("  t{i}: {{ uses: trivial }}\n"));
    }
    yaml
}

/// `layers` × `width` tasks; each task needs its two neighbours in the
/// previous layer, so every layer waits for the one before it.
fn layered_spec(layers: usize, width: usize) -> String {
    let mut yaml = String::from("name: layered\ntasks:\n");
    for layer in 0..layers {
        for i in 0..width {
            if layer == 0 {
                yaml.push_str(&format!("  l0_{i}: {{ uses: trivial }}\n"));
            } else {
                let a = i;
                let b = (i + 1) % width;
                yaml.push_str(&format!(
                    "  l{layer}_{i}: {{ uses: trivial, needs: [l{p}_{a}, l{p}_{b}] }}\n",
                    p = layer - 1
                ));
            }
        }
    }
    yaml
}

fn trivial_registry() -> Registry {
    let mut registry = Registry::new();
    registry.register(Trivial { sleep: Duration::ZERO }).expect("register");
    registry
}

async fn open_store(url: &str) -> Arc<dyn Store> {
    let store = SqlStore::connect_and_migrate(url).await.expect("open the store");
    Arc::new(store)
}

/// `runs` runs of `yaml` at once, from submission until every task run is
/// recorded; returns the wall time.
async fn measure(
    yaml: &str,
    runs: usize,
    options: &Options,
    workers: usize,
    stores: &[Arc<dyn Store>],
    dir: &std::path::Path,
) -> Duration {
    let mut registry = Registry::new();
    registry.register(Trivial { sleep: Duration::from_millis(options.task_ms) }).expect("register");
    let registry = Arc::new(registry);
    let artifacts = ArtifactStore::local(dir.join("artifacts")).expect("artifacts");
    let settings = EngineSettings::default();
    let engine = |store: Arc<dyn Store>| {
        Engine::new(store, artifacts.clone(), registry.clone(), dir.join("scratch"), settings.clone())
    };
    let store = stores[0].clone();
    let coordinator = engine(store.clone());
    let plan = compile("bench.yaml", yaml, &registry, &[]).expect("valid spec");

    // Worker pools as separate engines with their own connections stand for
    // separate processes; they learn of queued tasks from the database (its
    // change feed on PostgreSQL, polling on SQLite). Unless `--remote`, the
    // first pool shares the coordinator's engine, as `hangar run` does.
    let shutdown = CancellationToken::new();
    let mut pools = Vec::new();
    for i in 0..workers {
        let engine = if i == 0 && !options.remote {
            coordinator.clone()
        } else {
            engine(stores[(i + 1) % stores.len()].clone())
        };
        let shutdown = shutdown.clone();
        let concurrency = options.concurrency;
        pools.push(tokio::spawn(async move {
            engine.run_workers(WorkerOptions { concurrency, labels: Vec::new() }, shutdown).await;
        }));
    }
    // Let the pools connect and start listening before the clock starts.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let mut run_ids = Vec::with_capacity(runs);
    for _ in 0..runs {
        run_ids.push(coordinator.submit(&plan, None).await.expect("submit"));
    }
    let mut coordinators = tokio::task::JoinSet::new();
    for run_id in run_ids.clone() {
        let coordinator = coordinator.clone();
        coordinators.spawn(async move { coordinator.coordinate(&run_id).await.expect("coordinate") });
    }
    while let Some(status) = coordinators.join_next().await {
        assert_eq!(status.expect("coordinator"), RunStatus::Succeeded);
    }
    let elapsed = started.elapsed();
    for run_id in &run_ids {
        let tasks = store.tasks(run_id).await.expect("tasks");
        assert!(tasks.iter().all(|t| t.status.is_terminal() && t.finished_at.is_some()), "every task run recorded");
    }
    shutdown.cancel();
    for pool in pools {
        pool.await.expect("pool");
    }
    elapsed
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let options = options();
    let dir = tempfile::tempdir().expect("tempdir");
    let url = options
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display()));
    // Stores are opened once, so that every measured run finds warm
    // connections: one for the coordinator and one per worker pool on
    // PostgreSQL; on SQLite one, since it allows a single writer at a time
    // and a second connection pool would only queue on the file lock.
    let first = open_store(&url).await;
    let backend = first.backend().as_str();
    let mut stores = vec![first.clone()];
    if first.backend() == hangar_engine::store::Backend::Postgres {
        for _ in 0..options.workers.iter().copied().max().unwrap_or(1) {
            stores.push(open_store(&url).await);
        }
    }
    println!(
        "engine overhead on {backend}, {} tasks, worker pools x concurrency {}{}, median of {} runs",
        if options.task_ms == 0 { "trivial".to_owned() } else { format!("{} ms", options.task_ms) },
        options.concurrency,
        if options.remote { ", every pool a separate engine" } else { ", first pool embedded" },
        options.repeat
    );
    println!("{:<8} {:<34} {:>10} {:>12} {:>10}", "workers", "workload", "total ms", "ms per task", "tasks/s");
    for &workers in &options.workers {
        let all = [
            ("seq", "40 sequential tasks", sequential_spec(40), 40usize),
            ("dag", "1,000-task DAG (10 layers x 100)", layered_spec(10, 100), 1000usize),
            ("wide", "1,000 independent tasks", independent_spec(1000), 1000usize),
        ];
        for &runs in &options.runs {
            let yaml = sequential_spec(5);
            let total = measure(&yaml, runs, &options, workers, &stores, dir.path()).await;
            let tasks = runs * 5;
            println!(
                "{workers:<8} {:<34} {:>10.1} {:>12.3} {:>10.1}",
                format!("{runs} runs of 5 tasks at once"),
                total.as_secs_f64() * 1000.0,
                total.as_secs_f64() * 1000.0 / tasks as f64,
                tasks as f64 / total.as_secs_f64()
            );
        }
        if options.workloads.iter().any(|w| w == "plan10k") {
            let yaml = layered_spec(100, 100);
            let started = Instant::now();
            let plan = compile("plan.yaml", &yaml, &trivial_registry(), &[]).expect("valid spec");
            println!(
                "{workers:<8} {:<34} {:>10.1} (planning only: {} tasks)",
                "10,000-task DAG planned",
                started.elapsed().as_secs_f64() * 1000.0,
                plan.tasks.len()
            );
        }
        for (_, name, yaml, tasks) in all.iter().filter(|w| options.workloads.iter().any(|o| o == w.0)) {
            let (name, tasks) = (*name, *tasks);
            // One warm-up run, then the measured ones.
            let _ = measure(yaml, 1, &options, workers, &stores, dir.path()).await;
            let mut times = Vec::new();
            for _ in 0..options.repeat {
                times.push(measure(yaml, 1, &options, workers, &stores, dir.path()).await);
            }
            let total = median(times);
            let per_task = total.as_secs_f64() * 1000.0 / tasks as f64;
            println!(
                "{workers:<8} {name:<34} {:>10.1} {:>12.3} {:>10.1}",
                total.as_secs_f64() * 1000.0,
                per_task,
                tasks as f64 / total.as_secs_f64()
            );
        }
    }
}
