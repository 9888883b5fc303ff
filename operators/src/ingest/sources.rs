//! Where `ingest` reads from: a local file or folder (through the run's
//! access: beneath a data root for ordinary accounts), or a location in the
//! artifact store; filtered by include/exclude globs, in a stable order.

use globset::{Glob, GlobSet, GlobSetBuilder};
use hangar_sdk::{ArtifactStore, InputPath, LocalInput, OperatorError, Resolved, TaskContext};

/// One file to read.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path relative to the ingested folder, with `/` separators.
    pub relative: String,
    pub location: Location,
    pub bytes: u64,
    /// Why the entry cannot be read (a dangling or looping symlink, say):
    /// it is recorded as rejected, and the other files are read.
    pub problem: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Location {
    Local(LocalInput),
    Store(String),
}

/// Builds a glob set; an invalid pattern is a config error.
///
/// # Errors
/// When a pattern does not parse.
pub fn glob_set(patterns: &[String]) -> Result<Option<GlobSet>, String> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern).map_err(|e| format!("invalid glob {pattern:?}: {e}"))?;
        builder.add(glob);
    }
    builder.build().map(Some).map_err(|e| e.to_string())
}

fn keep(relative: &str, include: &Option<GlobSet>, exclude: &Option<GlobSet>) -> bool {
    let hidden = relative.split('/').any(|part| part.starts_with('.'));
    !hidden
        && include.as_ref().is_none_or(|g| g.is_match(relative))
        && exclude.as_ref().is_none_or(|g| !g.is_match(relative))
}

/// Every file under `root`, walked with an explicit stack (a deep tree
/// cannot exhaust this thread's stack). Symlinked folders are not entered,
/// so a link loop cannot run away; an entry that cannot be read is kept
/// with its problem, to be recorded as rejected.
fn walk(root: &LocalInput) -> Result<Vec<SourceFile>, OperatorError> {
    let mut out = Vec::new();
    let names = root.list().map_err(|e| OperatorError::from(root.error(&e)))?;
    let mut pending: Vec<(LocalInput, String)> =
        names.into_iter().map(|n| (root.child(&n), n.to_string_lossy().into_owned())).collect();
    while let Some((entry, relative)) = pending.pop() {
        match entry.stat() {
            Ok(kind) if kind.is_dir && kind.is_symlink => {}
            Ok(kind) if kind.is_dir => match entry.list() {
                Ok(names) => pending.extend(names.into_iter().map(|n| {
                    let child = format!("{relative}/{}", n.to_string_lossy());
                    (entry.child(&n), child)
                })),
                Err(e) => out.push(unreadable(entry, relative, &e)),
            },
            Ok(kind) if kind.is_file => {
                out.push(SourceFile { relative, location: Location::Local(entry), bytes: kind.len, problem: None })
            }
            Ok(_) => {}
            Err(e) => out.push(unreadable(entry, relative, &e)),
        }
    }
    Ok(out)
}

fn unreadable(entry: LocalInput, relative: String, err: &std::io::Error) -> SourceFile {
    let problem = entry.error(err).to_string();
    SourceFile { relative, location: Location::Local(entry), bytes: 0, problem: Some(problem) }
}

/// Lists the files under `path`, sorted by relative path.
///
/// # Errors
/// When the path is refused, does not exist or cannot be listed.
pub async fn list(
    path: &InputPath,
    include: &Option<GlobSet>,
    exclude: &Option<GlobSet>,
    ctx: &TaskContext,
) -> Result<Vec<SourceFile>, OperatorError> {
    let mut files = match ctx.resolve_input(path).await? {
        Resolved::Local(local) => {
            let kind = local.stat().map_err(|e| OperatorError::from(local.error(&e)))?;
            if kind.is_file {
                let name = local.file_name();
                vec![SourceFile { relative: name, location: Location::Local(local), bytes: kind.len, problem: None }]
            } else {
                tokio::task::spawn_blocking(move || walk(&local))
                    .await
                    .map_err(|e| OperatorError::internal(format!("listing the files failed: {e}")))??
            }
        }
        Resolved::Stored(key) => list_stored(path, &key, ctx.artifacts()).await?,
    };
    files.retain(|f| keep(&f.relative, include, exclude));
    files.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(files)
}

async fn list_stored(path: &InputPath, key: &str, store: &ArtifactStore) -> Result<Vec<SourceFile>, OperatorError> {
    let missing = || {
        OperatorError::user(format!(
            "{path} does not exist; give a local file or folder, an upload (uploads/ID), a data root \
             (data://NAME/...) or a location inside the artifact store"
        ))
    };
    if key.is_empty() || key.contains("://") {
        return Err(missing());
    }
    // A folder first: some S3 servers fail a HEAD of a folder-like key
    // instead of answering 404. Listing a file's key as a folder may fail
    // on some backends; the stat below then says what is wrong.
    let listed = store.list(key).await.unwrap_or_default();
    let inside: Vec<(String, u64)> = listed.into_iter().filter(|(file, _)| file != key).collect();
    if !inside.is_empty() {
        return Ok(inside
            .into_iter()
            .map(|(file, bytes)| {
                let relative = file.strip_prefix(&format!("{key}/")).unwrap_or(&file).to_owned();
                SourceFile { relative, location: Location::Store(file), bytes, problem: None }
            })
            .collect());
    }
    if store.exists(key).await? {
        let name = key.rsplit('/').next().unwrap_or(key).to_owned();
        let bytes = store.size(key).await?;
        return Ok(vec![SourceFile {
            relative: name,
            location: Location::Store(key.to_owned()),
            bytes,
            problem: None,
        }]);
    }
    Err(missing())
}

/// A digest of the listed files' names and contents: what ingest reads
/// besides its config, so that output caching notices a changed document.
///
/// # Errors
/// When a file cannot be read.
pub async fn fingerprint(files: &[SourceFile], store: &ArtifactStore) -> Result<String, OperatorError> {
    let mut hasher = blake3::Hasher::new();
    for file in files {
        hasher.update(file.relative.as_bytes());
        hasher.update(&[0]);
        if let Some(problem) = &file.problem {
            hasher.update(problem.as_bytes());
            continue;
        }
        let digest = match &file.location {
            Location::Local(local) => {
                let local = local.clone();
                tokio::task::spawn_blocking(move || {
                    let mut file_hasher = blake3::Hasher::new();
                    local
                        .open()
                        .and_then(|f| file_hasher.update_reader(f).map(|h| h.finalize()))
                        .map_err(|e| OperatorError::from(local.error(&e)))
                })
                .await
                .map_err(|e| OperatorError::internal(format!("hashing task failed: {e}")))??
            }
            Location::Store(key) => blake3::hash(&store.read(key).await?),
        };
        hasher.update(digest.as_bytes());
    }
    Ok(format!("blake3:{}", hasher.finalize().to_hex()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hangar_sdk::{DiscardReporter, TaskIdentity};

    use super::*;

    fn context(store: &ArtifactStore, scratch: &std::path::Path) -> TaskContext {
        TaskContext::new(
            TaskIdentity { run_id: "r".into(), task_id: "t".into(), attempt: 1, seed: 0 },
            Default::default(),
            store.clone(),
            scratch.to_path_buf(),
            Default::default(),
            Arc::new(DiscardReporter),
        )
    }

    #[tokio::test]
    async fn the_fingerprint_follows_names_and_contents() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::write(root.join("a.txt"), "alpha").expect("write");
        std::fs::write(root.join("b.txt"), "beta").expect("write");
        let store = ArtifactStore::local(root.join("store")).expect("store");
        let ctx = context(&store, &root.join("scratch"));
        let path = InputPath::new(root.display().to_string());
        let exclude = glob_set(&["store/**".to_owned()]).expect("globs");
        let listed = || async { list(&path, &None, &exclude, &ctx).await.expect("list") };
        let first = fingerprint(&listed().await, &store).await.expect("fp");
        let again = fingerprint(&listed().await, &store).await.expect("fp");
        assert_eq!(first, again);
        std::fs::write(root.join("b.txt"), "betA").expect("write");
        let edited = fingerprint(&listed().await, &store).await.expect("fp");
        assert_ne!(first, edited, "same size, different content");
        std::fs::rename(root.join("b.txt"), root.join("c.txt")).expect("rename");
        let renamed = fingerprint(&listed().await, &store).await.expect("fp");
        assert_ne!(edited, renamed);
    }

    #[tokio::test]
    async fn folders_are_walked_in_order_with_globs_and_without_hidden_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/c")).expect("mkdir");
        std::fs::write(root.join("b/c/x.md"), "x").expect("write");
        std::fs::write(root.join("a.pdf"), "p").expect("write");
        std::fs::write(root.join("b/skip.tmp"), "t").expect("write");
        std::fs::write(root.join(".hidden.md"), "h").expect("write");
        let store = ArtifactStore::local(root.join("store")).expect("store");
        let ctx = context(&store, &dir.path().join("scratch"));
        let path = InputPath::new(root.display().to_string());
        let exclude = glob_set(&["**/*.tmp".to_owned()]).expect("globs");
        let files = list(&path, &None, &exclude, &ctx).await.expect("list");
        let names: Vec<&str> = files.iter().map(|f| f.relative.as_str()).collect();
        assert_eq!(names, ["a.pdf", "b/c/x.md"]);
        let include = glob_set(&["**/*.md".to_owned()]).expect("globs");
        let files = list(&path, &include, &None, &ctx).await.expect("list");
        assert_eq!(files.len(), 1);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn link_loops_and_dangling_links_are_recorded_not_fatal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("docs");
        std::fs::create_dir_all(root.join("sub")).expect("mkdir");
        std::fs::write(root.join("a.md"), "a").expect("write");
        std::os::unix::fs::symlink(".", root.join("sub/loop")).expect("symlink");
        std::os::unix::fs::symlink("self", root.join("self")).expect("symlink");
        std::os::unix::fs::symlink("nowhere", root.join("dangling.md")).expect("symlink");
        let store = ArtifactStore::local(dir.path().join("store")).expect("store");
        let ctx = context(&store, &dir.path().join("scratch"));
        let files = list(&InputPath::new(root.display().to_string()), &None, &None, &ctx).await.expect("list");
        let names: Vec<(&str, bool)> = files.iter().map(|f| (f.relative.as_str(), f.problem.is_some())).collect();
        assert_eq!(names, [("a.md", false), ("dangling.md", true), ("self", true)]);
    }

    #[tokio::test]
    async fn a_missing_path_is_a_user_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ArtifactStore::local(dir.path()).expect("store");
        let ctx = context(&store, &dir.path().join("scratch"));
        let err = list(&InputPath::new("/definitely/not/here"), &None, &None, &ctx).await.expect_err("missing");
        assert_eq!(err.class, hangar_sdk::ErrorClass::User);
    }
}
