//! The database half of a backup: a consistent snapshot file, and putting
//! one back. SQLite is copied online with `VACUUM INTO` (one read
//! transaction, so writers carry on and the copy is consistent);
//! PostgreSQL is dumped with `pg_dump` in its custom format, which reads in
//! one repeatable-read snapshot, and restored with `pg_restore` in one
//! transaction (not `psql`, which would run a tampered dump's `\!` shell
//! commands).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hangar_engine::SqlStore;
use hangar_sdk::ArtifactStore;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

/// Which kind of database a deployment (or a snapshot) has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Self {
        if url.starts_with("sqlite:") { Backend::Sqlite } else { Backend::Postgres }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// The snapshot's file name inside `snapshots/<id>/`.
    pub fn file_name(self) -> &'static str {
        match self {
            Backend::Sqlite => "database.sqlite",
            Backend::Postgres => "database.dump",
        }
    }
}

/// Writes a consistent snapshot of the database to the local file `into`.
pub async fn snapshot(store: &SqlStore, url: &str, into: &Path) -> Result<()> {
    match Backend::of_url(url) {
        Backend::Sqlite => {
            // VACUUM INTO refuses an existing file.
            let _ = std::fs::remove_file(into);
            let path = into.to_str().context("the scratch folder's path is not UTF-8; pass another --home")?;
            sqlx::query(&format!("VACUUM INTO '{}'", path.replace('\'', "''")))
                .execute(store.pool())
                .await
                .context("SQLite could not write the snapshot (VACUUM INTO); is the disk of the Hangar home full?")?;
        }
        Backend::Postgres => {
            let (url, password) = without_password(url)?;
            let mut command = tokio::process::Command::new("pg_dump");
            command
                .args(["--format=custom", "--no-owner", "--no-privileges"])
                .arg(format!("--file={}", into.display()))
                .arg(format!("--dbname={url}"));
            if let Some(password) = password {
                command.env("PGPASSWORD", password);
            }
            let output = command
                .output()
                .await
                .context("cannot start pg_dump; install PostgreSQL's client programs (Debian: postgresql-client)")?;
            if !output.status.success() {
                bail!(
                    "pg_dump failed: {} (if it names a version mismatch: pg_dump's major version must be at least \
                     the server's, see `pg_dump --version`)",
                    String::from_utf8_lossy(&output.stderr).trim()
                );
            }
        }
    }
    Ok(())
}

/// Puts a snapshot file back as the deployment's database. SQLite: the
/// file replaces the database (with its journal files) in one rename.
/// PostgreSQL: the dump drops and recreates Hangar's tables in one transaction.
pub async fn restore(url: &str, file: &Path) -> Result<()> {
    match Backend::of_url(url) {
        Backend::Sqlite => {
            let target = hangar_engine::store::sqlite_file(url)
                .context("HANGAR_DATABASE_URL names an in-memory SQLite database; nothing can be restored into it")?;
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
            }
            let staged = sibling(&target, ".restoring");
            std::fs::copy(file, &staged).with_context(|| format!("cannot write {}", staged.display()))?;
            for journal in ["-wal", "-shm", "-journal"] {
                let _ = std::fs::remove_file(sibling(&target, journal));
            }
            std::fs::rename(&staged, &target).with_context(|| format!("cannot replace {}", target.display()))?;
        }
        Backend::Postgres => {
            let (url, password) = without_password(url)?;
            let mut command = tokio::process::Command::new("pg_restore");
            command
                .args([
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--no-privileges",
                    "--single-transaction",
                    "--exit-on-error",
                ])
                .arg(format!("--dbname={url}"))
                .arg(file);
            if let Some(password) = password {
                command.env("PGPASSWORD", password);
            }
            let output = command
                .output()
                .await
                .context("cannot start pg_restore; install PostgreSQL's client programs (Debian: postgresql-client)")?;
            if !output.status.success() {
                bail!(
                    "pg_restore could not load the snapshot, so the database was left as it was: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                );
            }
        }
    }
    Ok(())
}

/// What a deployment's database already holds: restore refuses to replace
/// a database that has any of it unless told to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Occupancy {
    pub runs: i64,
    pub model_versions: i64,
    pub users: i64,
}

impl Occupancy {
    pub fn is_empty(&self) -> bool {
        self.runs == 0 && self.model_versions == 0 && self.users == 0
    }
}

/// Counts what the database at `url` holds; a SQLite file that does not
/// exist, and tables that do not exist yet, hold nothing.
pub async fn occupancy(url: &str) -> Result<Occupancy> {
    if let Some(file) = hangar_engine::store::sqlite_file(url)
        && !file.exists()
    {
        return Ok(Occupancy::default());
    }
    let store = SqlStore::connect(url).await?;
    let count = |table: &'static str| {
        let pool = store.pool().clone();
        async move {
            match sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&pool).await {
                Ok(n) => Ok(n),
                // A table this database does not have yet holds nothing; any
                // other failure (locked, corrupt, refused) is not "empty".
                Err(sqlx::Error::Database(e))
                    if e.message().contains("no such table") || e.message().contains("does not exist") =>
                {
                    Ok(0)
                }
                Err(e) => Err(e).with_context(|| {
                    format!("cannot count the {table} of the database, so restore cannot tell whether it is empty")
                }),
            }
        }
    };
    let occupancy = Occupancy {
        runs: count("runs").await?,
        model_versions: count("model_versions").await?,
        users: count("users").await?,
    };
    store.pool().close().await;
    Ok(occupancy)
}

/// Uploads a local file to `key` of `dest`; returns its digest and size.
pub async fn upload(file: &Path, dest: &ArtifactStore, key: &str) -> Result<(String, u64)> {
    let mut reader = tokio::fs::File::open(file).await.with_context(|| format!("cannot read {}", file.display()))?;
    let mut writer = dest.writer(key).await.with_context(|| format!("cannot write {}", dest.uri(key)))?;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buffer).await.with_context(|| format!("cannot read {}", file.display()))?;
        if n == 0 {
            break;
        }
        writer.write(&buffer[..n]).await.with_context(|| format!("cannot write {}", dest.uri(key)))?;
    }
    let (digest, size) = (writer.digest(), writer.size());
    writer.finish(hangar_sdk::ArtifactKind::File).await.with_context(|| format!("cannot write {}", dest.uri(key)))?;
    Ok((digest, size))
}

/// Downloads `key` of `backup` to a local file, checking digest and size.
pub async fn download(backup: &ArtifactStore, key: &str, digest: &str, size: u64, into: &Path) -> Result<()> {
    let mut reader = backup.buf_reader(key).await.with_context(|| format!("cannot read {}", backup.uri(key)))?;
    let mut file = tokio::fs::File::create(into).await.with_context(|| format!("cannot write {}", into.display()))?;
    let mut hasher = blake3::Hasher::new();
    let mut written = 0u64;
    loop {
        let chunk = reader.fill_buf().await.with_context(|| format!("cannot read {}", backup.uri(key)))?;
        if chunk.is_empty() {
            break;
        }
        hasher.update(chunk);
        file.write_all(chunk).await.with_context(|| format!("cannot write {}", into.display()))?;
        written += chunk.len() as u64;
        let n = chunk.len();
        reader.consume(n);
    }
    file.sync_all().await.with_context(|| format!("cannot write {}", into.display()))?;
    let found = format!("blake3:{}", hasher.finalize().to_hex());
    if found != digest || written != size {
        bail!(
            "{} does not match the backup's manifest (digest {found}, expected {digest}): the backup is damaged; \
             restore an earlier snapshot (`hangar restore --list`)",
            backup.uri(key)
        );
    }
    Ok(())
}

/// The URL without its password, and the password: handed to pg_dump and
/// pg_restore in `PGPASSWORD`, so it does not show in the process list.
fn without_password(url: &str) -> Result<(String, Option<String>)> {
    let mut parsed = url::Url::parse(url).context("HANGAR_DATABASE_URL is not a URL")?;
    let password = parsed.password().map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned());
    if password.is_some() {
        let _ = parsed.set_password(None);
    }
    Ok((parsed.to_string(), password))
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url_for_the_environment() {
        let (url, password) = without_password("postgres://hangar:s%40cret@db:5432/hangar?sslmode=require").unwrap();
        assert_eq!(url, "postgres://hangar@db:5432/hangar?sslmode=require");
        assert_eq!(password.as_deref(), Some("s@cret"));
        let (url, password) = without_password("postgres://postgres@127.0.0.1:5432/x").unwrap();
        assert_eq!((url.as_str(), password), ("postgres://postgres@127.0.0.1:5432/x", None));
    }
}
