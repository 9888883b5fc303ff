//! The artifact store: one OpenDAL operator over the local filesystem or S3.
//!
//! A reader never sees a partially written artifact: on the filesystem a
//! write goes to a temporary file renamed into place when complete; on S3
//! the object appears only when its (multipart) upload completes.

use std::path::{Path, PathBuf};

use opendal::services::{Fs, S3};
use opendal::{ErrorKind as DalErrorKind, Operator};
use tokio::io::AsyncBufRead;
use tokio_util::compat::FuturesAsyncReadCompatExt;

use crate::artifact::{ArtifactKind, ArtifactRef};
use crate::error::ArtifactError;
use crate::writer::{ArtifactDirWriter, ArtifactWriter};

/// Where the artifacts live and how to reach them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A folder on the local filesystem.
    Local { root: PathBuf },
    /// A bucket (and key prefix) on an S3-compatible server.
    S3(S3Settings),
}

/// Connection settings of an S3-compatible store (AWS, MinIO, s3s-fs).
#[derive(Clone, PartialEq, Eq)]
pub struct S3Settings {
    pub bucket: String,
    /// Key prefix inside the bucket, without leading or trailing slash.
    pub prefix: String,
    /// Endpoint URL, e.g. `http://127.0.0.1:9000`; AWS when absent.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret key must never reach a log line.
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl S3Settings {
    /// Settings for `s3://bucket/prefix`, credentials and endpoint from the
    /// standard `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY` variables.
    pub fn from_env(bucket: &str, prefix: &str) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            endpoint: var("AWS_ENDPOINT_URL").or_else(|| var("AWS_ENDPOINT_URL_S3")),
            region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).unwrap_or_else(|| "us-east-1".to_owned()),
            access_key_id: var("AWS_ACCESS_KEY_ID"),
            secret_access_key: var("AWS_SECRET_ACCESS_KEY"),
        }
    }
}

impl StoreLocation {
    /// Parses `s3://bucket/prefix`, `file:///abs/path` or a plain path.
    /// S3 credentials come from the environment (see [`S3Settings::from_env`]).
    ///
    /// # Errors
    /// When an `s3://` location names no bucket.
    pub fn parse(location: &str) -> Result<Self, ArtifactError> {
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(ArtifactError::BadLocation {
                    location: location.to_owned(),
                    reason: "expected s3://BUCKET/PREFIX".to_owned(),
                });
            }
            return Ok(StoreLocation::S3(S3Settings::from_env(bucket, prefix)));
        }
        let path = location.strip_prefix("file://").unwrap_or(location);
        Ok(StoreLocation::Local { root: PathBuf::from(path) })
    }
}

/// One file found by [`ArtifactStore::list_files`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFile {
    pub key: String,
    pub size: u64,
    /// When it was last written (ms since the epoch), where the store says.
    pub modified_ms: Option<i64>,
}

/// The artifact store shared by the engine and every operator.
#[derive(Clone, Debug)]
pub struct ArtifactStore {
    op: Operator,
    location: StoreLocation,
    /// `file:///abs/root/` or `s3://bucket/prefix/`, always ending in `/`.
    base_uri: String,
}

impl ArtifactStore {
    /// Opens a store at a parsed location; a local root is created if missing.
    ///
    /// # Errors
    /// When the local folder cannot be created or the S3 settings are invalid.
    pub fn open(location: StoreLocation) -> Result<Self, ArtifactError> {
        match &location {
            StoreLocation::Local { root } => {
                std::fs::create_dir_all(root)
                    .map_err(|source| ArtifactError::Io { key: root.display().to_string(), source })?;
                let root = std::fs::canonicalize(root)
                    .map_err(|source| ArtifactError::Io { key: root.display().to_string(), source })?;
                let root_str = root.to_string_lossy().to_string();
                let op = Operator::new(Fs::default().root(&root_str))
                    .map_err(|e| ArtifactError::backend("open", &root_str, e))?
                    .finish();
                let base_uri = format!("file://{}/", root_str.trim_end_matches('/'));
                Ok(Self { op, location: StoreLocation::Local { root }, base_uri })
            }
            StoreLocation::S3(s3) => {
                let mut builder = S3::default()
                    .bucket(&s3.bucket)
                    .root(&format!("/{}", s3.prefix))
                    .region(&s3.region)
                    .disable_config_load()
                    .disable_ec2_metadata();
                if let Some(endpoint) = &s3.endpoint {
                    builder = builder.endpoint(endpoint);
                }
                if let Some(id) = &s3.access_key_id {
                    builder = builder.access_key_id(id);
                }
                if let Some(secret) = &s3.secret_access_key {
                    builder = builder.secret_access_key(secret);
                }
                let op = Operator::new(builder).map_err(|e| ArtifactError::backend("open", &s3.bucket, e))?.finish();
                let base_uri = if s3.prefix.is_empty() {
                    format!("s3://{}/", s3.bucket)
                } else {
                    format!("s3://{}/{}/", s3.bucket, s3.prefix)
                };
                Ok(Self { op, location, base_uri })
            }
        }
    }

    /// Opens a local store rooted at `root`.
    ///
    /// # Errors
    /// When the folder cannot be created.
    pub fn local(root: impl Into<PathBuf>) -> Result<Self, ArtifactError> {
        Self::open(StoreLocation::Local { root: root.into() })
    }

    /// Where this store lives.
    pub fn location(&self) -> &StoreLocation {
        &self.location
    }

    /// The absolute URI of a key: `file:///...` or `s3://bucket/...`.
    pub fn uri(&self, key: &str) -> String {
        format!("{}{}", self.base_uri, key.trim_start_matches('/'))
    }

    /// The key of an absolute URI inside this store, if it is inside it.
    pub fn key_of_uri(&self, uri: &str) -> Option<String> {
        uri.strip_prefix(&self.base_uri).map(str::to_owned)
    }

    /// The local path of a key, when the store is on the local filesystem.
    pub fn local_path(&self, key: &str) -> Option<PathBuf> {
        match &self.location {
            StoreLocation::Local { root } => Some(root.join(key.trim_start_matches('/'))),
            StoreLocation::S3(_) => None,
        }
    }

    /// Checks that the store is reachable (used by readiness probes).
    ///
    /// # Errors
    /// When the backend answers with an error.
    pub async fn check(&self) -> Result<(), ArtifactError> {
        self.op.check().await.map_err(|e| ArtifactError::backend("check", &self.base_uri, e))
    }

    /// Starts a streaming write of `key`; nothing is visible under `key`
    /// until [`ArtifactWriter::finish`] commits it.
    ///
    /// # Errors
    /// When the backend refuses the write.
    pub async fn writer(&self, key: &str) -> Result<ArtifactWriter, ArtifactError> {
        ArtifactWriter::start(self.clone(), key).await
    }

    /// Starts a folder artifact under `prefix`.
    pub fn dir_writer(&self, prefix: &str, kind: ArtifactKind) -> ArtifactDirWriter {
        ArtifactDirWriter::new(self.clone(), prefix, kind)
    }

    /// Writes `bytes` to `key` atomically and returns the committed artifact.
    ///
    /// # Errors
    /// When the backend refuses the write or the commit.
    pub async fn put(&self, key: &str, kind: ArtifactKind, bytes: &[u8]) -> Result<ArtifactRef, ArtifactError> {
        let mut writer = self.writer(key).await?;
        writer.write(bytes).await?;
        writer.finish(kind).await
    }

    /// Reads a whole key into memory; meant for small files (manifests, configs).
    ///
    /// # Errors
    /// When the key does not exist or cannot be read.
    pub async fn read(&self, key: &str) -> Result<Vec<u8>, ArtifactError> {
        self.op.read(key).await.map(|buf| buf.to_vec()).map_err(|e| ArtifactError::backend("read", key, e))
    }

    /// A buffered streaming reader of a key.
    ///
    /// # Errors
    /// When the key does not exist or cannot be opened.
    pub async fn buf_reader(&self, key: &str) -> Result<impl AsyncBufRead + Unpin + Send + use<>, ArtifactError> {
        let size = self.size(key).await?;
        let reader = self
            .op
            .reader_with(key)
            .chunk(4 << 20)
            .await
            .map_err(|e| ArtifactError::backend("open", key, e))?
            .into_futures_async_read(0..size)
            .await
            .map_err(|e| ArtifactError::backend("open", key, e))?;
        Ok(tokio::io::BufReader::with_capacity(1 << 20, reader.compat()))
    }

    /// A streaming reader of the bytes `range` of a key (for HTTP range
    /// requests); the range must lie within the key's size.
    ///
    /// # Errors
    /// When the key does not exist or cannot be opened.
    pub async fn range_reader(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> Result<impl tokio::io::AsyncRead + Unpin + Send + use<>, ArtifactError> {
        let reader = self
            .op
            .reader_with(key)
            .chunk(1 << 20)
            .await
            .map_err(|e| ArtifactError::backend("open", key, e))?
            .into_futures_async_read(range)
            .await
            .map_err(|e| ArtifactError::backend("open", key, e))?;
        Ok(reader.compat())
    }

    /// The size of a key in bytes.
    ///
    /// # Errors
    /// When the key does not exist.
    pub async fn size(&self, key: &str) -> Result<u64, ArtifactError> {
        self.op.stat(key).await.map(|meta| meta.content_length()).map_err(|e| ArtifactError::backend("stat", key, e))
    }

    /// Whether a file exists at `key` (a folder prefix does not count).
    ///
    /// # Errors
    /// When the backend cannot answer.
    pub async fn exists(&self, key: &str) -> Result<bool, ArtifactError> {
        match self.op.stat(key).await {
            // A folder on the local filesystem stats too; only files count.
            Ok(meta) => Ok(!meta.is_dir()),
            Err(e) if e.kind() == DalErrorKind::NotFound => Ok(false),
            Err(e) => Err(ArtifactError::backend("stat", key, e)),
        }
    }

    /// Whether every file of a committed artifact is still present.
    ///
    /// # Errors
    /// When the backend cannot answer.
    pub async fn artifact_exists(&self, artifact: &ArtifactRef) -> Result<bool, ArtifactError> {
        if artifact.dir {
            self.exists(&format!("{}/MANIFEST.json", artifact.key.trim_end_matches('/'))).await
        } else {
            self.exists(&artifact.key).await
        }
    }

    /// Lists the files below `prefix` (recursively) with their sizes, sorted
    /// by key; files still being written are not listed.
    ///
    /// # Errors
    /// When the backend cannot list.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, ArtifactError> {
        Ok(self.list_files(prefix).await?.into_iter().map(|f| (f.key, f.size)).collect())
    }

    /// Like [`ArtifactStore::list`], with each file's modification time.
    ///
    /// # Errors
    /// When the backend cannot list.
    pub async fn list_files(&self, prefix: &str) -> Result<Vec<ListedFile>, ArtifactError> {
        let dir = format!("{}/", prefix.trim_end_matches('/'));
        let entries = match self.op.list_with(&dir).recursive(true).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == DalErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ArtifactError::backend("list", prefix, e)),
        };
        let mut files = Vec::new();
        for entry in entries {
            if entry.metadata().is_dir() || is_temporary(entry.path()) {
                continue;
            }
            let listed = entry.metadata();
            let (size, modified) = match (listed.content_length(), listed.last_modified()) {
                (size, Some(at)) if size > 0 => (size, Some(at)),
                // Not every backend's listing carries both: ask the file itself.
                _ => match self.op.stat(entry.path()).await {
                    Ok(meta) => (meta.content_length(), meta.last_modified()),
                    Err(_) => (listed.content_length(), listed.last_modified()),
                },
            };
            let modified_ms = modified.map(|at| at.into_inner().as_millisecond());
            files.push(ListedFile { key: entry.path().to_owned(), size, modified_ms });
        }
        files.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(files)
    }

    /// Deletes a key; a missing key is not an error.
    ///
    /// # Errors
    /// When the backend refuses the delete.
    pub async fn delete(&self, key: &str) -> Result<(), ArtifactError> {
        self.op.delete(key).await.map_err(|e| ArtifactError::backend("delete", key, e))
    }

    /// Deletes everything below `prefix`.
    ///
    /// # Errors
    /// When the backend refuses the delete.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<(), ArtifactError> {
        let dir = format!("{}/", prefix.trim_end_matches('/'));
        self.op.remove_all(&dir).await.map_err(|e| ArtifactError::backend("delete", prefix, e))
    }

    /// Makes a local file available: the file itself on a local store, a
    /// downloaded copy under `scratch` on S3. Operators that need a real path
    /// (tokenizer files, model weights) use this.
    ///
    /// # Errors
    /// When the key cannot be read or the copy cannot be written.
    pub async fn fetch_local(&self, key: &str, scratch: &Path) -> Result<PathBuf, ArtifactError> {
        if let Some(path) = self.local_path(key) {
            return Ok(path);
        }
        let target = scratch.join(key.trim_start_matches('/'));
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|source| ArtifactError::Io { key: parent.display().to_string(), source })?;
        }
        let mut reader = self.buf_reader(key).await?;
        let mut file = tokio::fs::File::create(&target)
            .await
            .map_err(|source| ArtifactError::Io { key: target.display().to_string(), source })?;
        tokio::io::copy_buf(&mut reader, &mut file)
            .await
            .map_err(|source| ArtifactError::Io { key: key.to_owned(), source })?;
        Ok(target)
    }

    /// Whether an object becomes visible only once its upload completes
    /// (object stores), so writers need no temporary key.
    pub(crate) fn writes_atomically(&self) -> bool {
        matches!(self.location, StoreLocation::S3(_))
    }

    /// Moves a fully written temporary file to its final key (filesystem
    /// stores only: object stores write the final key directly).
    pub(crate) async fn commit(&self, tmp: &str, key: &str) -> Result<(), ArtifactError> {
        self.op.rename(tmp, key).await.map_err(|e| ArtifactError::backend("commit", key, e))
    }

    pub(crate) fn operator(&self) -> &Operator {
        &self.op
    }
}

/// Whether a key is a write in progress (see `writer::temporary_key`).
fn is_temporary(key: &str) -> bool {
    key.rsplit('/').next().is_some_and(|name| name.starts_with(crate::writer::TEMPORARY_PREFIX))
}
