//! Where `ingest` reads from: a local file or folder, or a location in the
//! artifact store; filtered by include/exclude globs, in a stable order.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use hangar_sdk::{ArtifactStore, OperatorError};

/// One file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Path relative to the ingested folder, with `/` separators.
    pub relative: String,
    pub location: Location,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
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

fn walk(root: &Path, dir: &Path, out: &mut Vec<SourceFile>) -> Result<(), OperatorError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| OperatorError::user(format!("cannot list {}: {e}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(|e| OperatorError::external(format!("cannot list {}: {e}", dir.display())))?;
        let path = entry.path();
        let meta = std::fs::metadata(&path)
            .map_err(|e| OperatorError::external(format!("cannot stat {}: {e}", path.display())))?;
        if meta.is_dir() {
            walk(root, &path, out)?;
        } else if meta.is_file() {
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push(SourceFile { relative, location: Location::Local(path), bytes: meta.len() });
        }
    }
    Ok(())
}

/// Lists the files under `path`, sorted by relative path.
///
/// # Errors
/// When the path does not exist or cannot be listed.
pub async fn list(
    path: &str,
    include: &Option<GlobSet>,
    exclude: &Option<GlobSet>,
    store: &ArtifactStore,
) -> Result<Vec<SourceFile>, OperatorError> {
    let mut files = Vec::new();
    let in_store = path.starts_with("s3://") || store.key_of_uri(path).is_some();
    let local = Path::new(path.strip_prefix("file://").unwrap_or(path));
    if !in_store && local.exists() {
        if local.is_file() {
            let name = local.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let bytes = std::fs::metadata(local).map(|m| m.len()).unwrap_or(0);
            files.push(SourceFile { relative: name, location: Location::Local(local.to_path_buf()), bytes });
        } else {
            walk(local, local, &mut files)?;
        }
    } else {
        let missing = || {
            OperatorError::user(format!(
                "{path} does not exist; give a local file or folder, or a location inside the artifact store"
            ))
        };
        let key = match store.key_of_uri(path) {
            Some(key) => key,
            None if path.contains("://") => return Err(missing()),
            None => path.to_owned(),
        };
        let key = key.trim_end_matches('/').to_owned();
        if key.is_empty() {
            return Err(missing());
        }
        // A folder first: some S3 servers fail a HEAD of a folder-like key
        // instead of answering 404.
        // Listing a file's key as a folder may fail on some backends; the
        // stat below then says what is wrong.
        let listed = store.list(&key).await.unwrap_or_default();
        let inside: Vec<(String, u64)> = listed.into_iter().filter(|(file, _)| file != &key).collect();
        if !inside.is_empty() {
            for (file, bytes) in inside {
                let relative = file.strip_prefix(&format!("{key}/")).unwrap_or(&file).to_owned();
                files.push(SourceFile { relative, location: Location::Store(file), bytes });
            }
        } else if store.exists(&key).await? {
            let name = key.rsplit('/').next().unwrap_or(&key).to_owned();
            let bytes = store.size(&key).await?;
            files.push(SourceFile { relative: name, location: Location::Store(key), bytes });
        } else {
            return Err(missing());
        }
    }
    files.retain(|f| keep(&f.relative, include, exclude));
    files.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(files)
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
        let digest = match &file.location {
            Location::Local(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    let mut file_hasher = blake3::Hasher::new();
                    std::fs::File::open(&path)
                        .and_then(|f| file_hasher.update_reader(f).map(|h| h.finalize()))
                        .map_err(|e| OperatorError::external(format!("cannot read {}: {e}", path.display())))
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
    use super::*;

    #[tokio::test]
    async fn the_fingerprint_follows_names_and_contents() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::write(root.join("a.txt"), "alpha").expect("write");
        std::fs::write(root.join("b.txt"), "beta").expect("write");
        let store = ArtifactStore::local(root.join("store")).expect("store");
        let path = root.display().to_string();
        let exclude = glob_set(&["store/**".to_owned()]).expect("globs");
        let first = fingerprint(&list(&path, &None, &exclude, &store).await.expect("list"), &store).await.expect("fp");
        let again = fingerprint(&list(&path, &None, &exclude, &store).await.expect("list"), &store).await.expect("fp");
        assert_eq!(first, again);
        std::fs::write(root.join("b.txt"), "betA").expect("write");
        let edited = fingerprint(&list(&path, &None, &exclude, &store).await.expect("list"), &store).await.expect("fp");
        assert_ne!(first, edited, "same size, different content");
        std::fs::rename(root.join("b.txt"), root.join("c.txt")).expect("rename");
        let renamed =
            fingerprint(&list(&path, &None, &exclude, &store).await.expect("list"), &store).await.expect("fp");
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
        let exclude = glob_set(&["**/*.tmp".to_owned()]).expect("globs");
        let files = list(&root.display().to_string(), &None, &exclude, &store).await.expect("list");
        let names: Vec<&str> = files.iter().map(|f| f.relative.as_str()).collect();
        assert_eq!(names, ["a.pdf", "b/c/x.md"]);
        let include = glob_set(&["**/*.md".to_owned()]).expect("globs");
        let files = list(&root.display().to_string(), &include, &None, &store).await.expect("list");
        assert_eq!(files.len(), 1);
    }

    #[tokio::test]
    async fn a_missing_path_is_a_user_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ArtifactStore::local(dir.path()).expect("store");
        let err = list("/definitely/not/here", &None, &None, &store).await.expect_err("missing");
        assert_eq!(err.class, hangar_sdk::ErrorClass::User);
    }
}
