//! The store on SQLite and PostgreSQL through sqlx's `Any` driver: one set
//! of SQL for both, with the few dialect differences (row locking, JSON
//! containment, advisory locks) chosen by [`Backend`]. Placeholders are
//! `$1..$n`, numbered in order of first use, which both engines accept.

mod catalog;
mod logs;
mod models;
mod pools;
mod queue;
mod roots;
mod rows;
mod runs;
mod schedules;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor, Row};

use super::{Change, Store, StoreError};

/// Versions from here on belong to other parts (the accounts) that share
/// sqlx's migration table.
const OTHERS_MIGRATIONS: i64 = 1000;

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

    /// Locks a row until the transaction ends (PostgreSQL; SQLite has one writer).
    fn for_update(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// `true` when every label the task needs (a JSON array in `column`) is
    /// among the worker's (a JSON array in placeholder `param`).
    fn labels_match(self, column: &str, param: &str) -> String {
        match self {
            Backend::Sqlite => format!(
                "NOT EXISTS (SELECT 1 FROM json_each({column}) need WHERE need.value NOT IN (SELECT value FROM json_each({param})))"
            ),
            Backend::Postgres => format!("({column})::jsonb <@ ({param})::jsonb"),
        }
    }

    fn migrator(self) -> Migrator {
        let mut migrator = match self {
            Backend::Sqlite => sqlx::migrate!("../migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("../migrations/postgres"),
        };
        // The accounts' migrations share the table: they are not ours to know.
        migrator.set_ignore_missing(true);
        migrator
    }
}

/// The SQL store.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    url: String,
    /// The data roots as last read, shared by the clones of this store.
    roots: std::sync::Arc<roots::RecentRoots>,
    /// PostgreSQL: connections for claims only, planning without sorts (see
    /// [`TaskQueue::claim_tasks`]), so that a claim needs no transaction to
    /// set that up.
    claims: Option<AnyPool>,
}

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
        let claims = match backend {
            Backend::Sqlite => None,
            // The planner misjudges how many queued rows pass the labels
            // filter (a jsonb containment it guesses at 1%) and would sort
            // the whole queue for each claim; without sorting it walks the
            // queue index in claim order and stops after a few rows.
            Backend::Postgres => Some(
                AnyPoolOptions::new()
                    .max_connections(4)
                    .min_connections(0)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("SET enable_sort = off").await?;
                            Ok(())
                        })
                    })
                    .connect_lazy(url)
                    .map_err(|source| StoreError::Connect { url: redact(url), source })?,
            ),
        };
        Ok(Self { pool, backend, url: url.to_owned(), roots: std::sync::Arc::default(), claims })
    }

    /// Starts a transaction that will write. SQLite must take the write lock
    /// up front: a deferred transaction that read first and then writes fails
    /// with SQLITE_BUSY_SNAPSHOT, which the busy timeout does not retry, when
    /// another process wrote in between.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let statement = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        self.pool.begin_with(statement).await.map_err(StoreError::query("begin"))
    }

    /// Serialises the transactions that read-then-write one `key` until the
    /// transaction ends. SQLite needs nothing more: [`Self::begin_write`]
    /// already holds its single write lock.
    async fn lock_for_transaction(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        key: &str,
        operation: &'static str,
    ) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(key)
                .execute(&mut **tx)
                .await
                .map_err(StoreError::query(operation))?;
        }
        Ok(())
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
        let found = match sqlx::query("SELECT MAX(version) AS v FROM _sqlx_migrations WHERE success AND version < $1")
            .bind(OTHERS_MIGRATIONS)
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

const QUEUED_CHANNEL: &str = "hangar_queued";
const FINISHED_CHANNEL: &str = "hangar_finished";

/// The channel and payload that announce `change` on PostgreSQL.
fn notification(change: &Change) -> (&'static str, &str) {
    match change {
        Change::Queued => (QUEUED_CHANNEL, ""),
        Change::Finished => (FINISHED_CHANNEL, ""),
        Change::RunChanged(run_id) => (FINISHED_CHANNEL, run_id.as_str()),
    }
}

impl SqlStore {
    /// Tells listening processes, when the transaction commits, that
    /// something changed (PostgreSQL; SQLite processes poll).
    async fn announce(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, change: &Change) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let (channel, payload) = notification(change);
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload.to_owned())
            .execute(&mut **tx)
            .await
            .map(|_| ())
            .map_err(StoreError::query("announce a change"))
    }
}

#[async_trait::async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn changes(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Change>>, StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let mut listener = sqlx::postgres::PgListener::connect(&self.url)
            .await
            .map_err(|source| StoreError::Connect { url: redact(&self.url), source })?;
        listener.listen_all([QUEUED_CHANNEL, FINISHED_CHANNEL]).await.map_err(StoreError::query("listen"))?;
        let (sender, receiver) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(async move {
            loop {
                // The listener reconnects by itself after a dropped connection;
                // changes missed meanwhile are picked up by polling.
                let received = tokio::select! {
                    received = listener.recv() => received,
                    // Nobody listens any more: close the connection.
                    () = sender.closed() => break,
                };
                let change = match received {
                    Ok(notice) if notice.channel() == QUEUED_CHANNEL => Change::Queued,
                    Ok(notice) if notice.payload().is_empty() => Change::Finished,
                    Ok(notice) => Change::RunChanged(notice.payload().to_owned()),
                    Err(err) => {
                        tracing::warn!(error = %err, "Lost the database change feed; polling until it is back.");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        continue;
                    }
                };
                // A full channel means a busy listener: a dropped wake-up is
                // made up for by polling.
                if let Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) = sender.try_send(change) {
                    break;
                }
            }
        });
        Ok(Some(receiver))
    }
}

/// The database file of a SQLite URL (`sqlite://PATH?...`), if it names one.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
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
        assert_eq!(rows::placeholders(3, 3), "$3, $4, $5");
    }
}
