//! [`Store`] on SQLite and PostgreSQL through sqlx's `Any` driver: one set
//! of SQL for both, with the few dialect differences (row locking) chosen
//! by [`Backend`]. Placeholders are `$1..$n`, numbered in order of first
//! use, which both engines accept.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::str::FromStr;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor, Row};

use super::records::*;
use super::{Store, StoreError};
use crate::status::{RunStatus, TaskStatus};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a URL names.
    ///
    /// # Errors
    /// When the URL is neither SQLite nor PostgreSQL.
    pub fn of_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl { url: url.to_owned() })
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// Row locking for claim queries: workers on PostgreSQL skip rows another
    /// worker is claiming; SQLite serializes writers anyway.
    fn skip_locked(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

/// The SQL store.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    url: String,
}

const TASK_COLUMNS: &str = "run_id, task_id, position, operator, status, attempt, retries, max_attempts, \
    retry_backoff_ms, timeout_ms, config, inputs, outputs, cache_key, error, progress, queued_at, \
    available_at, started_at, finished_at, lease_owner, lease_expires_at";

const RUN_COLUMNS: &str = "id, pipeline, status, spec_path, spec_text, spec_hash, params, seed, owner, error, \
    cancel_requested, coordinator, coordinator_expires_at, created_at, started_at, finished_at";

/// Rows per multi-row INSERT, well under both engines' parameter limits.
const INSERT_BATCH: usize = 400;

impl SqlStore {
    /// Connects without touching the schema.
    ///
    /// # Errors
    /// When the URL is unsupported or the database cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url)?;
        let options = match backend {
            // One connection: SQLite has one writer anyway, and a single
            // connection never sees SQLITE_BUSY from itself.
            Backend::Sqlite => AnyPoolOptions::new().max_connections(1).after_connect(|conn, _| {
                Box::pin(async move {
                    // The busy timeout first: switching to WAL takes a
                    // lock that another process opening the file may hold.
                    conn.execute("PRAGMA busy_timeout = 15000").await?;
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    Ok(())
                })
            }),
            Backend::Postgres => AnyPoolOptions::new().max_connections(16),
        };
        let pool = options.connect(url).await.map_err(|source| StoreError::Connect { url: redact(url), source })?;
        Ok(Self { pool, backend, url: url.to_owned() })
    }

    /// Connects and applies pending migrations (the embedded default does
    /// this on every start; PostgreSQL deployments run `hangar migrate`).
    ///
    /// # Errors
    /// When connecting or migrating fails.
    pub async fn connect_and_migrate(url: &str) -> Result<Self, StoreError> {
        let store = Self::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations.
    ///
    /// # Errors
    /// When a migration fails or the applied ones differ from ours.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        // PostgreSQL migrations take an advisory lock; SQLite's do not, so two
        // processes opening a new database at once would both create it.
        // A lock file next to the database serializes them.
        let _guard = match sqlite_file(&self.url) {
            Some(path) => Some(lock_file(&path)?),
            None => None,
        };
        self.backend.migrator().run(&self.pool).await.map_err(|source| StoreError::Migrate { source })
    }

    /// The newest applied migration and the newest this build knows.
    ///
    /// # Errors
    /// When the migrations table cannot be read.
    pub async fn schema_version(&self) -> Result<(i64, i64), StoreError> {
        let expected = self.backend.migrator().iter().map(|m| m.version).max().unwrap_or(0);
        let found = match sqlx::query("SELECT MAX(version) AS v FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await
        {
            Ok(row) => row.try_get::<Option<i64>, _>("v").ok().flatten().unwrap_or(0),
            Err(_) => 0, // no migrations table yet
        };
        Ok((found, expected))
    }

    /// Fails unless the schema is exactly the one this build expects.
    ///
    /// # Errors
    /// [`StoreError::SchemaMismatch`] with what to do.
    pub async fn check_schema(&self) -> Result<(), StoreError> {
        let (found, expected) = self.schema_version().await?;
        if found == expected {
            return Ok(());
        }
        Err(StoreError::SchemaMismatch {
            found,
            expected,
            hint: if found > expected { " with a newer hangar, or upgrade this one" } else { "" },
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// The database file of a SQLite URL (`sqlite://PATH?...`), if it names one.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| std::path::PathBuf::from(path))
}

/// Holds an exclusive lock on `DB.lock` until dropped.
fn lock_file(db: &std::path::Path) -> Result<std::fs::File, StoreError> {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    let io_error = |source: std::io::Error| StoreError::Lock {
        path: std::path::PathBuf::from(&name).display().to_string(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(std::path::Path::new(&name))
        .map_err(io_error)?;
    file.lock().map_err(io_error)?;
    Ok(file)
}

/// Hides the password of a database URL in messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn json_text<T: serde::Serialize>(value: &T) -> String {
    // Serializing our own record types cannot fail: they hold no maps with
    // non-string keys and no failing Serialize impls.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

fn parse_json<T: DeserializeOwned>(
    text: Option<String>,
    what: &'static str,
    key: &str,
) -> Result<Option<T>, StoreError> {
    match text {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text).map(Some).map_err(|e| StoreError::Corrupt {
            what,
            key: key.to_owned(),
            reason: e.to_string(),
        }),
    }
}

fn get<'r, T>(row: &'r AnyRow, column: &'static str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column).map_err(StoreError::query("decode"))
}

fn as_u32(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

fn parse_word<T: FromStr<Err = crate::status::UnknownStatus>>(text: &str, key: &str) -> Result<T, StoreError> {
    text.parse().map_err(|e: crate::status::UnknownStatus| StoreError::Corrupt {
        what: "status",
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

fn run_from_row(row: &AnyRow) -> Result<RunRecord, StoreError> {
    let id: String = get(row, "id")?;
    let status: String = get(row, "status")?;
    let params: String = get(row, "params")?;
    Ok(RunRecord {
        status: parse_word(&status, &id)?,
        pipeline: get(row, "pipeline")?,
        spec_path: get(row, "spec_path")?,
        spec_text: get(row, "spec_text")?,
        spec_hash: get(row, "spec_hash")?,
        params: parse_json(Some(params), "run params", &id)?.unwrap_or_default(),
        seed: get::<i64>(row, "seed")? as u64,
        owner: get(row, "owner")?,
        error: get(row, "error")?,
        cancel_requested: get::<i64>(row, "cancel_requested")? != 0,
        coordinator: get(row, "coordinator")?,
        coordinator_expires_at: get(row, "coordinator_expires_at")?,
        created_at: get(row, "created_at")?,
        started_at: get(row, "started_at")?,
        finished_at: get(row, "finished_at")?,
        id,
    })
}

fn task_from_row(row: &AnyRow) -> Result<TaskRecord, StoreError> {
    let run_id: String = get(row, "run_id")?;
    let task_id: String = get(row, "task_id")?;
    let key = format!("{run_id}/{task_id}");
    let status: String = get(row, "status")?;
    Ok(TaskRecord {
        status: parse_word(&status, &key)?,
        position: get::<i64>(row, "position")?.max(0) as usize,
        operator: get(row, "operator")?,
        attempt: as_u32(get(row, "attempt")?),
        retries: as_u32(get(row, "retries")?),
        max_attempts: as_u32(get(row, "max_attempts")?),
        retry_backoff_ms: get(row, "retry_backoff_ms")?,
        timeout_ms: get(row, "timeout_ms")?,
        config: parse_json(get(row, "config")?, "task config", &key)?,
        inputs: parse_json(get(row, "inputs")?, "task inputs", &key)?,
        outputs: parse_json(get(row, "outputs")?, "task outputs", &key)?,
        cache_key: get(row, "cache_key")?,
        error: get(row, "error")?,
        progress: parse_json(get(row, "progress")?, "task progress", &key)?,
        queued_at: get(row, "queued_at")?,
        available_at: get(row, "available_at")?,
        started_at: get(row, "started_at")?,
        finished_at: get(row, "finished_at")?,
        lease_owner: get(row, "lease_owner")?,
        lease_expires_at: get(row, "lease_expires_at")?,
        run_id,
        task_id,
    })
}

/// `$first, $first+1, ...` for `count` placeholders.
fn placeholders(first: usize, count: usize) -> String {
    let mut out = String::new();
    for i in 0..count {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "${}", first + i);
    }
    out
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn create_run(&self, run: &NewRun, tasks: &[NewTask]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::query("begin"))?;
        sqlx::query(
            "INSERT INTO runs (id, pipeline, status, spec_path, spec_text, spec_hash, params, seed, owner, created_at) \
             VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&run.id)
        .bind(&run.pipeline)
        .bind(&run.spec_path)
        .bind(&run.spec_text)
        .bind(&run.spec_hash)
        .bind(json_text(&run.params))
        .bind(run.seed as i64)
        .bind(run.owner.clone())
        .bind(run.created_at)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("insert run"))?;
        for chunk in tasks.chunks(INSERT_BATCH) {
            let mut sql = String::from(
                "INSERT INTO task_runs (run_id, task_id, position, operator, status, retries, max_attempts, retry_backoff_ms, timeout_ms, seed) VALUES ",
            );
            for (i, _) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                let b = i * 9 + 1;
                let _ =
                    write!(sql, "(${}, ${}, ${}, ${}, 'pending', {})", b, b + 1, b + 2, b + 3, placeholders(b + 4, 5));
            }
            let mut query = sqlx::query(&sql);
            for task in chunk {
                query = query
                    .bind(&run.id)
                    .bind(&task.task_id)
                    .bind(task.position as i64)
                    .bind(&task.operator)
                    .bind(i64::from(task.retries))
                    .bind(i64::from(task.retries) + 1)
                    .bind(task.retry_backoff_ms)
                    .bind(task.timeout_ms)
                    .bind(task.seed as i64);
            }
            query.execute(&mut *tx).await.map_err(StoreError::query("insert tasks"))?;
        }
        tx.commit().await.map_err(StoreError::query("commit run"))
    }

    async fn run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"))
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("read run"))?;
        row.as_ref().map(run_from_row).transpose()
    }

    async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        let mut sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if filter.pipeline.is_some() {
            let _ = write!(sql, " AND pipeline = ${}", next());
        }
        if filter.status.is_some() {
            let _ = write!(sql, " AND status = ${}", next());
        }
        if filter.owner.is_some() {
            let _ = write!(sql, " AND owner = ${}", next());
        }
        let _ = write!(sql, " ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}", next(), next());
        let mut query = sqlx::query(&sql);
        if let Some(p) = &filter.pipeline {
            query = query.bind(p.clone());
        }
        if let Some(s) = filter.status {
            query = query.bind(s.as_str());
        }
        if let Some(o) = &filter.owner {
            query = query.bind(o.clone());
        }
        let limit = if filter.limit <= 0 { 50 } else { filter.limit };
        let rows = query
            .bind(limit)
            .bind(filter.offset.max(0))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("list runs"))?;
        rows.iter().map(run_from_row).collect()
    }

    async fn tasks(&self, run_id: &str) -> Result<Vec<TaskRecord>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {TASK_COLUMNS} FROM task_runs WHERE run_id = $1 ORDER BY position"))
            .bind(run_id)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("read tasks"))?;
        rows.iter().map(task_from_row).collect()
    }

    async fn attempts(&self, run_id: &str, task_id: &str) -> Result<Vec<AttemptRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT attempt, status, worker, started_at, finished_at, error FROM task_attempts \
             WHERE run_id = $1 AND task_id = $2 ORDER BY attempt",
        )
        .bind(run_id)
        .bind(task_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("read attempts"))?;
        rows.iter()
            .map(|row| {
                Ok(AttemptRecord {
                    attempt: as_u32(get(row, "attempt")?),
                    status: get(row, "status")?,
                    worker: get(row, "worker")?,
                    started_at: get(row, "started_at")?,
                    finished_at: get(row, "finished_at")?,
                    error: get(row, "error")?,
                })
            })
            .collect()
    }

    async fn acquire_run(&self, run_id: &str, coordinator: &str, now: i64, until: i64) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE runs SET coordinator = $1, coordinator_expires_at = $2, \
               status = CASE WHEN status IN ('pending', 'running') THEN 'running' ELSE status END, \
               started_at = COALESCE(started_at, $3) \
             WHERE id = $4 AND (coordinator IS NULL OR coordinator = $1 OR coordinator_expires_at < $3)",
        )
        .bind(coordinator)
        .bind(until)
        .bind(now)
        .bind(run_id)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("acquire run"))?;
        Ok(result.rows_affected() == 1)
    }

    async fn renew_run(&self, run_id: &str, coordinator: &str, until: i64) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE runs SET coordinator_expires_at = $1 WHERE id = $2 AND coordinator = $3")
            .bind(until)
            .bind(run_id)
            .bind(coordinator)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("renew run"))?;
        Ok(result.rows_affected() == 1)
    }

    async fn finish_run(
        &self,
        run_id: &str,
        status: RunStatus,
        error: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE runs SET status = $1, error = $2, finished_at = $3, coordinator = NULL, coordinator_expires_at = NULL \
             WHERE id = $4",
        )
        .bind(status.as_str())
        .bind(error.map(str::to_owned))
        .bind(now)
        .bind(run_id)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("finish run"))?;
        Ok(())
    }

    async fn request_cancel(&self, run_id: &str) -> Result<bool, StoreError> {
        let result =
            sqlx::query("UPDATE runs SET cancel_requested = 1 WHERE id = $1 AND status IN ('pending', 'running')")
                .bind(run_id)
                .execute(&self.pool)
                .await
                .map_err(StoreError::query("cancel run"))?;
        Ok(result.rows_affected() == 1)
    }

    async fn reset_for_resume(&self, run_id: &str) -> Result<(), StoreError> {
        let now = crate::clock::now_ms();
        let mut tx = self.pool.begin().await.map_err(StoreError::query("begin"))?;
        sqlx::query(
            "UPDATE task_attempts SET status = 'lost', finished_at = $1, \
               error = 'interrupted: the process running this attempt stopped before it finished' \
             WHERE run_id = $2 AND status = 'running'",
        )
        .bind(now)
        .bind(run_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("resume attempts"))?;
        sqlx::query(
            "UPDATE task_runs SET status = 'pending', max_attempts = attempt + retries + 1, config = NULL, \
               inputs = NULL, cache_key = NULL, error = NULL, progress = NULL, queued_at = NULL, available_at = NULL, \
               started_at = NULL, finished_at = NULL, lease_owner = NULL, lease_expires_at = NULL \
             WHERE run_id = $1 AND status NOT IN ('succeeded', 'cached')",
        )
        .bind(run_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("resume tasks"))?;
        sqlx::query("UPDATE task_runs SET acked = 1 WHERE run_id = $1")
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("resume tasks"))?;
        sqlx::query(
            "UPDATE runs SET status = 'pending', error = NULL, finished_at = NULL, cancel_requested = 0, \
               coordinator = NULL, coordinator_expires_at = NULL WHERE id = $1",
        )
        .bind(run_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("resume run"))?;
        tx.commit().await.map_err(StoreError::query("commit resume"))
    }

    async fn unacked(&self, run_id: &str) -> Result<Vec<TaskRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM task_runs WHERE run_id = $1 AND acked = 0 ORDER BY position"
        ))
        .bind(run_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("read finished tasks"))?;
        rows.iter().map(task_from_row).collect()
    }

    async fn advance(&self, run_id: &str, step: &Advance, now: i64) -> Result<(), StoreError> {
        if step.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(StoreError::query("begin"))?;
        for chunk in step.acked.chunks(INSERT_BATCH) {
            let sql = format!(
                "UPDATE task_runs SET acked = 1 WHERE run_id = $1 AND task_id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(run_id);
            for id in chunk {
                query = query.bind(id.as_str());
            }
            query.execute(&mut *tx).await.map_err(StoreError::query("ack tasks"))?;
        }
        for task in &step.queue {
            sqlx::query(
                "UPDATE task_runs SET status = 'queued', config = $1, inputs = $2, cache_key = $3, queued_at = $4, \
                   available_at = $4, error = NULL \
                 WHERE run_id = $5 AND task_id = $6 AND status = 'pending'",
            )
            .bind(json_text(&task.config))
            .bind(json_text(&task.inputs))
            .bind(task.cache_key.clone())
            .bind(now)
            .bind(run_id)
            .bind(task.task_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("queue task"))?;
        }
        for settle in &step.settle {
            sqlx::query(
                "UPDATE task_runs SET status = $1, error = $2, outputs = $3, finished_at = $4, \
                   acked = CASE WHEN status = 'queued' THEN 0 ELSE 1 END \
                 WHERE run_id = $5 AND task_id = $6 AND status IN ('pending', 'queued')",
            )
            .bind(settle.status.as_str())
            .bind(settle.error.clone())
            .bind(settle.outputs.as_ref().map(json_text))
            .bind(now)
            .bind(run_id)
            .bind(settle.task_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("settle task"))?;
        }
        tx.commit().await.map_err(StoreError::query("commit step"))
    }

    async fn claim_task(&self, worker: &str, now: i64, lease_until: i64) -> Result<Option<ClaimedTask>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::query("begin"))?;
        let sql = format!(
            "UPDATE task_runs SET status = 'running', attempt = attempt + 1, started_at = $1, lease_owner = $2, \
               lease_expires_at = $3, progress = NULL \
             WHERE (run_id, task_id) IN ( \
               SELECT t.run_id, t.task_id FROM task_runs t \
               WHERE t.status = 'queued' AND t.available_at <= $1 \
                 AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = t.run_id AND r.cancel_requested = 1) \
               ORDER BY t.available_at, t.position LIMIT 1{}) \
             RETURNING run_id, task_id, operator, attempt, max_attempts, retry_backoff_ms, timeout_ms, seed, config, inputs",
            self.backend.skip_locked()
        );
        let row = sqlx::query(&sql)
            .bind(now)
            .bind(worker)
            .bind(lease_until)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::query("claim task"))?;
        let Some(row) = row else {
            tx.commit().await.map_err(StoreError::query("commit claim"))?;
            return Ok(None);
        };
        let run_id: String = get(&row, "run_id")?;
        let task_id: String = get(&row, "task_id")?;
        let attempt = as_u32(get(&row, "attempt")?);
        let key = format!("{run_id}/{task_id}");
        sqlx::query(
            "INSERT INTO task_attempts (run_id, task_id, attempt, status, worker, started_at) \
             VALUES ($1, $2, $3, 'running', $4, $5)",
        )
        .bind(run_id.as_str())
        .bind(task_id.as_str())
        .bind(i64::from(attempt))
        .bind(worker)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("record attempt"))?;
        tx.commit().await.map_err(StoreError::query("commit claim"))?;
        Ok(Some(ClaimedTask {
            operator: get(&row, "operator")?,
            max_attempts: as_u32(get(&row, "max_attempts")?),
            retry_backoff_ms: get(&row, "retry_backoff_ms")?,
            timeout_ms: get(&row, "timeout_ms")?,
            config: parse_json(get(&row, "config")?, "task config", &key)?.unwrap_or_default(),
            inputs: parse_json(get(&row, "inputs")?, "task inputs", &key)?.unwrap_or_else(BTreeMap::new),
            seed: get::<i64>(&row, "seed")? as u64,
            lease: TaskLease { run_id, task_id, attempt, worker: worker.to_owned() },
        }))
    }

    async fn renew_lease(&self, lease: &TaskLease, until: i64) -> Result<LeaseState, StoreError> {
        let result = sqlx::query(
            "UPDATE task_runs SET lease_expires_at = $1 \
             WHERE run_id = $2 AND task_id = $3 AND attempt = $4 AND lease_owner = $5 AND status = 'running'",
        )
        .bind(until)
        .bind(lease.run_id.as_str())
        .bind(lease.task_id.as_str())
        .bind(i64::from(lease.attempt))
        .bind(lease.worker.as_str())
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("renew lease"))?;
        if result.rows_affected() == 0 {
            return Ok(LeaseState::Lost);
        }
        let row = sqlx::query("SELECT cancel_requested FROM runs WHERE id = $1")
            .bind(lease.run_id.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("read run"))?;
        Ok(LeaseState::Held { cancel_requested: get::<i64>(&row, "cancel_requested")? != 0 })
    }

    async fn complete(&self, lease: &TaskLease, completion: &Completion, now: i64) -> Result<bool, StoreError> {
        let (status, outputs, error, finished_at, available_at, acked, attempt_status) = match completion {
            Completion::Succeeded { outputs } => {
                (TaskStatus::Succeeded, Some(json_text(outputs)), None, Some(now), None, 0_i64, "succeeded")
            }
            Completion::Retry { error, available_at } => {
                (TaskStatus::Queued, None, Some(error.clone()), None, Some(*available_at), 1, "failed")
            }
            Completion::Failed { error } => {
                (TaskStatus::Failed, None, Some(error.clone()), Some(now), None, 0, "failed")
            }
            Completion::Cancelled { error } => {
                (TaskStatus::Cancelled, None, Some(error.clone()), Some(now), None, 0, "cancelled")
            }
        };
        let mut tx = self.pool.begin().await.map_err(StoreError::query("begin"))?;
        let result = sqlx::query(
            "UPDATE task_runs SET status = $1, outputs = COALESCE($2, outputs), error = $3, finished_at = $4, \
               available_at = COALESCE($5, available_at), lease_owner = NULL, lease_expires_at = NULL, acked = $6 \
             WHERE run_id = $7 AND task_id = $8 AND attempt = $9 AND status = 'running'",
        )
        .bind(status.as_str())
        .bind(outputs)
        .bind(error.clone())
        .bind(finished_at)
        .bind(available_at)
        .bind(acked)
        .bind(lease.run_id.as_str())
        .bind(lease.task_id.as_str())
        .bind(i64::from(lease.attempt))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("complete task"))?;
        if result.rows_affected() == 0 {
            // A stale attempt: the lease expired and a newer attempt owns the task.
            tx.rollback().await.map_err(StoreError::query("rollback"))?;
            return Ok(false);
        }
        sqlx::query(
            "UPDATE task_attempts SET status = $1, finished_at = $2, error = $3 \
             WHERE run_id = $4 AND task_id = $5 AND attempt = $6",
        )
        .bind(attempt_status)
        .bind(now)
        .bind(error)
        .bind(lease.run_id.as_str())
        .bind(lease.task_id.as_str())
        .bind(i64::from(lease.attempt))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("complete attempt"))?;
        tx.commit().await.map_err(StoreError::query("commit completion"))?;
        Ok(true)
    }

    async fn reap_expired(&self, now: i64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::query("begin"))?;
        let rows = sqlx::query(&format!(
            "SELECT run_id, task_id, attempt, max_attempts, lease_owner FROM task_runs \
             WHERE status = 'running' AND lease_expires_at < $1{}",
            self.backend.skip_locked()
        ))
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::query("find expired leases"))?;
        let mut reaped = 0;
        for row in &rows {
            let run_id: String = get(row, "run_id")?;
            let task_id: String = get(row, "task_id")?;
            let attempt: i64 = get(row, "attempt")?;
            let max_attempts: i64 = get(row, "max_attempts")?;
            let owner: Option<String> = get(row, "lease_owner")?;
            let error = format!(
                "lease expired: worker {} stopped renewing it (killed or cut off) during attempt {attempt}",
                owner.as_deref().unwrap_or("?")
            );
            let retry = attempt < max_attempts;
            sqlx::query(
                "UPDATE task_runs SET status = $1, error = $2, available_at = $3, finished_at = $4, acked = $5, \
                   lease_owner = NULL, lease_expires_at = NULL \
                 WHERE run_id = $6 AND task_id = $7 AND attempt = $8 AND status = 'running'",
            )
            .bind(if retry { "queued" } else { "failed" })
            .bind(error.as_str())
            .bind(now)
            .bind(if retry { None } else { Some(now) })
            .bind(if retry { 1_i64 } else { 0 })
            .bind(run_id.as_str())
            .bind(task_id.as_str())
            .bind(attempt)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("requeue expired task"))?;
            sqlx::query(
                "UPDATE task_attempts SET status = 'lost', finished_at = $1, error = $2 \
                 WHERE run_id = $3 AND task_id = $4 AND attempt = $5",
            )
            .bind(now)
            .bind(error.as_str())
            .bind(run_id.as_str())
            .bind(task_id.as_str())
            .bind(attempt)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("record lost attempt"))?;
            reaped += 1;
        }
        tx.commit().await.map_err(StoreError::query("commit reap"))?;
        Ok(reaped)
    }

    async fn append_logs(&self, entries: &[NewLog]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(StoreError::query("begin"))?;
        for chunk in entries.chunks(INSERT_BATCH) {
            let mut sql = String::from("INSERT INTO task_logs (run_id, task_id, attempt, ts, stream, line) VALUES ");
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                let _ = write!(sql, "({})", placeholders(i * 6 + 1, 6));
            }
            let mut query = sqlx::query(&sql);
            for entry in chunk {
                query = query
                    .bind(entry.run_id.as_str())
                    .bind(entry.task_id.as_str())
                    .bind(i64::from(entry.attempt))
                    .bind(entry.ts)
                    .bind(entry.stream.as_str())
                    .bind(entry.line.as_str());
            }
            query.execute(&mut *tx).await.map_err(StoreError::query("append logs"))?;
        }
        tx.commit().await.map_err(StoreError::query("commit logs"))
    }

    async fn logs(
        &self,
        run_id: &str,
        task_id: Option<&str>,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<LogEntry>, StoreError> {
        let rows = match task_id {
            Some(task_id) => {
                sqlx::query(
                    "SELECT id, task_id, attempt, ts, stream, line FROM task_logs \
                 WHERE run_id = $1 AND task_id = $2 AND id > $3 ORDER BY id LIMIT $4",
                )
                .bind(run_id)
                .bind(task_id)
                .bind(after_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query(
                    "SELECT id, task_id, attempt, ts, stream, line FROM task_logs \
                 WHERE run_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                )
                .bind(run_id)
                .bind(after_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(StoreError::query("read logs"))?;
        rows.iter()
            .map(|row| {
                Ok(LogEntry {
                    id: get(row, "id")?,
                    task_id: get(row, "task_id")?,
                    attempt: as_u32(get(row, "attempt")?),
                    ts: get(row, "ts")?,
                    stream: get(row, "stream")?,
                    line: get(row, "line")?,
                })
            })
            .collect()
    }

    async fn set_progress(&self, lease: &TaskLease, progress: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE task_runs SET progress = $1 \
             WHERE run_id = $2 AND task_id = $3 AND attempt = $4 AND status = 'running'",
        )
        .bind(progress)
        .bind(lease.run_id.as_str())
        .bind(lease.task_id.as_str())
        .bind(i64::from(lease.attempt))
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("record progress"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(redact("postgres://app:s3cret@db:5432/hangar"), "postgres://app:***@db:5432/hangar");
        assert_eq!(redact("postgres://app@db/hangar"), "postgres://app@db/hangar");
        assert_eq!(redact("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }

    #[test]
    fn placeholders_are_numbered_from_the_first() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
    }
}
