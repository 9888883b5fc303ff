//! Test operators and a harness that runs pipelines on a fresh embedded store.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hangar_engine::{Engine, EngineSettings, RunStatus, SqlStore, WorkerOptions, compile};
use hangar_sdk::{
    ArtifactKind, ArtifactStore, CancellationToken, Operator, OperatorError, OperatorInfo, PortDecl, Progress,
    Registry, TaskContext, TaskOutputs,
};
use schemars::JsonSchema;
use serde::Deserialize;

/// Shared observations of the `work` operator.
#[derive(Debug, Default)]
pub struct Probe {
    pub running: AtomicUsize,
    pub max_running: AtomicUsize,
    /// Attempts started, by task id.
    pub attempts: Mutex<HashMap<String, u32>>,
    /// Cancellations seen, by task id.
    pub cancelled: Mutex<Vec<String>>,
}

impl Probe {
    pub fn attempts_of(&self, task: &str) -> u32 {
        self.attempts.lock().expect("lock").get(task).copied().unwrap_or(0)
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkConfig {
    /// How long the task works, in milliseconds.
    #[serde(default)]
    pub ms: u64,
    /// Fail this many first attempts.
    #[serde(default)]
    pub fail_first: u32,
    /// `external` (retryable) or `user` (not retryable).
    #[serde(default)]
    pub error: Option<String>,
}

/// Sleeps (cancellably), may fail its first attempts, records concurrency.
pub struct Work(pub Arc<Probe>);

impl Operator for Work {
    type Config = WorkConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new("work", "1", "Test operator that works for a while.").not_cacheable()
    }

    async fn run(&self, config: WorkConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        let attempt = {
            let mut attempts = self.0.attempts.lock().expect("lock");
            let n = attempts.entry(ctx.task_id().to_owned()).or_default();
            *n += 1;
            *n
        };
        let now = self.0.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.max_running.fetch_max(now, Ordering::SeqCst);
        ctx.progress(Progress::of(0, 1, "steps"));
        ctx.info(format!("attempt {attempt} working for {} ms", config.ms));
        let outcome = tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(config.ms)) => Ok(()),
            () = ctx.cancellation().cancelled() => Err(()),
        };
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        if outcome.is_err() {
            self.0.cancelled.lock().expect("lock").push(ctx.task_id().to_owned());
            return Err(OperatorError::cancelled());
        }
        if attempt <= config.fail_first {
            return Err(match config.error.as_deref() {
                Some("user") => OperatorError::user(format!("bad input on attempt {attempt}")),
                _ => OperatorError::external(format!("flaky failure on attempt {attempt}")),
            });
        }
        ctx.progress(Progress::of(1, 1, "steps"));
        Ok(TaskOutputs::new())
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmitConfig {
    /// Text written to the output.
    pub text: String,
    /// Set as the artifact's `flag` value, for `if:` to test.
    #[serde(default)]
    pub flag: Option<serde_json::Value>,
}

/// Writes `text` as a `documents` artifact.
pub struct Emit;

impl Operator for Emit {
    type Config = EmitConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new("emit", "1", "Test operator that writes a documents artifact.").output(PortDecl::required(
            "documents",
            ArtifactKind::Documents,
            "The text.",
        ))
    }

    async fn run(&self, config: EmitConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        let mut writer = ctx.create_output("documents.jsonl").await?;
        writer.write(config.text.as_bytes()).await?;
        let mut artifact = writer.finish(ArtifactKind::Documents).await?;
        if let Some(flag) = config.flag {
            artifact.values.insert("flag".to_owned(), flag);
        }
        Ok(TaskOutputs::from([("documents".to_owned(), artifact)]))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpperConfig {
    /// The documents to upper-case.
    pub documents: String,
}

/// Reads a `documents` input and writes it upper-cased.
pub struct Upper;

impl Operator for Upper {
    type Config = UpperConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new("upper", "1", "Test operator that upper-cases documents.")
            .input(PortDecl::required("documents", ArtifactKind::Documents, "Input."))
            .output(PortDecl::required("documents", ArtifactKind::Documents, "Output."))
    }

    async fn run(&self, config: UpperConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        let input = ctx.input("documents")?.clone();
        assert_eq!(input.uri, config.documents, "the config carries the input's URI");
        let text = ctx.artifacts().read(&input.key).await?;
        let mut writer = ctx.create_output("documents.jsonl").await?;
        writer.write(String::from_utf8_lossy(&text).to_uppercase().as_bytes()).await?;
        let artifact = writer.finish(ArtifactKind::Documents).await?;
        Ok(TaskOutputs::from([("documents".to_owned(), artifact)]))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// A tokenizer artifact.
    pub tokenizer: String,
}

/// Declares a `tokenizer` input, to test kind checks.
pub struct NeedsTokenizer;

impl Operator for NeedsTokenizer {
    type Config = TrainConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new("needs_tokenizer", "1", "Test operator with a tokenizer input.").input(PortDecl::required(
            "tokenizer",
            ArtifactKind::Tokenizer,
            "Input.",
        ))
    }

    async fn run(&self, _config: TrainConfig, _ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        Ok(TaskOutputs::new())
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitConfig {
    /// One shard per text.
    pub texts: Vec<String>,
}

/// Writes a documents folder with one JSONL shard per text.
pub struct Split;

impl Operator for Split {
    type Config = SplitConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new("split", "1", "Test operator that writes a sharded documents artifact.")
            .output(PortDecl::required("documents", ArtifactKind::Documents, "The shards."))
    }

    async fn run(&self, config: SplitConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        let mut dir = ctx.output_dir("documents", ArtifactKind::Documents);
        for (i, text) in config.texts.iter().enumerate() {
            dir.put(&format!("part-{i:05}.jsonl"), format!("{text}\n").as_bytes()).await?;
        }
        Ok(TaskOutputs::from([("documents".to_owned(), dir.finish().await?)]))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatherConfig {
    /// The documents to read, whatever their shards.
    pub documents: String,
}

/// Reads every shard of a documents input, in order, into one file.
pub struct Gather;

impl Operator for Gather {
    type Config = GatherConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new("gather", "1", "Test operator that joins the shards of its input.")
            .input(PortDecl::required("documents", ArtifactKind::Documents, "Input."))
            .output(PortDecl::required("documents", ArtifactKind::Documents, "Every shard, in order."))
    }

    async fn run(&self, _config: GatherConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        let input = ctx.input("documents")?.clone();
        let mut joined = Vec::new();
        for shard in hangar_sdk::artifact_files(ctx.artifacts(), &input).await? {
            joined.extend(ctx.artifacts().read(&shard.key).await?);
        }
        let mut writer = ctx.create_output("documents.jsonl").await?;
        writer.write(&joined).await?;
        Ok(TaskOutputs::from([("documents".to_owned(), writer.finish(ArtifactKind::Documents).await?)]))
    }
}

pub fn registry(probe: Arc<Probe>) -> Registry {
    let mut registry = Registry::new();
    registry.register(Split).expect("register");
    registry.register(Gather).expect("register");
    registry.register(Work(probe)).expect("register");
    registry.register(Emit).expect("register");
    registry.register(Upper).expect("register");
    registry.register(NeedsTokenizer).expect("register");
    registry.register(Promote).expect("register");
    registry
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteConfig {
    /// Model name to register a version of.
    pub name: String,
}

/// Registers a version of a model and points `production` at it, through the task's registry.
pub struct Promote;

impl Operator for Promote {
    type Config = PromoteConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new("promote", "1", "Test operator that registers and promotes a model version.").not_cacheable()
    }

    async fn run(&self, config: PromoteConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        let registry = ctx.models()?;
        let version = registry
            .register(hangar_sdk::NewModelVersion {
                name: config.name.clone(),
                run_id: Some(ctx.run_id().to_owned()),
                task_id: Some(ctx.task_id().to_owned()),
                artifact_key: "models/none".to_owned(),
                artifact_digest: "blake3:0".to_owned(),
                metrics: Default::default(),
            })
            .await
            .map_err(|e| OperatorError::external(e.to_string()))?;
        ctx.info(format!("registered version {}", version.version));
        registry
            .set_alias(&config.name, "production", version.version)
            .await
            .map_err(|e| OperatorError::external(e.to_string()))?;
        Ok(TaskOutputs::new())
    }
}

pub fn fast_settings() -> EngineSettings {
    EngineSettings {
        lease: Duration::from_secs(5),
        poll: Duration::from_millis(20),
        flush: Duration::from_millis(20),
        grace: Duration::from_secs(2),
    }
}

pub struct Harness {
    pub engine: Engine,
    pub probe: Arc<Probe>,
    pub owners: Arc<Directory>,
    pub dir: tempfile::TempDir,
}

/// The accounts that own work, as the engine's tests declare them (the
/// account store itself lives outside the engine and is tested there).
#[derive(Default)]
pub struct Directory(std::sync::Mutex<std::collections::HashMap<String, hangar_engine::Standing>>);

impl Directory {
    pub fn set(&self, id: &str, role: &str, disabled: bool) {
        let standing =
            hangar_engine::Standing { email: format!("{id}@hangar.example"), role: role.to_owned(), disabled };
        self.0.lock().expect("directory").insert(id.to_owned(), standing);
    }
}

#[async_trait::async_trait]
impl hangar_engine::Owners for Directory {
    async fn standing(&self, owner: &str) -> Result<Option<hangar_engine::Standing>, String> {
        Ok(self.0.lock().map_err(|e| e.to_string())?.get(owner).cloned())
    }
}

impl Harness {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("hangar.db").display());
        let store = SqlStore::connect_and_migrate(&url).await.expect("store");
        Self::with_store(Arc::new(store), dir)
    }

    pub fn with_store(store: Arc<dyn hangar_engine::Store>, dir: tempfile::TempDir) -> Self {
        let probe = Arc::new(Probe::default());
        let owners = Arc::new(Directory::default());
        let artifacts = ArtifactStore::local(dir.path().join("artifacts")).expect("artifacts");
        let engine = Engine::new(
            store,
            artifacts,
            Arc::new(registry(probe.clone())),
            dir.path().join("scratch"),
            fast_settings(),
        )
        .with_owners(owners.clone());
        Self { engine, probe, owners, dir }
    }

    pub async fn submit(&self, yaml: &str) -> String {
        let plan = compile("test.yaml", yaml, self.engine.registry(), &[]).unwrap_or_else(|d| panic!("{d}"));
        self.engine.submit(&plan, None).await.expect("submit")
    }

    /// Coordinates `run_id` with an embedded worker pool until it ends.
    pub async fn drive(&self, run_id: &str, concurrency: usize) -> RunStatus {
        let shutdown = CancellationToken::new();
        let workers = {
            let engine = self.engine.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                engine.run_workers(WorkerOptions { concurrency, labels: Vec::new() }, shutdown).await
            })
        };
        let status = tokio::time::timeout(Duration::from_secs(60), self.engine.coordinate(run_id))
            .await
            .expect("the run ends within a minute")
            .expect("coordinate");
        shutdown.cancel();
        workers.await.expect("workers");
        status
    }

    pub async fn run(&self, yaml: &str, concurrency: usize) -> (String, RunStatus) {
        let run_id = self.submit(yaml).await;
        let status = self.drive(&run_id, concurrency).await;
        (run_id, status)
    }

    pub async fn statuses(&self, run_id: &str) -> HashMap<String, String> {
        self.engine
            .store()
            .tasks(run_id)
            .await
            .expect("tasks")
            .into_iter()
            .map(|t| (t.task_id, t.status.to_string()))
            .collect()
    }
}

/// A store on a fresh database, and what to do to throw it away.
pub struct Fixture {
    pub store: Arc<SqlStore>,
    pub url: String,
    cleanup: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl Fixture {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("store.db").display());
        let store = SqlStore::connect_and_migrate(&url).await.expect("sqlite store");
        Self { store: Arc::new(store), url, cleanup: None, _dir: Some(dir) }
    }

    pub async fn postgres() -> Self {
        let admin = std::env::var("HANGAR_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!("hangar_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin).await.unwrap_or_else(|e| {
            panic!("PostgreSQL is not reachable at {admin} ({e}); start it (scripts/test.sh does) or set HANGAR_TEST_POSTGRES_URL")
        });
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create database");
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        let url = format!("{base}/{name}");
        let store = SqlStore::connect_and_migrate(&url).await.expect("postgres store");
        Self { store: Arc::new(store), url, cleanup: Some((admin, name)), _dir: None }
    }

    /// A second, independent connection pool on the same database: another worker process.
    pub async fn another(&self) -> Arc<SqlStore> {
        Arc::new(SqlStore::connect(&self.url).await.expect("second store"))
    }

    pub async fn drop_database(self) {
        self.store.pool().close().await;
        if let Some((admin, name)) = self.cleanup
            && let Ok(mut conn) = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin).await
        {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
        }
    }
}

/// Runs each named `async fn(&Fixture)` as two tests: on SQLite and on PostgreSQL.
#[allow(unused_macros)] // Not every test file sharing this module uses it.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let fixture = super::Fixture::sqlite().await;
                    super::$name(&fixture).await;
                    fixture.drop_database().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let fixture = super::Fixture::postgres().await;
                    super::$name(&fixture).await;
                    fixture.drop_database().await;
                }
            }
        )*
    };
}
