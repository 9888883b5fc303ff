//! Streaming, hashing, atomically committed artifact writers.

use serde::{Deserialize, Serialize};

use crate::artifact::{ArtifactKind, ArtifactRef};
use crate::error::ArtifactError;
use crate::store::ArtifactStore;

/// Bytes gathered before one backend write: large enough that S3 parts are
/// efficient and the local filesystem sees few syscalls, small enough that
/// memory stays flat whatever the artifact size.
const WRITE_CHUNK: usize = 8 << 20;

/// A file being written: bytes are hashed as they stream through and land
/// under a temporary key until [`ArtifactWriter::finish`].
pub struct ArtifactWriter {
    store: ArtifactStore,
    inner: opendal::Writer,
    key: String,
    tmp_key: String,
    hasher: blake3::Hasher,
    size: u64,
    pending: Vec<u8>,
}

impl std::fmt::Debug for ArtifactWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactWriter").field("key", &self.key).field("size", &self.size).finish_non_exhaustive()
    }
}

impl ArtifactWriter {
    pub(crate) async fn start(store: ArtifactStore, key: &str) -> Result<Self, ArtifactError> {
        let key = key.trim_start_matches('/').to_owned();
        // Object stores publish an object only when its upload completes
        // (PutObject, or CompleteMultipartUpload for large ones), so they
        // write the final key directly: a server-side copy would double the
        // traffic and fails beyond 5 GiB. Filesystems write a temporary file
        // and rename it.
        let tmp_key = if store.writes_atomically() { key.clone() } else { temporary_key(&key) };
        let inner = store
            .operator()
            .writer_with(&tmp_key)
            .chunk(WRITE_CHUNK)
            .await
            .map_err(|e| ArtifactError::backend("write", &key, e))?;
        Ok(Self {
            store,
            inner,
            key,
            tmp_key,
            hasher: blake3::Hasher::new(),
            size: 0,
            pending: Vec::with_capacity(WRITE_CHUNK),
        })
    }

    /// The final key of this file.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// `blake3:<hex>` of the bytes written so far: lets a caller check
    /// content against a known digest before [`ArtifactWriter::finish`]
    /// makes it visible.
    pub fn digest(&self) -> String {
        format!("blake3:{}", self.hasher.clone().finalize().to_hex())
    }

    /// Appends bytes.
    ///
    /// # Errors
    /// When the backend refuses the write.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), ArtifactError> {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= WRITE_CHUNK {
            self.flush_pending().await?;
        }
        Ok(())
    }

    async fn flush_pending(&mut self) -> Result<(), ArtifactError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(WRITE_CHUNK));
        self.inner.write(chunk).await.map_err(|e| ArtifactError::backend("write", &self.key, e))
    }

    /// Closes the file and commits it under its final key.
    ///
    /// # Errors
    /// When the last write, the close or the commit fails; the temporary key
    /// is then removed.
    pub async fn finish(mut self, kind: ArtifactKind) -> Result<ArtifactRef, ArtifactError> {
        let result = async {
            self.flush_pending().await?;
            self.inner.close().await.map_err(|e| ArtifactError::backend("close", &self.key, e))?;
            if self.tmp_key == self.key { Ok(()) } else { self.store.commit(&self.tmp_key, &self.key).await }
        }
        .await;
        if let Err(err) = result {
            if self.tmp_key != self.key {
                let _ = self.store.delete(&self.tmp_key).await;
            }
            return Err(err);
        }
        Ok(ArtifactRef {
            kind,
            uri: self.store.uri(&self.key),
            key: self.key.clone(),
            digest: format!("blake3:{}", self.hasher.finalize().to_hex()),
            size: self.size,
            dir: false,
            values: Default::default(),
        })
    }

    /// Abandons the write; nothing becomes visible.
    pub async fn abort(mut self) {
        let _ = self.inner.abort().await;
        if self.tmp_key != self.key {
            let _ = self.store.delete(&self.tmp_key).await;
        }
    }
}

/// How temporary files' names start; listings leave them out.
pub(crate) const TEMPORARY_PREFIX: &str = ".tmp-";

fn temporary_key(key: &str) -> String {
    let (dir, name) = key.rsplit_once('/').unwrap_or(("", key));
    let nonce = NONCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp_name = format!("{TEMPORARY_PREFIX}{}-{nonce}-{name}", std::process::id());
    if dir.is_empty() { tmp_name } else { format!("{dir}/{tmp_name}") }
}

static NONCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// One file of a folder artifact, as listed in its `MANIFEST.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Path relative to the folder.
    pub path: String,
    pub digest: String,
    pub size: u64,
    /// Where the file is kept when not under the folder: a collection (the
    /// outputs of a mapped task's instances) lists files without copying them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl ManifestEntry {
    /// The store key of this file of the folder at `folder`.
    pub fn key_in(&self, folder: &str) -> String {
        match &self.key {
            Some(key) => key.clone(),
            None => format!("{}/{}", folder.trim_end_matches('/'), self.path),
        }
    }
}

/// The manifest that makes a folder artifact complete: written last, so a
/// folder without one is an unfinished write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub kind: ArtifactKind,
    pub files: Vec<ManifestEntry>,
}

/// A folder artifact being written file by file.
#[derive(Debug)]
pub struct ArtifactDirWriter {
    store: ArtifactStore,
    prefix: String,
    kind: ArtifactKind,
    files: Vec<ManifestEntry>,
}

impl ArtifactDirWriter {
    pub(crate) fn new(store: ArtifactStore, prefix: &str, kind: ArtifactKind) -> Self {
        Self { store, prefix: prefix.trim_matches('/').to_owned(), kind, files: Vec::new() }
    }

    /// The key prefix of the folder.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Starts a file inside the folder; pass it back to [`Self::add`] when done.
    ///
    /// # Errors
    /// When the backend refuses the write.
    pub async fn file(&self, relative: &str) -> Result<ArtifactWriter, ArtifactError> {
        self.store.writer(&format!("{}/{}", self.prefix, relative.trim_start_matches('/'))).await
    }

    /// Commits a file started with [`Self::file`] and records it in the manifest.
    ///
    /// # Errors
    /// When the commit fails.
    pub async fn add(&mut self, writer: ArtifactWriter) -> Result<(), ArtifactError> {
        let committed = writer.finish(ArtifactKind::File).await?;
        let path = committed.key.strip_prefix(&format!("{}/", self.prefix)).unwrap_or(&committed.key).to_owned();
        self.files.push(ManifestEntry { path, digest: committed.digest, size: committed.size, key: None });
        Ok(())
    }

    /// Writes a small file in one call.
    ///
    /// # Errors
    /// When the write or commit fails.
    pub async fn put(&mut self, relative: &str, bytes: &[u8]) -> Result<(), ArtifactError> {
        let mut writer = self.file(relative).await?;
        writer.write(bytes).await?;
        self.add(writer).await
    }

    /// Copies a local file into the folder, streaming.
    ///
    /// # Errors
    /// When the local file cannot be read or the write fails.
    pub async fn put_file(&mut self, relative: &str, local: &std::path::Path) -> Result<(), ArtifactError> {
        use tokio::io::AsyncReadExt;
        let io_err = |source| ArtifactError::Io { key: local.display().to_string(), source };
        let mut file = tokio::fs::File::open(local).await.map_err(io_err)?;
        let mut writer = self.file(relative).await?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file
                .read(&mut buf)
                .await
                .map_err(|source| ArtifactError::Io { key: local.display().to_string(), source })?;
            if n == 0 {
                break;
            }
            writer.write(&buf[..n]).await?;
        }
        self.add(writer).await
    }

    /// Writes the manifest and returns the folder artifact. The digest covers
    /// every file's path and digest, so it changes when any file does.
    ///
    /// # Errors
    /// When the manifest cannot be written.
    pub async fn finish(mut self) -> Result<ArtifactRef, ArtifactError> {
        self.files.sort_by(|a, b| a.path.cmp(&b.path));
        let manifest = Manifest { kind: self.kind, files: self.files };
        let bytes = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| ArtifactError::Encode { key: self.prefix.clone(), reason: e.to_string() })?;
        let size = manifest.files.iter().map(|f| f.size).sum();
        let committed = self.store.put(&format!("{}/MANIFEST.json", self.prefix), self.kind, &bytes).await?;
        Ok(ArtifactRef {
            kind: self.kind,
            uri: format!("{}/", self.store.uri(&self.prefix)),
            key: self.prefix,
            digest: committed.digest,
            size,
            dir: true,
            values: Default::default(),
        })
    }
}

/// Each file of an artifact as an artifact of its own: a file artifact is
/// itself; a folder's files are listed by its manifest, in order. The files
/// of a documents folder are documents shards; any other folder's are files.
///
/// # Errors
/// When a folder's manifest is missing or malformed.
pub async fn artifact_files(store: &ArtifactStore, artifact: &ArtifactRef) -> Result<Vec<ArtifactRef>, ArtifactError> {
    let documents = artifact.dir && artifact.kind == ArtifactKind::Documents;
    Ok(artifact_entries(store, artifact)
        .await?
        .into_iter()
        .filter(|(path, _)| !documents || path.ends_with(".jsonl"))
        .map(|(_, file)| file)
        .collect())
}

/// Like [`artifact_files`], every file (a documents folder's manifest
/// included) with its path in the folder: `00003/stats.json` in the
/// collection of a mapped task's folder outputs. A file artifact is its own
/// name.
///
/// # Errors
/// When a folder's manifest is missing or malformed, or names a file
/// outside the run outputs.
pub async fn artifact_entries(
    store: &ArtifactStore,
    artifact: &ArtifactRef,
) -> Result<Vec<(String, ArtifactRef)>, ArtifactError> {
    if !artifact.dir {
        let name = artifact.key.rsplit('/').next().unwrap_or_default().to_owned();
        return Ok(vec![(name, artifact.clone())]);
    }
    let kind = if artifact.kind == ArtifactKind::Documents { ArtifactKind::Documents } else { ArtifactKind::File };
    let manifest = read_manifest(store, artifact).await?;
    manifest
        .files
        .iter()
        .map(|entry| {
            let key = entry.key_in(&artifact.key);
            // Collections list only tasks' outputs: a manifest naming any
            // other key (an upload, a path outside the store) is refused.
            let outside = entry.key.as_deref().is_some_and(|k| !k.starts_with("runs/"));
            if outside || key.split('/').any(|part| part == "..") {
                return Err(ArtifactError::Encode {
                    key: format!("{}/MANIFEST.json", artifact.key),
                    reason: format!("file {:?} points outside the run outputs ({key})", entry.path),
                });
            }
            // The path names the file inside the folder, and readers write
            // files under it: one plain relative path, nothing else.
            if entry.path.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
                return Err(ArtifactError::Encode {
                    key: format!("{}/MANIFEST.json", artifact.key),
                    reason: format!("file {:?} is not a plain relative path", entry.path),
                });
            }
            let file = ArtifactRef {
                kind,
                uri: store.uri(&key),
                key,
                digest: entry.digest.clone(),
                size: entry.size,
                dir: false,
                values: Default::default(),
            };
            Ok((entry.path.clone(), file))
        })
        .collect()
}

/// Writes the manifest of a collection: a folder artifact at `prefix` made
/// of files kept elsewhere (`(path in the folder, file)` pairs), without
/// copying them.
///
/// # Errors
/// When the manifest cannot be written.
pub async fn put_collection(
    store: &ArtifactStore,
    prefix: &str,
    kind: ArtifactKind,
    files: &[(String, ArtifactRef)],
) -> Result<ArtifactRef, ArtifactError> {
    let prefix = prefix.trim_matches('/');
    let manifest = Manifest {
        kind,
        files: files
            .iter()
            .map(|(path, file)| ManifestEntry {
                path: path.clone(),
                digest: file.digest.clone(),
                size: file.size,
                key: Some(file.key.clone()),
            })
            .collect(),
    };
    let bytes = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| ArtifactError::Encode { key: prefix.to_owned(), reason: e.to_string() })?;
    store.put(&format!("{prefix}/MANIFEST.json"), kind, &bytes).await?;
    // The content is the files' paths and digests, not where they are kept:
    // the same files collected by another run are the same collection, so
    // what reads it may come from the cache.
    let mut hasher = blake3::Hasher::new();
    for file in &manifest.files {
        hasher.update(file.path.as_bytes());
        hasher.update(&[0]);
        hasher.update(file.digest.as_bytes());
        hasher.update(&[0]);
    }
    Ok(ArtifactRef {
        kind,
        uri: format!("{}/", store.uri(prefix)),
        key: prefix.to_owned(),
        digest: format!("blake3:{}", hasher.finalize().to_hex()),
        size: manifest.files.iter().map(|f| f.size).sum(),
        dir: true,
        values: Default::default(),
    })
}

/// Reads the manifest of a folder artifact.
///
/// # Errors
/// When the manifest is missing or malformed.
pub async fn read_manifest(store: &ArtifactStore, artifact: &ArtifactRef) -> Result<Manifest, ArtifactError> {
    let key = format!("{}/MANIFEST.json", artifact.key.trim_end_matches('/'));
    let bytes = store.read(&key).await?;
    serde_json::from_slice(&bytes).map_err(|e| ArtifactError::Encode { key, reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_is_invisible_until_finished_and_digest_matches_blake3() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ArtifactStore::local(dir.path()).expect("store");
        let mut writer = store.writer("runs/r1/t/out.txt").await.expect("writer");
        writer.write(b"hello ").await.expect("write");
        writer.write(b"world").await.expect("write");
        assert!(!store.exists("runs/r1/t/out.txt").await.expect("exists"));
        let artifact = writer.finish(ArtifactKind::File).await.expect("finish");
        assert!(store.exists("runs/r1/t/out.txt").await.expect("exists"));
        assert_eq!(artifact.digest, format!("blake3:{}", blake3::hash(b"hello world").to_hex()));
        assert_eq!(artifact.size, 11);
        assert!(artifact.uri.starts_with("file:///"));
        assert_eq!(store.read("runs/r1/t/out.txt").await.expect("read"), b"hello world");
        let leftovers = store.list("runs/r1/t").await.expect("list");
        assert_eq!(leftovers.len(), 1, "no temporary file may remain: {leftovers:?}");
    }

    #[tokio::test]
    async fn aborted_write_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ArtifactStore::local(dir.path()).expect("store");
        let mut writer = store.writer("a/b.bin").await.expect("writer");
        writer.write(&[1, 2, 3]).await.expect("write");
        writer.abort().await;
        assert!(store.list("a").await.expect("list").is_empty());
    }

    #[tokio::test]
    async fn folder_digest_depends_on_every_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ArtifactStore::local(dir.path()).expect("store");
        let mut first = store.dir_writer("m1", ArtifactKind::Model);
        first.put("config.json", b"{}").await.expect("put");
        first.put("weights.bin", b"abc").await.expect("put");
        let first = first.finish().await.expect("finish");
        let mut second = store.dir_writer("m2", ArtifactKind::Model);
        second.put("weights.bin", b"abd").await.expect("put");
        second.put("config.json", b"{}").await.expect("put");
        let second = second.finish().await.expect("finish");
        assert!(first.dir && second.dir);
        assert_eq!(first.size, 5);
        assert_ne!(first.digest, second.digest);
        let manifest = read_manifest(&store, &first).await.expect("manifest");
        assert_eq!(manifest.files.len(), 2);
        assert_eq!(manifest.files[0].path, "config.json");
        assert!(store.artifact_exists(&first).await.expect("exists"));
    }

    #[tokio::test]
    async fn a_manifest_naming_files_outside_its_folder_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ArtifactStore::local(dir.path()).expect("store");
        let mut part = store.dir_writer("runs/r/t/out", ArtifactKind::Dataset);
        part.put("stats.json", b"{}").await.expect("put");
        let part = part.finish().await.expect("finish");
        let stats = artifact_files(&store, &part).await.expect("files").remove(0);
        let entry = |path: &str, key: &str| ManifestEntry {
            path: path.to_owned(),
            digest: stats.digest.clone(),
            size: stats.size,
            key: Some(key.to_owned()),
        };
        let good = put_collection(
            &store,
            "runs/r/t/collection/ok",
            ArtifactKind::Dataset,
            &[("00000/stats.json".to_owned(), stats.clone())],
        )
        .await
        .expect("collection");
        let listed = artifact_entries(&store, &good).await.expect("entries");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].0, "00000/stats.json");
        assert_eq!(listed[0].1.key, stats.key);
        for (path, key) in [
            ("00000/../../x", stats.key.as_str()),
            ("/etc/passwd", stats.key.as_str()),
            ("00000//stats.json", stats.key.as_str()),
            ("00000/stats.json", "uploads/someone-else/file"),
        ] {
            let manifest = Manifest { kind: ArtifactKind::Dataset, files: vec![entry(path, key)] };
            let bytes = serde_json::to_vec(&manifest).expect("json");
            store.put("runs/r/t/crafted/MANIFEST.json", ArtifactKind::File, &bytes).await.expect("put");
            let crafted = ArtifactRef { key: "runs/r/t/crafted".to_owned(), ..good.clone() };
            let err = artifact_entries(&store, &crafted).await.expect_err(path);
            assert!(err.to_string().contains("MANIFEST.json"), "{path}: {err}");
        }
    }
}
