//! Hangar's accounts: who may use the server and what they did.
//!
//! Users and their sign-in sessions (refresh tokens), personal API keys,
//! two-factor sign-in (TOTP with recovery codes) and the audit log, on
//! SQLite and PostgreSQL through sqlx's `Any` driver with one set of SQL.
//! The engine knows runs and artifacts, not people: the API and the CLI
//! open [`Accounts`] next to the engine's store, on the same database.

mod audit;
pub mod keys;
mod rows;
pub mod totp;
mod two_factor;
mod users;
pub mod webhooks;

use sqlx::AnyPool;
use sqlx::migrate::Migrator;

pub use audit::{AuditEntry, AuditFilter, NewAudit, Outcome};
pub use keys::{KeyRecord, NewKey};
pub use two_factor::{Enrolment, SecondFactor};
pub use users::{NewRefreshToken, Profile, Rotation, UserRecord};
pub use webhooks::{AttemptOutcome, DeliveryRecord, DueDelivery, NewDelivery, WebhookRecord};

/// The first version of this crate's migrations: the engine's are below it,
/// and both share sqlx's migration table.
pub const FIRST_MIGRATION: i64 = 1000;

/// An account store failure, naming the operation.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("cannot open the database {url}: {source}; check HANGAR_DATABASE_URL and that the server is running")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("migrating the account tables failed: {source}")]
    Migrate {
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("database {operation} failed: {source}")]
    Query {
        operation: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("the account tables are at version {found} but this hangar needs {expected}; run `hangar migrate`")]
    SchemaMismatch { found: i64, expected: i64 },
    #[error("cannot lock {path} to migrate the account tables: {source}; check that the Hangar home is writable")]
    Lock {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt {what} in the database for {key}: {reason}")]
    Corrupt { what: &'static str, key: String, reason: String },
}

impl AccountError {
    pub(crate) fn query(operation: &'static str) -> impl FnOnce(sqlx::Error) -> AccountError {
        move |source| AccountError::Query { operation, source }
    }
}

/// Which database the accounts live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The account store, over the engine's connection pool or its own.
#[derive(Debug, Clone)]
pub struct Accounts {
    pool: AnyPool,
    dialect: Dialect,
    /// SQLite's database file, whose `.lock` serialises migrations.
    sqlite_file: Option<std::path::PathBuf>,
}

fn migrator(dialect: Dialect) -> Migrator {
    let mut migrator = match dialect {
        Dialect::Sqlite => sqlx::migrate!("migrations/sqlite"),
        Dialect::Postgres => sqlx::migrate!("migrations/postgres"),
    };
    // The engine's migrations share the table: they are not ours to know.
    migrator.set_ignore_missing(true);
    migrator
}

/// Holds an exclusive lock on `DB.lock` (the engine's migration lock) until dropped.
fn lock_file(db: &std::path::Path) -> Result<std::fs::File, AccountError> {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    let path = std::path::PathBuf::from(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .and_then(|file| file.lock().map(|()| file))
        .map_err(|source| AccountError::Lock { path: path.display().to_string(), source })?;
    Ok(file)
}

impl Accounts {
    /// The accounts in the database behind `pool` (a URL starting with
    /// `postgres` is PostgreSQL, anything else SQLite).
    pub fn new(pool: AnyPool, url: &str) -> Self {
        let dialect = if url.starts_with("postgres") { Dialect::Postgres } else { Dialect::Sqlite };
        let sqlite_file = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .map(|rest| rest.split('?').next().unwrap_or_default())
            .filter(|path| !path.is_empty() && !path.starts_with(":memory:"))
            .map(std::path::PathBuf::from);
        Self { pool, dialect, sqlite_file }
    }

    /// Connects to `url` with a pool of its own (tools and tests; the
    /// server shares the engine's pool through [`Accounts::new`]).
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, AccountError> {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(if url.starts_with("sqlite") { 1 } else { 4 })
            .connect(url)
            .await
            .map_err(|source| AccountError::Connect {
                url: url.split('@').next_back().unwrap_or(url).to_owned(),
                source,
            })?;
        Ok(Self::new(pool, url))
    }

    /// The connections (tests reach under the API with them).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Applies this crate's pending migrations. Run it after the engine's,
    /// whose tables come first.
    ///
    /// # Errors
    /// When a migration fails or an applied one differs from ours.
    pub async fn migrate(&self) -> Result<(), AccountError> {
        // PostgreSQL's migrator takes an advisory lock; SQLite's does not,
        // so two processes opening a new home at once would both apply our
        // migrations. The engine's lock file (`DB.lock`) serialises them.
        let _guard = match &self.sqlite_file {
            Some(file) => Some(lock_file(file)?),
            None => None,
        };
        migrator(self.dialect).run(&self.pool).await.map_err(|source| AccountError::Migrate { source })
    }

    /// Fails unless every migration of this crate is applied.
    ///
    /// # Errors
    /// [`AccountError::SchemaMismatch`] with what to do.
    pub async fn check_schema(&self) -> Result<(), AccountError> {
        let expected = migrator(self.dialect).iter().map(|m| m.version).max().unwrap_or(0);
        let found = sqlx::query("SELECT MAX(version) AS v FROM _sqlx_migrations WHERE success AND version >= $1")
            .bind(FIRST_MIGRATION)
            .fetch_one(&self.pool)
            .await
            .ok()
            .and_then(|row| sqlx::Row::try_get::<Option<i64>, _>(&row, "v").ok().flatten())
            .unwrap_or(0);
        if found == expected { Ok(()) } else { Err(AccountError::SchemaMismatch { found, expected }) }
    }

    /// A transaction that will write: SQLite takes its write lock up front,
    /// so a read followed by a write never fails on another writer.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, AccountError> {
        let statement = match self.dialect {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        };
        self.pool.begin_with(statement).await.map_err(AccountError::query("begin"))
    }

    /// Locks the rows read until the transaction ends (PostgreSQL; SQLite has one writer).
    pub(crate) fn for_update(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }
}
